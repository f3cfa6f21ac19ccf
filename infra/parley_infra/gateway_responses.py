"""API Gateway's own error responses, in Parley's JSON error shape.

The bodies come from ``chalicelib.api.gateway_errors.GATEWAY_ERRORS`` (what the local stack serves too), so local
and deployed APIs answer a missing route or a rejected key identically.

They are written into the REST API's OpenAPI definition (``x-amazon-apigateway-gateway-responses``)
rather than as separate ``AWS::ApiGateway::GatewayResponse`` resources: the SAM API is imported from
its definition in overwrite mode on every deployment, which drops gateway responses created beside
it (aws/serverless-application-model#390, #623), and a separate resource's change does not trigger a
new API deployment. Inside the definition they are part of every deployment.

Every gateway response allows any origin (``Access-Control-Allow-Origin: *``): web pages call
``POST /api/v1/web-calls`` cross-origin, and without the header a browser hides a rejected key's or a
throttled request's JSON error from the page. The routes' own answers carry the CORS headers Chalice
adds (``cors=`` on the route); the origin a public key may be used from is checked by the app.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.api.gateway_errors import GATEWAY_ERRORS, gateway_error

EXTENSION = "x-amazon-apigateway-gateway-responses"
CONTENT_TYPE = "application/json"
CORS_HEADERS = {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}
"""Header mappings of every gateway response (static values are quoted, as API Gateway requires)."""


def gateway_responses(kinds: Mapping[str, Any] = GATEWAY_ERRORS) -> dict[str, dict[str, Any]]:
    """The ``x-amazon-apigateway-gateway-responses`` object: response type -> status and JSON body."""
    responses: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        status, body = gateway_error(kind)
        template = body.decode()
        if "$" in template:
            # API Gateway substitutes $context / $stageVariables references in these templates.
            raise ValueError(f"{kind}: gateway response bodies must not contain '$'")
        responses[kind] = {"responseParameters": dict(CORS_HEADERS), "responseTemplates": {CONTENT_TYPE: template}}
        if status is not None:
            responses[kind]["statusCode"] = str(status)
    return responses
