"""The MCP server's Lambda (``chalicelib.mcp_server.aws_lambda.handler``), behind the REST API at ``/api/v1/mcp``.

It is not a Chalice route (Chalice serves its own WSGI-like handler; the MCP SDK is an ASGI app, run through
Mangum), so it is added next to the Chalice app: the same code package (``chalice package``'s
``deployment.zip``, which carries ``requirements.txt``'s ``mcp`` and ``mangum``), the same runtime, memory and
timeout as the API handler, and an ``ANY`` method on the REST API with an ``AWS_PROXY`` integration. The method
is guarded like the REST routes: the API-key authorizer, and the account's usage key (the per-account throttle
of ``parley_infra.api.meter_accounts``); the function checks the bearer key again itself
(``chalicelib.mcp_server.auth``: the same check the local stack relies on).

As for the Chalice routes (``parley_infra.api.invoke_functions_by_name``), the integration names the function's
ARN from its fixed name, so the function may refer to the API (its URL, for DNS-rebinding protection and Twilio
callbacks) without a circular dependency.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_sam as sam

from parley_infra.api import LOG_RETENTION, REST_API, USAGE_KEY, PackagedChalice
from parley_infra.permissions import allow_logging

MCP_PATH = "/api/v1/mcp"
HANDLER = "chalicelib.mcp_server.aws_lambda.handler"
API_HANDLER = "APIHandler"
AUTHORIZER = "api_key_auth"
"""The security definition of Chalice's API-key authorizer (``chalicelib.api.auth.api_key_auth``)."""


def integration(function_name: str, authorizer: str = AUTHORIZER) -> dict[str, Any]:
    """The OpenAPI path item: any method, behind ``authorizer`` and the usage key, proxied to the function named
    ``function_name``."""
    function_arn = f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{function_name}"
    return {
        "x-amazon-apigateway-any-method": {
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "responses": {},
            "security": [{authorizer: []}, {USAGE_KEY: []}],
            "x-amazon-apigateway-integration": {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                                   f"functions/{function_arn}/invocations"},
                "passthroughBehavior": "when_no_match",
                "contentHandling": "CONVERT_TO_TEXT",
            },
        }
    }


class McpServerFunction:
    """The function, its log group, its route on the REST API and API Gateway's permission to invoke it."""

    def __init__(self, chalice_app: PackagedChalice, template: Mapping[str, Any], *, name: str, role: iam.Role,
                 environment: Mapping[str, str]) -> None:
        handler = template["Resources"][API_HANDLER]["Properties"]
        code = assets.Asset(chalice_app, "McpCode", path=str(chalice_app.package_dir / "deployment.zip"))
        self.log_group = logs.LogGroup(
            chalice_app, "McpHandlerLogs", log_group_name=f"/aws/lambda/{name}", retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.function = lambda_.CfnFunction(
            chalice_app, "McpHandler",
            function_name=name,
            handler=HANDLER,
            runtime=handler["Runtime"],
            architectures=handler.get("Architectures"),
            memory_size=handler["MemorySize"],
            timeout=handler["Timeout"],
            role=role.role_arn,
            code=lambda_.CfnFunction.CodeProperty(s3_bucket=code.s3_bucket_name, s3_key=code.s3_object_key),
            environment=lambda_.CfnFunction.EnvironmentProperty(variables={
                **handler.get("Environment", {}).get("Variables", {}), **environment}),
        )
        allow_logging(role, self.log_group)
        self.function.node.add_dependency(self.log_group, role)
        rest_api: sam.CfnApi = chalice_app.get_resource(REST_API)
        rest_api.add_property_override(f"DefinitionBody.paths.{MCP_PATH}", integration(name))
        lambda_.CfnPermission(
            chalice_app, "McpHandlerInvokePermission",
            action="lambda:InvokeFunction",
            function_name=self.function.ref,
            principal="apigateway.amazonaws.com",
            source_arn=f"arn:{Aws.PARTITION}:execute-api:{Aws.REGION}:{Aws.ACCOUNT_ID}:{rest_api.ref}/*/*{MCP_PATH}",
        )
