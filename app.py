"""Parley's Chalice app: REST API routes (blueprints in chalicelib/api/) and, later, event handlers."""
from chalice import Chalice

from chalicelib.api import agents, calls, openapi, phone_numbers, post_call_actions, providers
from chalicelib.api.auth import auth_bp
from chalicelib.api.routing import install_error_middleware

app = Chalice(app_name="parley")
app.api.binary_types = []
install_error_middleware(app)

API = "/api/v1"
app.register_blueprint(auth_bp)
for module in (agents, post_call_actions, phone_numbers, calls, providers, openapi):
    app.register_blueprint(module.bp, url_prefix=API)
