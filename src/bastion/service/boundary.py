"""The request boundary: what every HTTP request must be before any route, fast or not, sees it.

A plain ASGI wrapper around the whole application (`BastionApp` puts it in front of its fast routes too), so
nothing reaches a parser, a route or the database that could knock a worker over or turn into a 500:

- the body is capped (`BASTION_MAX_BODY_BYTES`, 1 MiB by default): a larger Content-Length is refused before
  a byte is read, a chunked body as soon as it grows past the cap (413);
- a body is JSON or nothing (except a multipart upload to a route registered in `uploads`, e.g. a
  due-diligence document, capped by that route's own limit instead, and parsed by the route): it is parsed
  once here by orjson (its own bounded, non-recursive-in-Python parser), then walked without recursion;
  nesting deeper than `BASTION_MAX_JSON_DEPTH` levels, NUL and other control characters (tab, line feed and
  carriage return excepted) in any string or key, numbers beyond what a 64-bit database column holds,
  NaN/Infinity and malformed UTF-8 are refused (422 naming the field) before the framework's own JSON parser
  (the standard library's, recursive in C) ever runs;
- the path and the query string carry no control characters once percent-decoded (422 naming the part).

Field-level bounds (identifiers, 32-bit integers, timestamps, decimal digits) are the request models' job,
through the types in `bastion.bounds`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Tab, line feed and carriage return are ordinary text (a note, a user agent); the rest of C0 and DEL are not.
_ALLOWED_CONTROL = frozenset("\t\n\r")
_CONTROL = frozenset(chr(c) for c in (*range(32), 127)) - _ALLOWED_CONTROL
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ANY_CONTROL = frozenset(chr(c) for c in (*range(32), 127))


def field_error(loc: tuple[Any, ...] | list[Any], msg: str, kind: str) -> dict[str, Any]:
    """One validation problem: the field path as people write it, and the row when the body is a list."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    row = None
    # A list body (a batch of events, rows of an import): the first index is the row, what follows the field.
    for i, p in enumerate(parts):
        if isinstance(p, int):
            row, parts = p, parts[i + 1 :]
            break
    field = ".".join(str(p) for p in parts) or (str(loc[0]) if loc else "body")
    return {"field": field, "row": row, "message": msg, "type": kind, "loc": list(loc)}


def problem(status: int, error: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["detail"] = details
    return orjson.dumps(body)


# Room for the multipart framing (boundaries, part headers, small form fields) around an upload's file.
MULTIPART_SLACK = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """A route that takes one multipart file upload (not JSON): its path, the file's cap, the form field."""

    path: re.Pattern[str]
    max_file_bytes: int
    field: str = "file"
    setting: str = "the route's upload limit"


class Refused(Exception):
    """A request the boundary will not pass on: the status and the JSON body to answer with."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


def _invalid(loc: list[Any], msg: str, kind: str) -> Refused:
    detail = field_error(loc, msg, kind)
    where = f"row {detail['row']}, " if detail["row"] is not None else ""
    return Refused(422, problem(422, "validation_error", f"{where}{detail['field']}: {msg}", [detail]))


def check_json(body: bytes, max_depth: int) -> None:
    """Raise `Refused` unless `body` is JSON that every route's parser and the database can take."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid(["body"], f"not valid JSON ({exc})", "json_invalid") from None
    # orjson refuses raw control characters inside strings, so a body without an escape that can spell one
    # has none: its strings need no scan (most requests), only its numbers.
    strings = b"\\u00" in body or b"\\b" in body or b"\\f" in body
    # Depth-first, with an explicit stack: no Python recursion however the body is shaped. A node's place is
    # kept as (parent's place, key) and spelled out only for an error: the walk is on every request's path.
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth, where = pop()
        kind = type(node)
        if kind is str:
            if strings and _CONTROL_RE.search(node) is not None:
                raise _invalid(_loc(where), "must not contain NUL or other control characters", "control_chars")
        elif kind is dict:
            if depth > max_depth:
                raise _invalid(_loc(where), f"nested deeper than {max_depth} levels", "too_deep")
            for key, item in node.items():
                if _CONTROL_RE.search(key) is not None:
                    msg = "a field name contains control characters"
                    raise _invalid([*_loc(where), repr(key)], msg, "control_chars")
                push((item, depth + 1, (where, key)))
        elif kind is list:
            if depth > max_depth:
                raise _invalid(_loc(where), f"nested deeper than {max_depth} levels", "too_deep")
            for i, item in enumerate(node):
                push((item, depth + 1, (where, i)))
        elif kind is int:
            if not INT64_MIN <= node <= INT64_MAX:
                raise _invalid(_loc(where), "integer out of range (beyond 64 bits)", "int_out_of_range")
        elif kind is float and not -9.2e18 < node < 9.2e18:
            # orjson reads an integer literal too long for 64 bits as a float: refused the same way.
            raise _invalid(_loc(where), "number out of range (beyond 64 bits)", "int_out_of_range")


def _loc(where: Any) -> list[Any]:
    """["body", key, index, ...] from the (parent, key) chain the walk keeps."""
    parts: list[Any] = []
    while where is not None:
        where, key = where
        parts.append(key)
    return ["body", *reversed(parts)]


def check_target(scope: Scope) -> None:
    """The decoded path and query parameters carry no control characters (NUL, line breaks, escape...)."""
    path: str = scope.get("path", "")
    if not _ANY_CONTROL.isdisjoint(path):
        raise _invalid(["path"], "the URL path contains control characters", "control_chars")
    query: bytes = scope.get("query_string", b"")
    if b"%" in query or any(b < 32 or b == 127 for b in query):
        for pair in query.decode("latin-1").split("&"):
            name, _, value = pair.partition("=")
            name, value = unquote_plus(name), unquote_plus(value)
            if not _ANY_CONTROL.isdisjoint(name) or not _ANY_CONTROL.isdisjoint(value):
                raise _invalid(["query", name or "query"], "contains control characters", "control_chars")


class Boundary:
    """ASGI middleware: refuse what must not pass (413/422), hand everything else to `app` unchanged."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
        uploads: tuple[Upload, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope)
            upload = self._upload(scope)
            if upload is None:
                body = await self._read_body(scope, receive, self.max_body_bytes, None)
            else:
                body = await self._read_body(scope, receive, upload.max_file_bytes + MULTIPART_SLACK, upload)
            if body is None:
                return  # the client went away before its body was complete: nobody to answer
            if upload is None and body.strip():
                check_json(body, self.max_json_depth)
        except Refused as refused:
            await _answer(send, refused)
            return
        await self.app(scope, _replay(body, receive), send)

    def _upload(self, scope: Scope) -> Upload | None:
        """The upload route this request is for, if it is a multipart POST to one."""
        if not self.uploads or scope.get("method") != "POST":
            return None
        for up in self.uploads:
            if up.path.fullmatch(scope.get("path", "")):
                for name, value in scope["headers"]:
                    if name == b"content-type":
                        return up if value.lower().startswith(b"multipart/form-data") else None
        return None

    async def _read_body(self, scope: Scope, receive: Receive, limit: int, upload: Upload | None) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                # uvicorn has checked it is a number; a larger one is refused before reading anything.
                if value.isdigit() and int(value) > limit:
                    raise _too_large(limit, upload)
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, upload)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int, upload: Upload | None = None) -> Refused:
    if upload is not None:
        cap = upload.max_file_bytes
        msg = f"{upload.field}: the upload is larger than {cap} bytes ({upload.setting})"
        detail = [
            {"field": upload.field, "row": None, "message": msg, "type": "too_large", "loc": ["body", upload.field]}
        ]
        return Refused(413, problem(413, "payload_too_large", msg, detail))
    msg = f"body: the request body is larger than {limit} bytes (BASTION_MAX_BODY_BYTES)"
    return Refused(413, problem(413, "payload_too_large", msg))


async def _answer(send: Send, refused: Refused) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(refused.body)).encode()),
                # the rest of an oversized body is not read: the connection is not reused
                *([(b"connection", b"close")] if refused.status == 413 else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": refused.body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, once, then whatever the connection says next (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
