"""The outbox contract other domains code against: one row per channel in the caller's transaction, a retried
event enqueues nothing new, a rolled-back event leaves no alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bastion.errors import InvalidInputError
from bastion.notify.models import OutboxRow
from bastion.notify.outbox import CHANNELS, enqueue

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_enqueue_is_idempotent_on_the_dedupe_key(session_factory: sessionmaker[Session]) -> None:
    for _ in range(2):
        with session_factory() as s:
            enqueue(s, user_id="u1", kind="account_frozen", data={"by": "user"}, dedupe_key="freeze:1", now=T0)
            enqueue(s, user_id="u1", kind="account_frozen", data={"by": "user"}, dedupe_key="freeze:1", now=T0)
            s.commit()
    with session_factory() as s:
        rows = s.scalars(select(OutboxRow).order_by(OutboxRow.channel)).all()
    assert [r.channel for r in rows] == sorted(CHANNELS)
    assert all(r.status == "pending" and r.next_attempt_at == T0 for r in rows)
    assert json.loads(rows[0].data) == {"by": "user"}


def test_rolled_back_event_leaves_no_alert(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        enqueue(s, user_id="u1", kind="new_device", data={}, dedupe_key="login:9", now=T0)
        s.rollback()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 0


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("dedupe_key", {"dedupe_key": ""}),
        ("kind", {"kind": "x" * 65}),
        ("data", {"data": {"n": 3}}),
    ],
)
def test_bad_enqueue_names_the_field(
    session_factory: sessionmaker[Session], field: str, kwargs: dict[str, object]
) -> None:
    args: dict[str, object] = {"user_id": "u1", "kind": "new_device", "data": {}, "dedupe_key": "k"} | kwargs
    with session_factory() as s, pytest.raises(InvalidInputError) as exc:
        enqueue(s, **args)  # type: ignore[arg-type]
    assert exc.value.field == field
