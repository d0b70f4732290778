"""OpenAPI fragments of the OAuth routes (RFC 6749, 7009, 7662, 8414; gancio-api.md §3)."""

from __future__ import annotations

from piazza.openapi import STRING, TEXT, Schema, array_of, json_content, object_of, request_body

# The OAuth endpoints read url-encoded forms only (RFC 6749 §4.1.3, gancio-api.md §0.3).
TOKEN_BODY = request_body(
    {
        "grant_type": STRING,
        "code": STRING,
        "redirect_uri": STRING,
        "code_verifier": STRING,
        "refresh_token": STRING,
        "scope": STRING,
        "client_id": STRING,
        "client_secret": STRING,
    },
    required=["grant_type"],
    json=False,
    body_required=True,
)
LOGIN_BODY = request_body(
    {"username": STRING, "password": STRING, "client_id": STRING, "grant_type": STRING},
    required=["username", "password", "client_id"],
    json=False,
    body_required=True,
)
TOKEN_HINT_BODY = request_body(
    {"token": STRING, "token_type_hint": STRING, "client_id": STRING, "client_secret": STRING},
    required=["token"],
    json=False,
    body_required=True,
)
REGISTRATION_BODY = request_body(
    {
        "client_name": STRING,
        "redirect_uris": {"type": ["string", "array"], "description": "space separated, or a JSON array"},
        "scopes": STRING,
        "website": STRING,
    },
    required=["client_name", "redirect_uris"],
    body_required=True,
)

TOKEN = object_of(
    {
        "access_token": STRING,
        "refresh_token": {"type": ["string", "null"]},
        "token_type": STRING,
        "expires_in": {"type": "integer"},
        "scope": STRING,
        "username": STRING,
    },
    required=["access_token", "token_type"],
)
OAUTH_ERROR = object_of({"error": STRING, "error_description": STRING}, required=["error"])
OAUTH_ERRORS: dict[str, tuple[str, Schema]] = {
    status: (description, {**json_content(OAUTH_ERROR), **TEXT})
    for status, description in (
        ("400", "RFC 6749 §5.2 error"),
        ("401", "Client authentication failed (text on /oauth/login)"),
    )
}
REGISTERED_CLIENT = object_of(
    {
        "client_id": STRING,
        "client_secret": STRING,
        "name": STRING,
        "redirect_uris": STRING,
        "redirectUris": STRING,
        "scopes": {"type": ["string", "null"]},
        "website": {"type": ["string", "null"]},
    },
    required=["client_id", "client_secret", "redirect_uris"],
)
CLIENT = object_of(
    {
        "client_id": STRING,
        "name": STRING,
        "redirect_uris": STRING,
        "scopes": {"type": ["string", "null"]},
        "website": {"type": ["string", "null"]},
    },
    required=["client_id"],
)
AUTHORIZED_APPS = array_of({"type": "object"})
METADATA = object_of(
    {"issuer": STRING, "authorization_endpoint": STRING, "token_endpoint": STRING},
    required=["issuer", "authorization_endpoint", "token_endpoint"],
)
INTROSPECTION = object_of({"active": {"type": "boolean"}}, required=["active"])
