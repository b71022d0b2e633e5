"""The request boundary, tried as an attacker would, over real HTTP against the running service.

- the two-request crash: `GET /por/api/round` (which imports the reserves code) then a 200 KB nested JSON
  body, against a real `bastion serve` process: the worker stays up and answers 422;
- bodies over the cap (1 MiB by default, configurable): 413, by Content-Length and by a chunked stream;
- nesting past the depth cap, NUL and control characters, integers beyond 64 bits, NaN/Infinity, lone
  surrogates and bad UTF-8, control characters in the path or the query: 422 naming the field;
- the same on the raw ASGI fast route (`POST /v1/withdrawals/evaluate`) as on FastAPI's routes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from auth_support import user_headers
from bastion.service.app import create_app
from bastion.service.testing import ServerThread, free_port

TOKEN = "boundary-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}


def _withdrawal(**extra: Any) -> dict[str, Any]:
    return {
        "event_id": "bnd-1",
        "user_id": "bnd-user",
        "asset": "USDT",
        "amount": "10",
        "amount_usd": "10",
        "address": "TBoundary",
        **extra,
    }


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _field(r: httpx.Response) -> str:
    body = r.json()
    assert body["error"] == "validation_error", body
    return str(body["detail"][0]["field"])


# ------------------------------------------------------------------------------------- the real process
@pytest.fixture
def serve_process(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`bastion serve` in its own process (a crash must not take the test with it), on SQLite."""
    port = free_port()
    # A published round (the smallest one the page reads): `GET /por/api/round` then imports the reserves code.
    round_dir = tmp_path / "round"
    round_dir.mkdir()
    (round_dir / "round.json").write_text('{"format": "bastion-round/3", "round_id": "boundary"}')
    env = {
        **os.environ,
        "BASTION_DATA_DIR": str(tmp_path / "data"),
        "BASTION_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite'}",
        "BASTION_SECRET_KEY": "boundary-secret-key-0123456789abcdef0123",
        "BASTION_OPERATOR_TOKEN": TOKEN,
        "BASTION_ROUND_DIR": str(round_dir),
        "PYTHONFAULTHANDLER": "1",
    }
    prologue = ""
    if getattr(request, "param", "") == "raised-limit":
        # As if some other import had raised the limit anyway: the depth cap alone must hold.
        prologue = "import sys; sys.setrecursionlimit(100_000); "
    argv = ["bastion", "serve", "--port", str(port)]
    code = prologue + f"import sys; from bastion.cli import main; sys.argv = {argv!r}; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "bastion serve did not start"
        time.sleep(0.2)
    try:
        yield proc, base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("serve_process", ["as-shipped", "raised-limit"], indirect=True)
def test_two_request_crash_leaves_the_worker_up(serve_process: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = serve_process
    with httpx.Client(base_url=base, timeout=30) as http:
        # 1. the request that used to raise the process's recursion limit (imports the reserves code)
        r = http.get("/por/api/round")
        assert r.status_code == 200 and r.json()["round"]["round_id"] == "boundary", r.text
        # 2. ~200 KB of nesting, on an unauthenticated route, a FastAPI route and the raw ASGI fast route
        bomb = b"[" * 99_000 + b"]" * 99_000
        for path, headers in (
            ("/v1/liquidations", JSON),
            ("/v1/risk/rulesets", {**JSON, **AUTH}),
            ("/v1/withdrawals/evaluate", {**JSON, **AUTH}),
            ("/v1/withdrawals/evaluate", {}),  # no content type: FastAPI would parse it as JSON anyway
        ):
            r = http.post(path, content=bomb, headers=headers)
            assert r.status_code == 422, (path, r.status_code, r.text[:300])
            assert r.json()["detail"][0]["type"] in ("too_deep", "json_invalid")
        deep_object = _nested(60_000)
        r = http.post("/v1/risk/rulesets", content=deep_object, headers={**JSON, **AUTH})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] in ("too_deep", "json_invalid"), r.text[:300]
        # 3. the worker is still there and still serves
        assert proc.poll() is None, "the worker died"
        assert http.get("/healthz").status_code == 200
        r = http.post("/v1/withdrawals/evaluate", json=_withdrawal(), headers=AUTH)
        assert r.status_code == 200, r.text


# -------------------------------------------------------------------------------------- in-process
@pytest.fixture
def client(settings: Any) -> Iterator[httpx.Client]:
    settings.operator_token = SecretStr(TOKEN)
    settings.max_body_bytes = 64 * 1024
    with ServerThread(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield http


def test_body_cap_413_by_length_and_by_stream(client: httpx.Client) -> None:
    big = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
    for path in ("/v1/withdrawals/evaluate", "/v1/risk/rulesets", "/v1/liquidations", "/healthz"):
        r = client.post(path, content=big, headers={**JSON, **AUTH})
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
        assert r.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b'{"pad": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    r = client.post("/v1/withdrawals/evaluate", content=chunks(), headers={**JSON, **AUTH})
    assert r.status_code == 413, r.text[:200]
    # just under the cap passes the boundary (and is judged by the route)
    ok = client.post("/v1/withdrawals/evaluate", json=_withdrawal(user_agent="u" * 500), headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert client.get("/healthz").status_code == 200


def test_default_cap_is_one_mebibyte(settings: Any) -> None:
    assert settings.max_body_bytes == 1024 * 1024
    with ServerThread(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as http:
        under = b'{"pad": "' + b"x" * (1024 * 1024 - 20) + b'"}'
        over = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
        assert http.post("/v1/liquidations", content=under, headers=JSON).status_code != 413
        assert http.post("/v1/liquidations", content=over, headers=JSON).status_code == 413


@pytest.mark.parametrize("path", ["/v1/withdrawals/evaluate", "/v1/events/logins"])
def test_hostile_json_is_422_naming_the_field(client: httpx.Client, path: str) -> None:
    cases: list[tuple[bytes, str, str]] = [
        (b'{"user_id": "a\\u0000b"}', "user_id", "control_chars"),
        (b'{"user_id": "ok", "address": "T\\u001bx"}', "address", "control_chars"),
        (b'{"amount": 123456789012345678901234567890}', "amount", "int_out_of_range"),
        (b'{"amount": -9223372036854775809}', "amount", "int_out_of_range"),
        (b'{"amount": NaN}', "body", "json_invalid"),
        (b'{"amount": Infinity}', "body", "json_invalid"),
        (b'{"amount": 1e999}', "body", "json_invalid"),
        (b'{"user_id": "\\ud800"}', "body", "json_invalid"),
        (b'{"user_id": "\xff\xfe"}', "body", "json_invalid"),
        # 32 levels allowed: the 33rd (body, meta, 31 times "a") is refused, named by its full path
        (b'{"meta": ' + _nested(40) + b"}", "meta" + ".a" * 31, "too_deep"),
        (b'{"a\\u0000": 1}', "'a\\x00'", "control_chars"),
    ]
    for body, field, kind in cases:
        r = client.post(path, content=body, headers={**JSON, **AUTH})
        assert r.status_code == 422, (body[:60], r.status_code, r.text[:200])
        detail = r.json()["detail"][0]
        assert (detail["field"], detail["type"]) == (field, kind), (body[:60], detail)
        assert field in r.json()["message"]
    # a batch names the row and the field
    batch = b'[{"type": "login"}, {"user_id": "x\\u0000"}]'
    r = client.post("/v1/events/batch", content=batch, headers={**JSON, **AUTH})
    assert r.status_code == 422
    assert (r.json()["detail"][0]["row"], r.json()["detail"][0]["field"]) == (1, "user_id")
    # tab and line feed are ordinary text: the boundary passes them on to the route's own validation
    r = client.post(path, content=b'{"user_agent": "a\\tb\\nc"}', headers={**JSON, **AUTH})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] != "control_chars"
    assert client.get("/healthz").status_code == 200


def test_control_characters_in_path_and_query(client: httpx.Client) -> None:
    r = client.get("/v1/risk/users/a%00b/snoozes", headers=AUTH)
    assert r.status_code == 422 and _field(r) == "path", r.text
    r = client.get("/v1/cooling-off/u%0Aser")
    assert r.status_code == 422 and _field(r) == "path", r.text
    r = client.get("/v1/risk/reviews?limit=1%00", headers=AUTH)
    assert r.status_code == 422 and _field(r) == "limit", r.text
    r = client.get("/v1/risk/reviews", params={"offset": "0\x1b"}, headers=AUTH)
    assert r.status_code == 422 and _field(r) == "offset", r.text
    # the ordinary ones still work
    assert client.get("/v1/risk/reviews?limit=5", headers=AUTH).status_code == 200


def test_field_bounds_are_422_naming_the_field(client: httpx.Client, settings: Any) -> None:
    """What the database or date arithmetic cannot hold is refused by the request models, per field."""
    cases: list[tuple[str, str, dict[str, Any] | None, str]] = [
        # integers wider than their column, in paths and queries
        ("GET", "/v1/risk/decisions/2147483648", None, "decision_id"),
        ("GET", "/v1/risk/decisions/0", None, "decision_id"),
        ("GET", "/v1/deposits/cases/99999999999999999999999", None, "case_id"),  # a user route
        ("GET", "/v1/risk/reviews?offset=9223372036854775808", None, "offset"),
        # timestamps outside 1970..2100, in bodies and queries
        ("POST", "/v1/withdrawals/evaluate", _withdrawal(at="0001-01-01T00:00:00Z"), "at"),
        ("POST", "/v1/withdrawals/evaluate", _withdrawal(at="9999-12-31T23:59:59Z"), "at"),
        ("GET", "/v1/risk/metrics?start=0001-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", None, "start"),
        # decimals with more digits than NUMERIC holds
        ("POST", "/v1/withdrawals/evaluate", _withdrawal(amount="1" * 60), "amount"),
        ("POST", "/v1/withdrawals/evaluate", _withdrawal(amount_usd="1e400"), "amount_usd"),
        # identifiers: control characters the boundary lets through as text (tab, line feed) are no identifier
        ("POST", "/v1/withdrawals/evaluate", _withdrawal(user_id="evil\nuser"), "user_id"),
        ("POST", "/v1/withdrawals/evaluate", _withdrawal(address="T\tx"), "address"),
    ]
    user = user_headers(settings, "bounds-user")
    for method, path, body, field in cases:
        r = client.request(method, path, json=body, headers=user if "/deposits/cases/" in path else AUTH)
        assert r.status_code == 422, (path, body, r.status_code, r.text[:300])
        assert _field(r) == field, (path, r.json())
        assert field in r.json()["message"]
    assert client.get("/healthz").status_code == 200
