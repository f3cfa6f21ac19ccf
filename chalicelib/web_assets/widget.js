/* Parley web-call widget: talk to a Parley agent from a web page, over WebRTC. No dependencies, no build.

   <script src="https://api.example.com/widget.js" defer></script>
   <parley-widget agent-id="12" public-key="pub_..."
                  api-url="https://api.example.com/api/v1"   (optional: defaults to api/v1 beside widget.js)
                  call-context='{"name": "Ada"}'             (optional: JSON object handed to the agent)
                  echo-cancellation="off">                   (optional: headsets and kiosks only, see below)
     <button slot="start">Talk to us</button>                 (optional: your own start / end buttons)
     <button slot="end">Hang up</button>
   </parley-widget>

   The element follows docs/web-calls.md: POST {api}/web-calls with the public key, the microphone,
   an RTCPeerConnection (mic track + data channel "parley"), the offer POSTed once ICE gathering is
   complete, then remote audio, captions and state from the data channel.

   Echo cancellation is on by default: with speakers, the agent must not hear itself. It also clips the first
   half second or so of what the caller says over the agent (Chrome's canceller, measured with a fake
   microphone that hears no speaker), so where no speaker reaches the microphone (a headset, the browser tests)
   echo-cancellation="off" lets barge-ins through whole.

   For pages and tests:
   - methods start() and end(); property/attribute `state`: idle | connecting | listening |
     agent_speaking | ended | error; properties `reason` and `message` (the human text shown);
   - events `parley-state` (detail {state, reason, message}) and `parley-caption` (detail as the contract's
     caption message);
   - `metrics`: performance.now() times measured in the page with WebAudio: micSpeechStartAt,
     lastMicSpeechAt (the caller's mic last audible), firstAgentAudioAt (remote audio first audible),
     agentAudioAfterSpeechAt (first agent audio after the mic went silent) and `turns`, one
     {micSpeechEndAt, agentAudioAt, mouthToEarMs} per agent reply that follows the caller's speech. */
(() => {
  "use strict";

  const SCRIPT_SRC = document.currentScript ? document.currentScript.src : "";
  // api/v1 beside widget.js: https://host/widget.js -> https://host/api/v1 (a stage prefix is kept).
  const DEFAULT_API = new URL("api/v1", SCRIPT_SRC || location.href).href;
  const ICE_GATHER_TIMEOUT_MS = 5000;
  const DISCONNECTED_GRACE_MS = 4000;
  const LEVEL_INTERVAL_MS = 10;
  const SPEECH_RMS = 0.01; // about -40 dBFS: audible speech, above codec noise and comfort noise
  const SPEECH_HANGOVER_MS = 250; // the mic is "silent" once below the threshold this long
  const MAX_CAPTIONS = 50;

  const LABELS = {
    idle: "Ready to talk",
    connecting: "Connecting…",
    listening: "Listening",
    agent_speaking: "Agent speaking",
    ended: "Call ended",
  };

  const MESSAGES = {
    mic_denied: "Microphone access was denied. Allow the microphone for this site, then try again.",
    mic_missing: "No microphone was found. Connect one, then try again.",
    mic_unavailable: "Your microphone could not be opened (is another app using it?).",
    no_webrtc: "This browser cannot make web calls (WebRTC is unavailable).",
    insecure: "Calls need a secure page (https).",
    origin_not_allowed: "This website is not allowed to call this agent.",
    widget_disabled: "Web calls are turned off for this agent.",
    not_found: "This agent could not be found.",
    invalid_token: "This call widget's key is not valid.",
    call_expired: "The call could not start in time. Please try again.",
    busy: "All our lines are busy right now. Please try again in a moment.",
    bad_offer: "Your browser's audio setup was refused by the call service.",
    network: "The connection was lost. Check your network and try again.",
    unreachable: "The call service cannot be reached. Check your network and try again.",
    misconfigured: "This call widget is missing its agent-id or public-key.",
    error: "Something went wrong. Please try again.",
  };

  const ENDED_TEXT = {
    agent: "The agent ended the call.",
    caller: "You ended the call.",
    max_duration: "The call reached its time limit.",
    idle: "The call ended after a silence.",
    shutdown: "The service restarted; please call again.",
    error: "The call ended because of an error.",
  };

  const CSS = `
    :host { display: inline-block; font: 15px/1.4 system-ui, sans-serif; color: #1b1f24; }
    .box { border: 1px solid #c9ced6; border-radius: 12px; padding: 12px 14px; background: #fff; min-width: 260px;
           max-width: 420px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
    .top { display: flex; align-items: center; gap: 8px; }
    .dot { width: 10px; height: 10px; border-radius: 50%; background: #9aa3ad; flex: none; }
    :host([state="connecting"]) .dot { background: #d89b00; }
    :host([state="listening"]) .dot { background: #1f9d55; }
    :host([state="agent_speaking"]) .dot { background: #1b6ac9; }
    :host([state="error"]) .dot { background: #c62828; }
    .status { font-weight: 600; }
    .message { margin: 6px 0 0; color: #444; }
    :host([state="error"]) .message { color: #b71c1c; }
    .buttons { display: flex; gap: 8px; margin-top: 10px; flex-wrap: wrap; }
    button, ::slotted(button) { font: inherit; padding: 6px 14px; border-radius: 8px; cursor: pointer;
           border: 1px solid #1b6ac9; background: #1b6ac9; color: #fff; }
    button.secondary { background: #fff; color: #1b6ac9; }
    button[aria-pressed="true"] { background: #fde7e7; color: #b71c1c; border-color: #b71c1c; }
    .end button, .end ::slotted(button) { background: #c62828; border-color: #c62828; }
    button:focus-visible, ::slotted(button:focus-visible) { outline: 3px solid #ffb000; outline-offset: 2px; }
    [hidden] { display: none !important; }
    .captions { margin: 10px 0 0; padding: 6px 0 0; list-style: none; max-height: 220px; overflow-y: auto; }
    .captions:not(:empty) { border-top: 1px solid #e3e6ea; }
    .captions li { margin: 2px 0; }
    .captions li.partial { color: #6b7280; font-style: italic; }
    .who { font-weight: 600; margin-right: 4px; }
  `;

  const TEMPLATE = `
    <style>${CSS}</style>
    <div class="box" part="box">
      <div class="top"><span class="dot" aria-hidden="true"></span>
        <span class="status" part="status" role="status" aria-live="polite"></span></div>
      <p class="message" part="message" hidden></p>
      <div class="buttons">
        <span class="start"><slot name="start"><button type="button" aria-label="Start a voice call">Call</button></slot></span>
        <button type="button" class="secondary mute" aria-label="Mute microphone" aria-pressed="false" hidden>Mute</button>
        <span class="end" hidden><slot name="end"><button type="button" aria-label="End the call">End call</button></slot></span>
      </div>
      <ol class="captions" part="captions" role="log" aria-live="polite" aria-label="Live captions"></ol>
    </div>`;

  const IN_CALL = new Set(["connecting", "listening", "agent_speaking"]);

  class CallFailed extends Error {
    constructor(reason, detail) {
      super(reason);
      this.reason = reason;
      this.detail = detail || ""; // shown after the message, e.g. "(Try again in 7 s.)"
    }
  }

  class ParleyWidget extends HTMLElement {
    static get observedAttributes() { return ["state"]; }

    constructor() {
      super();
      this._root = this.attachShadow({ mode: "open" });
      this._root.innerHTML = TEMPLATE;
      this._el = (selector) => this._root.querySelector(selector);
      this._state = "idle";
      this.reason = null;
      this.message = "";
      this.callId = null;
      this.metrics = this._freshMetrics();
      this._captions = new Map(); // "role:turn" -> <li>
      this._el(".start").addEventListener("click", () => this.start());
      this._el(".end").addEventListener("click", () => this.end());
      this._el(".mute").addEventListener("click", () => this.toggleMute());
    }

    connectedCallback() {
      if (!this._rendered) { this._rendered = true; this._show(this._state, this.reason); }
    }

    disconnectedCallback() { this._teardown(); }

    attributeChangedCallback(name, _old, value) {
      // The attribute reflects the state; a page cannot set it to something else.
      if (name === "state" && value !== this._state) this.setAttribute("state", this._state);
    }

    get state() { return this._state; }

    get muted() { return Boolean(this._mic && !this._mic.getAudioTracks().every((t) => t.enabled)); }

    get apiUrl() { return (this.getAttribute("api-url") || DEFAULT_API).replace(/\/+$/, ""); }

    // ---- the call ---------------------------------------------------------------------------------

    async start() {
      if (IN_CALL.has(this._state)) return;
      this._teardown();
      this._clearCaptions();
      this.callId = null;
      this.metrics = this._freshMetrics();
      this._show("connecting", null);
      const attempt = (this._attempt = {});
      // The AudioContext is made inside the click (a user gesture), before any await, so it may play.
      const AudioCtx = window.AudioContext || window.webkitAudioContext;
      this._audio = AudioCtx ? new AudioCtx() : null;
      if (this._audio) this._audio.resume().catch(() => {});
      try {
        await this._connect(attempt);
      } catch (err) {
        if (attempt !== this._attempt) return; // ended or restarted meanwhile
        const reason = err instanceof CallFailed ? err.reason : "error";
        if (!(err instanceof CallFailed)) console.error("parley-widget:", err);
        this._fail(reason, err instanceof CallFailed ? err.detail : "");
      }
    }

    async _connect(attempt) {
      const agentId = Number(this.getAttribute("agent-id"));
      const publicKey = this.getAttribute("public-key");
      if (!agentId || !publicKey) throw new CallFailed("misconfigured");
      if (!window.RTCPeerConnection) throw new CallFailed("no_webrtc");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new CallFailed("insecure");

      const call = await this._postJson(`${this.apiUrl}/web-calls`, {
        agent_id: agentId, call_context: this._callContext(),
      }, { Authorization: `Bearer ${publicKey}` }, webCallError);
      if (attempt !== this._attempt) return;
      this.callId = call.call_id;

      // The microphone before the offer: with the permission granted Chrome shares real host candidates
      // instead of mDNS names.
      let mic;
      try {
        mic = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: this.getAttribute("echo-cancellation") !== "off",
                   noiseSuppression: true, autoGainControl: true },
        });
      } catch (err) {
        throw new CallFailed(micError(err));
      }
      if (attempt !== this._attempt) { stopTracks(mic); return; }
      this._mic = mic;
      this._watchLevel(mic, "mic");

      const pc = (this._pc = new RTCPeerConnection({ iceServers: call.ice_servers || [] }));
      mic.getAudioTracks().forEach((track) => pc.addTrack(track, mic));
      const channel = (this._channel = pc.createDataChannel("parley"));
      channel.onmessage = (event) => this._onMessage(event.data);
      // Closed without an "ended" message first: the service or the network went away.
      channel.onclose = () => { if (channel === this._channel && IN_CALL.has(this._state)) this._fail("network"); };
      pc.ontrack = (event) => this._playRemote(event.streams[0] || new MediaStream([event.track]));
      pc.onconnectionstatechange = () => this._onConnectionState(pc);

      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc, ICE_GATHER_TIMEOUT_MS);
      if (attempt !== this._attempt) return;
      const answer = await this._postJson(call.offer_url, {
        call_id: call.call_id, token: call.token, type: "offer", sdp: pc.localDescription.sdp,
      }, {}, offerError);
      if (attempt !== this._attempt) return;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    }

    async end() {
      this._attempt = null;
      if (!IN_CALL.has(this._state)) return;
      const channel = this._channel;
      if (channel && channel.readyState === "open") {
        try {
          channel.send(JSON.stringify({ type: "end" }));
          await drained(channel, 500);
        } catch (_) { /* closing the peer connection ends the call too */ }
      }
      this._teardown();
      this._show("ended", "caller");
    }

    toggleMute() {
      if (!this._mic) return;
      const muted = !this.muted;
      this._mic.getAudioTracks().forEach((t) => { t.enabled = !muted; });
      const button = this._el(".mute");
      button.setAttribute("aria-pressed", String(muted));
      button.setAttribute("aria-label", muted ? "Unmute microphone" : "Mute microphone");
      button.textContent = muted ? "Unmute" : "Mute";
    }

    _callContext() {
      const raw = this.getAttribute("call-context");
      if (!raw) return {};
      try {
        const value = JSON.parse(raw);
        return value && typeof value === "object" && !Array.isArray(value) ? value : {};
      } catch (_) {
        console.warn("parley-widget: call-context is not a JSON object; ignored");
        return {};
      }
    }

    async _postJson(url, body, headers, toError) {
      let response;
      try {
        response = await fetch(url, {
          method: "POST", mode: "cors", credentials: "omit",
          headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body),
        });
      } catch (_) {
        throw new CallFailed("unreachable");
      }
      let data = {};
      try { data = await response.json(); } catch (_) { /* an empty or non-JSON body */ }
      if (!response.ok) throw new CallFailed(toError(response.status, data), retryText(response));
      return data;
    }

    // ---- data channel, media and connection -------------------------------------------------------

    _onMessage(raw) {
      let message;
      try { message = JSON.parse(raw); } catch (_) { return; }
      if (message.type === "call") {
        this.callId = message.call_id;
      } else if (message.type === "state") {
        if (message.state === "ended") {
          this._attempt = null;
          this._teardown();
          this._show("ended", message.reason || null);
        } else if (message.state === "listening" || message.state === "agent_speaking") {
          if (IN_CALL.has(this._state)) this._show(message.state, null);
        }
      } else if (message.type === "caption") {
        this._caption(message);
      }
    }

    _onConnectionState(pc) {
      if (pc !== this._pc) return;
      clearTimeout(this._lostTimer);
      if (pc.connectionState === "connected") {
        if (this._state === "connecting") this._show("listening", null);
      } else if (pc.connectionState === "failed") {
        this._fail("network");
      } else if (pc.connectionState === "disconnected") {
        this._lostTimer = setTimeout(() => {
          if (pc === this._pc && pc.connectionState !== "connected") this._fail("network");
        }, DISCONNECTED_GRACE_MS);
      }
    }

    _playRemote(stream) {
      if (this._remote === stream) return;
      this._remote = stream;
      // An <audio> element plays it (Chrome also needs one for WebAudio to see remote audio);
      // an AnalyserNode on the same stream times the agent's first audible audio.
      const player = (this._player = this._player || document.createElement("audio"));
      player.autoplay = true;
      player.srcObject = stream;
      if (!player.isConnected) this._root.appendChild(player);
      player.play().catch(() => {});
      this._watchLevel(stream, "agent");
    }

    _watchLevel(stream, who) {
      if (!this._audio) return;
      const source = this._audio.createMediaStreamSource(stream);
      const analyser = this._audio.createAnalyser();
      analyser.fftSize = 512;
      const mute = this._audio.createGain();
      mute.gain.value = 0; // pulled through the graph, never heard twice
      source.connect(analyser).connect(mute).connect(this._audio.destination);
      (this._meters = this._meters || []).push({ who, analyser, samples: new Float32Array(analyser.fftSize) });
      if (!this._levelTimer) this._levelTimer = setInterval(() => this._measure(), LEVEL_INTERVAL_MS);
    }

    _measure() {
      const now = performance.now();
      const m = this.metrics;
      for (const meter of this._meters || []) {
        meter.analyser.getFloatTimeDomainData(meter.samples);
        let sum = 0;
        for (const s of meter.samples) sum += s * s;
        const audible = Math.sqrt(sum / meter.samples.length) >= SPEECH_RMS;
        if (meter.who === "mic") {
          if (audible && !this.muted) {
            const silentBefore = m.lastMicSpeechAt === null || now - m.lastMicSpeechAt > SPEECH_HANGOVER_MS;
            if (silentBefore) m.micSpeechStartAt = now;
            m.lastMicSpeechAt = now;
          }
        } else if (audible) {
          if (m.firstAgentAudioAt === null) m.firstAgentAudioAt = now;
          const onset = !this._agentAudible;
          this._agentAudible = true;
          this._agentQuietSince = null;
          const micSilent = m.lastMicSpeechAt !== null && now - m.lastMicSpeechAt > SPEECH_HANGOVER_MS;
          const newTurn = m.lastMicSpeechAt !== null && m.lastMicSpeechAt > (this._lastReplyTo ?? -1);
          if (onset && micSilent && newTurn) {
            this._lastReplyTo = m.lastMicSpeechAt;
            m.agentAudioAfterSpeechAt = now;
            m.turns.push({ micSpeechEndAt: m.lastMicSpeechAt, agentAudioAt: now,
                           mouthToEarMs: Math.round(now - m.lastMicSpeechAt) });
          }
        } else if (this._agentAudible) {
          this._agentQuietSince = this._agentQuietSince ?? now;
          if (now - this._agentQuietSince > SPEECH_HANGOVER_MS) this._agentAudible = false;
        }
      }
    }

    _freshMetrics() {
      return { micSpeechStartAt: null, lastMicSpeechAt: null, firstAgentAudioAt: null,
               agentAudioAfterSpeechAt: null, turns: [] };
    }

    _teardown() {
      clearTimeout(this._lostTimer);
      clearInterval(this._levelTimer);
      this._levelTimer = null;
      this._meters = [];
      this._agentAudible = false;
      this._lastReplyTo = null;
      if (this._channel) { this._channel.onmessage = this._channel.onclose = null; this._channel.close(); }
      if (this._pc) { this._pc.onconnectionstatechange = null; this._pc.close(); }
      if (this._mic) stopTracks(this._mic);
      if (this._player) { this._player.srcObject = null; this._player.remove(); }
      if (this._audio) this._audio.close().catch(() => {});
      this._channel = this._pc = this._mic = this._player = this._audio = this._remote = null;
    }

    _fail(reason, detail) {
      this._attempt = null;
      this._teardown();
      this._show("error", reason, detail);
    }

    // ---- what the person sees ---------------------------------------------------------------------

    _show(state, reason, detail) {
      const wasInCall = IN_CALL.has(this._state);
      const hadFocus = this._root.activeElement || this.contains(document.activeElement);
      this._state = state;
      this.reason = reason;
      this.setAttribute("state", state);
      let message = "";
      if (state === "error") message = [MESSAGES[reason] || MESSAGES.error, detail].filter(Boolean).join(" ");
      else if (state === "ended") message = ENDED_TEXT[reason] || "";
      this.message = message;
      this._el(".status").textContent = state === "error" ? "Call failed" : LABELS[state];
      const messageEl = this._el(".message");
      messageEl.textContent = message;
      messageEl.hidden = !message;
      if (state === "error") messageEl.setAttribute("role", "alert");
      else messageEl.removeAttribute("role");
      const inCall = IN_CALL.has(state);
      this._el(".start").hidden = inCall;
      this._el(".end").hidden = !inCall;
      const mute = this._el(".mute");
      mute.hidden = !inCall || state === "connecting";
      if (!inCall) { mute.setAttribute("aria-pressed", "false"); mute.textContent = "Mute"; }
      // Keyboard users keep their place: focus follows the button that replaced the one they pressed.
      if (hadFocus && wasInCall !== inCall) focusFirst(this, inCall ? "end" : "start");
      this.dispatchEvent(new CustomEvent("parley-state", {
        detail: { state, reason, message }, bubbles: true, composed: true,
      }));
    }

    _caption(msg) {
      if (msg.role !== "user" && msg.role !== "assistant") return;
      const key = `${msg.role}:${msg.turn}`;
      const list = this._el(".captions");
      let item = this._captions.get(key);
      if (!item) {
        item = document.createElement("li");
        const who = item.appendChild(document.createElement("span"));
        who.className = "who";
        who.textContent = msg.role === "user" ? "You:" : "Agent:";
        item.appendChild(document.createElement("span")).className = "text";
        item.dataset.role = msg.role;
        this._captions.set(key, item);
        list.appendChild(item);
        while (list.children.length > MAX_CAPTIONS) {
          const old = list.firstElementChild;
          this._captions.forEach((li, k) => { if (li === old) this._captions.delete(k); });
          old.remove();
        }
      }
      item.querySelector(".text").textContent = msg.text || "";
      item.classList.toggle("partial", !msg.final);
      item.dataset.final = String(Boolean(msg.final));
      list.scrollTop = list.scrollHeight; // the latest line in view, without scrolling the host page
      this.dispatchEvent(new CustomEvent("parley-caption", {
        detail: { role: msg.role, text: msg.text, final: Boolean(msg.final), turn: msg.turn },
        bubbles: true, composed: true,
      }));
    }

    _clearCaptions() {
      this._captions.clear();
      this._el(".captions").replaceChildren();
    }
  }

  // ---- helpers ------------------------------------------------------------------------------------

  function webCallError(status, data) {
    if (status === 401) return "invalid_token";
    if (status === 403) return data.error === "widget_disabled" ? "widget_disabled" : "origin_not_allowed";
    if (status === 404) return "not_found";
    if (status === 429 || status === 503) return "busy";
    return "error";
  }

  function offerError(status, data) {
    if (status === 401) return "call_expired"; // the one-use token expired or was used
    if (status === 400 || status === 413) return "bad_offer";
    if (status === 429 || status === 503) return "busy";
    return data.error === "busy" ? "busy" : "error";
  }

  function retryText(response) {
    const seconds = Number(response.headers.get("Retry-After"));
    return seconds > 0 ? `(Try again in ${Math.ceil(seconds)} s.)` : "";
  }

  function micError(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") return "mic_denied";
    if (name === "NotFoundError" || name === "OverconstrainedError") return "mic_missing";
    return "mic_unavailable";
  }

  function iceGatheringComplete(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); pc.removeEventListener("icegatheringstatechange", check); resolve(); };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      const timer = setTimeout(done, timeoutMs); // offer the candidates found so far
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function drained(channel, timeoutMs) {
    const until = performance.now() + timeoutMs;
    return new Promise((resolve) => {
      const poll = () => (channel.bufferedAmount === 0 || performance.now() > until ? resolve() : setTimeout(poll, 20));
      poll();
    });
  }

  function stopTracks(stream) { stream.getTracks().forEach((t) => t.stop()); }

  function focusFirst(host, slotName) {
    const slotted = host.querySelector(`[slot="${slotName}"]`);
    const target = slotted || host.shadowRoot.querySelector(`.${slotName} button`);
    if (target) target.focus();
  }

  if (!customElements.get("parley-widget")) customElements.define("parley-widget", ParleyWidget);
})();
