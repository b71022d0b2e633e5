"""User protection fund routes: operator bookings and the incident workflow, the user's own cases, and the
public figures (size in USD, wallets with their verification, history) and both funds' disclosures.

Thin: every rule lives in `bastion.protection_fund`. "Now" is the protection clock (wall clock unless a test
or the simulator replaces it in-process).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from bastion.bounds import PositiveInt32, Timestamp
from bastion.protection_fund import disclosures, incidents, ledger, public, wallets
from bastion.protection_fund.models import PfundClaim, PfundIncident
from bastion.service.access import CurrentUser, OperatorScope, Public, acting_credential
from bastion.service.deps import SessionDep, protection_clock
from bastion.service.okx_auth import okx_router
from bastion.service.schemas import RequestBody
from bastion.service.static_pages import StaticPages

router = APIRouter(tags=["protection fund"])
PfundAdmin = OperatorScope("pfund:admin")
# User routes answer a refused credential as OKX does (okx_router); merged into `router` at the end.
user_router = okx_router(tags=["protection fund"])

Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False, max_digits=38, decimal_places=8)]
Name = Annotated[str, Field(min_length=1, max_length=120)]


def _d(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.normalize(), "f") if value else "0"


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _now(request: Request) -> datetime:
    return protection_clock(request.app)()


def _actor(request: Request, named: str) -> str:
    return acting_credential(request, named, 128)


# ------------------------------------------------------------------------------------------ operator
class ContributionBody(RequestBody):
    ref: Name
    ccy: str = Field(min_length=1, max_length=16)
    amount: Positive
    source: Name
    ts: Timestamp
    actor: Name
    memo: str = Field(default="", max_length=500)


class TransferBody(RequestBody):
    ref: Name
    ccy: str = Field(min_length=1, max_length=16)
    amount: Positive
    direction: str = Field(pattern="^(in|out)$")
    counterparty: Name
    ts: Timestamp
    actor: Name
    memo: str = Field(default="", max_length=500)


def _booking(b: ledger.Booking) -> dict[str, Any]:
    return {
        "ref": b.ref,
        "ccy": b.ccy,
        "kind": b.kind,
        "amount": _d(b.amount),
        "balance": _d(b.balance),
        "counterparty": b.counterparty,
        "seq": b.seq,
        "ts": b.ts,
        "replayed": b.replayed,
    }


@router.post("/v1/pfund/contributions", dependencies=[PfundAdmin])
def post_contribution(body: ContributionBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """Money into the fund from a funding source. Idempotent by `ref`."""
    b = ledger.contribute(
        session, body.ref, body.ccy, body.amount, body.source, _utc(body.ts), _actor(request, body.actor), body.memo
    )
    session.commit()
    return _booking(b)


@router.post("/v1/pfund/transfers", dependencies=[PfundAdmin])
def post_transfer(body: TransferBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """Money between the fund and another account of the exchange. Idempotent by `ref`."""
    b = ledger.transfer(
        session,
        body.ref,
        body.ccy,
        body.amount,
        body.direction,
        body.counterparty,
        _utc(body.ts),
        _actor(request, body.actor),
        body.memo,
    )
    session.commit()
    return _booking(b)


class IncidentBody(RequestBody):
    ref: Name
    kind: incidents.IncidentKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    occurred_at: Timestamp
    actor: Name


def _incident(i: PfundIncident) -> dict[str, Any]:
    return {
        "id": i.id,
        "ref": i.ref,
        "kind": i.kind,
        "title": i.title,
        "description": i.description,
        "occurred_at": i.occurred_at,
        "opened_at": i.opened_at,
        "opened_by": i.opened_by,
        "state": i.state,
        "closed_at": i.closed_at,
    }


def _claim(c: PfundClaim) -> dict[str, Any]:
    return {
        "id": c.id,
        "incident_id": c.incident_id,
        "user_id": c.user_id,
        "ccy": c.ccy,
        "amount": _d(c.amount),
        "state": c.state,
        "recorded_at": c.recorded_at,
        "paid_at": c.paid_at,
        "entry_id": c.entry_id,
    }


@router.post("/v1/pfund/incidents", dependencies=[PfundAdmin])
def post_incident(body: IncidentBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """Open an incident. Idempotent by `ref` (the same incident again: `created` false)."""
    incident, created = incidents.open_incident(
        session,
        body.ref,
        body.kind,
        body.title,
        body.description,
        _utc(body.occurred_at),
        _actor(request, body.actor),
        _now(request),
    )
    session.commit()
    return {**_incident(incident), "created": created}


class AffectedRow(RequestBody):
    user_id: str = Field(min_length=1, max_length=128)
    ccy: str = Field(min_length=1, max_length=16)
    amount: Positive


class AffectedBody(RequestBody):
    actor: Name
    users: list[AffectedRow] = Field(min_length=1, max_length=10_000)


@router.post("/v1/pfund/incidents/{incident_id}/affected", dependencies=[PfundAdmin])
def post_affected(
    incident_id: PositiveInt32, body: AffectedBody, session: SessionDep, request: Request
) -> dict[str, int]:
    """Record affected users and amounts: all rows or none; rows already recorded alike are skipped."""
    rows = [incidents.Affected(r.user_id, r.ccy, r.amount) for r in body.users]
    new, same = incidents.record_affected(session, incident_id, rows, _actor(request, body.actor), _now(request))
    session.commit()
    return {"recorded": new, "already_recorded": same}


class ActorBody(RequestBody):
    actor: Name


@router.post("/v1/pfund/incidents/{incident_id}/payouts", dependencies=[PfundAdmin])
def post_payouts(incident_id: PositiveInt32, body: ActorBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """Pay every recorded, unpaid claim of the incident from the fund. Safe to retry and to call from several
    places at once: each claim is paid exactly once."""
    result = incidents.pay_incident(session, incident_id, _actor(request, body.actor), _now(request))
    session.commit()
    return {
        "incident_id": incident_id,
        "paid": [{"claim_id": i, "user_id": u, "ccy": c, "amount": _d(a)} for i, u, c, a in result.paid_now],
        "already_paid": result.already_paid,
        "total_by_ccy": {k: _d(v) for k, v in result.total_by_ccy.items()},
    }


@router.post("/v1/pfund/incidents/{incident_id}/close", dependencies=[PfundAdmin])
def post_close(incident_id: PositiveInt32, body: ActorBody, session: SessionDep, request: Request) -> dict[str, Any]:
    incident = incidents.close_incident(session, incident_id, _actor(request, body.actor), _now(request))
    session.commit()
    return _incident(incident)


@router.get("/v1/pfund/incidents/{incident_id}", dependencies=[PfundAdmin])
def get_incident(incident_id: PositiveInt32, session: SessionDep) -> dict[str, Any]:
    """The incident, every claim and the whole audit trail."""
    incident = incidents.get_incident(session, incident_id)
    return {
        **_incident(incident),
        "claims": [_claim(c) for c in incidents.claims(session, incident_id)],
        "audit": [
            {"at": a.at, "actor": a.actor, "action": a.action, "claim_id": a.claim_id, "detail": a.detail}
            for a in incidents.audit_trail(session, incident_id)
        ],
    }


@router.get("/v1/pfund/ledger/check", dependencies=[PfundAdmin])
def ledger_check(session: SessionDep) -> dict[str, Any]:
    result = ledger.check_ledger(session)
    return {"entries": result.entries, "balanced": result.balanced, "problems": result.problems[:50]}


class WordsBody(RequestBody):
    purpose: str = Field(min_length=1, max_length=4000)
    structure: str = Field(min_length=1, max_length=4000)
    triggers: str = Field(min_length=1, max_length=4000)
    disclaimers: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(max_length=20)
    actor: Name


@router.put("/v1/funds/{fund}/disclosure", dependencies=[PfundAdmin])
def put_disclosure(fund: disclosures.Fund, body: WordsBody, session: SessionDep, request: Request) -> dict[str, int]:
    """Publish the fund's words (a new version; the same words again change nothing)."""
    words = disclosures.Words(body.purpose, body.structure, body.triggers, list(body.disclaimers))
    version = disclosures.set_words(session, fund, words, _actor(request, body.actor), _now(request))
    session.commit()
    return {"version": version}


# ---------------------------------------------------------------------------------------------- user
@user_router.get("/v1/pfund/my-cases")
def my_cases(session: SessionDep, caller: CurrentUser) -> dict[str, Any]:
    """The signed-in user's own incident claims and the steps on them; the user comes from the credential
    (a session, or the user's API key with read permission)."""
    cases = incidents.user_cases(session, caller.uid)
    return {
        "cases": [
            {
                "claim": {k: v for k, v in _claim(c.claim).items() if k != "user_id"},
                "incident": {
                    k: v
                    for k, v in _incident(c.incident).items()
                    if k in ("id", "kind", "title", "occurred_at", "state")
                },
                "events": [{"at": e.at, "action": e.action, "detail": e.detail} for e in c.events],
            }
            for c in cases
        ]
    }


# -------------------------------------------------------------------------------------------- public
PAGES = StaticPages("funds")
PAGES.add_routes(
    router,
    "/funds",
    redirect_status=308,
    about="The public funds page: the protection fund's size, wallets and history, and both funds' disclosures.",
    dependencies=[Public],
)


def _round(record: Any) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "round_id": record.round_id,
        "snapshot_time": record.snapshot_time,
        "status": record.status,
        "challenge": record.challenge,
        "wallet_set_sha256": record.wallet_set_sha256,
        "wallets": record.wallets,
        "failures": record.failures,
        "prices": record.prices,
        "wallet_balances": record.wallet_balances,
        "ledger_balances": record.ledger_balances,
        "wallets_usd": _d(record.wallets_usd),
        "ledger_usd": _d(record.ledger_usd),
    }


@router.get("/v1/public/protection-fund", dependencies=[Public])
def protection_fund(session: SessionDep) -> dict[str, Any]:
    """The fund now: balances from its ledger, their USD total at the latest round's prices, that round's
    wallets with their verification, and the size over time (per round, per day)."""
    size = public.fund_size(session)
    return {
        "balances": [
            {
                "ccy": c,
                "balance": _d(b),
                "price_usd": _d(size.prices.get(c)),
                "usd": _d(b * size.prices[c]) if c in size.prices else None,
            }
            for c, b in size.balances.items()
        ],
        "total_usd": _d(size.total_usd),
        "unpriced": size.unpriced,
        "wallets_cover_ledger": size.wallets_cover_ledger,
        "round": _round(size.round),
        "history": [
            {
                "round_id": r.round_id,
                "snapshot_time": r.snapshot_time,
                "ledger_usd": _d(r.ledger_usd),
                "wallets_usd": _d(r.wallets_usd),
                "status": r.status,
            }
            for r in size.rounds
        ],
        "daily": [{"date": d.isoformat(), "balances": {c: _d(b) for c, b in bal.items()}} for d, bal in size.daily],
    }


def _disclosure(d: disclosures.Disclosure) -> dict[str, Any]:
    return {
        "fund": d.fund.value,
        "title": d.title,
        "version": d.version,
        "defaults": d.version == 0,
        "purpose": d.words.purpose,
        "structure": d.words.structure,
        "triggers": d.words.triggers,
        "disclaimers": d.words.disclaimers,
        "period": {"start": d.start, "end": d.end},
        "funding_sources": [
            {
                "source": s.name,
                "by_ccy": {c: _d(a) for c, a in s.by_ccy.items()},
                "usd": _d(s.usd),
                "share": _d(s.share),
            }
            for s in d.sources
        ],
        "usage": {k: (_usage(v)) for k, v in d.usage.items()},
    }


def _usage(v: object) -> object:
    if isinstance(v, Decimal):
        return _d(v)
    if isinstance(v, dict):
        return {k: _usage(x) for k, x in v.items()}
    return v


@router.get("/v1/public/funds/disclosures", dependencies=[Public])
def fund_disclosures(
    session: SessionDep,
    start: Annotated[Timestamp | None, Query(description="period start (default: the beginning)")] = None,
    end: Annotated[Timestamp | None, Query(description="period end (default: now)")] = None,
) -> dict[str, Any]:
    """Both funds' disclosures: the operator's words, funding sources with their shares and usage over the
    period, from the ledgers; USD at the latest round's prices."""
    prices = public.prices_of(wallets.latest_round(session))
    return {
        "funds": [
            _disclosure(d)
            for d in disclosures.all_disclosures(
                session, _utc(start) if start else None, _utc(end) if end else None, prices
            )
        ]
    }


router.include_router(user_router)
