"""Incidents: an operator opens one (a hack, an exchange-side failure), records the affected users and their
losses, and pays them from the fund. Every step is idempotent and audited; users see their own claims.

Paying takes each currency's balance lock first (sorted, so two payers never deadlock), then reads the
claims still unpaid: a second payer, or a retry, finds them paid and books nothing. The payout entry's ref
is `payout:<claim id>` (unique), so even a bug around the lock could not pay a claim twice.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.protection_fund import ledger
from bastion.protection_fund.models import PfundAudit, PfundClaim, PfundIncident


class IncidentKind(enum.StrEnum):
    HACK = "hack"
    EXCHANGE_FAILURE = "exchange_failure"
    SYSTEMIC_EVENT = "systemic_event"


OPEN, CLOSED = "open", "closed"
RECORDED, PAID = "recorded", "paid"


@dataclass(frozen=True, slots=True)
class Affected:
    user_id: str
    ccy: str
    amount: Decimal


def _audit(
    session: Session,
    incident_id: int,
    actor: str,
    action: str,
    at: datetime,
    claim_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        PfundAudit(incident_id=incident_id, claim_id=claim_id, at=at, actor=actor, action=action, detail=detail)
    )


def get_incident(session: Session, incident_id: int) -> PfundIncident:
    incident = session.get(PfundIncident, incident_id, populate_existing=True)
    if incident is None:
        raise NotFoundError(f"incident {incident_id} not found")
    return incident


def open_incident(
    session: Session,
    ref: str,
    kind: IncidentKind,
    title: str,
    description: str,
    occurred_at: datetime,
    actor: str,
    now: datetime,
) -> tuple[PfundIncident, bool]:
    """Open an incident, or return the one opened with this `ref` (True when new)."""
    if occurred_at.tzinfo is None:
        raise InvalidInputError("occurred_at", "needs a timezone (UTC)")
    if occurred_at > now:
        raise InvalidInputError("occurred_at", "is in the future")
    existing = session.scalars(select(PfundIncident).where(PfundIncident.ref == ref)).one_or_none()
    if existing is not None:
        if (existing.kind, existing.title, existing.occurred_at) != (kind.value, title, occurred_at):
            raise ConflictError(f"ref: {ref} was used for another incident")
        return existing, False
    incident = PfundIncident(
        ref=ref,
        kind=kind.value,
        title=title,
        description=description,
        occurred_at=occurred_at.astimezone(UTC),
        opened_at=now,
        opened_by=actor,
        state=OPEN,
    )
    session.add(incident)
    session.flush()
    _audit(session, incident.id, actor, "opened", now, ref=ref, kind=kind.value, title=title)
    return incident, True


def record_affected(
    session: Session, incident_id: int, rows: Sequence[Affected], actor: str, now: datetime
) -> tuple[int, int]:
    """Record affected users (all rows or none). A row already recorded with the same amount is skipped; with
    another amount it is a conflict naming the row. Returns (new, already recorded)."""
    incident = get_incident(session, incident_id)
    if incident.state != OPEN:
        raise ConflictError(f"incident {incident_id} is {incident.state}: no more affected users")
    existing = {
        (c.user_id, c.ccy): c for c in session.scalars(select(PfundClaim).where(PfundClaim.incident_id == incident_id))
    }
    seen: set[tuple[str, str]] = set()
    new = same = 0
    for i, row in enumerate(rows):
        ccy = row.ccy.strip().upper()
        user = row.user_id.strip()
        if not user:
            raise InvalidInputError("user_id", "is empty", row=i)
        if not ccy.isalnum() or len(ccy) > 16:
            raise InvalidInputError("ccy", "must be 1-16 letters or digits", row=i)
        if not row.amount.is_finite() or row.amount <= 0 or row.amount != row.amount.quantize(ledger.UNIT):
            raise InvalidInputError("amount", "must be positive, to at most 8 decimals", row=i)
        if (user, ccy) in seen:
            raise InvalidInputError("user_id", f"{user} {ccy} appears twice in this list", row=i)
        seen.add((user, ccy))
        claim = existing.get((user, ccy))
        if claim is not None:
            if claim.amount != row.amount:
                raise ConflictError(
                    f"row {i}, amount: {user} was recorded with {format(claim.amount, 'f')} {ccy} for this incident"
                )
            same += 1
            continue
        claim = PfundClaim(
            incident_id=incident_id,
            user_id=user,
            ccy=ccy,
            amount=row.amount,
            state=RECORDED,
            recorded_at=now,
            recorded_by=actor,
        )
        session.add(claim)
        session.flush()
        _audit(session, incident_id, actor, "affected_recorded", now, claim.id, ccy=ccy, amount=format(row.amount, "f"))
        new += 1
    return new, same


@dataclass(frozen=True, slots=True)
class PayoutResult:
    incident_id: int
    paid_now: list[tuple[int, str, str, Decimal]]  # claim id, user, ccy, amount
    already_paid: int

    @property
    def total_by_ccy(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for _, _, ccy, amount in self.paid_now:
            out[ccy] = out.get(ccy, Decimal(0)) + amount
        return out


def pay_incident(session: Session, incident_id: int, actor: str, now: datetime) -> PayoutResult:
    """Book a payout from the fund for every claim of the incident not yet paid (the caller commits).

    All or nothing: when the fund cannot cover a currency's unpaid claims, nothing is paid (409)."""
    incident = get_incident(session, incident_id)
    ccys = sorted(set(session.scalars(select(PfundClaim.ccy).where(PfundClaim.incident_id == incident_id))))
    locks = {ccy: ledger.lock_balance(session, ccy, now) for ccy in ccys}
    incident = get_incident(session, incident_id)  # a close that went before us is seen
    # Read after the locks: a payer that went before us has committed, and we see its claims as paid.
    claims = list(
        session.scalars(
            select(PfundClaim)
            .where(PfundClaim.incident_id == incident_id)
            .order_by(PfundClaim.id)
            .execution_options(populate_existing=True)
        )
    )
    if incident.state != OPEN and any(c.state != PAID for c in claims):
        raise ConflictError(f"incident {incident_id} is {incident.state}")
    due: dict[str, Decimal] = {}
    for c in claims:
        if c.state != PAID:
            due[c.ccy] = due.get(c.ccy, Decimal(0)) + c.amount
    for ccy, total in due.items():
        if locks[ccy].balance < total:
            raise ConflictError(
                f"the fund holds {format(locks[ccy].balance, 'f')} {ccy}, the unpaid claims need {format(total, 'f')}"
            )
    paid: list[tuple[int, str, str, Decimal]] = []
    already = 0
    for c in claims:
        if c.state == PAID:
            already += 1
            continue
        booking = ledger.book(
            session,
            ref=f"payout:{c.id}",
            kind=ledger.PAYOUT,
            ccy=c.ccy,
            amount=c.amount,
            counterparty=f"user:{c.user_id}",
            ts=now,
            actor=actor,
            memo=f"incident {incident_id}: {incident.title}",
            now=now,
            locked=locks[c.ccy],
        )
        c.state, c.entry_id, c.paid_at = PAID, booking.entry_id, now
        _audit(
            session,
            incident_id,
            actor,
            "paid",
            now,
            c.id,
            entry_id=booking.entry_id,
            ccy=c.ccy,
            amount=format(c.amount, "f"),
        )
        paid.append((c.id, c.user_id, c.ccy, c.amount))
    if paid:
        _audit(session, incident_id, actor, "payout_run", now, claims=len(paid))
    session.flush()
    return PayoutResult(incident_id, paid, already)


def close_incident(session: Session, incident_id: int, actor: str, now: datetime) -> PfundIncident:
    incident = get_incident(session, incident_id)
    if incident.state == CLOSED:
        return incident
    unpaid = session.scalars(
        select(PfundClaim.id).where(PfundClaim.incident_id == incident_id, PfundClaim.state != PAID)
    ).first()
    if unpaid is not None:
        raise ConflictError(f"incident {incident_id} has unpaid claims: pay them before closing")
    incident.state, incident.closed_at = CLOSED, now
    _audit(session, incident_id, actor, "closed", now)
    session.flush()
    return incident


def claims(session: Session, incident_id: int) -> list[PfundClaim]:
    return list(
        session.scalars(select(PfundClaim).where(PfundClaim.incident_id == incident_id).order_by(PfundClaim.id))
    )


def audit_trail(session: Session, incident_id: int) -> list[PfundAudit]:
    return list(
        session.scalars(select(PfundAudit).where(PfundAudit.incident_id == incident_id).order_by(PfundAudit.id))
    )


@dataclass(frozen=True, slots=True)
class UserCase:
    claim: PfundClaim
    incident: PfundIncident
    events: list[PfundAudit]


def user_cases(session: Session, user_id: str) -> list[UserCase]:
    """A user's own claims, their incidents and the steps on those claims; never another user's."""
    out = []
    rows = session.execute(
        select(PfundClaim, PfundIncident)
        .join(PfundIncident, PfundIncident.id == PfundClaim.incident_id)
        .where(PfundClaim.user_id == user_id)
        .order_by(PfundClaim.id)
    ).all()
    for claim, incident in rows:
        events = list(
            session.scalars(select(PfundAudit).where(PfundAudit.claim_id == claim.id).order_by(PfundAudit.id))
        )
        out.append(UserCase(claim, incident, events))
    return out


@dataclass(frozen=True, slots=True)
class IncidentMonth:
    opened: int
    users_paid: int
    paid_by_ccy: dict[str, Decimal]
    by_kind: dict[str, int]


def monthly(session: Session, start: datetime, end: datetime) -> IncidentMonth:
    incidents = list(
        session.scalars(select(PfundIncident).where(PfundIncident.opened_at >= start, PfundIncident.opened_at < end))
    )
    paid = session.execute(
        select(PfundClaim.user_id, PfundClaim.ccy, PfundClaim.amount).where(
            PfundClaim.state == PAID, PfundClaim.paid_at >= start, PfundClaim.paid_at < end
        )
    ).all()
    by_ccy: dict[str, Decimal] = {}
    for _, ccy, amount in paid:
        by_ccy[ccy] = by_ccy.get(ccy, Decimal(0)) + amount
    by_kind: dict[str, int] = {}
    for i in incidents:
        by_kind[i.kind] = by_kind.get(i.kind, 0) + 1
    return IncidentMonth(len(incidents), len({u for u, _, _ in paid}), dict(sorted(by_ccy.items())), by_kind)
