"""One bad withdrawal request never fails another.

The hot path serves every request in flight with one shared catch-up read and one group commit. It used to be
that one malformed request among 30 concurrent ones (a NUL byte, a year-1 timestamp) failed 10 to 30 of the
innocent ones with a 500. Two layers now stop that, and each is tried here on its own:

1. over real HTTP, the attack as an attacker sends it: 30 concurrent requests to `POST /v1/withdrawals/evaluate`
   (the raw ASGI fast route), one poisoned: the poisoned one gets a 4xx naming the field, all 29 others their
   decision, stored;
2. below validation (as if some future poison slipped through it): poisoned requests built without validation
   go straight into the hot path, mixed with innocent ones in the same catch-up and the same group commit; the
   poisoned ones fail, every innocent one is answered and stored.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bastion.risk.models import RiskDecision
from bastion.risk.schemas import WithdrawalRequest
from bastion.service.app import create_app
from bastion.service.deps import start_risk
from bastion.service.routers.risk import EVALUATE_PATH
from bastion.service.testing import ServerThread

TOKEN = "poisoned-batch-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
_ids = itertools.count()


def _body(user: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"poison-{next(_ids)}",
        "user_id": user,
        "at": T0.isoformat(),
        "asset": "USDT",
        "amount": "25",
        "amount_usd": "25",
        "address": f"TPoison-{user}",
        "balance_usd": "1000",
        **extra,
    }


@pytest.fixture
def service(settings: Any) -> Iterator[tuple[Any, str]]:
    settings.operator_token = SecretStr(TOKEN)
    app = create_app(settings)
    with ServerThread(app) as base:
        yield app, base


POISONS: dict[str, tuple[dict[str, Any], str]] = {
    "year-1 timestamp": ({"at": "0001-01-01T00:00:00Z"}, "at"),
    "year-9999 timestamp": ({"at": "9999-12-31T23:59:59Z"}, "at"),
    "NUL in user id": ({"user_id": "victim\u0000"}, "user_id"),
    "NUL in address": ({"address": "T\u0000x"}, "address"),
    "60-digit amount": ({"amount": "1" * 60}, "amount"),
    "NaN amount": ({"amount_usd": "NaN"}, "amount_usd"),
}


@pytest.mark.parametrize("poison", list(POISONS))
def test_poisoned_request_among_30_concurrent_fails_alone(service: tuple[Any, str], poison: str) -> None:
    app, base = service
    extra, field = POISONS[poison]
    bodies = [_body(f"innocent-{poison[:4]}-{i}") for i in range(30)]
    bad_at = 17
    bodies[bad_at] = {**bodies[bad_at], **extra}

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            return await asyncio.gather(*(http.post(EVALUATE_PATH, json=b, headers=AUTH) for b in bodies))

    answers = asyncio.run(fire())
    bad = answers[bad_at]
    assert bad.status_code == 422, (poison, bad.status_code, bad.text)
    assert bad.json()["detail"][0]["field"] == field, bad.json()
    innocent = [(b, r) for i, (b, r) in enumerate(zip(bodies, answers, strict=True)) if i != bad_at]
    failed = [(r.status_code, r.text[:120]) for _, r in innocent if r.status_code != 200]
    assert failed == [], f"{len(failed)} innocent requests failed: {failed[:3]}"
    with app.state.sessionmaker() as s:
        stored = set(s.scalars(select(RiskDecision.event_id).where(RiskDecision.event_id.like("poison-%"))))
    assert {b["event_id"] for b, _ in innocent} <= stored
    assert bodies[bad_at]["event_id"] not in stored


def _unchecked(user: str, **extra: Any) -> WithdrawalRequest:
    """A request as the hot path sees it, built WITHOUT validation (what a validation gap would let through)."""
    values: dict[str, Any] = {
        "event_id": f"poison-{next(_ids)}",
        "user_id": user,
        "at": T0,
        "asset": "USDT",
        "amount": Decimal("25"),
        "amount_usd": Decimal("25"),
        "address": f"TPoison-{user}",
        "chain": None,
        "balance_usd": Decimal("1000"),
        "ip": None,
        "device_fingerprint": None,
        "user_agent": None,
        **extra,
    }
    return WithdrawalRequest.model_construct(**values)


def test_hot_path_isolates_a_poison_that_slipped_past_validation(settings: Any, db_url: str) -> None:
    """A poison in the shared catch-up (a year-1 timestamp: date arithmetic overflows) and, on PostgreSQL, one
    in the group commit (a NUL byte the database refuses) fail alone; the 28 innocent requests sharing the
    catch-up and the commit with them are all answered and stored."""
    app = create_app(settings)
    hp = start_risk(app)  # as the app's lifespan builds it
    poisons = {5: _unchecked("catchup-poison", at=datetime(1, 1, 2, tzinfo=UTC))}
    if db_url.startswith("postgresql"):
        poisons[20] = _unchecked("commit-poison", address="T\u0000commit")
    requests = [poisons.get(i) or _unchecked(f"alone-{i}") for i in range(30)]

    async def run() -> list[Any]:
        try:
            return await asyncio.gather(*(hp.evaluate(r) for r in requests), return_exceptions=True)
        finally:
            await hp.close()

    out = asyncio.run(run())
    for i, result in enumerate(out):
        if i in poisons:
            assert isinstance(result, Exception), (i, result)
        else:
            assert not isinstance(result, BaseException), (i, repr(result))
            assert result.decision_id and result.event_id == requests[i].event_id
    # the innocent were all stored, the poisoned not
    with app.state.sessionmaker() as s:
        n = s.scalar(select(func.count()).select_from(RiskDecision).where(RiskDecision.event_id.like("poison-%")))
    assert n == len(requests) - len(poisons)
    app.state.engine.dispose()
