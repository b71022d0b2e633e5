"""Booking into the fund: liquidations (idempotent by id), capital injections, pool states and ADL.

Every booking takes the pool's row lock (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the transaction
holds the write lock from its first statement), reads the pool's latest balance, and appends entries. Two
workers booking into one pool therefore queue behind each other and never both build on the same balance;
the (pool, seq) unique key would reject it if they did. A batch is one transaction: it books whole or not
at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.funds.adl import OpenPosition, QueueEntry, adl_queue, deleverage
from bastion.funds.liquidation import ContractType, LiquidationError, PositionSide, liquidation_outcome
from bastion.funds.models import AdlFill, AdlPosition, FundEntry, FundPool, FundPosting, Liquidation, PoolEvent
from bastion.funds.pool_state import PoolPolicy, PoolState, WindowPeak, drawdown, fund_covers, next_state
from bastion.funds.settings import default_policy

# Entry types, in OKX's insurance-fund words where it has one.
SURPLUS = "liquidation_balance_deposit"
LOSS = "bankruptcy_loss"
INJECTION = "capital_injection"
ADL = "adl"
ENTRY_TYPES = (SURPLUS, LOSS, INJECTION, ADL)

UNIT = Decimal("0.00000001")  # the fund books to 1e-8 of its currency
QUEUE_PUBLISHED = 20  # how much of the ADL queue an ADL event keeps


@dataclass(frozen=True, slots=True, order=True)
class PoolKey:
    inst_type: str
    inst_family: str
    ccy: str

    def __str__(self) -> str:
        return f"{self.inst_type}/{self.inst_family}/{self.ccy}"


@dataclass(frozen=True, slots=True)
class LiquidationIn:
    id: str
    pool: PoolKey
    inst_id: str
    pos_side: PositionSide
    sz: Decimal
    bk_px: Decimal
    fill_px: Decimal
    ts: datetime
    ct_type: ContractType = ContractType.LINEAR
    ct_val: Decimal = Decimal(1)

    def fingerprint(self) -> str:
        parts = (
            self.id,
            str(self.pool),
            self.inst_id,
            self.pos_side.value,
            self.ct_type.value,
            *(format(v.normalize(), "f") for v in (self.sz, self.bk_px, self.fill_px, self.ct_val)),
            self.ts.astimezone(UTC).isoformat(),
        )
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Booked:
    """What one liquidation or injection did to its pool; replaying the same id returns the same thing."""

    ref: str
    pool: PoolKey
    type: str
    outcome: Decimal  # + surplus / injection, - shortfall (for ADL: what the counterparties absorbed)
    amount: Decimal  # change to the pool's balance
    balance: Decimal
    state: str
    seq: int
    ts: datetime
    replayed: bool = False


@dataclass(slots=True)
class _PoolRun:
    """A locked pool while a batch books into it."""

    pool: FundPool
    key: PoolKey
    seq: int
    balance: Decimal
    last_ts: datetime | None
    peak: WindowPeak
    entries: list[_NewEntry] = field(default_factory=list)
    # The pool's open positions (position id -> row id, position), loaded on the first ADL of the batch and
    # reduced in memory as liquidations are deleveraged against them; written back with the entries.
    positions: dict[str, tuple[int, OpenPosition]] | None = None
    fills: list[_NewFill] = field(default_factory=list)


@dataclass(slots=True)
class _NewFill:
    entry: _NewEntry
    liquidation_id: str
    rank: int
    position: OpenPosition
    size_closed: Decimal
    price: Decimal


@dataclass(slots=True)
class _NewEntry:
    """An entry on its way in: written with one bulk INSERT per batch (ORM objects cost too much here)."""

    pool_id: int
    seq: int
    type: str
    amount: Decimal
    balance: Decimal
    state: str
    ts: datetime
    booked_at: datetime
    ref: str | None
    liquidation_id: str | None
    ccy: str
    postings: tuple[tuple[str, Decimal], tuple[str, Decimal]]
    id: int = 0

    def row(self) -> dict[str, object]:
        return {c: getattr(self, c) for c in _ENTRY_COLUMNS}


_ENTRY_COLUMNS = (
    "pool_id",
    "seq",
    "type",
    "amount",
    "balance",
    "state",
    "ts",
    "booked_at",
    "ref",
    "liquidation_id",
)


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise InvalidInputError("ts", "needs a timezone (UTC)")
    return ts.astimezone(UTC)


def _ensure_pools(session: Session, keys: Iterable[PoolKey], now: datetime) -> None:
    wanted = sorted(set(keys))
    existing = {
        PoolKey(*row)
        for row in session.execute(
            select(FundPool.inst_type, FundPool.inst_family, FundPool.ccy).where(
                tuple_(FundPool.inst_type, FundPool.inst_family, FundPool.ccy).in_(
                    [(k.inst_type, k.inst_family, k.ccy) for k in wanted]
                )
            )
        )
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Sorted inserts: two workers creating the same new pools wait for each other in one order, no deadlock.
    for key in wanted:
        if key in existing:
            continue
        stmt = insert(FundPool).values(
            inst_type=key.inst_type,
            inst_family=key.inst_family,
            ccy=key.ccy,
            state=PoolState.NORMAL.value,
            created_at=now,
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["inst_type", "inst_family", "ccy"]))


def _lock_pools(session: Session, keys: Iterable[PoolKey], policy: PoolPolicy) -> dict[PoolKey, _PoolRun]:
    keyset = sorted(set(keys))
    pools = session.scalars(
        select(FundPool)
        .where(
            tuple_(FundPool.inst_type, FundPool.inst_family, FundPool.ccy).in_(
                [(k.inst_type, k.inst_family, k.ccy) for k in keyset]
            )
        )
        .order_by(FundPool.id)  # one lock order for every worker
        .with_for_update()
    ).all()
    runs: dict[PoolKey, _PoolRun] = {}
    for pool in pools:
        key = PoolKey(pool.inst_type, pool.inst_family, pool.ccy)
        runs[key] = _load_run(session, pool, key, policy)
    missing = set(keyset) - set(runs)
    if missing:
        raise NotFoundError(f"pool not found: {', '.join(map(str, sorted(missing)))}")
    return runs


def lock_or_create_pools(
    session: Session, keys: list[PoolKey], policy: PoolPolicy, now: datetime
) -> dict[PoolKey, _PoolRun]:
    """Create the missing pools, then lock them all. Creating before taking any lock matters: a worker that
    held one pool's lock while waiting on another worker's uncommitted new pool could deadlock."""
    _ensure_pools(session, keys, now)
    return _lock_pools(session, keys, policy)


def _load_run(session: Session, pool: FundPool, key: PoolKey, policy: PoolPolicy) -> _PoolRun:
    head = session.execute(
        select(FundEntry.seq, FundEntry.balance, FundEntry.ts)
        .where(FundEntry.pool_id == pool.id)
        .order_by(FundEntry.seq.desc())
        .limit(1)
    ).first()
    tracker = WindowPeak(policy.window)
    if head is None:
        return _PoolRun(pool, key, 0, Decimal(0), None, tracker)
    seq, balance, last_ts = head
    # Replay the window's balances, plus the one carried into it, so the 8-hour peak is exact. Entry times
    # never decrease along seq, so the window is a suffix of the pool's entries.
    carried = (
        select(func.coalesce(func.max(FundEntry.seq), 1))
        .where(FundEntry.pool_id == pool.id, FundEntry.ts <= last_ts - policy.window)
        .scalar_subquery()
    )
    points = session.execute(
        select(FundEntry.ts, FundEntry.balance)
        .where(FundEntry.pool_id == pool.id, FundEntry.seq >= carried)
        .order_by(FundEntry.seq)
    ).all()
    for ts, bal in points:
        tracker.push(ts, bal)
    return _PoolRun(pool, key, seq, balance, last_ts, tracker)


def _book_entry(
    session: Session,
    run: _PoolRun,
    kind: str,
    amount: Decimal,
    counter_account: str,
    counter_amount: Decimal,
    at: datetime,
    now: datetime,
    ref: str | None,
    liquidation_id: str | None,
    uncovered: bool,
    liquidated_side: PositionSide | None,
    policy: PoolPolicy,
) -> _NewEntry:
    run.seq += 1
    run.balance += amount
    run.last_ts = at
    peak = run.peak.push(at, run.balance)
    pool = run.pool
    before = PoolState(pool.state)
    dd = drawdown(run.balance, peak)
    if uncovered or dd >= policy.adl_drawdown:
        # The ADL condition holds now: the cooldown counts from the last time it did.
        adl_condition_at: datetime | None = at
    else:
        adl_condition_at = None
    transition = next_state(before, run.balance, peak, at, pool.last_adl_trigger_at, policy, uncovered)
    if adl_condition_at is not None:
        pool.last_adl_trigger_at = adl_condition_at
    # Double entry: the pool against the counter account; an ADL-closed loss leaves the pool alone: the
    # deleveraged counterparties (`adl:`) make the liquidation clearing account whole instead.
    postings = (
        ((f"pool:{pool.id}", amount), (counter_account, counter_amount))
        if kind != ADL
        else ((counter_account, counter_amount), (f"adl:{run.key.ccy}", -counter_amount))
    )
    entry = _NewEntry(
        pool_id=pool.id,
        seq=run.seq,
        type=kind,
        amount=amount,
        balance=run.balance,
        state=transition.state.value,
        ts=at,
        booked_at=now,
        ref=ref,
        liquidation_id=liquidation_id,
        ccy=run.key.ccy,
        postings=postings,
    )
    run.entries.append(entry)
    if transition.state is not before or transition.trigger is not None:
        kind_name = transition.trigger.value if transition.trigger is not None else transition.state.value
        queue = None
        if transition.state is PoolState.ADL and before is not PoolState.ADL:
            queue = _queue_snapshot(session, run, liquidated_side)
        session.add(
            PoolEvent(
                pool_id=pool.id,
                ts=at,
                kind=kind_name,
                state_before=before.value,
                state_after=transition.state.value,
                balance=run.balance,
                max_bal=peak,
                dec_rate=dd,
                liquidation_id=liquidation_id,
                queue=queue,
            )
        )
        pool.state = transition.state.value
    return entry


def _queue_snapshot(
    session: Session, run: _PoolRun, liquidated_side: PositionSide | None
) -> list[dict[str, str | int]]:
    positions = [p for _, p in _run_positions(session, run).values()]
    sides = [liquidated_side] if liquidated_side is not None else [PositionSide.LONG, PositionSide.SHORT]
    out: list[dict[str, str | int]] = []
    for side in sides:
        for q in adl_queue(positions, side)[:QUEUE_PUBLISHED]:
            out.append(
                {
                    "rank": q.rank,
                    "indicator": q.indicator,
                    "posId": q.position.position_id,
                    "posSide": q.position.side.value,
                    "score": format(q.score, "f"),
                }
            )
    return out


def _run_positions(session: Session, run: _PoolRun) -> dict[str, tuple[int, OpenPosition]]:
    if run.positions is None:
        run.positions = {
            row.position_id: (row.id, position_from_row(row))
            for row in session.scalars(select(AdlPosition).where(AdlPosition.pool_id == run.pool.id))
        }
    return run.positions


def adl_quantity(item: LiquidationIn) -> Decimal:
    """The base quantity a liquidated position holds, which ADL must close against opposing positions
    (position sizes are in base units). Inverse contracts are worth `ctVal` quote each: in base units at the
    bankruptcy price, to the fund unit, rounded up so the position is closed whole."""
    qty = item.sz * item.ct_val
    if item.ct_type is ContractType.INVERSE:
        qty = (qty / item.bk_px).quantize(UNIT, rounding=ROUND_CEILING)
    return qty


def _deleverage(
    session: Session, run: _PoolRun, item: LiquidationIn, shortfall: Decimal
) -> tuple[list[tuple[QueueEntry, Decimal]], Decimal]:
    """Which opposing positions close `item`, in queue order, and the part of `shortfall` they absorb.

    The whole liquidated quantity is closed against the top of the queue at the bankruptcy price, never
    more. When the known positions cannot take all of it, they absorb their share of the shortfall (rounded
    down) and the rest stays open on the liquidation clearing account for the exchange to settle.
    """
    needed = adl_quantity(item)
    positions = [p for _, p in _run_positions(session, run).values()]
    taken = deleverage(adl_queue(positions, item.pos_side), needed)
    filled = sum((cut for _, cut in taken), Decimal(0))
    if filled >= needed:
        return taken, shortfall
    return taken, (shortfall * filled / needed).quantize(UNIT, rounding=ROUND_FLOOR)


def _apply_fills(
    run: _PoolRun, entry: _NewEntry, item: LiquidationIn, taken: list[tuple[QueueEntry, Decimal]]
) -> None:
    assert run.positions is not None
    for q, cut in taken:
        row_id, position = run.positions[q.position.position_id]
        run.positions[position.position_id] = (row_id, replace(position, size=position.size - cut))
        run.fills.append(_NewFill(entry, item.id, q.rank, position, cut, item.bk_px))


def position_from_row(p: AdlPosition) -> OpenPosition:
    return OpenPosition(
        p.position_id, p.user_id, PositionSide(p.pos_side), p.sz, p.avg_px, p.mark_px, p.margin
    )


def _write_entries(session: Session, runs: Iterable[_PoolRun]) -> None:
    runs = list(runs)
    new = [e for run in runs for e in run.entries]
    if not new:
        return
    ids = session.execute(
        insert(FundEntry).returning(FundEntry.id, sort_by_parameter_order=True), [e.row() for e in new]
    ).scalars()
    for entry, entry_id in zip(new, ids, strict=True):
        entry.id = entry_id
    session.execute(
        insert(FundPosting),
        [
            {"entry_id": e.id, "account": account, "ccy": e.ccy, "amount": amount}
            for e in new
            for account, amount in e.postings
        ],
    )
    for run in runs:
        _write_fills(session, run)


def _write_fills(session: Session, run: _PoolRun) -> None:
    if not run.fills:
        return
    session.execute(
        insert(AdlFill),
        [
            {
                "entry_id": f.entry.id,
                "pool_id": run.pool.id,
                "liquidation_id": f.liquidation_id,
                "ts": f.entry.ts,
                "rank": f.rank,
                "position_id": f.position.position_id,
                "user_id": f.position.user_id,
                "pos_side": f.position.side.value,
                "size_before": f.position.size,
                "size_closed": f.size_closed,
                "price": f.price,
            }
            for f in run.fills
        ],
    )
    assert run.positions is not None
    touched = {f.position.position_id for f in run.fills}
    closed = [run.positions[p][0] for p in touched if run.positions[p][1].size == 0]
    reduced = [
        {"id": run.positions[p][0], "sz": run.positions[p][1].size}
        for p in sorted(touched)
        if run.positions[p][1].size > 0
    ]
    if closed:
        session.execute(delete(AdlPosition).where(AdlPosition.id.in_(closed)))
    if reduced:
        session.execute(update(AdlPosition), reduced)
    run.fills.clear()


def _as_booked(
    entry: FundEntry | _NewEntry, key: PoolKey, outcome: Decimal, ref: str, replayed: bool
) -> Booked:
    return Booked(
        ref=ref,
        pool=key,
        type=entry.type,
        outcome=outcome,
        amount=entry.amount,
        balance=entry.balance,
        state=entry.state,
        seq=entry.seq,
        ts=entry.ts,
        replayed=replayed,
    )


def _checked_outcomes(items: Sequence[LiquidationIn]) -> tuple[list[Decimal], dict[str, tuple[int, str]]]:
    """Each row's outcome in whole units, and each id's first row and payload fingerprint; a bad number or an
    id repeated with another payload raises InvalidInputError naming the field and the row."""
    outcomes: list[Decimal] = []
    seen: dict[str, tuple[int, str]] = {}
    for row, item in enumerate(items):
        try:
            exact = liquidation_outcome(
                item.pos_side, item.sz, item.bk_px, item.fill_px, item.ct_type, item.ct_val, UNIT
            ).amount
        except LiquidationError as exc:
            field_name = str(exc).split(" ", 1)[0]
            raise InvalidInputError(field_name, str(exc), row) from None
        _utc(item.ts)
        if not item.id:
            raise InvalidInputError("id", "must not be empty", row)
        outcomes.append(exact.quantize(UNIT, rounding=ROUND_FLOOR) + 0)
        fp = item.fingerprint()
        if item.id in seen and seen[item.id][1] != fp:
            raise InvalidInputError(
                "id", f"repeated with a different payload (first at row {seen[item.id][0]})", row
            )
        seen.setdefault(item.id, (row, fp))
    return outcomes, seen


def _already_booked(session: Session, seen: dict[str, tuple[int, str]]) -> dict[str, Liquidation]:
    """The ids of this batch booked before (call after the pool locks: a concurrent worker's booking of the
    same id is committed and visible by then); one booked with another payload is a conflict."""
    stored: dict[str, Liquidation] = {}
    ids = list(seen)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        stored.update(
            {liq.id: liq for liq in session.scalars(select(Liquidation).where(Liquidation.id.in_(chunk)))}
        )
    for liq_id, liq in stored.items():
        if liq.fingerprint != seen[liq_id][1]:
            raise ConflictError(
                f"row {seen[liq_id][0]}, id: liquidation {liq_id} was booked with a different payload"
            )
    return stored


def _book_outcome(
    session: Session, run: _PoolRun, item: LiquidationIn, outcome: Decimal, now: datetime, policy: PoolPolicy
) -> _NewEntry:
    """One liquidation's entry: a surplus into the fund, a loss the fund covers, or else (the fund does not
    pay) an ADL: opposing positions are closed at the bankruptcy price and absorb the loss."""
    at = _utc(item.ts)
    if run.last_ts is not None and at < run.last_ts:
        at = run.last_ts
    clearing = f"liquidations:{item.pool.ccy}"
    if outcome >= 0 or fund_covers(PoolState(run.pool.state), run.balance, -outcome):
        kind = SURPLUS if outcome >= 0 else LOSS
        return _book_entry(
            session, run, kind, outcome, clearing, -outcome, at, now, None, item.id, False, item.pos_side, policy
        )
    uncovered = -outcome > run.balance
    taken, absorbed = _deleverage(session, run, item, -outcome)
    entry = _book_entry(
        session, run, ADL, Decimal(0), clearing, absorbed, at, now, None, item.id, uncovered, item.pos_side, policy
    )
    _apply_fills(run, entry, item, taken)
    return entry


def _insert_liquidations(
    session: Session,
    items: Sequence[LiquidationIn],
    runs: dict[PoolKey, _PoolRun],
    fresh: dict[str, tuple[_NewEntry, Decimal]],
    seen: dict[str, tuple[int, str]],
) -> None:
    if not fresh:
        return
    session.execute(
        insert(Liquidation),
        [
            {
                "id": item.id,
                "pool_id": runs[item.pool].pool.id,
                "inst_id": item.inst_id,
                "pos_side": item.pos_side.value,
                "sz": item.sz,
                "bk_px": item.bk_px,
                "fill_px": item.fill_px,
                "ct_type": item.ct_type.value,
                "ct_val": item.ct_val,
                "ts": _utc(item.ts),
                "outcome": fresh[item.id][1],
                "entry_id": fresh[item.id][0].id,
                "fingerprint": seen[item.id][1],
            }
            for item in (items[seen[liq_id][0]] for liq_id in fresh)
        ],
    )


def book_liquidations(
    session: Session,
    items: Sequence[LiquidationIn],
    policy: PoolPolicy | None = None,
    now: datetime | None = None,
) -> list[Booked]:
    """Book a batch of liquidations (one transaction; the caller commits). Ids already booked with the same
    payload are returned as they were booked (`replayed`); the same id with another payload is a conflict.
    Bad numbers raise InvalidInputError naming the field and the row, before anything is written."""
    policy = policy or default_policy()
    now = now or datetime.now(UTC)
    outcomes, seen = _checked_outcomes(items)
    if not items:
        return []

    runs = lock_or_create_pools(session, [i.pool for i in items], policy, now)
    stored = _already_booked(session, seen)
    fresh: dict[str, tuple[_NewEntry, Decimal]] = {}
    for item, outcome in zip(items, outcomes, strict=True):
        if item.id not in stored and item.id not in fresh:
            fresh[item.id] = (_book_outcome(session, runs[item.pool], item, outcome, now, policy), outcome)

    _write_entries(session, runs.values())
    _insert_liquidations(session, items, runs, fresh, seen)
    session.flush()  # pool states and events

    stored_entry_ids = [liq.entry_id for liq in stored.values()]
    entries_of_stored = (
        {e.id: e for e in session.scalars(select(FundEntry).where(FundEntry.id.in_(stored_entry_ids)))}
        if stored_entry_ids
        else {}
    )
    results: list[Booked] = []
    for row, item in enumerate(items):
        if item.id in fresh:
            entry, outcome = fresh[item.id]
            replayed = seen[item.id][0] != row
            results.append(_as_booked(entry, item.pool, outcome, item.id, replayed))
        else:
            liq = stored[item.id]
            results.append(_as_booked(entries_of_stored[liq.entry_id], item.pool, liq.outcome, item.id, True))
    return results


def inject(
    session: Session,
    injection_id: str,
    pool: PoolKey,
    amount: Decimal,
    ts: datetime,
    policy: PoolPolicy | None = None,
    now: datetime | None = None,
) -> Booked:
    """A capital injection from the exchange's treasury; idempotent by `injection_id`."""
    policy = policy or default_policy()
    now = now or datetime.now(UTC)
    if not amount.is_finite() or amount <= 0:
        raise InvalidInputError("amount", "must be a positive number")
    if amount != amount.quantize(UNIT):
        raise InvalidInputError("amount", f"has more places than the fund unit {UNIT}")
    ref = f"injection:{injection_id}"
    runs = lock_or_create_pools(session, [pool], policy, now)
    existing = session.scalars(select(FundEntry).where(FundEntry.ref == ref)).first()
    if existing is not None:
        if existing.amount != amount or existing.pool_id != runs[pool].pool.id:
            raise ConflictError(f"id: injection {injection_id} was booked with a different payload")
        return _as_booked(existing, pool, existing.amount, injection_id, True)
    run = runs[pool]
    at = max(_utc(ts), run.last_ts) if run.last_ts is not None else _utc(ts)
    entry = _book_entry(
        session,
        run,
        INJECTION,
        amount,
        f"treasury:{pool.ccy}",
        -amount,
        at,
        now,
        ref,
        None,
        False,
        None,
        policy,
    )
    _write_entries(session, [run])
    session.flush()
    return _as_booked(entry, pool, amount, injection_id, False)


def pool_balance(session: Session, pool_id: int) -> Decimal:
    bal = session.execute(
        select(FundEntry.balance).where(FundEntry.pool_id == pool_id).order_by(FundEntry.seq.desc()).limit(1)
    ).scalar()
    return bal if bal is not None else Decimal(0)


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    entries: int
    postings_total: Decimal  # must be 0
    problems: list[str]

    @property
    def balanced(self) -> bool:
        return not self.problems and self.postings_total == 0


def check_ledger(session: Session) -> LedgerCheck:
    """Re-add the whole ledger: postings sum to zero per entry and overall; each pool's seq runs 1..n with
    no gap; each balance is the previous one plus the amount; pool postings sum to the latest balance."""
    problems: list[str] = []
    postings: dict[int, list[tuple[str, Decimal]]] = {}
    total = Decimal(0)
    for entry_id, account, amount in session.execute(
        select(FundPosting.entry_id, FundPosting.account, FundPosting.amount)
    ):
        postings.setdefault(entry_id, []).append((account, amount))
        total += amount
    count = 0
    for pool_id in session.scalars(select(FundPool.id).order_by(FundPool.id)):
        expected_seq, running, pool_sum = 1, Decimal(0), Decimal(0)
        for entry in session.scalars(
            select(FundEntry).where(FundEntry.pool_id == pool_id).order_by(FundEntry.seq)
        ):
            count += 1
            if entry.seq != expected_seq:
                problems.append(f"pool {pool_id}: seq {entry.seq} where {expected_seq} was due")
            expected_seq = entry.seq + 1
            running += entry.amount
            if entry.balance != running:
                problems.append(f"pool {pool_id} seq {entry.seq}: balance {entry.balance} != {running}")
            lines = postings.get(entry.id, [])
            if len(lines) != 2 or sum(a for _, a in lines) != 0:
                problems.append(f"entry {entry.id}: postings {lines} do not balance")
            pool_sum += sum(a for acc, a in lines if acc == f"pool:{pool_id}")
        if pool_sum != running:
            problems.append(f"pool {pool_id}: postings {pool_sum} != balance {running}")
    n_postings = session.scalar(select(func.count()).select_from(FundPosting)) or 0
    if n_postings != 2 * count:
        problems.append(f"{n_postings} postings for {count} entries")
    return LedgerCheck(count, total, problems)
