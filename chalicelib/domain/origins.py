"""Web origins (``scheme://host[:port]``): how an agent's allowed origins are validated and compared.

Stored origins are normalized the way browsers serialize the ``Origin`` header (lower-case scheme and
host, no default port), so checking a request is a plain comparison with its normalized ``Origin``.
"""
from __future__ import annotations

from urllib.parse import urlsplit

MAX_ORIGINS = 20
MAX_ORIGIN_LENGTH = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """``value`` as a browser would send it in ``Origin``; ``ValueError`` (a readable reason) if it is not one."""
    text = value.strip()
    if text == "*" or "*" in text:
        raise ValueError("wildcards are not allowed; list each origin, e.g. https://www.example.com")
    if len(text) > MAX_ORIGIN_LENGTH or not text.isascii() or any(c.isspace() for c in text):
        raise ValueError(f"must be an ASCII origin of at most {MAX_ORIGIN_LENGTH} characters, without spaces")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("must be scheme://host[:port], e.g. https://www.example.com") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("must start with http:// or https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not contain a user name or password")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. https://www.example.com")
    if parts.path or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must be scheme://host[:port] only: no path (not even a trailing /), query or fragment")
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_of_request(header: str | None) -> str | None:
    """The request's ``Origin`` header, normalized; None when it is absent, ``null`` or not an origin."""
    if not header:
        return None
    try:
        return normalize_origin(header)
    except ValueError:
        return None
