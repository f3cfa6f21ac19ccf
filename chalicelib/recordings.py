"""Call recordings and transcripts in S3 (``PARLEY_RECORDINGS_BUCKET``).

A recording is uploaded from a file object (the streaming service reads it from disk a chunk at a
time): S3's managed transfer sends it in parts past ``UPLOAD.multipart_threshold``, so memory stays
bounded whatever the call's length.
"""
from __future__ import annotations

import io
import json
import os
from typing import IO, Any

from boto3.s3.transfer import TransferConfig

from chalicelib import aws_clients

DEFAULT_BUCKET = "parley-recordings"
URL_EXPIRY_S = 3600
UPLOAD = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=2)
"""Parts of 8 MiB, two in flight: a 4 h call's 460 MB WAV is ~55 parts."""


def bucket_name() -> str:
    return os.environ.get("PARLEY_RECORDINGS_BUCKET", DEFAULT_BUCKET)


def recording_key(account_id: int, call_id: int) -> str:
    return f"recordings/{account_id}/{call_id}.wav"


def transcript_key(account_id: int, call_id: int) -> str:
    return f"transcripts/{account_id}/{call_id}.json"


def s3_client() -> Any:
    """The process's S3 client (presigns with SigV4, which KMS-encrypted objects require)."""
    return aws_clients.s3()


def _s3(client: Any = None) -> Any:
    return client or aws_clients.s3()


def store(account_id: int, call_id: int, wav: bytes | IO[bytes], transcript: dict[str, Any],
          client: Any = None) -> dict[str, str]:
    """Upload the recording (bytes, or a binary file object read to its end) and the transcript."""
    s3 = _s3(client)
    bucket = bucket_name()
    body = io.BytesIO(wav) if isinstance(wav, bytes | bytearray) else wav
    s3.upload_fileobj(body, bucket, recording_key(account_id, call_id), ExtraArgs={"ContentType": "audio/wav"},
                      Config=UPLOAD)
    s3.put_object(Bucket=bucket, Key=transcript_key(account_id, call_id), ContentType="application/json",
                  Body=json.dumps(transcript).encode())
    return {"bucket": bucket, "key": recording_key(account_id, call_id),
            "transcript_key": transcript_key(account_id, call_id)}


def presigned_url(recording: dict[str, Any] | None, client: Any = None, expires_in: int = URL_EXPIRY_S) -> str | None:
    """A time-limited GET URL for a stored recording (computed locally, no request to S3)."""
    if not recording or not recording.get("key"):
        return None
    return _s3(client).generate_presigned_url(
        "get_object", Params={"Bucket": recording["bucket"], "Key": recording["key"]}, ExpiresIn=expires_in)
