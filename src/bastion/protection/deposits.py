"""Mistaken deposits: find why a deposit was not credited, open a case, and walk it to a resolution.

Reasons, in the words exchanges use on their self-service pages: the token was sent over a network the
exchange does not take it on (wrong network), the token is not listed at all (unlisted token), or the chain
needs a memo/tag that was missing or matched no account (missing memo). A case moves through
opened -> investigating -> recoverable | unrecoverable -> returned | credited -> closed, every move written
to an audit trail with who did it. Unlisted tokens that land on an address we control on a chain we can
send from are returned automatically, for the network fee only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.protection.models import DepositCase, DepositCaseEvent, DepositObservation
from bastion.protection.settings import FeeSchedule, Listing, default_deposits


class DepositReason(enum.StrEnum):
    WRONG_NETWORK = "wrong_network"
    UNLISTED_TOKEN = "unlisted_token"
    MISSING_MEMO = "missing_memo"


class CaseState(enum.StrEnum):
    OPENED = "opened"
    INVESTIGATING = "investigating"
    RECOVERABLE = "recoverable"
    UNRECOVERABLE = "unrecoverable"
    RETURNED = "returned"
    CREDITED = "credited"
    CLOSED = "closed"


TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.OPENED: frozenset({CaseState.INVESTIGATING, CaseState.RECOVERABLE}),
    CaseState.INVESTIGATING: frozenset({CaseState.RECOVERABLE, CaseState.UNRECOVERABLE}),
    CaseState.RECOVERABLE: frozenset({CaseState.RETURNED, CaseState.CREDITED}),
    CaseState.UNRECOVERABLE: frozenset({CaseState.CLOSED}),
    CaseState.RETURNED: frozenset({CaseState.CLOSED}),
    CaseState.CREDITED: frozenset({CaseState.CLOSED}),
    CaseState.CLOSED: frozenset(),
}

RESOLVED = frozenset({CaseState.RETURNED, CaseState.CREDITED, CaseState.UNRECOVERABLE})


class CaseError(ValueError):
    """A move the case rules refuse; the message names the field."""


def check_transition(current: CaseState, target: CaseState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (closed)"
        raise CaseError(f"state: a case that is {current} cannot move to {target}; allowed: {allowed}")


@dataclass(frozen=True, slots=True)
class ObservedDeposit:
    """A transfer the exchange's chain watcher saw arrive at one of its addresses."""

    chain: str
    txid: str
    token: str
    to_address: str
    memo: str | None
    memo_matches_account: bool  # the watcher knows whether the memo names one of our accounts


def mistake_reason(deposit: ObservedDeposit, listing: Listing) -> DepositReason | None:
    """Why this deposit cannot be credited automatically, or None when it is an ordinary deposit."""
    if deposit.token not in listing.tokens.get(deposit.chain, frozenset()):
        return (
            DepositReason.WRONG_NETWORK
            if listing.listed_anywhere(deposit.token)
            else DepositReason.UNLISTED_TOKEN
        )
    if deposit.chain in listing.memo_chains and (not deposit.memo or not deposit.memo_matches_account):
        return DepositReason.MISSING_MEMO
    return None


def automatic_return(
    reason: DepositReason, chain: str, usd_value: Decimal, listing: Listing, fees: FeeSchedule
) -> bool:
    """Unlisted tokens on a chain we send from go back by themselves, if they are worth the network fee."""
    return (
        reason is DepositReason.UNLISTED_TOKEN
        and chain in listing.auto_return_chains
        and usd_value > fees.network_fee_usd
    )


# --------------------------------------------------------------------------------------------- storage

UNIT = Decimal("0.00000001")








AUTO_ACTOR = "auto-return"


def record_observation(
    session: Session,
    obs: ObservedDeposit,
    amount: Decimal,
    usd_value: Decimal,
    user_id: str | None,
    at: datetime,
    listing: Listing | None = None,
    fees: FeeSchedule | None = None,
) -> DepositCase | None:
    """Store what the chain watcher saw; unlisted tokens we can send back are returned at once.

    Idempotent by (chain, txid). Returns the case when one was opened automatically.
    """
    listing = listing or default_deposits().listing()
    fees = fees or default_deposits().fees()
    if amount <= 0:
        raise InvalidInputError("amount", "must be positive")
    if usd_value < 0:
        raise InvalidInputError("usd_value", "must not be negative")
    existing = session.scalar(
        select(DepositObservation).where(
            DepositObservation.chain == obs.chain, DepositObservation.txid == obs.txid
        )
    )
    if existing is not None:
        if (existing.token, existing.amount, existing.to_address) != (obs.token, amount, obs.to_address):
            raise ConflictError(f"txid: {obs.chain}/{obs.txid} was recorded with a different transfer")
        return _case_for(session, obs.chain, obs.txid)
    session.add(
        DepositObservation(
            chain=obs.chain,
            txid=obs.txid,
            token=obs.token,
            to_address=obs.to_address,
            memo=obs.memo,
            memo_matches_account=obs.memo_matches_account,
            amount=amount,
            usd_value=usd_value,
            user_id=user_id,
            observed_at=at,
        )
    )
    reason = mistake_reason(obs, listing)
    if reason is None or not automatic_return(reason, obs.chain, usd_value, listing, fees):
        session.flush()
        return None
    case = _open(
        session,
        obs.chain,
        obs.txid,
        obs.token,
        user_id,
        reason,
        True,
        amount,
        usd_value,
        fees,
        at,
        AUTO_ACTOR,
    )
    move(session, case, CaseState.RECOVERABLE, AUTO_ACTOR, at, "unlisted token on a chain we send from")
    move(session, case, CaseState.RETURNED, AUTO_ACTOR, at, "returned to sender less the network fee")
    move(session, case, CaseState.CLOSED, AUTO_ACTOR, at, "")
    return case


def _case_for(session: Session, chain: str, txid: str) -> DepositCase | None:
    return session.scalar(select(DepositCase).where(DepositCase.chain == chain, DepositCase.txid == txid))


def _open(
    session: Session,
    chain: str,
    txid: str,
    token: str,
    user_id: str | None,
    reason: DepositReason,
    automatic: bool,
    amount: Decimal,
    usd_value: Decimal,
    fees: FeeSchedule,
    at: datetime,
    actor: str,
) -> DepositCase:
    case = DepositCase(
        chain=chain,
        txid=txid,
        user_id=user_id,
        reason=reason.value,
        state=CaseState.OPENED.value,
        automatic=automatic,
        token=token,
        amount=amount,
        usd_value=usd_value,
        fee=fees.fee(amount, usd_value, automatic, UNIT),
        opened_at=at,
    )
    session.add(case)
    session.flush()
    session.add(
        DepositCaseEvent(
            case_id=case.id,
            at=at,
            actor=actor,
            from_state=None,
            to_state=case.state,
            note=f"reason: {reason.value}",
        )
    )
    return case


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: str  # not_found | credited | case
    case: DepositCase | None


def self_service_check(
    session: Session,
    chain: str,
    txid: str,
    user_id: str,
    at: datetime,
    listing: Listing | None = None,
    fees: FeeSchedule | None = None,
) -> CheckResult:
    """A user asks about a deposit by chain and txid: opens a case with its reason (or returns the one open).

    A transfer we never saw is `not_found` (it may be unconfirmed or sent elsewhere); one that is an
    ordinary deposit is `credited`. Another user's deposit or case is `not_found` too, word for word: the
    answer says nothing about deposits that are not the caller's.
    """
    listing = listing or default_deposits().listing()
    fees = fees or default_deposits().fees()
    case = _case_for(session, chain, txid)
    if case is not None:
        if case.user_id is not None and case.user_id != user_id:
            return CheckResult("not_found", None)
        return CheckResult("case", case)
    obs = session.scalar(
        select(DepositObservation).where(DepositObservation.chain == chain, DepositObservation.txid == txid)
    )
    if obs is None:
        return CheckResult("not_found", None)
    if obs.user_id is not None and obs.user_id != user_id:
        return CheckResult("not_found", None)
    reason = mistake_reason(
        ObservedDeposit(obs.chain, obs.txid, obs.token, obs.to_address, obs.memo, obs.memo_matches_account),
        listing,
    )
    if reason is None:
        return CheckResult("credited", None)
    case = _open(
        session, chain, txid, obs.token, user_id, reason, False, obs.amount, obs.usd_value, fees, at, user_id
    )
    return CheckResult("case", case)


def move(
    session: Session, case: DepositCase, target: CaseState, actor: str, at: datetime, note: str = ""
) -> None:
    """Walk a case one step, with the audit trail; the caller commits."""
    if not actor:
        raise InvalidInputError("actor", "must name who moves the case")
    current = CaseState(case.state)
    try:
        check_transition(current, target)
    except CaseError as exc:
        raise ConflictError(str(exc)) from None
    if target in RESOLVED:
        case.resolved_at = at
    if target is CaseState.CLOSED:
        case.closed_at = at
    case.state = target.value
    session.add(
        DepositCaseEvent(
            case_id=case.id, at=at, actor=actor, from_state=current.value, to_state=target.value, note=note
        )
    )
    session.flush()


def get_case(session: Session, case_id: int) -> DepositCase:
    case = session.get(DepositCase, case_id)
    if case is None:
        raise NotFoundError(f"case {case_id} not found")
    return case


def case_events(session: Session, case_id: int) -> list[DepositCaseEvent]:
    return list(
        session.scalars(
            select(DepositCaseEvent).where(DepositCaseEvent.case_id == case_id).order_by(DepositCaseEvent.id)
        )
    )


@dataclass(frozen=True, slots=True)
class DepositsMonth:
    cases: int
    by_reason: dict[str, int]
    manual_recovered: int
    manual_value_usd: Decimal
    automatic_returned: int
    automatic_value_usd: Decimal
    unrecoverable: int
    fees_usd: Decimal
    median_hours_to_resolution: float | None


def monthly(session: Session, start: datetime, end: datetime) -> DepositsMonth:
    """Cases opened in [start, end): by reason, value recovered (deposit value of cases returned or credited),
    manual and automatic apart, fees charged, and the median time from opening to resolution."""
    cases = session.scalars(
        select(DepositCase).where(DepositCase.opened_at >= start, DepositCase.opened_at < end)
    ).all()
    by_reason: dict[str, int] = {}
    manual_n = auto_n = unrec = 0
    manual_v = auto_v = fees = Decimal(0)
    hours: list[float] = []
    for c in cases:
        by_reason[c.reason] = by_reason.get(c.reason, 0) + 1
        recovered = c.state in (CaseState.RETURNED, CaseState.CREDITED) or (
            c.state == CaseState.CLOSED
            and c.resolved_at is not None
            and c.fee is not None
            and _was_recovered(session, c)
        )
        if c.resolved_at is not None:
            hours.append((c.resolved_at - c.opened_at).total_seconds() / 3600)
        if recovered:
            price = c.usd_value / c.amount if c.amount else Decimal(0)
            fees += c.fee * price
            if c.automatic:
                auto_n += 1
                auto_v += c.usd_value
            else:
                manual_n += 1
                manual_v += c.usd_value
        elif c.resolved_at is not None:
            unrec += 1
    hours.sort()
    median = None
    if hours:
        mid = len(hours) // 2
        median = hours[mid] if len(hours) % 2 else (hours[mid - 1] + hours[mid]) / 2
    return DepositsMonth(
        len(cases),
        by_reason,
        manual_n,
        manual_v,
        auto_n,
        auto_v,
        unrec,
        fees.quantize(Decimal("0.01")),
        median,
    )


def _was_recovered(session: Session, case: DepositCase) -> bool:
    return (
        session.scalar(
            select(DepositCaseEvent.id).where(
                DepositCaseEvent.case_id == case.id,
                DepositCaseEvent.to_state.in_((CaseState.RETURNED.value, CaseState.CREDITED.value)),
            )
        )
        is not None
    )
