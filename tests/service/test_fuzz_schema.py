"""A schema-driven fuzzer against the running service: no route answers 5xx (or drops the connection), whatever
it is sent and whoever sends it.

Schemathesis generates requests from the service's own OpenAPI document, for every operation, both ones that
fit the schema (positive) and ones that break it (negative: wrong types, missing fields, out-of-range values,
odd strings), and each generated request is sent over real HTTP as each kind of caller:

- public: no credential;
- user (session): an end user logged in by the exchange's login service (a session JWT);
- user (api key): an end user's OKX-v5 signed API key (signed over the exact request target and body sent);
- service: a machine of the exchange, a named credential holding every service scope;
- operator: the back office, a named credential holding every operator scope.

Bounded for CI: `BASTION_FUZZ_EXAMPLES` examples per operation and mode (default 4), derandomized, so a run is
repeatable and takes a minute or two per database; raise it locally to search harder. Every failure found is
listed with what reproduces it, rather than stopping at the first.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode

from auth_support import named_credential, user_token
from bastion.access.scopes import OPERATOR_SCOPES, SERVICE_SCOPES
from bastion.keys import lifecycle, signing
from bastion.service.app import create_app
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread

EXAMPLES = int(os.environ.get("BASTION_FUZZ_EXAMPLES", "4"))
TOKEN = "fuzz-operator-token"
PASSPHRASE = "FuzzPassphrase1!"

Sign = Callable[[requests.PreparedRequest], None]


@dataclass
class Fuzzed:
    base: str
    app: Any
    callers: dict[str, Sign]


def _okx_signer(key_id: str, secret: str) -> Sign:
    def sign(req: requests.PreparedRequest) -> None:
        ts = signing.format_timestamp(datetime.now(UTC))
        body = req.body.decode("utf-8", "replace") if isinstance(req.body, bytes) else (req.body or "")
        req.headers.update(
            {
                "OK-ACCESS-KEY": key_id,
                "OK-ACCESS-SIGN": signing.sign(secret, ts, req.method or "GET", req.path_url, body),
                "OK-ACCESS-TIMESTAMP": ts,
                "OK-ACCESS-PASSPHRASE": PASSPHRASE,
            }
        )

    return sign


def _bearer(token: str) -> Sign:
    def sign(req: requests.PreparedRequest) -> None:
        req.headers["Authorization"] = f"Bearer {token}"

    return sign


@pytest.fixture
def fuzzed(settings: Any) -> Iterator[Fuzzed]:
    settings = settings.model_copy(
        update={
            "operator_token": SecretStr(TOKEN),
            "keys_sweep_interval_seconds": 0.0,
            "keys_rate_limit_per_key": "100000/second",
            "keys_rate_limit_per_user": "100000/second",
        }
    )
    app = create_app(settings)
    runtime = keys_runtime(app)
    with app.state.sessionmaker() as session:
        key = lifecycle.create_key(
            session,
            runtime.vault,
            user_id="fuzz-user",
            label="fuzz",
            permissions=["read,trade"],
            ips=[],
            passphrase=PASSPHRASE,
            now=runtime.clock(),
        )
        session.commit()
    callers: dict[str, Sign] = {
        "public": lambda _req: None,
        "user (session)": _bearer(user_token(settings, "fuzz-user")),
        "user (api key)": _okx_signer(key.key_id, key.secret),
        "service": _bearer(named_credential(settings.database_url, "fuzz-service", sorted(SERVICE_SCOPES))),
        "operator": _bearer(named_credential(settings.database_url, "fuzz-operator", sorted(OPERATOR_SCOPES))),
    }
    with ServerThread(app) as base:
        yield Fuzzed(base, app, callers)


def test_no_route_answers_5xx_to_any_caller(fuzzed: Fuzzed) -> None:
    schema = schemathesis.openapi.from_dict(fuzzed.app.openapi())
    failures: dict[str, list[str]] = {}
    admitted: dict[str, int] = {}
    sent = 0
    http = requests.Session()

    def send(label: str, case: Any) -> None:
        nonlocal sent
        kwargs = case.as_transport_kwargs(base_url=fuzzed.base)
        kwargs.pop("cookies", None)
        for caller, sign in fuzzed.callers.items():
            req = requests.Request(**{k: v for k, v in kwargs.items() if k != "timeout"}).prepare()
            sign(req)
            sent += 1
            try:
                r = http.send(req, timeout=30)
            except requests.RequestException as exc:
                problem = f"connection: {exc!r}"[:200]
            else:
                if r.status_code not in (401, 403):
                    admitted[caller] = admitted.get(caller, 0) + 1
                if r.status_code < 500:
                    continue
                problem = f"{r.status_code} {r.text[:120]!r}"
            body = req.body[:200] if req.body else b""
            failures.setdefault(label, []).append(f"{caller}: {req.method} {req.path_url[:200]} {body!r} -> {problem}")

    def fuzz(operation: Any, mode: GenerationMode) -> None:
        label = f"{operation.label} [{mode.value}]"

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            send(label, case)

        # Unsatisfiable: nothing to break, e.g. an operation without parameters in the negative mode
        with contextlib.suppress(Unsatisfiable):
            run()

    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(result.ok(), mode)
    assert sent > 100 * len(fuzzed.callers)
    # the callers really were who they claim: each kind got past authentication somewhere
    assert set(admitted) == set(fuzzed.callers), admitted
    report = "\n".join(f"{label}\n    " + "\n    ".join(sorted(set(lines))[:4]) for label, lines in failures.items())
    assert not failures, f"{len(failures)} operations answered 5xx or dropped the connection:\n{report}"
