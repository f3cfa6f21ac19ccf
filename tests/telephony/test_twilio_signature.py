"""X-Twilio-Signature: Twilio's published example, and what must and must not validate."""
from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.telephony.twilio_signature import (
    compute_signature,
    is_valid_signature,
    signing_string,
)

# The example from Twilio's "Webhooks security" documentation.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilios_published_example() -> None:
    assert compute_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert is_valid_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_signing_string_is_url_then_sorted_names_and_values() -> None:
    assert signing_string(DOC_URL, DOC_PARAMS) == (
        DOC_URL + "CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212")


def test_matches_an_independent_hmac_sha1() -> None:
    params = {"b": "2", "a": "1", "Z": "upper sorts first"}
    raw = "https://x.test/cb?q=1" + "Zupper sorts first" + "a1" + "b2"
    expected = base64.b64encode(hmac.new(b"tok", raw.encode(), hashlib.sha1).digest()).decode()
    assert compute_signature("tok", "https://x.test/cb?q=1", params) == expected


def test_parameter_order_does_not_matter() -> None:
    reordered = dict(reversed(list(DOC_PARAMS.items())))
    assert compute_signature(DOC_TOKEN, DOC_URL, reordered) == DOC_SIGNATURE


def test_tampering_is_detected() -> None:
    assert not is_valid_signature(DOC_TOKEN, DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, DOC_SIGNATURE)
    assert not is_valid_signature(DOC_TOKEN, DOC_URL, {**DOC_PARAMS, "Extra": "x"}, DOC_SIGNATURE)
    assert not is_valid_signature("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert not is_valid_signature(DOC_TOKEN, "https://mycompany.com/myapp.php?foo=1", DOC_PARAMS, DOC_SIGNATURE)
    assert not is_valid_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS, "")
    assert not is_valid_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS, None)
    assert not is_valid_signature("", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_get_requests_sign_the_url_alone() -> None:
    url = "https://x.test/status?CallSid=CA1&CallStatus=ringing"
    expected = base64.b64encode(hmac.new(b"tok", url.encode(), hashlib.sha1).digest()).decode()
    assert compute_signature("tok", url) == expected == compute_signature("tok", url, {})
    assert is_valid_signature("tok", url, {}, expected)


def test_repeated_names_sign_each_value_sorted_like_twilios_library() -> None:
    one_order = compute_signature("tok", "https://x.test/", {"Event": ["ringing", "answered"], "A": "1"})
    other_order = compute_signature("tok", "https://x.test/", {"Event": ["answered", "ringing"], "A": "1"})
    assert one_order == other_order
    raw = "https://x.test/" + "A1" + "Eventanswered" + "Eventringing"
    assert one_order == base64.b64encode(hmac.new(b"tok", raw.encode(), hashlib.sha1).digest()).decode()


def test_default_port_may_be_present_or_absent() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert is_valid_signature(DOC_TOKEN, with_port, DOC_PARAMS, DOC_SIGNATURE)
    signed_with_port = compute_signature(DOC_TOKEN, with_port, DOC_PARAMS)
    assert is_valid_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS, signed_with_port)
    assert not is_valid_signature(DOC_TOKEN, "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
                                  DOC_PARAMS, DOC_SIGNATURE)


def test_non_ascii_values_are_signed_as_utf8() -> None:
    params = {"CallerName": "Zoë"}
    raw = "https://x.test/" + "CallerNameZoë"
    expected = base64.b64encode(hmac.new(b"tok", raw.encode("utf-8"), hashlib.sha1).digest()).decode()
    assert compute_signature("tok", "https://x.test/", params) == expected
    assert is_valid_signature("tok", "https://x.test/", params, expected)
