"""OpenAPI fragments of the instance routes: settings, collections, filters, pages, announcements
(gancio-api.md §2.7 to §2.9 and the pages addendum)."""

from __future__ import annotations

from piazza.openapi import FLAG, ID, STRING, Schema, array_of, object_of, request_body

SETTING_BODY = request_body(
    {"key": STRING, "value": {}, "is_secret": FLAG}, required=["key"], multipart=True, body_required=True
)
SMTP_BODY = request_body({"smtp": {"type": "object"}}, required=["smtp"], form=False, body_required=True)


def image_upload_body(field: str) -> Schema:
    """An instance image: one multipart file; no file resets it to the bundled default."""
    return request_body({}, json=False, form=False, multipart=True, files=[field])


COLLECTION_BODY = request_body({"name": STRING}, required=["name"], multipart=True, body_required=True)
FILTER_FIELDS: Schema = {
    "tags": array_of(STRING),
    "places": array_of({"type": "object"}),
    "actors": array_of({"type": "object"}),
    "negate": FLAG,
}
FILTER_CREATE_BODY = request_body(
    {"collectionId": {"type": ["integer", "string"]}, **FILTER_FIELDS},
    required=["collectionId"],
    body_required=True,
)
FILTER_UPDATE_BODY = request_body(FILTER_FIELDS, body_required=True)
PAGE_BODY = request_body(
    {"title": STRING, "content": STRING, "visible": FLAG}, multipart=True, body_required=True
)
ANNOUNCEMENT_BODY = request_body(
    {"title": STRING, "announcement": STRING, "visible": FLAG}, multipart=True, body_required=True
)
MESSAGE_BODY = request_body(
    {"message": STRING, "is_author_visible": FLAG}, required=["message"], multipart=True, body_required=True
)

COLLECTION = object_of(
    {"id": ID, "name": STRING, "isActor": {"type": "boolean"}, "isTop": {"type": "boolean"}},
    required=["id", "name"],
)
FILTER = object_of({"id": ID}, required=["id"])
PAGE = object_of({"id": ID, "title": STRING, "slug": STRING}, required=["id", "title"])
ANNOUNCEMENT = object_of(
    {"id": ID, "title": STRING, "announcement": {"type": ["string", "null"]}, "visible": {"type": "boolean"}},
    required=["id", "title"],
)
