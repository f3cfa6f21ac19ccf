"""A sample ``call.completed`` detail (schema v1): what "send a test event" delivers, and test data."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def sample_call_completed(account_id: int = 1, agent_id: int = 1, agent_name: str = "Sample agent") -> dict[str, Any]:
    ended = datetime.now(UTC).replace(microsecond=0)
    return {
        "version": "1",
        "event_type": "call.completed",
        "test": True,
        "occurred_at": ended.isoformat(),
        "account_id": account_id,
        "call_id": 0,
        "agent": {"id": agent_id, "name": agent_name},
        "bulk_call_id": None,
        "from_number": "+15550100000",
        "to_number": "+15550100001",
        "status": "completed",
        "ended_by": "caller",
        "started_at": (ended - timedelta(seconds=42)).isoformat(),
        "ended_at": ended.isoformat(),
        "duration_s": 42.0,
        "transcript": [
            {"role": "agent", "text": "Hello, this is Sample agent. How can I help?", "start_s": 0.0, "end_s": 2.4},
            {"role": "user", "text": "I'd like to book a table for Friday at seven.", "start_s": 3.1, "end_s": 5.8},
            {"role": "agent", "text": "Done: Friday at seven. Anything else?", "start_s": 6.5, "end_s": 8.6},
            {"role": "user", "text": "No, thanks. Bye!", "start_s": 9.2, "end_s": 10.4},
        ],
        "transcript_truncated": False,
        "full_conversation": ("Agent: Hello, this is Sample agent. How can I help?\n"
                              "User: I'd like to book a table for Friday at seven.\n"
                              "Agent: Done: Friday at seven. Anything else?\n"
                              "User: No, thanks. Bye!"),
        "summary": "The caller booked a table for Friday at seven.",
        "sentiment": "positive",
        "extracted_variables": {"date": "Friday", "time": "19:00"},
        "analysis_errors": [],
        "recording_url": "https://parley-recordings.s3.amazonaws.com/recordings/1/0.wav?X-Amz-Signature=sample",
        "recording_url_expires_at": (ended + timedelta(days=7)).isoformat(),
        "call_context": {"customer_name": "Ada Lovelace"},
    }
