"""The OpenAPI 3.1 document, built from the routes' ``RouteSpec``s and pydantic models of the app it is given.

``make openapi`` (``python -m cli.openapi``) rewrites ``chalicelib/api/openapi.json``; a test fails when the
committed file and the code disagree. The Lambda serves the committed file. This module never imports the
app (the app registers this module's blueprint): whoever builds the document passes the app in.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.schemas.common import ErrorBody

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
API_PREFIX = "/api/v1"
ERRORS = {
    "400": "Malformed JSON or an empty body",
    "401": "Missing or unknown API key",
    "403": "Signature or permission check failed",
    "404": "No such resource in your account",
    "405": "Method not allowed on this path",
    "409": "Conflicts with the current state (e.g. already imported)",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "A field failed validation (named in `field`)",
}

bp = Blueprint(__name__)


@bp.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    return Response(body=DOCUMENT_PATH.read_text(), status_code=200,
                    headers={"Content-Type": "application/json"})


def _specs(app: Any) -> list[tuple[str, str, Any]]:
    found = []
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            spec = getattr(entry.view_function, "openapi", None)
            if spec is not None:
                found.append((path, method, spec))
    return found


def build_document(app: Any) -> dict[str, Any]:
    specs = _specs(app)
    models: set[type[BaseModel]] = {ErrorBody}
    for _, _, spec in specs:
        models.update(m for m in spec.responses.values() if m)
        if spec.body:
            models.add(spec.body)
        if spec.form:
            models.add(spec.form)
        if spec.signed_body:
            models.add(spec.signed_body)
    ordered = sorted(models, key=lambda m: m.__name__)
    mode: JsonSchemaMode = "validation"
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, mode) for m in ordered if m in {s.body or s.form or s.signed_body for _, _, s in specs}]
    keys += [(m, "serialization") for m in ordered]
    refs, schema = models_json_schema(keys, ref_template="#/components/schemas/{model}")
    components = schema.get("$defs", {})
    paths: dict[str, Any] = {}
    for path, method, spec in specs:
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": _operation_id(method, path),
            "responses": {},
        }
        parameters = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": 9999999999999999}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        if spec.query:
            query_schema = spec.query.model_json_schema()
            for name, prop in query_schema.get("properties", {}).items():
                prop = {k: v for k, v in prop.items() if k != "title"}
                parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
        for header, description in spec.headers.items():
            parameters.append({"name": header, "in": "header", "required": False, "description": description,
                               "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        if parameters:
            operation["parameters"] = parameters
        if spec.body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
            }
        if spec.signed_body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(spec.signed_body, "validation")]}},
            }
        if spec.form:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": refs[(spec.form, "validation")]}},
            }
        for status, model in spec.responses.items():
            if model is None and spec.text_response:
                operation["responses"][str(status)] = {
                    "description": "Success", "content": {spec.text_response: {"schema": {"type": "string"}}}}
                continue
            if model is None:
                operation["responses"][str(status)] = {"description": "Success, no body"}
                continue
            operation["responses"][str(status)] = {
                "description": "Success",
                "content": {"application/json": {"schema": refs[(model, "serialization")]}},
            }
        error_ref = refs[(ErrorBody, "serialization")]
        errors = {**ERRORS, **{str(status): text for status, text in spec.errors.items()}}
        for status, description in errors.items():
            if status == "401" and spec.public:
                continue
            operation["responses"][status] = {"description": description,
                                              "content": {"application/json": {"schema": error_ref}}}
        if spec.public:
            operation["security"] = []
        paths.setdefault(path, {})[method.lower()] = operation  # the app's full path (most under /api/v1)
    paths[API_PREFIX + "/openapi.json"] = {"get": {
        "summary": "This document", "tags": ["Meta"], "operationId": "get_openapi", "security": [],
        "responses": {"200": {"description": "The OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Parley API", "version": "1.0.0",
                 "description": "Voice-agent platform API, compatible with the omnidimension SDK 0.6.0."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "Authorization: Bearer <API key>"}},
        },
    }


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", path.replace("{", "by_").replace("}", "")).strip("_")
    return f"{method.lower()}_{words}"


def render(app: Any) -> str:
    return json.dumps(build_document(app), indent=2, sort_keys=True) + "\n"
