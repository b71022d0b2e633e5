"""The protection fund's double-entry ledger: contributions, transfers and payouts, idempotent by `ref`.

Every booking locks its currency's `pfund_balances` row (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the
transaction holds the write lock from BEGIN IMMEDIATE), reads the running balance, checks the `ref` under
that lock, and appends one entry with two postings that sum to zero. A payout or transfer out never takes
the fund below zero. A repeated `ref` with the same payload returns the first booking; with another
payload it is a conflict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError
from bastion.protection_fund.models import PfundBalance, PfundEntry, PfundPosting

CONTRIBUTION = "contribution"
TRANSFER_IN = "transfer_in"
TRANSFER_OUT = "transfer_out"
PAYOUT = "payout"
KINDS = (CONTRIBUTION, TRANSFER_IN, TRANSFER_OUT, PAYOUT)
UNIT = Decimal("0.00000001")  # the fund books to 1e-8 of its currency


@dataclass(frozen=True, slots=True)
class Booking:
    ref: str
    ccy: str
    kind: str
    amount: Decimal  # change to the fund, signed
    balance: Decimal
    counterparty: str
    seq: int
    ts: datetime
    entry_id: int
    replayed: bool = False


def _utc(ts: datetime, field: str = "ts") -> datetime:
    if ts.tzinfo is None:
        raise InvalidInputError(field, "needs a timezone (UTC)")
    return ts.astimezone(UTC)


def _name(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > 120 or not value.isprintable():
        raise InvalidInputError(field, "must be 1-120 printable characters")
    return value


def _ccy(ccy: str) -> str:
    ccy = ccy.strip().upper()
    if not ccy or len(ccy) > 16 or not ccy.isalnum():
        raise InvalidInputError("ccy", "must be 1-16 letters or digits")
    return ccy


def _amount(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount <= 0:
        raise InvalidInputError("amount", "must be a positive number")
    if amount != amount.quantize(UNIT):
        raise InvalidInputError("amount", f"has more than {abs(UNIT.as_tuple().exponent)} decimals")  # type: ignore[arg-type]
    return amount


def _fingerprint(*parts: object) -> str:
    text = "|".join(format(p.normalize(), "f") if isinstance(p, Decimal) else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def lock_balance(session: Session, ccy: str, now: datetime) -> PfundBalance:
    """The currency's balance row, created if missing, locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(PfundBalance)
        .values(ccy=ccy, balance=Decimal(0), seq=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["ccy"])
    )
    row = session.scalars(
        select(PfundBalance).where(PfundBalance.ccy == ccy).with_for_update().execution_options(populate_existing=True)
    ).one()
    return row


def _replay(session: Session, ref: str, fingerprint: str) -> Booking | None:
    entry = session.scalars(select(PfundEntry).where(PfundEntry.ref == ref)).one_or_none()
    if entry is None:
        return None
    if entry.fingerprint != fingerprint:
        raise ConflictError(f"ref: {ref} was already used for another booking")
    return _booking(entry, replayed=True)


def _booking(e: PfundEntry, replayed: bool = False) -> Booking:
    return Booking(e.ref, e.ccy, e.kind, e.amount, e.balance, e.counterparty, e.seq, e.ts, e.id, replayed)


def book(
    session: Session,
    *,
    ref: str,
    kind: str,
    ccy: str,
    amount: Decimal,
    counterparty: str,
    ts: datetime,
    actor: str,
    memo: str = "",
    now: datetime | None = None,
    locked: PfundBalance | None = None,
) -> Booking:
    """Book one entry (the caller commits). `amount` is positive; the kind says which way it moves."""
    if kind not in KINDS:
        raise InvalidInputError("kind", f"must be one of {', '.join(KINDS)}")
    ref = _name(ref, "ref")
    ccy = _ccy(ccy)
    amount = _amount(amount)
    ts = _utc(ts)
    now = now or datetime.now(UTC)
    fingerprint = _fingerprint(kind, ccy, amount, counterparty, ts.isoformat())
    row = locked if locked is not None else lock_balance(session, ccy, now)
    replay = _replay(session, ref, fingerprint)
    if replay is not None:
        return replay
    change = amount if kind in (CONTRIBUTION, TRANSFER_IN) else -amount
    if row.balance + change < 0:
        raise ConflictError(
            f"amount: the fund holds {format(row.balance, 'f')} {ccy}, not enough for {format(amount, 'f')}"
        )
    row.balance += change
    row.seq += 1
    row.updated_at = now
    entry = PfundEntry(
        ref=ref,
        ccy=ccy,
        seq=row.seq,
        kind=kind,
        amount=change,
        balance=row.balance,
        counterparty=counterparty,
        ts=ts,
        booked_at=now,
        actor=actor,
        memo=memo,
        fingerprint=fingerprint,
    )
    session.add(entry)
    try:
        session.flush()
    except IntegrityError:
        # Only reachable when another currency's booking took the same ref meanwhile.
        raise ConflictError(f"ref: {ref} was already used for another booking") from None
    session.add_all(
        [
            PfundPosting(entry_id=entry.id, account=f"fund:{ccy}", ccy=ccy, amount=change),
            PfundPosting(entry_id=entry.id, account=counterparty, ccy=ccy, amount=-change),
        ]
    )
    session.flush()
    return _booking(entry)


def contribute(
    session: Session, ref: str, ccy: str, amount: Decimal, source: str, ts: datetime, actor: str, memo: str = ""
) -> Booking:
    """Money into the fund from a funding source (e.g. `treasury`, `fee_share`)."""
    return book(
        session,
        ref=ref,
        kind=CONTRIBUTION,
        ccy=ccy,
        amount=amount,
        counterparty=f"source:{_name(source, 'source')}",
        ts=ts,
        actor=actor,
        memo=memo,
    )


def transfer(
    session: Session,
    ref: str,
    ccy: str,
    amount: Decimal,
    direction: str,
    counterparty: str,
    ts: datetime,
    actor: str,
    memo: str = "",
) -> Booking:
    """Money between the fund and another account of the exchange (`in` or `out`)."""
    if direction not in ("in", "out"):
        raise InvalidInputError("direction", "must be 'in' or 'out'")
    kind = TRANSFER_IN if direction == "in" else TRANSFER_OUT
    return book(
        session,
        ref=ref,
        kind=kind,
        ccy=ccy,
        amount=amount,
        counterparty=f"external:{_name(counterparty, 'counterparty')}",
        ts=ts,
        actor=actor,
        memo=memo,
    )


def balances(session: Session, at: datetime | None = None) -> dict[str, Decimal]:
    """The fund per currency: now, or as of the last entry at or before `at`."""
    if at is None:
        return {r.ccy: r.balance for r in session.scalars(select(PfundBalance).order_by(PfundBalance.ccy))}
    last = (
        select(PfundEntry.ccy, func.max(PfundEntry.seq).label("seq"))
        .where(PfundEntry.ts <= at)
        .group_by(PfundEntry.ccy)
        .subquery()
    )
    rows = session.execute(
        select(PfundEntry.ccy, PfundEntry.balance).join(
            last, (PfundEntry.ccy == last.c.ccy) & (PfundEntry.seq == last.c.seq)
        )
    )
    return dict(sorted((c, b) for c, b in rows))


def entries(session: Session, start: datetime | None = None, end: datetime | None = None) -> list[PfundEntry]:
    q = select(PfundEntry).order_by(PfundEntry.ts, PfundEntry.id)
    if start is not None:
        q = q.where(PfundEntry.ts >= start)
    if end is not None:
        q = q.where(PfundEntry.ts < end)
    return list(session.scalars(q))


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    entries: int
    problems: list[str]

    @property
    def balanced(self) -> bool:
        return not self.problems


def check_ledger(session: Session) -> LedgerCheck:
    """Re-add everything: each entry's postings sum to zero, each currency's seq runs 1..n, each balance is
    the previous plus the amount and never negative, and the balance rows equal the last entries."""
    problems: list[str] = []
    postings: dict[int, list[tuple[str, Decimal]]] = {}
    for entry_id, account, amount in session.execute(
        select(PfundPosting.entry_id, PfundPosting.account, PfundPosting.amount)
    ):
        postings.setdefault(entry_id, []).append((account, amount))
    running: dict[str, tuple[int, Decimal]] = {}
    count = 0
    for e in session.scalars(select(PfundEntry).order_by(PfundEntry.ccy, PfundEntry.seq)):
        count += 1
        seq, bal = running.get(e.ccy, (0, Decimal(0)))
        if e.seq != seq + 1:
            problems.append(f"{e.ccy}: seq {e.seq} where {seq + 1} was due")
        bal += e.amount
        if e.balance != bal or bal < 0:
            problems.append(f"{e.ccy} seq {e.seq}: balance {e.balance}, re-added {bal}")
        lines = postings.pop(e.id, [])
        if len(lines) != 2 or sum(a for _, a in lines) != 0 or (f"fund:{e.ccy}", e.amount) not in lines:
            problems.append(f"entry {e.id}: postings {lines} do not balance")
        running[e.ccy] = (e.seq, bal)
    if postings:
        problems.append(f"postings without an entry: {sorted(postings)}")
    for row in session.scalars(select(PfundBalance)):
        seq, bal = running.get(row.ccy, (0, Decimal(0)))
        if (row.seq, row.balance) != (seq, bal):
            problems.append(f"{row.ccy}: balance row {row.balance} (seq {row.seq}) != ledger {bal} (seq {seq})")
    return LedgerCheck(count, problems)
