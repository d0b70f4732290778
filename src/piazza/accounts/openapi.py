"""OpenAPI fragments of the user routes (gancio-api.md §2.2, §6)."""

from __future__ import annotations

from piazza.openapi import FLAG, ID, STRING, Schema, object_of, request_body

USER: Schema = object_of(
    {
        "id": ID,
        "email": STRING,
        "description": {"type": ["string", "null"]},
        "role": {"type": "string", "enum": ["admin", "editor", "user"]},
        "is_active": {"type": "boolean"},
        "is_admin": {"type": "boolean"},
        "is_editor": {"type": "boolean"},
        "settings": {"type": ["object", "array"]},
        "createdAt": STRING,
        "updatedAt": STRING,
    },
    required=["id", "email", "role", "is_active"],
)
REGISTER_BODY = request_body(
    {"email": STRING, "password": STRING, "description": STRING},
    required=["email", "password"],
    multipart=True,
    body_required=True,
)
CREATE_USER_BODY = request_body(
    {"email": STRING, "role": STRING, "password": STRING, "description": STRING},
    required=["email"],
    multipart=True,
    body_required=True,
)
UPDATE_USER_BODY = request_body(
    {
        "id": {"type": ["integer", "string"]},
        "email": STRING,
        "role": STRING,
        "is_active": FLAG,
        "password": STRING,
        "description": STRING,
        "settings": {"type": "object"},
    },
    required=["id"],
    multipart=True,
    body_required=True,
)
RECOVER_BODY = request_body({"email": STRING}, required=["email"], multipart=True, body_required=True)
CHECK_RECOVER_CODE_BODY = request_body({"recover_code": STRING}, multipart=True)
RECOVER_PASSWORD_BODY = request_body({"recover_code": STRING, "password": STRING}, multipart=True)
