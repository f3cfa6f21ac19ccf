/* Parley operator dashboard: live calls and their transcripts, supervisor controls, campaign progress, recent calls.
 *
 * Where the API is (the first that is set):
 *   1. ?api=<base url> in the page address, e.g. dashboard.html?api=https://api.example.com/api/v1
 *   2. <meta name="parley-api" content="<base url>"> in dashboard.html (empty content: not set)
 *   3. this page's origin + "/api/v1" (the local stack serves the page at /dashboard, next to the API)
 * REST paths are appended to that base (…/api/v1/calls/logs). The sign-in form shows it: the key is sent there.
 *
 * The API key lives in one variable of this script, in memory only (never localStorage, sessionStorage or
 * cookies): reloading the tab signs out. It goes out as "Authorization: Bearer" on REST calls and is exchanged
 * for short-lived monitor tokens (POST /monitor/tokens) to open the monitoring WebSocket (monitor_url?token=…).
 * A closed WebSocket reconnects with a fresh token (backoff), subscribes again and rebuilds the live view from
 * the new snapshot. Events follow docs/monitoring.md: per call, an event whose seq is not greater than the last
 * applied one is dropped; a message is one event or a JSON array of them.
 *
 * Every text from the API or the calls goes into the page as text (textContent, SVG <text>/<title>), never as HTML.
 */
"use strict";

(() => {
  const PING_EVERY_MS = 4 * 60 * 1000;
  const RECONNECT_MAX_MS = 30000;
  const RECENT_PAGE = 25;
  const CAMPAIGN_PAGE = 20;
  const LOG_POLL_MS = 2000;
  const LOG_POLL_TRIES = 90;
  const TERMINAL = new Set(["completed", "failed", "busy", "no_answer", "ended"]);

  const API_BASE = resolveApiBase();

  function resolveApiBase() {
    const fromQuery = new URLSearchParams(location.search).get("api");
    const meta = document.querySelector('meta[name="parley-api"]');
    const fromMeta = meta ? meta.getAttribute("content").trim() : "";
    const base = fromQuery || fromMeta || `${location.origin}/api/v1`;
    return new URL(base, location.href).href.replace(/\/+$/, "");
  }

  // ---- state -------------------------------------------------------------------------------------------------
  let apiKey = null; // this tab's memory only
  let session = 0; // bumped at sign-in and sign-out: work of an older session stops

  /** call id -> {id, bulkCallId, agentId, channel, toNumber, status, outcome, reason, startedAt, endedAt, live,
   *  items: transcript entries, metrics: per-turn latency, ended: call.ended fields, log: GET /calls/logs/{id}} */
  const calls = new Map();
  const lastSeq = new Map(); // "call:<id>" / "campaign:<id>" -> last applied seq
  const campaigns = new Map(); // id -> {id, name, status, summary}
  let recentOrder = []; // call ids, newest first
  let selectedId = null;
  const monitor = { ws: null, attempt: 0, timer: null, ping: null, connections: 0 };

  // ---- DOM helpers -------------------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** An element with attributes (data-* and aria-* included) and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function parseTime(value) {
    const ms = typeof value === "string" ? Date.parse(value) : NaN;
    return Number.isFinite(ms) ? ms : null;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, "0");
    const ss = String(s % 60).padStart(2, "0");
    return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function when(ms) {
    if (ms === null) return "";
    const date = new Date(ms);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  const STATUS_LABELS = {
    queued: "Queued", ringing: "Ringing", in_progress: "In progress", ended: "Ended", completed: "Completed",
    failed: "Failed", busy: "Busy", no_answer: "No answer", canceled: "Canceled", cancelled: "Cancelled",
    draft: "Draft", scheduled: "Scheduled", paused: "Paused",
  };
  const label = (status) => STATUS_LABELS[status] || String(status || "unknown").replace(/_/g, " ");
  const roleOf = (role) => (role === "assistant" || role === "agent" ? "agent" : "user");
  const callStatus = (call) => (call.live ? call.status : call.outcome || (call.log && call.log.call_status)
    || call.status);

  // ---- REST --------------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const mine = session;
    let response;
    try {
      response = await fetch(API_BASE + path, {
        method,
        cache: "no-store",
        headers: { Authorization: `Bearer ${apiKey}`, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new ApiError(0, `Could not reach the API at ${API_BASE}.`, "network");
    }
    const data = await response.json().catch(() => null);
    if (mine !== session) throw new ApiError(0, "signed out", "stale");
    if (!response.ok) {
      const message = (data && (data.error_description || data.message || data.error))
        || `The API answered ${response.status}.`;
      throw new ApiError(response.status, message, data && data.error);
    }
    return data;
  }

  /** A 401 after sign-in: the key was deleted or disabled. Anything else is reported where it happened. */
  function keyRejected(err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut("Your API key is no longer accepted: sign in again.");
      return true;
    }
    return err instanceof ApiError && err.code === "stale";
  }

  // ---- sign in / out -----------------------------------------------------------------------------------------
  async function signIn(key) {
    const error = $("signin-error");
    error.textContent = "";
    if (!key) {
      error.textContent = "Enter your API key.";
      return;
    }
    $("signin-button").disabled = true;
    session += 1;
    apiKey = key;
    let logs;
    try {
      logs = await api("GET", `/calls/logs?pagesize=${RECENT_PAGE}`);
    } catch (err) {
      apiKey = null;
      $("signin-button").disabled = false;
      error.textContent = err.status === 401 || err.status === 403
        ? "That API key was not accepted. Check it and try again." : err.message;
      $("signin-key").select();
      return;
    }
    $("signin-button").disabled = false;
    $("signin-key").value = "";
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout-button").hidden = false;
    mergeLogs(logs.call_log_data || []);
    render();
    loadCampaigns();
    connectMonitor();
  }

  function signOut(message) {
    session += 1;
    apiKey = null;
    stopMonitor();
    calls.clear();
    lastSeq.clear();
    campaigns.clear();
    recentOrder = [];
    selectedId = null;
    $("app").hidden = true;
    $("signout-button").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    setConnection("signed-out", "Signed out");
    $("signin-key").focus();
  }

  // ---- monitoring WebSocket ----------------------------------------------------------------------------------
  function setConnection(state, text) {
    const node = $("connection-status");
    node.dataset.state = state;
    node.dataset.connections = String(monitor.connections);
    node.textContent = text;
  }

  function stopMonitor() {
    clearTimeout(monitor.timer);
    clearInterval(monitor.ping);
    monitor.timer = null;
    const ws = monitor.ws;
    monitor.ws = null;
    monitor.attempt = 0;
    if (ws) ws.close();
  }

  function scheduleReconnect(reason) {
    const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** monitor.attempt) * (0.5 + Math.random() / 2);
    monitor.attempt += 1;
    setConnection("reconnecting", `${reason} Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    clearTimeout(monitor.timer);
    monitor.timer = setTimeout(connectMonitor, delay);
  }

  async function connectMonitor() {
    const mine = session;
    monitor.timer = null;
    setConnection("connecting", "Connecting…");
    let grant;
    try {
      grant = await api("POST", "/monitor/tokens");
    } catch (err) {
      if (keyRejected(err) || mine !== session) return;
      scheduleReconnect(`Live updates unavailable (${err.message})`);
      return;
    }
    if (mine !== session) return;
    let url;
    try {
      url = new URL(grant.monitor_url, API_BASE);
      url.searchParams.set("token", grant.token);
    } catch (err) {
      scheduleReconnect("The API gave no usable monitor_url.");
      return;
    }
    const ws = new WebSocket(url.href);
    monitor.ws = ws;
    ws.addEventListener("open", () => {
      if (monitor.ws !== ws) return;
      monitor.connections += 1;
      ws.send(JSON.stringify({ action: "subscribe" }));
      setConnection("subscribing", "Subscribing…");
      clearInterval(monitor.ping);
      monitor.ping = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: "ping" }));
      }, PING_EVERY_MS);
    });
    ws.addEventListener("message", (message) => {
      if (monitor.ws !== ws) return;
      let data;
      try {
        data = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      for (const event of Array.isArray(data) ? data : [data]) {
        try {
          handleEvent(event);
        } catch (err) {
          console.error("dashboard: could not apply event", event, err);
        }
      }
      scheduleRender();
    });
    ws.addEventListener("close", () => {
      clearInterval(monitor.ping);
      if (monitor.ws !== ws) return; // replaced or signed out
      monitor.ws = null;
      if (mine !== session) return;
      scheduleReconnect("Connection closed.");
    });
  }

  // ---- events ------------------------------------------------------------------------------------------------
  /** Whether an event with this seq is new for its call/campaign (and remember it). No seq: always applied. */
  function fresh(key, seq) {
    if (typeof seq !== "number") return true;
    const last = lastSeq.get(key);
    if (last !== undefined && seq <= last) return false;
    lastSeq.set(key, seq);
    return true;
  }

  function ensureCall(id, fields) {
    let call = calls.get(id);
    if (!call) {
      call = { id, bulkCallId: null, agentId: null, channel: null, toNumber: "", status: "queued", outcome: null,
        reason: null, startedAt: null, endedAt: null, live: true, items: [], metrics: [], ended: null, log: null };
      calls.set(id, call);
    }
    if (fields) {
      for (const [name, value] of Object.entries(fields)) if (value !== undefined && value !== null) call[name] = value;
    }
    return call;
  }

  function handleEvent(event) {
    if (!event || typeof event !== "object") return;
    switch (event.type) {
      case "snapshot": applySnapshot(event); return;
      case "pong": return;
      case "error": console.warn("monitor error:", event.error, event.error_description); return;
      case "campaign.progress":
        if (fresh(`campaign:${event.bulk_call_id}`, event.seq)) applyProgress(event);
        return;
      default: break;
    }
    if (typeof event.call_id !== "number" || !fresh(`call:${event.call_id}`, event.seq)) return;
    const known = calls.has(event.call_id);
    const call = ensureCall(event.call_id, { bulkCallId: event.bulk_call_id });
    if (!known) loadCallInfo(call.id); // events carry no number or channel: the log has them
    if (call.startedAt === null) call.startedAt = parseTime(event.at);
    switch (event.type) {
      case "call.status":
        call.status = event.status;
        if (event.status === "ended") {
          call.outcome = event.outcome || call.outcome;
          call.reason = event.reason || call.reason;
          finish(call, parseTime(event.at));
        }
        break;
      case "transcript.partial":
      case "transcript.final":
        upsertTurn(call, {
          role: roleOf(event.role), turn: event.turn, text: event.text || "", final: event.type === "transcript.final",
          interrupted: Boolean(event.interrupted), source: event.source || null,
        });
        break;
      case "turn.metrics":
        addMetrics(call, event.turn, event.metrics || {});
        break;
      case "barge_in":
        call.items.push({ kind: "note", note: "barge_in",
          text: typeof event.latency_ms === "number"
            ? `The caller talked over the agent (agent silent after ${Math.round(event.latency_ms)} ms)`
            : "The caller talked over the agent" });
        break;
      case "control":
        call.items.push({ kind: "note", note: "control",
          text: event.control === "end_call" ? "Supervisor ended the call"
            : `Supervisor had the agent say “${event.text || ""}”` });
        break;
      case "call.ended":
        call.ended = { outcome: event.outcome, duration_s: event.duration_s, summary: event.summary,
          sentiment: event.sentiment, extracted_variables: event.extracted_variables };
        call.outcome = event.outcome || call.outcome;
        finish(call, parseTime(event.at));
        pollLog(call.id);
        break;
      default: break;
    }
  }

  function applySnapshot(event) {
    const inSnapshot = new Set();
    for (const entry of event.calls || []) {
      if (typeof entry.call_id !== "number") continue;
      inSnapshot.add(entry.call_id);
      const call = ensureCall(entry.call_id, {
        bulkCallId: entry.bulk_call_id, agentId: entry.agent_id, channel: entry.channel, toNumber: entry.to_number,
        status: entry.status, startedAt: parseTime(entry.started_at),
      });
      call.live = true;
      call.items = (entry.transcript || []).map((t) => ({
        kind: "turn", role: roleOf(t.role), turn: t.turn, text: t.text || "", final: true,
        interrupted: Boolean(t.interrupted), source: t.source || null,
      }));
      recentOrder = recentOrder.filter((id) => id !== call.id);
      lastSeq.set(`call:${entry.call_id}`, typeof entry.seq === "number" ? entry.seq : 0);
    }
    // Live calls the new snapshot leaves out ended while this page was not connected.
    let missed = false;
    for (const call of calls.values()) {
      if (call.live && !inSnapshot.has(call.id)) {
        finish(call, null);
        pollLog(call.id);
        missed = true;
      }
    }
    if (missed || monitor.connections > 1) loadRecent();
    setConnection("live", "Live");
    monitor.attempt = 0;
  }

  function upsertTurn(call, entry) {
    const existing = call.items.find((i) => i.kind === "turn" && i.role === entry.role && i.turn === entry.turn);
    if (!existing) {
      call.items.push({ kind: "turn", ...entry });
      return;
    }
    if (existing.final && !entry.final) return; // a partial never replaces the final of its turn
    Object.assign(existing, entry, { source: entry.source || existing.source });
  }

  function normalizeMetrics(turn, m) {
    const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    const pick = (...values) => values.map(num).find((v) => v !== null) ?? null;
    return {
      turn,
      endOfTurn: pick(m.end_of_turn_ms),
      stt: pick(m.stt_ms, m.stt_final_ms),
      llm: pick(m.llm_first_token_ms),
      tts: pick(m.tts_first_audio_ms),
      total: pick(m.first_audio_ms, m.first_audio_out_ms),
    };
  }

  function addMetrics(call, turn, metrics) {
    const row = normalizeMetrics(turn, metrics);
    const at = call.metrics.findIndex((r) => r.turn === turn);
    if (at >= 0) call.metrics[at] = row;
    else call.metrics.push(row);
  }

  function finish(call, at) {
    if (call.live) {
      call.live = false;
      call.endedAt = at || Date.now();
    }
    if (call.status !== "ended") call.status = "ended";
    if (!recentOrder.includes(call.id)) recentOrder.unshift(call.id);
  }

  function applyProgress(event) {
    const id = event.bulk_call_id;
    const known = campaigns.get(id);
    campaigns.set(id, { id, name: known ? known.name : `Campaign ${id}`, status: event.status || (known && known.status),
      summary: event.summary || (known && known.summary) || null });
    if (!known) loadCampaign(id);
  }

  // ---- loading from REST -------------------------------------------------------------------------------------
  /** Calls of GET /calls/logs: finished ones join the recent list (newest first); live ones wait for the snapshot. */
  function mergeLogs(logs) {
    const finished = [];
    for (const log of logs) {
      const existing = calls.get(log.id);
      if (existing && existing.live) continue;
      if (!TERMINAL.has(log.call_status)) continue;
      const details = log.details || {};
      const call = ensureCall(log.id, {
        agentId: log.agent_id, channel: log.channel, toNumber: log.to_number, outcome: log.call_status,
        startedAt: existing && existing.startedAt ? existing.startedAt
          : parseTime(details.in_progress_at) ?? parseTime(log.created_at),
        endedAt: existing && existing.endedAt ? existing.endedAt
          : parseTime(details.completed_at) ?? parseTime(log.updated_at),
      });
      call.live = false;
      call.status = "ended";
      call.log = log;
      finished.push(log.id);
    }
    const seen = new Set(finished);
    const local = recentOrder.filter((id) => !seen.has(id));
    recentOrder = [...local, ...finished].sort((a, b) => endTime(b) - endTime(a));
  }

  function endTime(id) {
    const call = calls.get(id);
    return (call && (call.endedAt || call.startedAt)) || 0;
  }

  async function loadRecent() {
    try {
      const logs = await api("GET", `/calls/logs?pagesize=${RECENT_PAGE}`);
      mergeLogs(logs.call_log_data || []);
      scheduleRender();
    } catch (err) {
      keyRejected(err);
    }
  }

  async function loadCampaigns() {
    let list;
    try {
      list = await api("GET", `/calls/bulk_call?pagesize=${CAMPAIGN_PAGE}`);
    } catch (err) {
      if (!keyRejected(err)) setCampaignsNote(`Campaigns could not be loaded: ${err.message}`);
      return;
    }
    for (const c of list.bulk_calls || []) {
      const known = campaigns.get(c.id);
      campaigns.set(c.id, { id: c.id, name: c.name, status: c.campaign_status,
        summary: (known && known.summary) || c.summary });
    }
    scheduleRender();
    await Promise.all((list.bulk_calls || []).map((c) => loadLiveStatus(c.id)));
  }

  async function loadLiveStatus(id) {
    try {
      const live = await api("GET", `/bulk-call/${id}/live-status`);
      const known = campaigns.get(id) || { id, name: `Campaign ${id}` };
      // A campaign.progress event may have come meanwhile: the counters only grow, so keep the larger view.
      const summary = known.summary && done(known.summary) > done(live.summary) ? known.summary : live.summary;
      campaigns.set(id, { ...known, status: live.campaign_status, summary });
      scheduleRender();
    } catch (err) {
      keyRejected(err);
    }
  }

  async function loadCampaign(id) {
    try {
      const detail = await api("GET", `/calls/bulk_call/${id}`);
      const known = campaigns.get(id) || {};
      campaigns.set(id, { id, name: detail.bulk_call.name, status: known.status || detail.bulk_call.campaign_status,
        summary: known.summary || detail.bulk_call.summary });
      scheduleRender();
    } catch (err) {
      keyRejected(err);
    }
  }

  /** Number, channel and agent of a call first seen in an event (once; the snapshot has them otherwise). */
  async function loadCallInfo(id) {
    try {
      const log = await api("GET", `/calls/logs/${id}`);
      const call = calls.get(id);
      if (!call) return;
      for (const [field, value] of [["toNumber", log.to_number], ["channel", log.channel], ["agentId", log.agent_id]]) {
        if (!call[field] && value) call[field] = value;
      }
      if (!call.log) call.log = log;
      scheduleRender();
    } catch (err) {
      keyRejected(err);
    }
  }

  /** The call's log, fetched again until it is final (status, transcript, recording): the post-call work runs
   *  after the call ends. Each call is polled once at a time. */
  const polling = new Set();
  async function pollLog(id) {
    if (polling.has(id)) return;
    polling.add(id);
    const mine = session;
    try {
      for (let attempt = 0; attempt < LOG_POLL_TRIES && mine === session; attempt += 1) {
        try {
          const log = await api("GET", `/calls/logs/${id}`);
          const call = calls.get(id);
          if (!call) return;
          call.log = log;
          if (!call.live && TERMINAL.has(log.call_status)) call.outcome = log.call_status;
          scheduleRender();
          if (TERMINAL.has(log.call_status) && log.transcript !== null && log.transcript !== undefined
              && (log.recording_url || attempt > 15)) return;
        } catch (err) {
          if (keyRejected(err) || (err.status && err.status !== 429 && err.status < 500)) return;
        }
        await new Promise((resolve) => setTimeout(resolve, LOG_POLL_MS));
      }
    } finally {
      polling.delete(id);
    }
  }

  // ---- supervisor controls -----------------------------------------------------------------------------------
  async function sendControl(body) {
    const id = selectedId;
    const status = $("control-status");
    if (id === null) return;
    status.classList.remove("problem");
    status.textContent = body.type === "say" ? "Sending…" : "Ending the call…";
    try {
      await api("POST", `/calls/${id}/control`, body);
      status.textContent = body.type === "say" ? "Sent: the agent says it next." : "The agent hangs up now.";
      if (body.type === "say") $("say-text").value = "";
    } catch (err) {
      if (keyRejected(err)) return;
      status.classList.add("problem");
      status.textContent = err.status === 409
        ? `Not live: ${err.message}` : `Could not send (${err.status || "network"}): ${err.message}`;
    }
  }

  // ---- rendering ---------------------------------------------------------------------------------------------
  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  function render() {
    if (apiKey === null) return;
    renderLive();
    renderCampaigns();
    renderRecent();
    renderDetail();
  }

  function duration(call) {
    if (call.ended && typeof call.ended.duration_s === "number") return clock(call.ended.duration_s);
    const logged = call.log && call.log.details && call.log.details.duration_seconds;
    if (!call.live && typeof logged === "number") return clock(logged);
    if (call.startedAt === null) return "";
    return clock(((call.live ? Date.now() : call.endedAt || Date.now()) - call.startedAt) / 1000);
  }

  function number(call) {
    return call.channel === "web" ? "Web call" : call.toNumber || "—";
  }

  /** Reuse the list's items by key, in the given order, so buttons keep focus while the list changes. */
  function reconcile(list, keys, build, update) {
    const existing = new Map([...list.children].map((li) => [li.dataset.key, li]));
    keys.forEach((key, index) => {
      let li = existing.get(String(key));
      if (!li) {
        li = build(key);
        li.dataset.key = String(key);
      }
      existing.delete(String(key));
      update(li, key);
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });
    for (const stale of existing.values()) stale.remove();
  }

  function callButton(id, extraClass) {
    return h("li", {},
      h("button", { type: "button", class: `call ${extraClass}`, "data-call-id": id },
        h("span", { class: "call-id" }), h("span", { class: "call-number" }), h("span", { class: "badge" }),
        h("span", { class: "call-sub" })));
  }

  function updateCallButton(li, id, sub) {
    const call = calls.get(id);
    const button = li.firstChild;
    const status = callStatus(call);
    button.dataset.status = status;
    button.setAttribute("aria-pressed", String(selectedId === id));
    button.querySelector(".call-id").textContent = `#${id}`;
    button.querySelector(".call-number").textContent = number(call);
    const badge = button.querySelector(".badge");
    badge.textContent = label(status);
    badge.dataset.status = status;
    button.querySelector(".call-sub").textContent = sub(call);
  }

  function renderLive() {
    const live = [...calls.values()].filter((c) => c.live).sort((a, b) => (b.startedAt || 0) - (a.startedAt || 0));
    $("live-count").textContent = String(live.length);
    $("live-empty").hidden = live.length > 0;
    reconcile($("live-calls"), live.map((c) => c.id), (id) => callButton(id, "live"), (li, id) => updateCallButton(
      li, id, (call) => [call.channel === "web" ? "web" : "phone", duration(call)].filter(Boolean).join(" · ")));
  }

  function renderRecent() {
    $("recent-empty").hidden = recentOrder.length > 0;
    reconcile($("recent"), recentOrder, (id) => callButton(id, "recent"), (li, id) => updateCallButton(
      li, id, (call) => [when(call.endedAt || call.startedAt), duration(call)].filter(Boolean).join(" · ")));
  }

  function done(summary) {
    if (!summary) return 0;
    return (summary.completed || 0) + (summary.failed || 0) + (summary.busy || 0) + (summary.no_answer || 0);
  }

  function setCampaignsNote(text) {
    const note = $("campaigns-empty");
    note.hidden = false;
    note.textContent = text;
  }

  function renderCampaigns() {
    const list = [...campaigns.values()].sort((a, b) => b.id - a.id);
    if (list.length) $("campaigns-empty").hidden = true;
    reconcile($("campaigns"), list.map((c) => c.id), (id) => h("li", { "data-bulk-call-id": id },
      h("div", { class: "campaign-head" }, h("span", { class: "campaign-name" }), h("span", { class: "badge" })),
      h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0 },
        h("span", { class: "seg completed" }), h("span", { class: "seg unreached" }),
        h("span", { class: "seg in-progress" })),
      h("p", { class: "campaign-counts note" })), (li, id) => {
      const c = campaigns.get(id);
      const s = c.summary || { total_contacts: 0, queued: 0, in_progress: 0, completed: 0, failed: 0, busy: 0,
        no_answer: 0 };
      const total = s.total_contacts || 0;
      const unreached = (s.failed || 0) + (s.busy || 0) + (s.no_answer || 0);
      li.querySelector(".campaign-name").textContent = c.name;
      const badge = li.querySelector(".badge");
      badge.textContent = label(c.status);
      badge.dataset.status = c.status || "";
      const bar = li.querySelector(".progress");
      bar.setAttribute("aria-valuemax", String(total));
      bar.setAttribute("aria-valuenow", String(done(s)));
      bar.setAttribute("aria-label", `${c.name}: ${done(s)} of ${total} contacts done`);
      const pct = (n) => `${total ? (100 * n) / total : 0}%`;
      li.querySelector(".seg.completed").style.width = pct(s.completed || 0);
      li.querySelector(".seg.unreached").style.width = pct(unreached);
      li.querySelector(".seg.in-progress").style.width = pct(s.in_progress || 0);
      li.dataset.done = String(done(s));
      li.dataset.total = String(total);
      li.querySelector(".campaign-counts").textContent = `${done(s)} of ${total} done · ${s.completed || 0} completed`
        + ` · ${unreached} not reached · ${s.in_progress || 0} calling · ${s.queued || 0} queued`;
    });
  }

  function renderDetail() {
    const call = selectedId === null ? null : calls.get(selectedId);
    $("detail-empty").hidden = Boolean(call);
    $("detail-body").hidden = !call;
    const detail = $("detail");
    if (!call) {
      delete detail.dataset.callId;
      return;
    }
    detail.dataset.callId = String(call.id);
    detail.dataset.live = String(call.live);
    const status = callStatus(call);
    $("detail-title").textContent = `Call #${call.id}`;
    const badge = $("detail-status");
    badge.textContent = label(status);
    badge.dataset.status = status;

    const log = call.log || {};
    const conversation = log.conversation || {};
    const meta = [["Number", number(call)], ["Channel", call.channel || log.channel || "phone"],
      ["Duration", duration(call)], ["Started", when(call.startedAt)]];
    if (call.bulkCallId) meta.push(["Campaign", (campaigns.get(call.bulkCallId) || {}).name || `#${call.bulkCallId}`]);
    if (call.agentId || log.agent_id) meta.push(["Agent", `#${call.agentId || log.agent_id}`]);
    const endedBy = call.reason || conversation.ended_by;
    if (!call.live && endedBy) meta.push(["Ended by", String(endedBy).replace(/_/g, " ")]);
    $("detail-meta").replaceChildren(...meta.map(([k, v]) => h("div", {}, h("dt", {}, k),
      h("dd", k === "Duration" ? { class: "duration" } : {}, v))));

    $("controls").hidden = !call.live;
    renderOutcome(call);
    renderTranscript(call);
    renderChart(call.log && call.log.turn_metrics && !call.live
      ? call.log.turn_metrics.map((m) => normalizeMetrics(m.turn, m)) : call.metrics);
  }

  function renderOutcome(call) {
    const box = $("outcome");
    box.hidden = call.live;
    if (call.live) return;
    const log = call.log || {};
    const audio = $("recording");
    const url = log.recording_url || null;
    if (url && audio.dataset.src !== url) {
      audio.dataset.src = url;
      audio.src = url;
    }
    if (!url) {
      audio.removeAttribute("src");
      delete audio.dataset.src;
    }
    audio.hidden = !url;
    $("recording-note").textContent = url ? "" : (polling.has(call.id) ? "Waiting for the recording…" : "No recording.");
    const analysis = { ...(log.analysis || {}), ...(call.ended || {}) };
    const summary = analysis.summary ?? log.summary ?? null;
    const sentiment = analysis.sentiment ?? log.sentiment ?? null;
    $("summary").textContent = summary || (call.ended ? "No summary for this call." : "No summary available.");
    const sentimentNode = $("sentiment");
    sentimentNode.textContent = sentiment || "—";
    sentimentNode.dataset.sentiment = sentiment || "";
  }

  /** The transcript of the selected call: live entries (partials replaced by their finals, notes inline), or the
   *  call log's turns (what was said, interrupted turns, the source of each) once the call is over. */
  const rendered = new WeakMap(); // entry -> its <li>
  function renderTranscript(call) {
    const list = $("transcript");
    const fromLog = !call.live && call.log && Array.isArray(call.log.transcript) && call.log.transcript.length;
    const entries = fromLog ? logEntries(call) : call.items;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const nodes = entries.map((entry) => {
      let li = rendered.get(entry);
      if (!li) {
        li = entry.kind === "note"
          ? h("li", { class: `note-entry ${entry.note}`, "data-kind": entry.note }, entry.text)
          : h("li", { class: `turn ${entry.role}` }, h("span", { class: "who" }), h("span", { class: "said" }),
            h("span", { class: "tags" }));
        rendered.set(entry, li);
      }
      if (entry.kind !== "note") {
        li.dataset.role = entry.role;
        li.dataset.turn = String(entry.turn);
        li.dataset.final = String(entry.final);
        li.classList.toggle("partial", !entry.final);
        li.querySelector(".who").textContent = entry.role === "agent" ? "Agent" : "Caller";
        li.querySelector(".said").textContent = entry.final ? entry.text : `${entry.text}…`;
        const tags = [];
        if (entry.source === "supervisor") tags.push("supervisor");
        if (entry.source === "welcome") tags.push("welcome");
        if (entry.source === "dtmf") tags.push("keypad");
        if (entry.interrupted) tags.push("interrupted");
        li.querySelector(".tags").replaceChildren(...tags.map((t) => h("span", { class: `tag ${t}` }, t)));
      }
      return li;
    });
    if (nodes.length !== list.children.length || nodes.some((n, i) => list.children[i] !== n)) list.replaceChildren(...nodes);
    $("transcript-empty").hidden = nodes.length > 0;
    if (stick) list.scrollTop = list.scrollHeight;
  }

  const logEntryCache = new WeakMap(); // log -> entries (stable objects, so their <li> are reused)
  function logEntries(call) {
    let entries = logEntryCache.get(call.log);
    if (!entries) {
      entries = call.log.transcript.map((t, index) => ({ kind: "turn", role: roleOf(t.role), turn: index,
        text: t.text || "", final: true, interrupted: Boolean(t.interrupted), source: t.source || null }));
      logEntryCache.set(call.log, entries);
    }
    return entries;
  }

  const PARTS = [
    ["stt", "Speech to text", (r) => r.stt],
    ["llm", "LLM first token", (r) => r.llm],
    ["tts", "TTS first audio", (r) => r.tts],
    ["out", "To the caller", (r) => r.total],
  ];

  /** Horizontal bars, one a turn: the time from the caller's end of speech to the reply's first audio, split at
   *  the moments speech-to-text, the LLM and the TTS had their first result (ms, cumulative). */
  function renderChart(rows) {
    const box = $("latency-chart");
    const usable = (rows || []).filter((r) => r.total !== null || r.tts !== null || r.llm !== null || r.stt !== null);
    if (!usable.length) {
      box.replaceChildren(h("p", { class: "empty" }, "No turn metrics yet."));
      return;
    }
    const key = JSON.stringify(usable);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    const ends = usable.map((r) => Math.max(...PARTS.map(([, , get]) => get(r) || 0)));
    const longest = Math.max(...ends, 100);
    const step = niceStep(longest / 4);
    const ticks = Math.ceil(longest / step);
    const max = ticks * step;
    const width = 640;
    const left = 64;
    const right = 72;
    const top = 8;
    const rowHeight = 26;
    const axis = 22;
    const height = top + usable.length * rowHeight + axis;
    const plot = width - left - right;
    const x = (ms) => left + (plot * ms) / max;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img",
      "aria-labelledby": "latency-chart-title" });
    chart.append(svg("title", { id: "latency-chart-title" },
      `Time to the agent's first audio per turn: ${usable.map((r) => `turn ${r.turn} ${fmt(r.total)}`).join(", ")}`));
    for (let i = 0; i <= ticks; i += 1) {
      const value = step * i;
      chart.append(svg("line", { x1: x(value), x2: x(value), y1: top - 4, y2: height - axis + 2, class: "grid" }));
      chart.append(svg("text", { x: x(value), y: height - 6, "text-anchor": "middle", class: "axis" },
        value >= 1000 ? `${value / 1000} s` : `${value} ms`));
    }
    usable.forEach((r, index) => {
      const y = top + index * rowHeight;
      const row = svg("g", { "data-turn": r.turn });
      row.append(svg("text", { x: left - 8, y: y + rowHeight / 2 + 4, "text-anchor": "end", class: "label" },
        `Turn ${r.turn}`));
      let at = 0;
      for (const [part, name, get] of PARTS) {
        const value = get(r);
        if (value === null || value <= at) continue;
        const rect = svg("rect", { x: x(at), y: y + 4, width: Math.max(1, x(value) - x(at)), height: rowHeight - 8,
          class: `part ${part}`, "data-part": part, "data-ms": Math.round(value - at) });
        rect.append(svg("title", {}, `${name}: ${fmt(value - at)} (${fmt(value)} after the caller stopped)`));
        row.append(rect);
        at = value;
      }
      if (r.endOfTurn !== null) {
        row.append(svg("line", { x1: x(r.endOfTurn), x2: x(r.endOfTurn), y1: y + 2, y2: y + rowHeight - 2,
          class: "marker" }));
      }
      row.append(svg("text", { x: x(at) + 6, y: y + rowHeight / 2 + 4, class: "value" }, fmt(r.total ?? at)));
      chart.append(row);
    });
    const legend = h("ul", { class: "legend" }, PARTS.map(([part, name]) => h("li", {},
      h("span", { class: `swatch ${part}`, "aria-hidden": "true" }), name)),
    h("li", {}, h("span", { class: "swatch marker", "aria-hidden": "true" }), "End of turn detected"));
    box.replaceChildren(chart, legend);
  }

  function fmt(ms) {
    return ms === null || ms === undefined ? "—" : `${Math.round(ms)} ms`;
  }

  /** The smallest of 1, 2, 2.5, 5 (times a power of ten) that is at least ``value``: tick spacing. */
  function niceStep(value) {
    const power = 10 ** Math.floor(Math.log10(value));
    for (const m of [1, 2, 2.5, 5]) if (m * power >= value) return m * power;
    return 10 * power;
  }

  function select(id) {
    selectedId = id;
    $("control-status").textContent = "";
    $("say-text").value = "";
    const call = calls.get(id);
    render();
    if (call && !call.live && (!call.log || call.log.transcript === null || call.log.transcript === undefined
        || !call.log.recording_url)) pollLog(id);
    $("detail").scrollIntoView({ block: "nearest" });
  }

  // ---- wiring ------------------------------------------------------------------------------------------------
  function start() {
    $("api-base").textContent = API_BASE;
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      signIn($("signin-key").value.trim());
    });
    $("signout-button").addEventListener("click", () => signOut(""));
    $("recent-refresh").addEventListener("click", () => loadRecent());
    for (const list of ["live-calls", "recent"]) {
      $(list).addEventListener("click", (event) => {
        const button = event.target.closest("button[data-call-id]");
        if (button) select(Number(button.dataset.callId));
      });
    }
    $("controls").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("say-text").value.trim();
      if (!text) {
        $("control-status").textContent = "Type what the agent should say.";
        return;
      }
      sendControl({ type: "say", text });
    });
    $("end-call").addEventListener("click", () => sendControl({ type: "end_call" }));
    setInterval(() => {
      if (apiKey === null) return;
      for (const button of document.querySelectorAll("#live-calls button[data-call-id]")) {
        const call = calls.get(Number(button.dataset.callId));
        if (call) button.querySelector(".call-sub").textContent = [call.channel === "web" ? "web" : "phone",
          duration(call)].filter(Boolean).join(" · ");
      }
      const call = selectedId === null ? null : calls.get(selectedId);
      const cell = document.querySelector("#detail-meta .duration");
      if (call && call.live && cell) cell.textContent = duration(call);
    }, 1000);
    // For tests and the curious: drop the monitoring connection (it reconnects with a fresh token). No key here.
    window.parleyDashboard = Object.freeze({
      dropConnection: () => { if (monitor.ws) monitor.ws.close(); },
    });
    $("signin-key").focus();
  }

  start();
})();
