"""``api_route``: one decorator that registers a Chalice route, validates its input with pydantic,
maps errors to ``{"error", "error_description"}`` and records what the OpenAPI document needs."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalice import Blueprint, CORSConfig, Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.auth import api_key_auth
from chalicelib.api.errors import InvalidJson, PayloadTooLarge, error_body, error_headers, status_for
from chalicelib.config import Settings
from chalicelib.domain.errors import DomainError, ValidationFailed
from chalicelib.observability import logger
from chalicelib.schemas.validation import describe_validation_error


@dataclass(frozen=True)
class RouteSpec:
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    public: bool = False
    form: type[BaseModel] | None = None
    authenticates_itself: bool = False
    """Not behind the API-key authorizer: the handler checks the bearer key itself (and may answer 401)."""
    cors: CORSConfig | None = None
    errors: dict[int, str] = field(default_factory=dict)
    """Error statuses this route answers beyond the common ones (the OpenAPI document lists them)."""
    text_response: str | None = None
    """The media type of a success answer that is not JSON (e.g. TwiML's ``application/xml``)."""
    signed_body: type[BaseModel] | None = None
    """A JSON body the handler gets raw (``raw_body``, bytes, size-checked only) because it must check a signature
    over its exact bytes before parsing it; the model documents it."""


@dataclass
class ApiRequest:
    account_id: int
    body: Any
    raw_body: Any
    query: Any
    headers: dict[str, str]


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", exclude_none=False)
    return Response(body=json.dumps(body), status_code=status_code,
                    headers={"Content-Type": "application/json", **(headers or {})})


def error_response(error: DomainError) -> Response:
    return json_response(error_body(error), status_for(error), error_headers(error))


def parse_body(model: type[BaseModel], raw: str | bytes | None) -> tuple[BaseModel, Any]:
    settings = Settings.from_env()
    if raw and len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(f"request body is larger than {settings.max_body_bytes} bytes")
    if not raw or not raw.strip():
        raise InvalidJson("request body is empty; send a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidJson(f"request body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object", field="body")
    try:
        return model.model_validate(data), data
    except ValidationError as error:
        raise describe_validation_error(error) from None


def raw_bytes(raw: str | bytes | None) -> bytes:
    """A body handed over unparsed, once its size is checked."""
    data = raw.encode() if isinstance(raw, str) else (raw or b"")
    if len(data) > Settings.from_env().max_body_bytes:
        raise PayloadTooLarge(f"request body is larger than {Settings.from_env().max_body_bytes} bytes")
    return data


def parse_form(model: type[BaseModel], raw: str | bytes | None) -> tuple[BaseModel, dict[str, str]]:
    """An ``application/x-www-form-urlencoded`` body: the validated model and every field as sent."""
    from urllib.parse import parse_qsl

    if raw and len(raw) > Settings.from_env().max_body_bytes:
        raise PayloadTooLarge("request body is too large")
    try:
        text = raw.decode() if isinstance(raw, bytes) else (raw or "")
        fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise InvalidJson("form body is not UTF-8") from None
    try:
        return model.model_validate(fields), fields
    except ValidationError as error:
        raise describe_validation_error(error) from None


def parse_query(model: type[BaseModel], params: Mapping[str, str] | None) -> BaseModel:
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as error:
        raise describe_validation_error(error) from None


def parse_id(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 16 or int(value) < 1:
        raise ValidationFailed(f"{name} must be a positive integer", field=name)
    return int(value)


Handler = Callable[..., Any]


def api_route(bp: Blueprint, path: str, method: str, spec: RouteSpec) -> Callable[[Handler], Handler]:
    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def view(**path_args: str) -> Response:
            request = bp.current_request
            try:
                ids = {name: parse_id(name, value) for name, value in path_args.items()}
                body = raw = None
                if spec.body is not None:
                    body, raw = parse_body(spec.body, request.raw_body)
                elif spec.form is not None:
                    body, raw = parse_form(spec.form, request.raw_body)
                elif spec.signed_body is not None:
                    raw = raw_bytes(request.raw_body)
                query = parse_query(spec.query, request.query_params) if spec.query else None
                context = request.context.get("authorizer") or {}
                api_request = ApiRequest(
                    account_id=int(context.get("principalId", 0)), body=body, raw_body=raw,
                    query=query, headers=dict(request.headers),
                )
                result = handler(api_request, **ids)
            except DomainError as error:
                return error_response(error)
            if isinstance(result, Response):
                return result
            status = next(iter(spec.responses), 200)
            if isinstance(result, tuple):
                result, status = result
            return json_response(result, status)

        view.openapi = spec  # type: ignore[attr-defined]  # the route spec rides on the view function for the OpenAPI generator
        content_types = ["application/x-www-form-urlencoded"] if spec.form else ["application/json"]
        authorizer = None if spec.public or spec.authenticates_itself else api_key_auth
        options: dict[str, Any] = {"cors": spec.cors} if spec.cors else {}
        bp.route(path, methods=[method], authorizer=authorizer, content_types=content_types, **options)(view)
        return view

    return decorate


CHALICE_ERROR_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequest": "bad_request",
    "BadRequestError": "bad_request",
    "InternalServerError": "internal_error",
}


def normalize_error_response(response: Response) -> Response:
    """Give Chalice's own errors (405, 415, 500...) our JSON error shape."""
    body = response.body
    if isinstance(body, dict) and "Code" in body and "Message" in body:
        code = CHALICE_ERROR_CODES.get(body["Code"], "error")
        if response.status_code >= 500:
            logger.error("unhandled error", extra={"code": body["Code"]})
            description = "an internal error occurred; it has been logged"
        else:
            description = body["Message"]
        return Response(body=json.dumps({"error": code, "error_description": description}),
                        status_code=response.status_code,
                        headers={**response.headers, "Content-Type": "application/json"})
    return response


def install_error_middleware(app: Any) -> None:
    @app.middleware("http")
    def error_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
        return normalize_error_response(get_response(event))
