"""TwiML answers to an inbound call that Parley does not connect to an agent: a short message, then hang up."""
from __future__ import annotations

from xml.sax.saxutils import escape

NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
BUSY = "Sorry, all our lines are busy. Please call again later. Goodbye."


def say_and_hang_up(message: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Say>{escape(message)}</Say>'
            "<Hangup/></Response>")
