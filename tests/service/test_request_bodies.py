"""Every JSON request body refuses fields it does not know.

Deny by default for bodies: a caller who writes `permissions` where the API says `perms`, or sends `user_id` on a
route that takes the user from the credential, must get a 422 naming the field, not a request that quietly did
something else. This walks the running app's OpenAPI schema, so a router added later is covered without a line
here; a body model that is not a `bastion.service.schemas.RequestBody` fails it.
"""

from __future__ import annotations

from typing import Any

import httpx

from auth_support import OPERATOR
from bastion.service.app import create_app
from bastion.service.testing import ServerThread

# Bodies that are not pydantic models on purpose, with the reason.
OPEN_BODIES: dict[tuple[str, str], str] = {
    # A browser's PublicKeyCredential JSON, passed whole to the webauthn library, which checks what it needs;
    # browsers add members over time (authenticatorAttachment, clientExtensionResults, ...).
    ("POST", "/v1/users/{user_id}/passkeys/registration/verify"): "WebAuthn credential JSON",
    ("POST", "/v1/users/{user_id}/passkeys/authentication/verify"): "WebAuthn credential JSON",
}


def _json_bodies(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path, content["application/json"]["schema"]))
    return found


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]


def test_every_json_body_forbids_unknown_fields(settings: Any) -> None:
    schema = create_app(settings).openapi()
    bodies = _json_bodies(schema)
    assert len(bodies) > 20  # the walk really found the routes
    open_ones = []
    for method, path, node in bodies:
        target = _resolve(schema, node)
        if target.get("type") == "array":  # a list of rows: each row must be closed
            target = _resolve(schema, target["items"])
        members = [_resolve(schema, m) for m in target.get("oneOf", target.get("anyOf", [target]))]
        if any(m.get("additionalProperties") is not False for m in members) and (method, path) not in OPEN_BODIES:
            open_ones.append(f"{method} {path}")
    assert not open_ones, f"bodies that accept unknown fields (subclass RequestBody): {open_ones}"


def test_a_misspelt_field_is_refused_by_name(settings: Any) -> None:
    # `permissions` for `perms`: before, this created a read-only key and answered 201.
    with ServerThread(create_app(settings)) as url, httpx.Client(base_url=url, headers=OPERATOR) as http:
        body = {"label": "bot", "passphrase": "Correct-Horse-9", "permissions": ["trade"]}
        r = http.post("/v1/users/u1/keys", json=body)
        assert r.status_code == 422, r.text
        assert "permissions" in r.json()["message"]
