"""A tool from a REST operation: its arguments are the route's body (or query) plus its path ids, validated
with the same schema and described the same way when wrong; its result is the route's response model.

The SDK's ``Tool`` is built directly (rather than from a function signature) so that the input schema *is*
the REST schema and a bad argument reads as the REST API would say it (``to_number: must be a phone number in
E.164 format...``), as an MCP tool error the model can act on.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.domain.errors import DomainError
from chalicelib.mcp_server.backend import Backend, ToolFailure
from chalicelib.schemas.common import Strict
from chalicelib.schemas.validation import describe_validation_error

MAX_ID = 2**53 - 1

Body = TypeVar("Body", bound=BaseModel)


class NoBody(Strict):
    """The arguments of a tool that takes only ids: anything else is an unknown field."""


@dataclass(frozen=True)
class Call(Generic[Body]):
    ids: Mapping[str, int]
    body: Body


@dataclass(frozen=True)
class ToolSpec(Generic[Body]):
    name: str
    title: str
    description: str
    body: type[Body]
    result: type[BaseModel]
    run: Callable[[Backend, Call[Body]], BaseModel]
    ids: tuple[str, ...] = ()
    read_only: bool = False
    destructive: bool = False
    open_world: bool = False
    """It reaches outside Parley (places phone calls)."""


class RawArguments(ArgModelBase):
    """Hands the tool its arguments as sent: ``parse_call`` validates them with the REST schema."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def parse_id(name: str, value: Any) -> int:
    """A path id: a positive integer (a string of digits is accepted too, as in a URL)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ToolError(f"{name} must be a positive integer")
    return value


def parse_call(spec: ToolSpec[Body], arguments: Mapping[str, Any]) -> Call[Body]:
    ids = {name: parse_id(name, arguments.get(name)) for name in spec.ids}
    rest = {key: value for key, value in arguments.items() if key not in spec.ids}
    try:
        body = spec.body.model_validate(rest)
    except ValidationError as error:
        raise ToolError(describe_validation_error(error).description) from None
    except DomainError as error:  # a schema's own check (e.g. pageno * pagesize too deep)
        raise ToolError(error.description) from None
    return Call(ids=ids, body=body)


def input_schema(spec: ToolSpec[Any]) -> dict[str, Any]:
    schema = spec.body.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    ids = {name: {"type": "integer", "minimum": 1, "maximum": MAX_ID} for name in spec.ids}
    schema["properties"] = {**ids, **schema.get("properties", {})}
    required = [*spec.ids, *schema.get("required", [])]
    if required:
        schema["required"] = required
    return schema


def build_tool(spec: ToolSpec[Any], backend: Callable[[], Backend]) -> Tool:
    """The SDK tool running ``spec`` against ``backend()`` (the backend of the request being served)."""

    def call(arguments: dict[str, Any]) -> BaseModel:
        parsed = parse_call(spec, arguments)
        try:
            return spec.run(backend(), parsed)
        except ToolFailure as failure:
            raise ToolError(failure.description) from None

    return Tool(
        fn=call,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=input_schema(spec),
        fn_metadata=FuncMetadata(arg_model=RawArguments, output_model=spec.result),
        is_async=False,
        context_kwarg=None,
        annotations=ToolAnnotations(title=spec.title, read_only_hint=spec.read_only,
                                    destructive_hint=spec.destructive, open_world_hint=spec.open_world),
    )
