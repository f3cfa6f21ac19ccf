"""The widget and the demo page on the real local stack (started as ``make dev`` starts it), in a real Chromium.

- A page on an origin the agent does not allow is refused by the API, and the widget says so.
- The demo URL ``make dev`` prints (its demo agent) connects at the first click, and the greeting is heard.
- The spoken call, end to end: the demo page's own setup (API key -> agents -> enable the widget), the fake
  microphone says a question while the agent's welcome plays (a barge-in), the agent hears it and answers
  with its voice, captions show both sides, the widget times mouth-to-ear in the page, and the call log holds
  the web call (transcript with the welcome cut short, recording).
"""
from __future__ import annotations

import io
import re
import time
import wave
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.browser.caller_audio import caller_wav
from tests.browser.stack_api import api
from tests.browser.widget_page import Shot, open_demo, status_text, wait_state

pytestmark = pytest.mark.slow

WELCOME = ("Hello, thank you for calling Parley Bakery. We bake fresh bread, croissants and cakes every single "
           "morning, and we deliver across the whole city. How can I help you today?")
QUESTION = "What time do you open tomorrow morning?"
LEAD_SILENCE_S = 3.0  # the caller speaks about 3 s into the call: over the welcome (about 10 s long)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


@pytest.fixture(scope="module")
def caller_wav_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's fake microphone: silence, then the question, then silence while the agent answers."""
    return caller_wav(tmp_path_factory.mktemp("caller") / "question.wav", QUESTION,
                      lead_silence_s=LEAD_SILENCE_S, tail_silence_s=20.0)




def test_widget_on_an_origin_the_agent_does_not_allow_says_so(stack: dict, page: Page, screenshot: Shot) -> None:
    created = api(stack, "POST", "/agents/create", json={
        "name": "Shop only", "welcome_message": "Hi.",
        "context_breakdown": [{"title": "Role", "body": "You help customers of the shop."}],
        "web_widget": {"enabled": True, "allowed_origins": ["https://shop.example"]}})
    assert created.status_code == 201, created.text
    agent = created.json()
    open_demo(page, stack["base"], agent["web_widget"]["public_key"], agent["id"])
    page.click("#parley-start")
    wait_state(page, "error")
    assert status_text(page) == "Call failed"
    expect(page.locator("parley-widget .message")).to_have_text("This website is not allowed to call this agent.")
    screenshot(page, "stack-origin-refused")


def test_the_demo_url_printed_by_make_dev_greets_the_caller(stack: dict, page: Page, screenshot: Shot) -> None:
    assert stack.get("web_demo_url"), stack
    page.goto(stack["web_demo_url"])
    page.click("#parley-start")
    greeting = page.locator("parley-widget li[data-role='assistant'][data-final='true']").first
    expect(greeting).to_contain_text("Hello", timeout=60000)
    wait_state(page, "listening", timeout_ms=30000)
    measured = page.evaluate("document.querySelector('parley-widget').metrics")
    assert measured["firstAgentAudioAt"] is not None, "the greeting was captioned but never heard in the page"
    screenshot(page, "stack-demo-url-greeting")
    page.click("#parley-end")
    wait_state(page, "ended")


def test_spoken_web_call_from_the_demo_page(stack: dict, browser: Browser, screenshot: Shot) -> None:
    created = api(stack, "POST", "/agents/create", json={
        "name": "Parley Bakery", "welcome_message": WELCOME, "is_welcome_message_interruption": True,
        "context_breakdown": [{"title": "Role", "body": "You answer questions for Parley Bakery in one short "
                                                        "sentence. The bakery opens at seven in the morning."}]})
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]

    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda msg: print(f"[browser {msg.type}] {msg.text}"))
    try:
        # The demo page's own setup: paste the key, pick the agent, turn its widget on.
        page.goto(f"{stack['base']}/web-demo")
        page.fill("#api-key", stack["api_key"])
        page.keyboard.press("Enter")
        page.select_option("#agent-select", str(agent_id))
        screenshot(page, "stack-demo-choose-agent")
        page.get_by_role("button", name="Use this agent").click()
        expect(page.locator("parley-widget")).to_have_attribute("public-key", re.compile("^pub_"))
        assert f"agent_id={agent_id}" in page.url and stack["api_key"] not in page.url
        screenshot(page, "stack-demo-ready")

        # The fake microphone hears no speaker: Chrome's echo canceller would only clip the caller's first words
        # said over the welcome (measured here: "what time do you" lost every time), so it is off, as with a headset.
        page.evaluate("document.querySelector('parley-widget').setAttribute('echo-cancellation', 'off')")
        captions = page.evaluate_handle("""() => { const seen = [];
            document.querySelector('parley-widget').addEventListener('parley-caption', e => seen.push(e.detail));
            return seen; }""")
        page.click("#parley-start")

        def finals(role: str) -> list[dict]:
            return [c for c in captions.json_value() if c["role"] == role and c["final"]]

        # The caller talks over the welcome: the agent stops, hears the question, answers.
        page.wait_for_function("""() => {
            const seen = [...document.querySelector('parley-widget').shadowRoot.querySelectorAll('li')];
            return seen.filter(li => li.dataset.role === 'assistant' && li.dataset.final === 'true').length >= 2
                && seen.some(li => li.dataset.role === 'user' && li.dataset.final === 'true');
        }""", timeout=120000)
        wait_state(page, "listening", timeout_ms=60000)  # the answer has been played
        screenshot(page, "stack-spoken-call")
        seen = captions.json_value()
        heard = " ".join(c["text"] for c in finals("user"))
        assert {"open", "tomorrow"} <= words(heard), seen
        welcome_turn = min(c["turn"] for c in finals("assistant"))
        welcome_played = [c["text"] for c in finals("assistant") if c["turn"] == welcome_turn][-1]
        assert welcome_played and len(welcome_played) < len(WELCOME), f"the welcome was not cut short: {seen}"
        assert finals("assistant")[-1]["turn"] != welcome_turn and finals("assistant")[-1]["text"].strip(), seen

        measured = page.evaluate("document.querySelector('parley-widget').metrics")
        assert measured["firstAgentAudioAt"] is not None and measured["turns"], measured
        mouth_to_ear = measured["turns"][-1]["mouthToEarMs"]
        print(f"\nbrowser mouth-to-ear (end of the caller's question to the answer's first audio): {mouth_to_ear} ms")
        assert 0 < mouth_to_ear < 30000

        call_id = page.evaluate("document.querySelector('parley-widget').callId")
        page.click("#parley-end")
        wait_state(page, "ended")
        screenshot(page, "stack-call-ended")
    finally:
        context.close()

    deadline, log = time.monotonic() + 180, {}
    while time.monotonic() < deadline:
        log = api(stack, "GET", f"/calls/logs/{call_id}").json()
        if log.get("call_status") == "completed" and log.get("transcript") is not None:
            break
        time.sleep(1)
    assert log.get("call_status") == "completed" and log["channel"] == "web", log
    assert log["conversation"]["ended_by"] == "caller", log["conversation"]
    turns = log["transcript"]
    assert turns[0]["role"] == "agent" and len(turns[0]["text"]) < len(WELCOME), turns[0]
    assert any(t["role"] == "user" and "tomorrow" in words(t["text"]) for t in turns), turns
    recording = requests.get(log["recording_url"], timeout=10)
    with wave.open(io.BytesIO(recording.content), "rb") as audio:
        assert audio.getnframes() / audio.getframerate() > 5
