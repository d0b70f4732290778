"""Builders for the OpenAPI document at `/openapi.json`.

Most routes read their bodies themselves (Gancio accepts JSON, url-encoded forms and multipart on the
same route, gancio-api.md §0.3), so FastAPI cannot see them. Each route describes its body and answers
with `openapi_extra=operation(...)`; each package keeps its field schemas in its own `openapi.py`.
`openapi_document` then adds the error answers any route can give (plain text, as app.py renders them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
TEXT: Schema = {"text/plain": {"schema": STRING}}
# A JSON body may be any value: JSON `null`, or a string for Gancio's bare-string errors.
ANY_JSON: Schema = {}
ID: Schema = {"type": "integer", "minimum": 1}
FLAG: Schema = {"type": ["boolean", "string"]}  # true, "true" or "false": forms cannot send booleans

# Answers any route may give: bad input (400), a bad token (401, RFC 6750 JSON, or Gancio's text),
# the wrong role (403), an unknown id (404), a request over the limits of limits/requests.py (408,
# 413, 414, 431), too many requests (429). Bodies are plain text (app.py), JSON for OAuth errors
# (RFC 6749 §5.2, RFC 6750 §3).
COMMON_ERRORS: dict[str, str] = {
    "400": "Bad input",
    "401": "Missing or invalid credentials",
    "403": "Not allowed",
    "404": "Not found",
    "408": "The body stopped arriving (slow client)",
    "413": "The request is too large",
    "414": "The query string is too long",
    "429": "Too many requests",
    "431": "The headers are too large",
}
ERROR_CONTENT: Schema = {
    "text/plain": {"schema": STRING},
    "application/json": {"schema": ANY_JSON},
}


def request_body(
    properties: Schema,
    *,
    required: Iterable[str] = (),
    json: bool = True,
    form: bool = True,
    multipart: bool = False,
    files: Iterable[str] = (),
    body_required: bool = False,
) -> Schema:
    """A requestBody object: the same fields in each accepted content type (files only in multipart)."""
    schema: Schema = {"type": "object", "properties": properties}
    if required := list(required):
        schema["required"] = required
    content: Schema = {}
    if json:
        content["application/json"] = {"schema": schema}
    flat = {name: _form_field(field) for name, field in properties.items()}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": {**schema, "properties": flat}}
    if multipart:
        file_fields = {name: {"type": "string", "format": "binary"} for name in files}
        content["multipart/form-data"] = {"schema": {**schema, "properties": {**flat, **file_fields}}}
    return {"required": body_required, "content": content}


def _form_field(field: Schema) -> Schema:
    """How a field looks in a form: scalars as strings; arrays as repeated keys of strings."""
    if field.get("type") == "array":
        return {"type": "array", "items": STRING}
    return STRING


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def operation(
    *,
    body: Schema | None = None,
    ok: Schema | None = None,
    ok_description: str = "Success",
    responses: dict[str, tuple[str, Schema]] | None = None,
) -> Schema:
    """`openapi_extra` for a route: its request body and its success answer (a `content` map)."""
    extra: Schema = {}
    if body is not None:
        extra["requestBody"] = body
    answers: Schema = {}
    if ok is not None:
        answers["200"] = {"description": ok_description, "content": ok}
    for status, (description, content) in (responses or {}).items():
        answers[status] = {"description": description, "content": content}
    if answers:
        extra["responses"] = answers
    return extra


def object_of(properties: Schema, *, required: Iterable[str] = (), open_: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required := list(required):
        schema["required"] = required
    if not open_:
        schema["additionalProperties"] = False
    return schema


def array_of(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def openapi_document(app: FastAPI) -> Schema:
    """The app's OpenAPI document, built once: FastAPI's, with the error answers every route can give.

    FastAPI documents a 422 for request validation errors; Piazza answers those with 400 text (app.py),
    so the 422 is dropped unless the route documents its own (Gancio's `POST /api/client` answers 422).
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        openapi_version=app.openapi_version,
        routes=app.routes,
    )
    for path_item in document.get("paths", {}).values():
        for op in path_item.values():
            answers = op.setdefault("responses", {})
            validation = answers.get("422", {})
            if "HTTPValidationError" in str(validation):
                del answers["422"]
            for status, description in COMMON_ERRORS.items():
                answers.setdefault(status, {"description": description, "content": ERROR_CONTENT})
    document.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    document.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    if not document.get("components", {}).get("schemas"):
        document.get("components", {}).pop("schemas", None)
    if not document.get("components"):
        document.pop("components", None)
    app.openapi_schema = document
    return document
