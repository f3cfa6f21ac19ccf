"""Local stand-ins for Slack, Salesforce, HubSpot and the WhatsApp Cloud API, for channel tests.

Each is an HTTP server on 127.0.0.1 (random port, own thread) that checks what a channel sends against
the provider's documented format and auth, answers like the provider, and records what it got.
A check that fails answers 400 (in the provider's error shape) and is listed in ``problems``, so a test
asserts ``problems == []``. ``script(answer)`` makes the next matching request(s) get a canned answer
(5xx, 429, ...) instead.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from chalicelib.delivery.contract import DeliveryRequest, DeliverySettings
from chalicelib.delivery.sample import sample_call_completed

LOCAL_NETWORKS = ("127.0.0.0/8",)


def local_settings(**overrides: Any) -> DeliverySettings:
    return DeliverySettings(allowed_networks=LOCAL_NETWORKS, timeout_s=3.0, **overrides)


def delivery_request(action_type: str, *, config: dict[str, Any] | None = None,
                     credentials: dict[str, Any] | None = None, settings: DeliverySettings | None = None,
                     event: dict[str, Any] | None = None, attempt: int = 1, webhook_id: str = "msg_2Ttest0001",
                     is_test: bool = False) -> DeliveryRequest:
    return DeliveryRequest(event=event if event is not None else real_call_event(), action_id=7,
                           action_type=action_type, config=config or {}, credentials=credentials or {},
                           webhook_id=webhook_id, attempt=attempt, settings=settings or local_settings(),
                           is_test=is_test)


def real_call_event(**changes: Any) -> dict[str, Any]:
    """The sample detail as a real (not test) call."""
    return {**sample_call_completed(agent_name="Front desk"), "test": False, "call_id": 4711, **changes}


# ----------------------------------------------------------------------------------------------- base
@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[len("Bearer "):] if value.startswith("Bearer ") else None


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(data).encode(), headers=headers or {})


def text_answer(status: int, text: str) -> Answer:
    return Answer(status, text.encode(), "text/html")


class FakeProvider:
    """Serve ``handle`` on 127.0.0.1; record requests; collect failed checks in ``problems``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.problems: list[str] = []
        self._scripted: list[tuple[str, Answer]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- lifecycle
    def __enter__(self) -> Self:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stalls)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                answer = provider._dispatch(request)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # -- scripting and checks
    def script(self, answer: Answer, path_contains: str = "", times: int = 1) -> None:
        with self._lock:
            self._scripted += [(path_contains, answer)] * times

    def problem(self, text: str, answer: Answer | None = None) -> Answer:
        with self._lock:
            self.problems.append(text)
        return answer or json_answer(400, {"problem": text})

    def _dispatch(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            scripted = next((i for i, (part, _) in enumerate(self._scripted) if part in request.path), None)
            canned = self._scripted.pop(scripted)[1] if scripted is not None else None
        if canned is not None:
            return canned
        try:
            return self.handle(request)
        except Exception as exc:
            return self.problem(f"{request.method} {request.path}: {type(exc).__name__}: {exc}")

    def handle(self, request: Request) -> Answer:
        raise NotImplementedError


def _is_iso_or_ms(value: Any) -> bool:
    if isinstance(value, str) and value.isdigit():
        return True
    try:
        datetime.fromisoformat(str(value))
        return True
    except ValueError:
        return False


def _json_content(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


# ----------------------------------------------------------------------------------------------- Slack
class FakeSlack(FakeProvider):
    """An incoming webhook at ``/services/T000/B000/secret``: Block Kit structure and limits checked."""

    PATH = "/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    BLOCK_TYPES = frozenset({"header", "section", "context", "actions", "divider"})

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        return self.url + self.PATH

    def handle(self, request: Request) -> Answer:
        if request.path != self.PATH:
            return text_answer(404, "no_service")
        if request.method != "POST" or not _json_content(request):
            return self.problem("not a JSON POST", text_answer(400, "invalid_payload"))
        message = request.json
        issues = list(slack_issues(message))
        for issue in issues:
            self.problem(issue)
        if issues:
            return text_answer(400, "invalid_blocks")
        self.messages.append(message)
        return text_answer(200, "ok")


def slack_issues(message: Any) -> Iterator[str]:
    if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not message["text"]:
        yield "text (fallback) missing"
        return
    yield from _mrkdwn_issues("text", message["text"], 40000)
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        yield "blocks must be a list of 1..50"
        return
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind not in FakeSlack.BLOCK_TYPES:
            yield f"blocks[{i}]: unknown type {kind!r}"
        elif kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not 1 <= len(text.get("text", "")) <= 150:
                yield f"blocks[{i}]: header needs plain_text of 1..150"
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                yield f"blocks[{i}]: section needs text or fields"
            if "text" in block:
                yield from _text_object_issues(f"blocks[{i}].text", block["text"], 3000)
            fields = block.get("fields", [])
            if len(fields) > 10:
                yield f"blocks[{i}]: more than 10 fields"
            for j, item in enumerate(fields):
                yield from _text_object_issues(f"blocks[{i}].fields[{j}]", item, 2000)
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                yield f"blocks[{i}]: context needs 1..10 elements"
            for j, item in enumerate(elements):
                yield from _text_object_issues(f"blocks[{i}].elements[{j}]", item, 3000)
        elif kind == "actions":
            for j, button in enumerate(block.get("elements") or []):
                text = button.get("text") or {}
                if button.get("type") != "button" or text.get("type") != "plain_text" or len(text.get("text", "")) > 75:
                    yield f"blocks[{i}].elements[{j}]: bad button"
                if len(button.get("url", "")) > 3000 or not str(button.get("url", "")).startswith("http"):
                    yield f"blocks[{i}].elements[{j}]: bad url"


def _text_object_issues(where: str, obj: Any, limit: int) -> Iterator[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        yield f"{where}: not a text object"
        return
    text = obj.get("text", "")
    if not text:
        yield f"{where}: empty text"
    if obj["type"] == "mrkdwn":
        yield from _mrkdwn_issues(where, text, limit)
    elif len(text) > limit:
        yield f"{where}: {len(text)} characters > {limit}"


def _mrkdwn_issues(where: str, text: str, limit: int) -> Iterator[str]:
    if len(text) > limit:
        yield f"{where}: {len(text)} characters > {limit}"
    if "<" in text or ">" in text:
        yield f"{where}: unescaped < or >"
    if re.search(r"&(?!amp;|lt;|gt;)", text):
        yield f"{where}: unescaped &"


# ----------------------------------------------------------------------------------------------- Salesforce
SOQL = re.compile(r"^SELECT Id FROM (?P<object>Contact|Lead|Task) WHERE (?P<where>.+?)"
                  r"(?: ORDER BY (?P<order>\w+) (?:ASC|DESC))?(?: LIMIT (?P<limit>\d+))?$", re.DOTALL)
SOQL_TOKEN = re.compile(r"\s*(?:(?P<literal>'(?:[^'\\]|\\.)*')|(?P<word>[A-Za-z_]+)|(?P<op>[=(),]))")
QUERYABLE = {"Contact": {"Phone", "MobilePhone"}, "Lead": {"Phone", "MobilePhone", "IsConverted"},
             "Task": {"CallObject"}}
TASK_FIELDS = {"Subject": 255, "Description": 32000, "CallObject": 255, "CallDisposition": 255}
TASK_PICKLISTS = {
    "Status": {"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"},
    "Priority": {"High", "Normal", "Low"},
    "TaskSubtype": {"Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"},
    "CallType": {"Internal", "Inbound", "Outbound"},
}


class SoqlError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FakeSalesforce(FakeProvider):
    """OAuth client credentials token, then Bearer data calls: SOQL query and Task create."""

    def __init__(self, client_id: str = "3MVG9-client", client_secret: str = "s3cr3t") -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.queries: list[str] = []

    def add_contact(self, phone: str | None = None, mobile: str | None = None) -> str:
        record_id = f"003{len(self.contacts) + 1:015d}"
        self.contacts[record_id] = {"Phone": phone, "MobilePhone": mobile}
        return record_id

    def add_lead(self, phone: str | None = None, mobile: str | None = None, converted: bool = False) -> str:
        record_id = f"00Q{len(self.leads) + 1:015d}"
        self.leads[record_id] = {"Phone": phone, "MobilePhone": mobile, "IsConverted": converted}
        return record_id

    def credentials(self) -> dict[str, str]:
        return {"instance_url": self.url, "client_id": self.client_id, "client_secret": self.client_secret}

    def handle(self, request: Request) -> Answer:
        if request.path == "/services/oauth2/token":
            return self._token(request)
        if not request.path.startswith("/services/data/v60.0/"):
            return json_answer(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        if request.bearer() not in self.tokens:
            return json_answer(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        if request.method == "GET" and request.path == "/services/data/v60.0/query":
            return self._query(request)
        if request.method == "POST" and request.path == "/services/data/v60.0/sobjects/Task":
            return self._create_task(request)
        return json_answer(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])

    def _token(self, request: Request) -> Answer:
        if request.method != "POST":
            return self.problem("token: not a POST")
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return self.problem("token: not form-encoded")
        form = {k: v[0] for k, v in request.form.items()}
        if form.get("grant_type") != "client_credentials":
            unsupported = {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            return self.problem("token: grant_type", json_answer(400, unsupported))
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return json_answer(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        token = f"00D000000000001!AQ{len(self.tokens):04d}"
        self.tokens.add(token)
        return json_answer(200, {"access_token": token, "instance_url": self.url, "token_type": "Bearer",
                                 "id": f"{self.url}/id/00D000000000001/005000000000001",
                                 "issued_at": "1700000000000", "signature": "c2lnbmF0dXJl"})

    def _query(self, request: Request) -> Answer:
        soql = (request.query.get("q") or [""])[0]
        self.queries.append(soql)
        try:
            sobject, ids = self._run(soql)
        except SoqlError as exc:
            return self.problem(f"SOQL {exc.code}: {exc}", json_answer(400, [{"errorCode": exc.code,
                                                                                "message": str(exc)}]))
        records = [{"attributes": {"type": sobject, "url": f"/services/data/v60.0/sobjects/{sobject}/{i}"}, "Id": i}
                   for i in ids]
        return json_answer(200, {"totalSize": len(records), "done": True, "records": records})

    def _run(self, soql: str) -> tuple[str, list[str]]:
        match = SOQL.match(soql)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected query shape: {soql[:80]}")
        sobject = match["object"]
        tokens = _soql_tokens(match["where"])
        table = {"Contact": self.contacts, "Lead": self.leads, "Task": self.tasks}[sobject]
        ids = [i for i, record in table.items() if _Where(tokens, QUERYABLE[sobject]).matches(record)]
        return sobject, ids[: int(match["limit"] or 2000)]

    def _create_task(self, request: Request) -> Answer:
        if not _json_content(request):
            return self.problem("Task: not JSON")
        task = request.json
        for name, value in task.items():
            issue = self._task_field_issue(name, value)
            if issue:
                code = "INVALID_FIELD" if issue.startswith("No such column") else "FIELD_INTEGRITY_EXCEPTION"
                return self.problem(f"Task.{name}: {issue}",
                                    json_answer(400, [{"message": issue, "errorCode": code, "fields": [name]}]))
        task_id = f"00T{len(self.tasks) + 1:015d}"
        self.tasks[task_id] = task
        return json_answer(201, {"id": task_id, "success": True, "errors": []})

    def _task_field_issue(self, name: str, value: Any) -> str | None:
        if name in TASK_FIELDS:
            return None if isinstance(value, str) and len(value) <= TASK_FIELDS[name] else "too long or not text"
        if name in TASK_PICKLISTS:
            return None if value in TASK_PICKLISTS[name] else f"bad value for restricted picklist: {value}"
        if name == "ActivityDate":
            return None if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else "not a date"
        if name == "CallDurationInSeconds":
            return None if isinstance(value, int) and value >= 0 else "not an integer"
        if name == "WhoId":
            return None if value in self.contacts or value in self.leads else "invalid cross reference id"
        return f"No such column '{name}' on sobject of type Task"


def _soql_tokens(where: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(where):
        match = SOQL_TOKEN.match(where, pos)
        if not match or match.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected text at {pos}: {where[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        pos = match.end()
        while pos < len(where) and where[pos] == " ":
            pos += 1
    return tokens


def _soql_string(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), literal[1:-1])


class _Where:
    """expr := and ("OR" and)*; and := term ("AND" term)*; term := "(" expr ")" | F "=" v | F "IN" "(" v, ... ")"."""

    def __init__(self, tokens: list[tuple[str, str]], fields: set[str]) -> None:
        self.tokens, self.fields, self.pos = tokens, fields, 0

    def matches(self, record: dict[str, Any]) -> bool:
        self.pos, self.record = 0, record
        value = self._or()
        if self.pos != len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token {self.tokens[self.pos][1]!r}")
        return value

    def _next(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _peek_word(self, word: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos] == ("word", word)

    def _or(self) -> bool:
        value = self._and()
        while self._peek_word("OR"):
            self.pos += 1
            value = self._and() or value
        return value

    def _and(self) -> bool:
        value = self._term()
        while self._peek_word("AND"):
            self.pos += 1
            value = self._term() and value
        return value

    def _term(self) -> bool:
        kind, text = self._next()
        if (kind, text) == ("op", "("):
            value = self._or()
            if self._next() != ("op", ")"):
                raise SoqlError("MALFORMED_QUERY", "missing )")
            return value
        if kind != "word" or text not in self.fields:
            raise SoqlError("INVALID_FIELD", f"No such column '{text}'")
        operator = self._next()
        if operator == ("op", "="):
            return self.record.get(text) == self._value()
        if operator == ("word", "IN"):
            if self._next() != ("op", "("):
                raise SoqlError("MALFORMED_QUERY", "IN needs (")
            values = [self._value()]
            while (separator := self._next()) == ("op", ","):
                values.append(self._value())
            if separator != ("op", ")"):
                raise SoqlError("MALFORMED_QUERY", "IN list not closed")
            return self.record.get(text) in values
        raise SoqlError("MALFORMED_QUERY", f"unexpected operator {operator[1]!r}")

    def _value(self) -> Any:
        kind, text = self._next()
        if kind == "literal":
            return _soql_string(text)
        if (kind, text.lower()) in (("word", "true"), ("word", "false")):
            return text.lower() == "true"
        raise SoqlError("MALFORMED_QUERY", f"expected a value, got {text!r}")


# ----------------------------------------------------------------------------------------------- HubSpot
CALL_STATUSES = {"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED", "IN_PROGRESS",
                 "NO_ANSWER", "QUEUED", "RINGING"}
SEARCH_OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN",
                    "NOT_CONTAINS_TOKEN", "IN", "NOT_IN", "BETWEEN"}


class FakeHubSpot(FakeProvider):
    """Private-app Bearer token; contacts and calls search; call create with associations."""

    def __init__(self, token: str = "pat-na1-00000000-0000-0000-0000-000000000000") -> None:
        super().__init__()
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}

    def add_contact(self, phone: str | None = None, mobilephone: str | None = None) -> str:
        contact_id = str(1000 + len(self.contacts) + 1)
        self.contacts[contact_id] = {"phone": phone, "mobilephone": mobilephone}
        return contact_id

    def handle(self, request: Request) -> Answer:
        if request.bearer() != self.token:
            return json_answer(401, {"status": "error", "message": "Authentication credentials not found.",
                                     "correlationId": "c0ffee", "category": "INVALID_AUTHENTICATION"})
        if request.method != "POST" or not _json_content(request):
            return self.problem(f"{request.method} {request.path}: not a JSON POST")
        routes = {"/crm/v3/objects/contacts/search": lambda body: self._search(body, self.contacts, "contacts"),
                  "/crm/v3/objects/calls/search": lambda body: self._search(body, self._call_props(), "calls"),
                  "/crm/v3/objects/calls": self._create_call}
        route = routes.get(request.path)
        if route is None:
            return json_answer(404, {"status": "error", "message": "Not found", "category": "OBJECT_NOT_FOUND"})
        return route(request.json)

    def _call_props(self) -> dict[str, dict[str, Any]]:
        return {i: call["properties"] for i, call in self.calls.items()}

    def _validation(self, issue: str) -> Answer:
        return self.problem(issue, json_answer(400, {"status": "error", "message": issue,
                                                     "category": "VALIDATION_ERROR"}))

    def _search(self, body: Any, table: dict[str, dict[str, Any]], kind: str) -> Answer:
        groups = body.get("filterGroups")
        if not isinstance(groups, list) or not 1 <= len(groups) <= 5:
            return self._validation(f"{kind} search: filterGroups must hold 1..5 groups")
        for group in groups:
            filters = group.get("filters")
            if not isinstance(filters, list) or not 1 <= len(filters) <= 6:
                return self._validation(f"{kind} search: a group must hold 1..6 filters")
            for item in filters:
                if not isinstance(item.get("propertyName"), str) or item.get("operator") not in SEARCH_OPERATORS:
                    return self._validation(f"{kind} search: bad filter {item}")
                if item["operator"] == "EQ" and not isinstance(item.get("value"), str):
                    return self._validation(f"{kind} search: EQ needs a string value")
        if not isinstance(body.get("limit", 10), int) or not 1 <= body.get("limit", 10) <= 200:
            return self._validation(f"{kind} search: limit must be 1..200")
        found = [i for i, props in table.items()
                 if any(all(_hubspot_match(props, f) for f in group["filters"]) for group in groups)]
        results = [{"id": i, "properties": {p: table[i].get(p) for p in body.get("properties", [])},
                    "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z", "archived": False}
                   for i in found[: body.get("limit", 10)]]
        return json_answer(200, {"total": len(found), "results": results})

    def _create_call(self, body: Any) -> Answer:
        properties = body.get("properties")
        if not isinstance(properties, dict) or "hs_timestamp" not in properties:
            return self._validation("call: properties.hs_timestamp is required")
        for name, value in properties.items():
            if not isinstance(value, str):
                return self._validation(f"call: {name} is not sent as a string")
        if not _is_iso_or_ms(properties["hs_timestamp"]):
            return self._validation("call: hs_timestamp is neither ISO 8601 nor epoch ms")
        if properties.get("hs_call_status", "COMPLETED") not in CALL_STATUSES:
            return self._validation(f"call: hs_call_status {properties['hs_call_status']!r}")
        if properties.get("hs_call_direction", "OUTBOUND") not in ("INBOUND", "OUTBOUND"):
            return self._validation("call: hs_call_direction")
        if not properties.get("hs_call_duration", "0").isdigit():
            return self._validation("call: hs_call_duration must be milliseconds")
        for association in body.get("associations", []):
            if association.get("to", {}).get("id") not in self.contacts:
                return self._validation(f"call: association to unknown record {association.get('to')}")
            for kind in association.get("types", []):
                if kind != {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}:
                    return self._validation(f"call: association type {kind} is not call-to-contact")
            if not association.get("types"):
                return self._validation("call: association without types")
        call_id = str(50000 + len(self.calls) + 1)
        self.calls[call_id] = {"properties": properties, "associations": body.get("associations", [])}
        return json_answer(201, {"id": call_id, "properties": properties, "createdAt": "2024-01-01T00:00:00Z",
                                 "updatedAt": "2024-01-01T00:00:00Z", "archived": False})


def _hubspot_match(props: dict[str, Any], item: dict[str, Any]) -> bool:
    name, value = item["propertyName"], item.get("value")
    actual = props.get(name)
    if item["operator"] != "EQ" or actual is None:
        return False
    if name == "hs_timestamp" and value is not None and value.isdigit():
        when = datetime.fromisoformat(str(actual))
        return int(when.timestamp() * 1000) == int(value)
    return str(actual).lower() == str(value).lower()


# ----------------------------------------------------------------------------------------------- WhatsApp
class FakeWhatsApp(FakeProvider):
    """``POST /v21.0/{phone_number_id}/messages`` with a Bearer token; ``fail_for[to]`` scripts an error."""

    VERSION = "v21.0"

    def __init__(self, phone_number_id: str = "106540352242922", token: str = "EAAJB0000000ZDZD") -> None:
        super().__init__()
        self.phone_number_id, self.token = phone_number_id, token
        self.messages: list[dict[str, Any]] = []
        self.fail_for: dict[str, Answer] = {}

    @property
    def graph_url(self) -> str:
        return f"{self.url}/{self.VERSION}"

    def credentials(self) -> dict[str, str]:
        return {"phone_number_id": self.phone_number_id, "access_token": self.token}

    def handle(self, request: Request) -> Answer:
        if request.bearer() != self.token:
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
        if request.path != f"/{self.VERSION}/{self.phone_number_id}/messages":
            return graph_error(400, 100, "Unsupported post request.", "GraphMethodException")
        if request.method != "POST" or not _json_content(request):
            return self.problem("messages: not a JSON POST")
        body = request.json
        issue = _whatsapp_issue(body)
        if issue:
            return self.problem(issue, graph_error(400, 100, f"Invalid parameter: {issue}", "OAuthException"))
        if body["to"] in self.fail_for:
            return self.fail_for[body["to"]]
        self.messages.append(body)
        return json_answer(200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"],
                                                                                 "wa_id": body["to"]}],
                                 "messages": [{"id": f"wamid.HBgL{len(self.messages):06d}"}]})


def graph_error(status: int, code: int, message: str, kind: str = "OAuthException") -> Answer:
    return json_answer(status, {"error": {"message": message, "type": kind, "code": code,
                                          "fbtrace_id": "AbCdEf123"}})


def _whatsapp_issue(body: Any) -> str | None:
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if body.get("recipient_type", "individual") != "individual":
        return "recipient_type"
    if not re.fullmatch(r"\+?\d{7,15}", str(body.get("to", ""))):
        return "to must be a phone number"
    if body.get("type") != "text":
        return "type must be text"
    text = body.get("text") or {}
    if not isinstance(text.get("body"), str) or not 1 <= len(text["body"]) <= 4096:
        return "text.body must be 1..4096 characters"
    if not isinstance(text.get("preview_url", False), bool):
        return "text.preview_url must be a boolean"
    return None
