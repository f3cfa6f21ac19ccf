"""Public static files of the web widget, served at the API's root (not under /api/v1):

- ``GET /widget.js``: the embeddable widget (``application/javascript``), cached for a few minutes by
  browsers and CDNs so a new version reaches pages soon;
- ``GET /web-demo``: a demo page (``text/html``) that starts web calls with a public key;
- ``GET /dashboard`` (with ``/dashboard.js`` and ``/dashboard.css``): the operator dashboard (live calls, supervisor
  controls, campaigns, recent calls), signed in with an API key held in the page's memory only.

The files live in ``chalicelib/web_assets/`` (Chalice packages ``chalicelib/`` whole). These routes are
not JSON operations and have no ``RouteSpec``, so the OpenAPI document leaves them out.
"""
from __future__ import annotations

from pathlib import Path

from chalice import Blueprint, Response

ASSETS_DIR = Path(__file__).resolve().parent.parent / "web_assets"
WIDGET_MAX_AGE_S = 300

bp = Blueprint(__name__)


def _asset(name: str, content_type: str, cache_control: str) -> Response:
    path = ASSETS_DIR / name
    if not path.is_file():
        return Response(body='{"error": "not_found", "error_description": "asset not packaged"}', status_code=404,
                        headers={"Content-Type": "application/json"})
    return Response(body=path.read_text(encoding="utf-8"), status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"})


@bp.route("/widget.js", methods=["GET"])
def widget_js() -> Response:
    response = _asset("widget.js", "application/javascript; charset=utf-8",
                      f"public, max-age={WIDGET_MAX_AGE_S}")
    response.headers["Access-Control-Allow-Origin"] = "*"  # may be loaded as a module or with crossorigin
    return response


@bp.route("/web-demo", methods=["GET"])
def web_demo() -> Response:
    return _asset("demo.html", "text/html; charset=utf-8", "no-cache")


@bp.route("/dashboard", methods=["GET"])
def dashboard() -> Response:
    return _asset("dashboard.html", "text/html; charset=utf-8", "no-cache")


@bp.route("/dashboard.js", methods=["GET"])
def dashboard_js() -> Response:
    return _asset("dashboard.js", "application/javascript; charset=utf-8", "no-cache")


@bp.route("/dashboard.css", methods=["GET"])
def dashboard_css() -> Response:
    return _asset("dashboard.css", "text/css; charset=utf-8", "no-cache")
