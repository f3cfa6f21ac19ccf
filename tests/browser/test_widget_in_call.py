"""The call widget during a call, in a real Chromium, against a loopback agent: a second page of the same
browser that answers the widget's WebRTC offer (``loopback_agent.html``) and plays the streaming service's part
of docs/web-calls.md section 3 (state and caption messages, a tone as the agent's voice).

The widget talks real WebRTC to it: its fake microphone (the caller's Piper sentence) must arrive at the
agent page, the agent's audio must be heard and timed by the widget's WebAudio meter, messages must change
what the widget shows, and the end button must send ``{"type": "end"}``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.stub_server import StubServer
from tests.browser.widget_page import Shot, open_demo, status_text, wait_state


@pytest.fixture()
def agent_page(browser: Browser, stub: StubServer) -> Iterator[Page]:
    context = browser.new_context()
    agent = context.new_page()
    agent.goto(f"{stub.base}/loopback-agent.html")
    agent.click("#arm")  # a user gesture: the agent page's AudioContext may run
    yield agent
    context.close()


def answer_offers_with(page: Page, agent: Page, stub: StubServer) -> None:
    """POST /web/offer from ``page`` is answered by the loopback agent page."""
    def answer(route: Route) -> None:
        offer = route.request.post_data_json or {}
        sdp = agent.evaluate("sdp => answerOffer(sdp)", offer["sdp"])
        route.fulfill(status=200, json={"type": "answer", "sdp": sdp})

    page.route(f"{stub.base}/web/offer", answer)


def in_call(page: Page, agent: Page, stub: StubServer) -> None:
    open_demo(page, stub.base, "pub_ok")
    answer_offers_with(page, agent, stub)
    page.click("#parley-start")
    wait_state(page, "listening")
    agent.wait_for_function("agent.channel && agent.channel.readyState === 'open'")


def metrics(page: Page) -> dict:
    return page.evaluate("document.querySelector('parley-widget').metrics")


def test_call_shows_states_captions_and_times_the_agents_reply(page: Page, agent_page: Page, stub: StubServer,
                                                                screenshot: Shot) -> None:
    in_call(page, agent_page, stub)
    agent_page.evaluate("send({type: 'call', call_id: 345})")
    page.wait_for_function("document.querySelector('parley-widget').callId === 345")
    expect(page.locator("#parley-end")).to_be_visible()
    expect(page.locator("#parley-start")).to_be_hidden()

    # The caller's fake microphone (1.5 s of silence, then the sentence) reaches the agent over WebRTC.
    agent_page.wait_for_function("agent.callerAudible", timeout=15000)
    agent_page.evaluate("send({type: 'caption', role: 'user', text: 'Hello, what time', final: false, turn: 1})")
    agent_page.evaluate("send({type: 'caption', role: 'user', text: 'Hello, what time do you open', "
                        "final: false, turn: 1})")
    captions = page.locator("parley-widget li")
    expect(captions).to_have_count(1)
    expect(captions.first).to_have_text("You:Hello, what time do you open")
    expect(captions.first).to_have_class("partial")

    # The caller stops talking; the widget measured the end of speech from its own microphone.
    page.wait_for_function("""() => { const m = document.querySelector('parley-widget').metrics;
        return m.lastMicSpeechAt !== null && performance.now() - m.lastMicSpeechAt > 600; }""", timeout=20000)
    assert metrics(page)["firstAgentAudioAt"] is None  # the agent has said nothing yet
    agent_page.evaluate("send({type: 'caption', role: 'user', text: 'Hello, what time do you open tomorrow "
                        "morning?', final: true, turn: 1})")
    agent_page.evaluate("send({type: 'state', state: 'agent_speaking'})")
    agent_page.evaluate("speak(true)")
    agent_page.evaluate("send({type: 'caption', role: 'assistant', text: 'We open', final: false, turn: 1})")
    wait_state(page, "agent_speaking")
    assert status_text(page) == "Agent speaking"
    page.wait_for_function("document.querySelector('parley-widget').metrics.turns.length === 1", timeout=10000)
    agent_page.evaluate("send({type: 'caption', role: 'assistant', text: 'We open at nine.', final: true, turn: 1})")
    expect(captions).to_have_count(2)
    expect(captions.nth(0)).to_have_text("You:Hello, what time do you open tomorrow morning?")
    expect(captions.nth(1)).to_have_text("Agent:We open at nine.")
    expect(captions.nth(1)).not_to_have_class("partial")
    screenshot(page, "widget-agent-speaking")

    turn = metrics(page)["turns"][0]
    measured = metrics(page)
    assert measured["firstAgentAudioAt"] == turn["agentAudioAt"]
    assert turn["micSpeechEndAt"] == measured["lastMicSpeechAt"]
    # The tone started well after the 600 ms of silence waited for above; WebRTC adds tens of ms, not seconds.
    assert 600 < turn["mouthToEarMs"] < 3000, turn

    agent_page.evaluate("speak(false)")
    agent_page.evaluate("send({type: 'state', state: 'listening'})")
    wait_state(page, "listening")
    assert status_text(page) == "Listening"
    screenshot(page, "widget-listening")

    page.click("#parley-end")
    wait_state(page, "ended")
    agent_page.wait_for_function("agent.received.some(m => m.type === 'end')")
    expect(page.locator("parley-widget .message")).to_have_text("You ended the call.")
    expect(captions).to_have_count(2)  # the transcript stays readable after the call
    screenshot(page, "widget-ended")


def test_mute_button_silences_the_microphone_and_says_so(page: Page, agent_page: Page, stub: StubServer,
                                                         screenshot: Shot) -> None:
    in_call(page, agent_page, stub)
    assert metrics(page)["micSpeechStartAt"] is None, "connected after the sentence began (1.5 s into the mic)"
    mute = page.get_by_role("button", name="Mute microphone")
    expect(mute).to_have_attribute("aria-pressed", "false")
    mute.focus()
    page.keyboard.press("Enter")
    unmute = page.get_by_role("button", name="Unmute microphone")
    expect(unmute).to_have_attribute("aria-pressed", "true")
    expect(unmute).to_have_text("Unmute")
    assert page.evaluate("document.querySelector('parley-widget').muted") is True
    screenshot(page, "widget-muted")
    # Muted from the start, the caller's sentence never reaches the agent nor counts as speech.
    page.wait_for_timeout(4000)
    assert agent_page.evaluate("agent.callerAudible") is False
    assert metrics(page)["lastMicSpeechAt"] is None
    page.keyboard.press("Space")
    expect(mute).to_have_attribute("aria-pressed", "false")


def test_agent_hang_up_ends_the_call_with_its_reason(page: Page, agent_page: Page, stub: StubServer,
                                                     screenshot: Shot) -> None:
    in_call(page, agent_page, stub)
    events = page.evaluate_handle("""() => { const seen = [];
        document.querySelector('parley-widget').addEventListener('parley-state', e => seen.push(e.detail));
        return seen; }""")
    agent_page.evaluate("send({type: 'state', state: 'ended', reason: 'agent'})")
    wait_state(page, "ended")
    expect(page.locator("parley-widget .message")).to_have_text("The agent ended the call.")
    assert events.json_value()[-1] == {"state": "ended", "reason": "agent", "message": "The agent ended the call."}
    agent_page.wait_for_function("agent.channel.readyState === 'closed'")  # the widget hung up
    screenshot(page, "widget-ended-by-agent")


def test_lost_connection_says_the_connection_was_lost(page: Page, agent_page: Page, stub: StubServer,
                                                      screenshot: Shot) -> None:
    in_call(page, agent_page, stub)
    agent_page.evaluate("hangUpAbruptly()")  # no "ended" message: the far end is gone
    wait_state(page, "error", timeout_ms=40000)
    assert page.evaluate("document.querySelector('parley-widget').reason") == "network"
    expect(page.locator("parley-widget .message")).to_have_text(
        "The connection was lost. Check your network and try again.")
    screenshot(page, "widget-connection-lost")
