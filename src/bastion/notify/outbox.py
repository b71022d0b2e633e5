"""The transactional outbox: an alert is a row written in the same transaction as the event that causes it.

Other domains call `enqueue` with their own session before they commit; if their transaction rolls back, no
alert exists, and if it commits, the alert cannot be lost (the dispatcher delivers it later, see dispatch.py).
One row is written per channel (email, webhook), each delivered and retried on its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bastion.errors import InvalidInputError
from bastion.notify.models import OutboxRow

CHANNELS: tuple[str, ...] = ("email", "webhook")

MAX_DEDUPE_KEY = 200
MAX_KIND = 64
MAX_DATA_CHARS = 8000


def enqueue(
    session: Session,
    *,
    user_id: str,
    kind: str,
    data: dict[str, str],
    dedupe_key: str,
    now: datetime | None = None,
) -> None:
    """Add the alert `kind` for `user_id` to the outbox, in the caller's transaction (the caller commits).

    `dedupe_key` names the causing event (e.g. "account_frozen:<freeze id>"): enqueuing the same key again is a
    no-op, so a retried event never sends twice. `data` fills the alert's template (strings only).
    """
    if not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY:
        raise InvalidInputError("dedupe_key", f"1 to {MAX_DEDUPE_KEY} characters")
    if not kind or len(kind) > MAX_KIND:
        raise InvalidInputError("kind", f"1 to {MAX_KIND} characters")
    if not user_id or len(user_id) > 64:
        raise InvalidInputError("user_id", "1 to 64 characters")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InvalidInputError("data", "keys and values must be strings")
    body = json.dumps(data, sort_keys=True, ensure_ascii=False)
    if len(body) > MAX_DATA_CHARS:
        raise InvalidInputError("data", f"at most {MAX_DATA_CHARS} characters as JSON")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    rows = [
        {
            "dedupe_key": dedupe_key,
            "channel": channel,
            "user_id": user_id,
            "kind": kind,
            "data": body,
            "created_at": at,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
        }
        for channel in CHANNELS
    ]
    dialect = session.get_bind().dialect.name
    # ON CONFLICT DO NOTHING rather than check-then-insert: two concurrent retries of the same event must not
    # fail the caller's transaction on the unique key (PostgreSQL waits for the other one, then does nothing).
    if dialect == "postgresql":
        session.execute(pg_insert(OutboxRow).values(rows).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(OutboxRow).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - Bastion runs on SQLite and PostgreSQL only
        session.execute(insert(OutboxRow).values(rows))
