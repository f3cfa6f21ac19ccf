"""``X-Twilio-Signature``: how Twilio signs the webhooks it sends, and how a receiver checks them.

Twilio's "Webhooks security" documentation describes the scheme for a form-encoded request:

1. Start from the full URL of the request *as it was configured with Twilio* (scheme, host, path
   and query string, e.g. ``https://mycompany.com/myapp.php?foo=1&bar=2``).
2. If the request is a POST, sort the POST parameters by name (case-sensitive, code-point order)
   and append each parameter's name followed directly by its value, with no delimiters.
   A GET request has no body parameters: its parameters are already in the URL's query string.
3. Sign the resulting string with HMAC-SHA1, keyed with the account's Auth Token, and
   Base64-encode the digest.

The documentation does not say what happens to a parameter name sent more than once; Twilio's own
helper library (``twilio.request_validator.RequestValidator.compute_signature``) appends the name
with each of its distinct values in sorted order, and this module does the same so that a signature
it computes validates with Twilio's library and vice versa. Twilio's own webhooks never repeat a
name, so in practice this only matters for hand-made requests.

Twilio's helper libraries also accept a signature computed over the URL with the scheme's default
port added or removed (``https://host/x`` vs ``https://host:443/x``), because proxies and load
balancers disagree about whether to show it; :func:`is_valid_signature` does the same.

Only the standard library is used, so the API's webhook handlers and the carrier simulator share it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _values(value: str | Iterable[str]) -> list[str]:
    """One parameter's values as a list (a single string is one value, not a sequence of characters)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def signing_string(url: str, params: Mapping[str, str | list[str]] | None) -> str:
    """The exact string Twilio signs: the URL, then each ``name + value`` sorted by name."""
    parts = [url]
    for name in sorted(params or {}):
        for value in sorted(set(_values(params[name]))):  # type: ignore[index]  # params is not None inside this loop
            parts.append(name + value)
    return "".join(parts)


def compute_signature(auth_token: str, url: str, params: Mapping[str, str | list[str]] | None = None) -> str:
    """The ``X-Twilio-Signature`` value Twilio would send for a POST of ``params`` to ``url``.

    ``params`` maps each form parameter name to its value, or to a list of values for a name that
    is repeated. Pass no params (or an empty mapping) for a GET request.
    """
    digest = hmac.new(auth_token.encode("utf-8"), signing_string(url, params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """``url`` as given, plus the same URL with its scheme's default port toggled (added or removed)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None or not parts.hostname:
        return [url]
    try:
        port = parts.port
    except ValueError:
        return [url]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    host = hostport.rsplit(":", 1)[0] if port is not None else hostport
    if port is None:
        other = f"{prefix}{host}:{default}"
    elif port == default:
        other = f"{prefix}{host}"
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]


def is_valid_signature(auth_token: str, url: str, params: Mapping[str, str | list[str]] | None,
                       signature: str | None) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) matches ``url`` and ``params``.

    ``url`` must be the URL exactly as configured with Twilio (including its query string), not one
    rebuilt from a proxied request. The comparison is constant-time. A missing or empty signature,
    or an empty auth token, is never valid.
    """
    if not signature or not auth_token:
        return False
    given = signature.strip().encode("ascii", "replace")
    matched = False
    for candidate in _port_variants(url):
        expected = compute_signature(auth_token, candidate, params).encode("ascii")
        matched |= hmac.compare_digest(expected, given)
    return matched
