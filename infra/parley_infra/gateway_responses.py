"""API Gateway's own error responses, in Parley's JSON error shape.

The bodies come from ``chalicelib.api.gateway_errors.GATEWAY_ERRORS`` (what the local stack serves too), so local
and deployed APIs answer a missing route or a rejected key identically.

They are written into the REST API's OpenAPI definition (``x-amazon-apigateway-gateway-responses``)
rather than as separate ``AWS::ApiGateway::GatewayResponse`` resources: the SAM API is imported from
its definition in overwrite mode on every deployment, which drops gateway responses created beside
it (aws/serverless-application-model#390, #623), and a separate resource's change does not trigger a
new API deployment. Inside the definition they are part of every deployment.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.api.gateway_errors import GATEWAY_ERRORS, gateway_error

EXTENSION = "x-amazon-apigateway-gateway-responses"
CONTENT_TYPE = "application/json"


def gateway_responses(kinds: Mapping[str, Any] = GATEWAY_ERRORS) -> dict[str, dict[str, Any]]:
    """The ``x-amazon-apigateway-gateway-responses`` object: response type -> status and JSON body."""
    responses: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        status, body = gateway_error(kind)
        template = body.decode()
        if "$" in template:
            # API Gateway substitutes $context / $stageVariables references in these templates.
            raise ValueError(f"{kind}: gateway response bodies must not contain '$'")
        responses[kind] = {"responseTemplates": {CONTENT_TYPE: template}}
        if status is not None:
            responses[kind]["statusCode"] = str(status)
    return responses
