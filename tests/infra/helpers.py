"""Reading the synthesized template in tests: resources by type, roles' statements, ARN targets."""
from __future__ import annotations

import re
from typing import Any

from aws_cdk import Stack

from tests.infra.conftest import Synthesized

SAM_FUNCTION = "AWS::Serverless::Function"


def resources(synthesized: Synthesized, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in synthesized.template_json["Resources"].items() if v["Type"] == kind}


def table_resource(synthesized: Synthesized, model: type) -> tuple[str, dict[str, Any]]:
    matches = [
        (logical_id, resource)
        for logical_id, resource in resources(synthesized, "AWS::DynamoDB::Table").items()
        if resource["Properties"]["TableName"] == model.Meta.table_name
    ]
    assert len(matches) == 1, f"expected one table named {model.Meta.table_name}"
    return matches[0]


def logical_id(stack: Stack, construct: Any) -> str:
    return stack.resolve(stack.get_logical_id(construct.node.default_child))


def expected_key_schema(model: type) -> list[dict[str, str]]:
    schema = []
    for attribute in model.get_attributes().values():
        if attribute.is_hash_key:
            schema.insert(0, {"AttributeName": attribute.attr_name, "KeyType": "HASH"})
        elif attribute.is_range_key:
            schema.append({"AttributeName": attribute.attr_name, "KeyType": "RANGE"})
    return schema


def role_policies(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(synthesized, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def table_arn_target(resource: Any, tables: dict[str, type]) -> tuple[str, str | None]:
    """(table logical id, index name or None) for a table or index ARN; fails on anything else."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        table_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn" and table_id in tables, resource
        return table_id, None
    parts = resource["Fn::Join"][1]
    assert resource["Fn::Join"][0] == "" and len(parts) == 2, resource
    table_id, _ = table_arn_target(parts[0], tables)
    assert parts[1].startswith("/index/") and "*" not in parts[1], resource
    return table_id, parts[1].removeprefix("/index/")


def function_roles(synthesized: Synthesized) -> dict[str, str]:
    return {
        name: function["Properties"]["Role"]["Fn::GetAtt"][0]
        for name, function in resources(synthesized, SAM_FUNCTION).items()
    }


def resolve_arn_parts(value: Any, substitutions: dict[str, str]) -> str:
    """A ``Fn::Join`` / ``Ref`` expression as a string, with ``Ref``s replaced from ``substitutions``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return substitutions[value["Ref"]]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_arn_parts(part, substitutions) for part in parts)
    raise AssertionError(f"cannot resolve {value!r}")


def references(value: Any) -> set[str]:
    """Logical ids ``value`` refers to (Ref, GetAtt, and ``${X}`` / ``${X.Attr}`` inside Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text)}
                if isinstance(inner, list):
                    found |= references(inner[1])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
