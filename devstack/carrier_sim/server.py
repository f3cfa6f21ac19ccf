"""The HTTP front end of the Twilio stand-in: Twilio's Voice REST API and the ``/sim/`` control routes.

* ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``: create an outbound call (form-encoded,
  HTTP Basic auth ``AccountSid:AuthToken``), answered ``201`` with a Twilio-shaped call resource.
* ``GET  /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``: fetch the call resource.
* ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with ``Status=completed`` or
  ``Status=canceled``: hang up / cancel the call.
* ``GET  /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=...`` and
  ``POST .../IncomingPhoneNumbers/{Sid}.json``: find a number, set its ``VoiceUrl`` and ``StatusCallback``.
* ``POST /sim/inbound`` ``{"to", "from", "script"?}``: a caller rings one of those numbers (an inbound call).
* ``/sim/...``: inspection and control for tests and the local stack (``GET /sim/calls``,
  ``GET /sim/calls/{CallSid}``, ``GET|PUT /sim/rules``, ``GET|PUT /sim/sip-trunks``, ``GET /sim/stats``,
  ``POST /sim/reset``).
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from devstack.carrier_sim.calls import API_VERSION
from devstack.carrier_sim.rest import TwilioError, not_found
from devstack.carrier_sim.rules import RulesError, SimRules
from devstack.carrier_sim.sip import SipTrunks

log = logging.getLogger("parley.carrier_sim")


class SimulatorApi(Protocol):
    """What the HTTP front end asks of the simulator (:class:`devstack.carrier_sim.simulator.CarrierSimulator`)."""

    rules: SimRules
    sip_trunks: SipTrunks

    def authenticate(self, path_account: str, authorization: str | None) -> str: ...

    def create_call(self, account_sid: str, auth_token: str, form: Mapping[str, list[str]]) -> dict[str, Any]: ...

    def fetch_call(self, account_sid: str, sid: str, path: str) -> dict[str, Any]: ...

    def list_numbers(self, account_sid: str, auth_token: str, phone_number: str | None) -> dict[str, Any]: ...

    def update_number(self, account_sid: str, auth_token: str, sid: str, path: str,
                      form: Mapping[str, list[str]]) -> dict[str, Any]: ...

    def place_inbound(self, body: Any) -> dict[str, Any]: ...

    def update_call(self, account_sid: str, sid: str, path: str, form: Mapping[str, list[str]]) -> dict[str, Any]: ...

    def calls(self) -> list[dict[str, Any]]: ...

    def call(self, sid: str) -> dict[str, Any] | None: ...

    def set_rules(self, rules: SimRules) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


_CALLS_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls\.json$")
_CALL_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
_NUMBERS_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers\.json$")
_NUMBER_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers/(?P<sid>[^/]+)\.json$")
_SIM_CALL_PATH = re.compile(r"^/sim/calls/(?P<sid>[^/]+)$")


class SimHTTPServer(ThreadingHTTPServer):
    """Serves one simulator's REST API and ``/sim/`` control on its own threads."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # thousands of calls may be placed at once

    def __init__(self, address: tuple[str, int], sim: SimulatorApi) -> None:
        self.sim = sim
        super().__init__(address, SimHandler)


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY a keep-alive client waits for
    # the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing -----------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_twilio_error(self, error: TwilioError) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.status == 401 else None
        self._send_json(error.status, error.body(), headers)

    def _form(self) -> dict[str, list[str]]:
        return parse_qs(self._body().decode("utf-8", "replace"), keep_blank_values=True)

    def _route(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path.startswith("/sim/") or path == "/sim":
                self._sim(path)
            else:
                self._api(path)
        except TwilioError as error:
            self._send_twilio_error(error)
        except RulesError as error:
            self._send_json(400, {"error": str(error)})
        except Exception:
            log.exception("carrier simulator request failed")
            self._send_json(500, {"code": 20500, "message": "Internal Server Error",
                                  "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500})

    do_GET = do_POST = do_PUT = do_DELETE = _route

    # -- Twilio REST API ----------------------------------------------------------------------

    def _api(self, path: str) -> None:
        sim = self.server.sim
        if match := _CALLS_PATH.match(path):
            account = match["account"]
            token = sim.authenticate(account, self.headers.get("Authorization"))
            if self.command != "POST":
                raise TwilioError(405, 20004, "Method not allowed")
            self._send_json(201, sim.create_call(account, token, self._form()))
        elif match := _CALL_PATH.match(path):
            account, sid = match["account"], match["sid"]
            sim.authenticate(account, self.headers.get("Authorization"))
            if self.command == "GET":
                self._send_json(200, sim.fetch_call(account, sid, path))
            elif self.command == "POST":
                self._send_json(200, sim.update_call(account, sid, path, self._form()))
            else:
                raise TwilioError(405, 20004, "Method not allowed")
        elif match := _NUMBERS_PATH.match(path):
            account = match["account"]
            token = sim.authenticate(account, self.headers.get("Authorization"))
            if self.command != "GET":
                raise TwilioError(405, 20004, "Method not allowed")
            wanted = parse_qs(urlsplit(self.path).query).get("PhoneNumber")
            self._send_json(200, sim.list_numbers(account, token, wanted[0] if wanted else None))
        elif match := _NUMBER_PATH.match(path):
            account = match["account"]
            token = sim.authenticate(account, self.headers.get("Authorization"))
            if self.command != "POST":
                raise TwilioError(405, 20004, "Method not allowed")
            self._send_json(200, sim.update_number(account, token, match["sid"], path, self._form()))
        else:
            self._body()
            raise not_found(path)

    # -- /sim/ inspection and control ---------------------------------------------------------

    def _sim(self, path: str) -> None:
        sim, method = self.server.sim, self.command
        if path == "/sim/calls" and method == "GET":
            self._send_json(200, {"calls": sim.calls()})
        elif (match := _SIM_CALL_PATH.match(path)) and method == "GET":
            found = sim.call(match["sid"])
            self._send_json(200 if found else 404, found or {"error": "no such call"})
        elif path == "/sim/inbound" and method == "POST":
            try:
                data = json.loads(self._body() or b"null")
            except json.JSONDecodeError as exc:
                raise TwilioError(400, 20001, f"body is not JSON: {exc}") from exc
            self._send_json(201, sim.place_inbound(data))
        elif path == "/sim/rules" and method == "GET":
            self._send_json(200, sim.rules.to_json())
        elif path == "/sim/rules" and method == "PUT":
            try:
                data = json.loads(self._body() or b"null")
            except json.JSONDecodeError as exc:
                raise RulesError(f"body is not JSON: {exc}") from exc
            sim.set_rules(SimRules.from_json(data))
            self._send_json(200, sim.rules.to_json())
        elif path == "/sim/sip-trunks" and method == "GET":
            self._send_json(200, sim.sip_trunks.to_json())
        elif path == "/sim/sip-trunks" and method == "PUT":
            try:
                sim.sip_trunks.replace_from_json(json.loads(self._body() or b"null"))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                raise TwilioError(400, 20001, f"Invalid SIP trunks: {exc}") from exc
            self._send_json(200, sim.sip_trunks.to_json())
        elif path == "/sim/stats" and method == "GET":
            self._send_json(200, sim.stats())
        elif path == "/sim/reset" and method == "POST":
            self._body()
            sim.reset()
            self._send_json(200, {"reset": True})
        else:
            self._body()
            self._send_json(404, {"error": f"no route {method} {path}"})
