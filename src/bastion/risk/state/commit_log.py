"""The commit log (the table `risk_live_log`, "the live log" in docs/risk.md): every change to what decisions
read, appended in commit order.

Service workers keep the decision state in memory (`bastion.risk.state.memory`) and read this log before
deciding, so an event or decision acknowledged by any worker is seen by every worker's next decision. Appends
take one lock per database until commit (PostgreSQL: a transaction-scoped advisory lock; SQLite has one writer
anyway), so `seq` grows in commit order and a reader that has seen `seq <= n` never misses a row committed later.

Each entry carries the resulting state, not the action, so applying it twice (a worker that loaded a user from
the database and then reads entries already in that snapshot) changes nothing.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, select
from sqlalchemy.orm import Session

from bastion.risk.clock import now_utc
from bastion.risk.models import RiskLiveLog

# Any constant 64-bit key, the same in every process: "bastion risk live log".
ADVISORY_LOCK_KEY = 0x62617374_696F6E4C
# How long entries are kept: a worker that has not read the log for half of this drops its cache instead.
RETENTION = timedelta(minutes=10)


@functools.cache
def _table() -> Table:
    return cast(Table, RiskLiveLog.__table__)


def lock(conn: Connection) -> None:
    """Take the append lock until this transaction ends (PostgreSQL); SQLite writers are serialized anyway."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")


def insert_rows(conn: Connection, rows: list[dict[str, Any]], at: datetime) -> None:
    """Entries `{"user_id", "kind", "data"}`; the caller holds the lock (see `lock`) and commits."""
    if rows:
        conn.execute(_table().insert(), [{**r, "created_at": at} for r in rows])


def append(session: Session, user_id: str, kind: str, data: dict[str, Any]) -> None:
    """One entry for the session's transaction. Entries wait in the session and go in one INSERT just before
    the commit, under the lock: the lock is held only for that INSERT and the commit."""
    _listen()
    session.info.setdefault(_PENDING, []).append({"user_id": user_id, "kind": kind, "data": data})


def lock_session(session: Session) -> Connection:
    """Take the append lock in the session's transaction (once per transaction); its connection."""
    conn = session.connection()
    tx = session.get_transaction()
    if session.info.get("risk_live_tx") is not tx:
        lock(conn)
        session.info["risk_live_tx"] = tx
    return conn


_PENDING = "risk_live_pending"


def _before_commit(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        # Row locks first, the live-log lock last: whoever holds it then needs no other lock (no deadlock).
        session.flush()
        insert_rows(lock_session(session), rows, now_utc())


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


@functools.cache
def _listen() -> None:
    from sqlalchemy import event

    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_rollback", _after_rollback)


# Most entries one read returns (a reader far behind reads again).
READ_LIMIT = 10_000


def read_after(conn: Connection, seq: int, limit: int = READ_LIMIT) -> list[Any]:
    t = _table()
    return list(
        conn.execute(
            select(t.c.seq, t.c.user_id, t.c.kind, t.c.data).where(t.c.seq > seq).order_by(t.c.seq).limit(limit)
        )
    )


def last_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(_table().c.seq), 0))).scalar() or 0)


def prune(conn: Connection, now: datetime) -> int:
    res = conn.execute(delete(_table()).where(_table().c.created_at < now - RETENTION))
    return int(res.rowcount or 0)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()
