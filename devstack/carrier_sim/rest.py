"""The REST surface of the Twilio stand-in: Twilio-shaped errors, Basic auth and create-call validation."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from devstack.carrier_sim.calls import (
    DEFAULT_MACHINE_DETECTION_TIMEOUT,
    DEFAULT_TIMEOUT,
    E164,
    EVENTS,
    MACHINE_DETECTION_MODES,
    MAX_TIMEOUT,
    AmdSettings,
)
from devstack.carrier_sim.sip import SipAuth, SipTarget, is_sip, parse_sip_auth, parse_sip_uri


@dataclass
class TwilioError(Exception):
    """An API error answered as Twilio does: ``{"code", "message", "more_info", "status"}``."""

    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}


def authenticate_error() -> TwilioError:
    return TwilioError(401, 20003, "Authenticate")


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


@dataclass(frozen=True)
class CallRequest:
    """A validated ``POST .../Calls.json``."""

    to: str
    from_: str
    twiml: str | None
    url: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout: int
    amd: AmdSettings | None = None
    sip: SipTarget | None = None  # To is a sip: URI
    sip_auth: SipAuth | None = None  # SipAuthUsername / SipAuthPassword


def first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_call_request(form: Mapping[str, list[str]]) -> CallRequest:
    """Validate create-call parameters the way Twilio does, raising :class:`TwilioError` (400).

    ``To`` is an E.164 number or a ``sip:`` URI; with a URI, ``SipAuthUsername``/``SipAuthPassword`` are
    read (both or neither; :mod:`devstack.carrier_sim.sip`).

    Error codes checked against Twilio's error reference: 21211 (invalid To), 21208 (invalid
    Timeout), 21626 (invalid StatusCallbackEvent), 21609 (invalid StatusCallback URL; documented
    for Messaging). From memory of Twilio's API, not re-checked: 21201 (no To), 21213 (no From),
    21212 (invalid From), 21205 (Url missing or invalid). 20001 is used for other bad parameters.
    """
    to, from_ = (first(form, "To") or "").strip(), (first(form, "From") or "").strip()
    if not to:
        raise TwilioError(400, 21201, "No 'To' number is specified")
    sip_target, sip_auth = None, None
    if is_sip(to):
        try:
            sip_target = parse_sip_uri(to)
            sip_auth = parse_sip_auth(first(form, "SipAuthUsername"), first(form, "SipAuthPassword"))
        except ValueError as error:
            raise TwilioError(400, 21211 if sip_target is None else 20001, f"Invalid SIP destination: {error}") \
                from error
    elif not E164.match(to):
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not from_:
        raise TwilioError(400, 21213, "No 'From' number is specified")
    if not E164.match(from_):
        raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
    url, twiml = first(form, "Url"), first(form, "Twiml")
    if not url and not twiml:
        raise TwilioError(400, 21205, "Either Url or Twiml is required")
    if url and not is_http_url(url):
        raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
    if url:
        twiml = None  # Twilio: when both are given, Twiml is ignored
    method = (first(form, "Method") or "POST").upper()
    callback_method = (first(form, "StatusCallbackMethod") or "POST").upper()
    for name, value in (("Method", method), ("StatusCallbackMethod", callback_method)):
        if value not in ("GET", "POST"):
            raise TwilioError(400, 20001, f"{name} must be GET or POST, got {value}")
    callback = first(form, "StatusCallback")
    if callback and not is_http_url(callback):
        raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
    events = frozenset(e.lower() for raw in form.get("StatusCallbackEvent", []) for e in raw.split())
    bad = events - set(EVENTS)
    if bad:
        raise TwilioError(400, 21626, f"Invalid StatusCallbackEvent: {', '.join(sorted(bad))}")
    timeout_raw = first(form, "Timeout")
    timeout = DEFAULT_TIMEOUT
    if timeout_raw is not None:
        if not timeout_raw.strip().isdigit() or int(timeout_raw) < 1:
            raise TwilioError(400, 21208, f"Invalid Timeout: {timeout_raw}")
        timeout = min(int(timeout_raw), MAX_TIMEOUT)
    return CallRequest(to=to, from_=from_, twiml=twiml, url=url, method=method, status_callback=callback,
                       status_callback_method=callback_method, events=events or frozenset({"completed"}),
                       timeout=timeout, amd=parse_amd(form), sip=sip_target, sip_auth=sip_auth)


def parse_amd(form: Mapping[str, list[str]]) -> AmdSettings | None:
    """Validate the answering machine detection parameters (None: the call has no AMD).

    Twilio's values (its AMD guide): ``MachineDetection`` ``Enable`` or ``DetectMessageEnd``;
    ``AsyncAmd`` ``true`` or ``false`` (default false); ``AsyncAmdStatusCallback`` a URL (absolute
    here); ``AsyncAmdStatusCallbackMethod`` ``POST`` only; ``MachineDetectionTimeout`` 3-59 seconds
    (default 30). The optional tuning parameters (``MachineDetectionSpeechThreshold`` etc.) are
    accepted and ignored. Only asynchronous AMD is simulated: ``MachineDetection`` without
    ``AsyncAmd=true`` is refused (400, code 20001). Error codes are 20001 (invalid parameter): the
    guide names no code for these. ``AsyncAmd=true`` without a callback URL is accepted, as Twilio does
    (its warning 21262); the result is then only on the call resource (``answered_by``).
    """
    mode = (first(form, "MachineDetection") or "").strip()
    async_raw = (first(form, "AsyncAmd") or "false").strip().lower()
    callback = first(form, "AsyncAmdStatusCallback")
    callback_method = (first(form, "AsyncAmdStatusCallbackMethod") or "POST").strip().upper()
    timeout_raw = first(form, "MachineDetectionTimeout")
    if mode and mode not in MACHINE_DETECTION_MODES:
        hint = " (Twilio reports the beep as AnsweredBy=machine_end_beep with DetectMessageEnd)" \
            if mode.startswith("DetectMessageEnd") else ""
        raise TwilioError(400, 20001, f"Invalid MachineDetection: {mode}; use Enable or DetectMessageEnd{hint}")
    if async_raw not in ("true", "false"):
        raise TwilioError(400, 20001, f"Invalid AsyncAmd: {first(form, 'AsyncAmd')}; use true or false")
    if callback is not None and not is_http_url(callback):
        raise TwilioError(400, 20001, f"Invalid AsyncAmdStatusCallback url: {callback}")
    if callback_method != "POST":
        raise TwilioError(400, 20001, f"AsyncAmdStatusCallbackMethod must be POST, got {callback_method}")
    timeout = DEFAULT_MACHINE_DETECTION_TIMEOUT
    if timeout_raw is not None:
        if not timeout_raw.strip().isdigit() or not 3 <= int(timeout_raw) <= 59:
            raise TwilioError(400, 20001, f"Invalid MachineDetectionTimeout: {timeout_raw}; use 3 to 59 seconds")
        timeout = int(timeout_raw)
    if not mode:
        return None
    if async_raw != "true":
        raise TwilioError(400, 20001, "This simulator only supports asynchronous answering machine detection: "
                                      "send AsyncAmd=true with MachineDetection")
    return AmdSettings(machine_detection=mode, async_amd=True, status_callback=callback,
                       status_callback_method=callback_method, timeout=timeout)


def basic_auth_token(path_account: str, authorization: str | None, accounts: Mapping[str, str] | None) -> str:
    """Check HTTP Basic credentials against the URL's AccountSid; returns the auth token.

    ``accounts`` (AccountSid -> AuthToken), when given, is the only set of credentials accepted;
    without it any ``AccountSid:AuthToken`` pair is.
    """
    if not authorization or not authorization.lower().startswith("basic "):
        raise authenticate_error()
    try:
        user, sep, token = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise authenticate_error() from exc
    if not sep or not token or user != path_account:
        raise authenticate_error()
    if accounts is not None and accounts.get(user) != token:
        raise authenticate_error()
    return token
