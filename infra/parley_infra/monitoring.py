"""Live monitoring in AWS: the monitoring WebSocket API (docs/monitoring.md) and who may post to its connections.

``chalice package`` emits the WebSocket API from ``app.py``'s ``@app.on_ws_*`` handlers: ``WebsocketAPI``
(``AWS::ApiGatewayV2::Api``, route selection ``$request.body.action``), one Lambda proxy integration and route
per handler (``$connect``, ``$default``, ``$disconnect``), a deployment and a stage named like the REST API's
(``api_gateway_stage``), and each handler's invoke permission scoped to the API. This module adds what the
package leaves out: the stage's access logs, execution logging at ERROR and its throttle (``monitorRateLimit``,
``monitorBurstLimit``), and the URLs and grants of the publishers.

Publishers post to a connection through the API's management endpoint
(``https://<api-id>.execute-api.<region>.<suffix>/<stage>``, ``PARLEY_MONITOR_MANAGEMENT_URL``) with
``execute-api:ManageConnections`` on ``.../<api-id>/<stage>/POST/@connections/*`` only (no GET or DELETE:
the code only posts; a connection that is gone answers 410 and its record is deleted from the table).
Clients are handed ``wss://<api-id>.execute-api.<region>.<suffix>/<stage>`` (``PARLEY_MONITOR_URL``, the
stack output ``MonitorUrl``); the streaming tasks also connect there themselves (their task link, which
carries supervisor controls).

No dependency cycle: the handlers' environment refers to the API (``Ref WebsocketAPI``), and the API resource
itself refers to nothing; only its integrations refer to the functions (by name), and the functions refer to
no integration, route or stage. The URLs are built from the API's id and the stage's *name* (known at synth),
never from the stage resource.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigatewayv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from chalice.cdk import Chalice

from parley_infra.api import LOG_RETENTION, REQUEST_LOG_FIELDS, api_gateway_logging_role
from parley_infra.settings import StageSettings

WEBSOCKET_API = "WebsocketAPI"
WEBSOCKET_STAGE = "WebsocketAPIStage"
"""Chalice's logical ids for the WebSocket API and its stage."""

WEBSOCKET_CONNECT = "WebsocketConnect"
WEBSOCKET_MESSAGE = "WebsocketMessage"
WEBSOCKET_DISCONNECT = "WebsocketDisconnect"
"""Chalice's logical ids for the ``$connect``, ``$default`` and ``$disconnect`` handlers (``app.py``'s
``monitor_connect``, ``monitor_message``, ``monitor_disconnect``)."""

ROUTES: Mapping[str, str] = {
    "$connect": WEBSOCKET_CONNECT,
    "$default": WEBSOCKET_MESSAGE,
    "$disconnect": WEBSOCKET_DISCONNECT,
}

MONITOR_URL_VARIABLE = "PARLEY_MONITOR_URL"
MANAGEMENT_URL_VARIABLE = "PARLEY_MONITOR_MANAGEMENT_URL"
"""What ``chalicelib.monitoring.sender`` reads (the same names in the Lambdas and the streaming task)."""

MANAGE_CONNECTIONS = "execute-api:ManageConnections"
POST_TO_CONNECTION = "POST"
"""``post_to_connection`` is ``POST @connections/{id}``: the only management call Parley makes."""

ACCESS_LOG_FORMAT: Mapping[str, str] = {
    **REQUEST_LOG_FIELDS,
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "connectionId": "$context.connectionId",
    "status": "$context.status",
    "integrationLatency": "$context.integrationLatency",
    "error": "$context.error.message",
    "disconnectStatusCode": "$context.disconnectStatusCode",
    "disconnectReason": "$context.disconnectReason",
}
"""One JSON line per connect, message and disconnect. Neither query strings (monitor tokens) nor message
bodies are logged (data trace stays off too)."""


class MonitoringApi:
    """The Chalice-packaged monitoring WebSocket API, its stage's logging and throttle, and its URLs."""

    def __init__(self, chalice_app: Chalice, template: Mapping[str, Any], settings: StageSettings) -> None:
        resources = template["Resources"]
        missing = [name for name in (WEBSOCKET_API, WEBSOCKET_STAGE, *ROUTES.values()) if name not in resources]
        if missing:
            raise RuntimeError(f"chalice package emitted no {missing}: app.py must define the monitoring "
                               "WebSocket handlers (@app.on_ws_connect/message/disconnect)")
        self.api: apigatewayv2.CfnApi = chalice_app.get_resource(WEBSOCKET_API)  # CfnInclude returns the typed L1
        self.stage: apigatewayv2.CfnStage = chalice_app.get_resource(WEBSOCKET_STAGE)
        self.stage_name: str = resources[WEBSOCKET_STAGE]["Properties"]["StageName"]
        self.host = f"{self.api.ref}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        host = self.host
        self.url = f"wss://{host}/{self.stage_name}"
        """What clients (and streaming tasks) connect to: ``PARLEY_MONITOR_URL``, output ``MonitorUrl``."""
        self.management_url = f"https://{host}/{self.stage_name}"
        """The management API's endpoint (``post_to_connection``): ``PARLEY_MONITOR_MANAGEMENT_URL``."""
        self.environment = {MONITOR_URL_VARIABLE: self.url, MANAGEMENT_URL_VARIABLE: self.management_url}
        self.connections_arn = (
            f"arn:{Aws.PARTITION}:execute-api:{Aws.REGION}:{Aws.ACCOUNT_ID}:{self.api.ref}/{self.stage_name}"
            f"/{POST_TO_CONNECTION}/@connections/*"
        )
        """Posting to any connection of this API's stage (connection ids are made by API Gateway per connect)."""

        self.access_logs = logs.LogGroup(
            chalice_app,
            "MonitorAccessLogs",
            log_group_name=f"/parley/{settings.stage}/monitor-access",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        throttle = settings.throttling
        self.stage.access_log_settings = apigatewayv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn,
            format=json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
        )
        self.stage.default_route_settings = apigatewayv2.CfnStage.RouteSettingsProperty(
            logging_level="ERROR",
            data_trace_enabled=False,
            detailed_metrics_enabled=True,
            throttling_rate_limit=throttle.monitor_rate_limit,
            throttling_burst_limit=throttle.monitor_burst_limit,
        )
        # Logging goes through the region's API Gateway CloudWatch role, like the REST API's.
        self.stage.node.add_dependency(api_gateway_logging_role(chalice_app))

    def allow_posts(self, role: iam.IRole) -> None:
        """Post to this API's connections (``PARLEY_MONITOR_MANAGEMENT_URL``), and nothing else."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=[MANAGE_CONNECTIONS], resources=[self.connections_arn])
        )
