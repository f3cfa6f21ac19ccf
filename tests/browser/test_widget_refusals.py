"""The call widget in a real Chromium against stub answers: what a person sees when a call cannot start.

The page is the real demo page (``/web-demo``) and the real ``widget.js``, served by the stub server on
127.0.0.1 (a secure context, so the microphone can be asked for); the stub answers ``POST /web-calls`` per
public key (see ``stub_server``). Each test starts the call from the keyboard or a click, waits for the
widget's state, checks the visible text, and saves a screenshot.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack.embedded_aws import free_port
from tests.browser.stub_server import StubServer
from tests.browser.widget_page import Shot, open_demo, status_text, wait_state, wait_until


def test_idle_widget_shows_ready_and_its_start_button_is_reachable_from_the_page(page: Page, stub: StubServer,
                                                                                  screenshot: Shot) -> None:
    open_demo(page, stub.base, "pub_ok")
    assert status_text(page) == "Ready to talk"
    assert page.evaluate("document.getElementById('parley-start') !== null")
    assert page.evaluate("document.getElementById('parley-end') !== null")
    expect(page.locator("#parley-start")).to_be_visible()
    expect(page.locator("#parley-end")).to_be_hidden()
    screenshot(page, "widget-idle")


def test_refused_origin_started_from_the_keyboard_says_this_site_may_not_call(page: Page, stub: StubServer,
                                                                              screenshot: Shot) -> None:
    open_demo(page, stub.base, "pub_origin")
    page.locator("body").focus()
    for _ in range(10):  # Tab through the page until the start button has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "parley-start":
            break
    else:
        pytest.fail("the start button cannot be reached with Tab")
    page.keyboard.press("Enter")
    wait_state(page, "error")
    assert status_text(page) == "Call failed"
    message = page.locator("parley-widget .message")
    expect(message).to_have_text("This website is not allowed to call this agent.")
    expect(message).to_have_attribute("role", "alert")
    assert page.evaluate("document.querySelector('parley-widget').reason") == "origin_not_allowed"
    call = stub.seen("/api/v1/web-calls")[-1]
    assert call["headers"]["Authorization"] == "Bearer pub_origin"
    assert call["body"] == {"agent_id": 12, "call_context": {}}
    # The focus stays on a start button, ready to try again.
    assert page.evaluate("document.activeElement.id") == "parley-start"
    screenshot(page, "widget-origin-refused")


@pytest.mark.parametrize(("key", "reason", "text", "shot"), [
    ("pub_disabled", "widget_disabled", "Web calls are turned off for this agent.", "widget-disabled"),
    ("pub_busy", "busy", "All our lines are busy right now. Please try again in a moment. (Try again in 7 s.)",
     "widget-busy"),
    ("pub_limited", "busy", "All our lines are busy right now. Please try again in a moment. (Try again in 3 s.)",
     "widget-rate-limited"),
    ("pub_unknown", "invalid_token", "This call widget's key is not valid.", "widget-key-invalid"),
])
def test_refused_call_shows_a_human_message(page: Page, stub: StubServer, screenshot: Shot, key: str,
                                            reason: str, text: str, shot: str) -> None:
    open_demo(page, stub.base, key)
    states = page.evaluate_handle("""() => {
        const seen = [];
        document.querySelector('parley-widget').addEventListener('parley-state', (e) => seen.push(e.detail));
        return seen;
    }""")
    page.click("#parley-start")
    wait_state(page, "error")
    expect(page.locator("parley-widget .message")).to_have_text(text)
    assert [(s["state"], s["reason"]) for s in states.json_value()] == [("connecting", None), ("error", reason)]
    screenshot(page, shot)


def test_unreachable_api_says_the_service_cannot_be_reached(page: Page, stub: StubServer, screenshot: Shot) -> None:
    open_demo(page, stub.base, "pub_ok")
    closed_port = free_port()  # nothing listens there: the connection is refused
    page.evaluate(f"document.querySelector('parley-widget').setAttribute('api-url', "
                  f"'http://127.0.0.1:{closed_port}/api/v1')")
    page.click("#parley-start")
    wait_state(page, "error")
    assert page.evaluate("document.querySelector('parley-widget').reason") == "unreachable"
    expect(page.locator("parley-widget .message")).to_contain_text("cannot be reached")
    screenshot(page, "widget-api-unreachable")


def test_used_call_token_at_the_offer_says_to_try_again(page: Page, stub: StubServer, screenshot: Shot) -> None:
    open_demo(page, stub.base, "pub_expired")
    page.click("#parley-start")
    wait_state(page, "error")
    expect(page.locator("parley-widget .message")).to_have_text("The call could not start in time. Please try again.")
    offer = stub.seen("/web/offer-expired")[-1]["body"]
    assert offer["call_id"] == 345 and offer["token"] == "tok-pub_expired" and offer["type"] == "offer"
    assert "m=audio" in offer["sdp"] and "opus" in offer["sdp"].lower()
    assert "m=application" in offer["sdp"]  # the data channel
    assert "a=end-of-candidates" in offer["sdp"] or "a=candidate:" in offer["sdp"]  # gathered before sending
    screenshot(page, "widget-offer-token-used")


def test_end_while_connecting_ends_the_call(page: Page, stub: StubServer,
                                                                       screenshot: Shot) -> None:
    open_demo(page, stub.base, "pub_slow")
    stub.release_slow_offer.clear()
    page.click("#parley-start")
    wait_state(page, "connecting")
    expect(page.locator("parley-widget .status")).to_have_text("Connecting…")
    expect(page.locator("#parley-end")).to_be_visible()
    wait_until(lambda: stub.seen("/web/offer-slow"), "the offer was never sent")  # the microphone is open
    screenshot(page, "widget-connecting")
    page.click("#parley-end")
    wait_state(page, "ended")
    stub.release_slow_offer.set()
    assert status_text(page) == "Call ended"
    expect(page.locator("parley-widget .message")).to_have_text("You ended the call.")
    expect(page.locator("#parley-start")).to_be_visible()
    screenshot(page, "widget-ended-by-caller")


def test_denied_microphone_says_how_to_allow_it(mic_blocked_browser: Browser, stub: StubServer,
                                                screenshot: Shot) -> None:
    context = mic_blocked_browser.new_context()
    try:
        page = context.new_page()
        open_demo(page, stub.base, "pub_ok")
        page.click("#parley-start")
        wait_state(page, "error")
        assert page.evaluate("document.querySelector('parley-widget').reason") == "mic_denied"
        expect(page.locator("parley-widget .message")).to_have_text(
            "Microphone access was denied. Allow the microphone for this site, then try again.")
        screenshot(page, "widget-mic-denied")
    finally:
        context.close()
