"""The MCP server's Lambda: the Chalice package with its own handler, routed at ANY /api/v1/mcp by name, with
the grants of a function that places calls and checks API keys."""
from __future__ import annotations

from typing import Any

from parley_infra.mcp import HANDLER, MCP_PATH
from tests.infra.conftest import Synthesized
from tests.infra.helpers import SAM_FUNCTION, as_list, logical_id, resources, role_policies


def _function(synthesized: Synthesized) -> dict[str, Any]:
    (function,) = [f for f in resources(synthesized, "AWS::Lambda::Function").values()
                   if f["Properties"].get("Handler") == HANDLER]
    return function["Properties"]


def test_the_function_runs_the_chalice_package_with_the_mcp_handler(synthesized: Synthesized) -> None:
    mcp = _function(synthesized)
    api = resources(synthesized, SAM_FUNCTION)["APIHandler"]["Properties"]
    assert mcp["Handler"] == "chalicelib.mcp_server.aws_lambda.handler"
    assert (mcp["Runtime"], mcp["MemorySize"], mcp["Timeout"]) == (api["Runtime"], api["MemorySize"], api["Timeout"])
    assert mcp["Code"]["S3Key"] == api["CodeUri"]["Key"]  # the same deployment.zip
    variables = mcp["Environment"]["Variables"]
    for name in ("PARLEY_TABLE_PREFIX", "PARLEY_PUBLIC_API_URL", "PARLEY_TWILIO_API_URL", "PARLEY_KMS_KEY_ID",
                 "PARLEY_MCP_ALLOWED_HOSTS"):
        assert name in variables, name
    assert mcp["FunctionName"] == synthesized.stack.settings.resource_name("mcp-handler")


def test_any_method_on_the_mcp_path_is_metered_and_proxied_to_the_function_by_name(synthesized: Synthesized) -> None:
    (rest_api,) = resources(synthesized, "AWS::Serverless::Api").values()
    item = rest_api["Properties"]["DefinitionBody"]["paths"][MCP_PATH]
    (method,) = item.values()
    assert list(item) == ["x-amazon-apigateway-any-method"]
    integration = method["x-amazon-apigateway-integration"]
    name = _function(synthesized)["FunctionName"]
    assert integration["type"] == "aws_proxy" and integration["httpMethod"] == "POST"
    assert integration["uri"]["Fn::Sub"].endswith(f":function:{name}/invocations")
    # Guarded like the REST routes: the API-key authorizer and the account's usage key (per-account throttle);
    # the function checks the bearer key again itself.
    assert method["security"] == [{"api_key_auth": []}, {"api_key": []}]
    assert {"api_key_auth", "api_key"} <= set(rest_api["Properties"]["DefinitionBody"]["securityDefinitions"])
    (permission,) = [p["Properties"] for p in resources(synthesized, "AWS::Lambda::Permission").values()
                     if "Mcp" in str(p["Properties"]["FunctionName"])]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert MCP_PATH in str(permission["SourceArn"])


def test_the_role_reads_api_keys_places_calls_and_never_seals(synthesized: Synthesized) -> None:
    role = logical_id(synthesized.stack, synthesized.stack.roles["McpHandler"])
    assert _function(synthesized)["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    statements = role_policies(synthesized, role)
    actions = {action for s in statements for action in as_list(s["Action"])}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "sqs:SendMessage", "kms:Decrypt", "events:PutEvents",
            "secretsmanager:GetSecretValue", "logs:PutLogEvents"} <= actions
    secrets_key = {"Fn::GetAtt": [logical_id(synthesized.stack, synthesized.stack.keys.secrets), "Arn"]}
    on_secrets = [s for s in statements if secrets_key in as_list(s["Resource"])]
    assert [as_list(s["Action"]) for s in on_secrets] == [["kms:Decrypt"]]  # opens Twilio credentials, never seals
    api_keys = [s for s in statements if "ApiKey" in str(s["Resource"]) and "dynamodb:GetItem" in as_list(s["Action"])]
    assert api_keys and all(as_list(s["Action"]) == ["dynamodb:GetItem"] for s in api_keys)
    outputs = synthesized.template_json["Outputs"]
    assert any(MCP_PATH in str(output["Value"]) for output in outputs.values())
