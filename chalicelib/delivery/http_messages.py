"""Messages for what ``safe_http`` refused or failed at: short, and free of secrets (no credentials)."""
from __future__ import annotations

import ipaddress
import socket

from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def display(address: IPAddress) -> str:
    """IPv4-mapped IPv6 written with its IPv4 part (``::ffff:10.0.0.1``), whatever the Python version."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def shown(url: str) -> str:
    """``url`` fit for a message: without ``user:pass@`` (a relative redirect inherits the original's)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{tail}" if sep else url


def short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def describe(error: BaseException, budget: float) -> str:
    """A short, secret-free message for an exchange that failed."""
    if isinstance(error, NewConnectionError):
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(error).lower():
            return "connection refused"
        if isinstance(cause, socket.timeout) or "timed out" in str(error).lower():
            return f"timeout after {budget} s"
        return "connection failed: " + short(cause or error)
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError, TimeoutError, socket.timeout)):
        return f"timeout after {budget} s"
    if isinstance(error, SSLError):
        return "tls error: " + short(error)
    if isinstance(error, ProtocolError):
        text = str(error).lower()
        if "reset" in text:
            return "connection reset"
        if "timed out" in text:
            return f"timeout after {budget} s"
        return "connection closed: " + short(error)
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    return "request failed: " + short(error)
