"""The public disclosure of each fund (user protection and risk provision), generated from data.

The words (purpose, structure, what triggers a payout, disclaimers) are the operator's, stored as versions
(`fund_disclosures`; until the operator writes one, Bastion's defaults stand, marked as such). The figures
beside them come from each fund's own ledger for the period: funding sources with their shares, and usage
(payouts and what triggered them).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.errors import InvalidInputError
from bastion.protection_fund import incidents, ledger
from bastion.protection_fund.models import FundDisclosure


class Fund(enum.StrEnum):
    PROTECTION = "protection"
    RISK_PROVISION = "risk_provision"


TITLES = {Fund.PROTECTION: "User protection fund", Fund.RISK_PROVISION: "Risk provision fund"}


@dataclass(frozen=True, slots=True)
class Words:
    purpose: str
    structure: str
    triggers: str
    disclaimers: list[str]


DEFAULTS = {
    Fund.PROTECTION: Words(
        purpose="Covers users' losses after a hack of the exchange, an exchange-side failure or a systemic "
        "event, so that their assets remain recoverable.",
        structure="A segregated fund with its own ledger and wallets; the wallets are proven each "
        "proof-of-reserves round and are never counted as reserves.",
        triggers="An incident opened by the exchange; affected users and amounts are recorded and paid "
        "from the fund once.",
        disclaimers=["The fund's size is stated in USD at the round's prices and changes with them."],
    ),
    Fund.RISK_PROVISION: Words(
        purpose="Covers the shortfall when a liquidated position closes below its bankruptcy price, so "
        "profitable traders are paid without auto-deleveraging.",
        structure="One pool per product, underlying and settlement currency, each with its own ledger.",
        triggers="A bankruptcy loss on a liquidation; when a pool cannot cover it, auto-deleveraging "
        "closes opposing positions instead.",
        disclaimers=["The fund does not guarantee that auto-deleveraging never happens."],
    ),
}


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    by_ccy: dict[str, Decimal]
    usd: Decimal | None  # None: a currency without a price
    share: Decimal | None  # of the priced inflows


@dataclass(frozen=True, slots=True)
class Disclosure:
    fund: Fund
    title: str
    version: int  # 0: Bastion's defaults, never set by the operator
    words: Words
    start: datetime | None
    end: datetime | None
    sources: list[Source]
    usage: dict[str, object]


def words(session: Session, fund: Fund) -> tuple[int, Words]:
    row = session.scalars(
        select(FundDisclosure).where(FundDisclosure.fund == fund.value).order_by(FundDisclosure.version.desc()).limit(1)
    ).first()
    if row is None:
        return 0, DEFAULTS[fund]
    return row.version, Words(row.purpose, row.structure, row.triggers, list(row.disclaimers))


def set_words(session: Session, fund: Fund, new: Words, actor: str, now: datetime) -> int:
    """Publish a new version (the caller commits); the same words as the version in force change nothing."""
    for field in ("purpose", "structure", "triggers"):
        text = getattr(new, field)
        if not text.strip() or len(text) > 4000:
            raise InvalidInputError(field, "must be 1-4000 characters")
    if len(new.disclaimers) > 20 or any(not d.strip() or len(d) > 2000 for d in new.disclaimers):
        raise InvalidInputError("disclaimers", "at most 20, each 1-2000 characters")
    version, current = words(session, fund)
    if version and current == new:
        return version
    latest = session.scalar(select(func.max(FundDisclosure.version)).where(FundDisclosure.fund == fund.value)) or 0
    session.add(
        FundDisclosure(
            fund=fund.value,
            version=latest + 1,
            purpose=new.purpose,
            structure=new.structure,
            triggers=new.triggers,
            disclaimers=list(new.disclaimers),
            created_at=now,
            created_by=actor,
        )
    )
    session.flush()
    return latest + 1


def _sources(raw: dict[str, dict[str, Decimal]], prices: dict[str, Decimal]) -> list[Source]:
    usd: dict[str, Decimal | None] = {}
    for name, by_ccy in raw.items():
        known = all(c in prices for c in by_ccy)
        usd[name] = sum((a * prices[c] for c, a in by_ccy.items()), Decimal(0)) if known else None
    total = sum((v for v in usd.values() if v is not None), Decimal(0))
    out = []
    for name in sorted(raw):
        value = usd[name]
        share = value / total if value is not None and total else None
        out.append(Source(name, dict(sorted(raw[name].items())), value, share))
    return out


def _add(acc: dict[str, dict[str, Decimal]], name: str, ccy: str, amount: Decimal) -> None:
    by = acc.setdefault(name, {})
    by[ccy] = by.get(ccy, Decimal(0)) + amount


def protection(
    session: Session, start: datetime | None, end: datetime | None, prices: dict[str, Decimal]
) -> Disclosure:
    version, text = words(session, Fund.PROTECTION)
    raw: dict[str, dict[str, Decimal]] = {}
    paid: dict[str, Decimal] = {}
    out: dict[str, Decimal] = {}
    for e in ledger.entries(session, start, end):
        if e.kind in (ledger.CONTRIBUTION, ledger.TRANSFER_IN):
            _add(raw, e.counterparty.split(":", 1)[1], e.ccy, e.amount)
        elif e.kind == ledger.PAYOUT:
            paid[e.ccy] = paid.get(e.ccy, Decimal(0)) - e.amount
        else:
            out[e.ccy] = out.get(e.ccy, Decimal(0)) - e.amount
    month = incidents.monthly(session, start or _EPOCH, end or _FAR)
    usage: dict[str, object] = {
        "incidents": month.opened,
        "incidents_by_kind": month.by_kind,
        "users_paid": month.users_paid,
        "payouts_by_ccy": dict(sorted(paid.items())),
        "payouts_usd": sum((a * prices[c] for c, a in paid.items() if c in prices), Decimal(0)),
        "transfers_out_by_ccy": dict(sorted(out.items())),
    }
    return Disclosure(Fund.PROTECTION, TITLES[Fund.PROTECTION], version, text, start, end, _sources(raw, prices), usage)


def risk_provision(
    session: Session, start: datetime | None, end: datetime | None, prices: dict[str, Decimal]
) -> Disclosure:
    from bastion.funds import metrics

    version, text = words(session, Fund.RISK_PROVISION)
    m = metrics.monthly(session, start or _EPOCH, end or _FAR)
    raw: dict[str, dict[str, Decimal]] = {}
    losses: dict[str, Decimal] = {}
    for p in m.pools:
        if p.surplus_in:
            _add(raw, "liquidation surplus", p.ccy, p.surplus_in)
        if p.injections_in:
            _add(raw, "capital injection", p.ccy, p.injections_in)
        if p.losses_out:
            losses[p.ccy] = losses.get(p.ccy, Decimal(0)) + abs(p.losses_out)
    usage: dict[str, object] = {
        "bankruptcy_losses_covered": m.triggers,
        "losses_by_ccy": dict(sorted(losses.items())),
        "losses_usd": sum((a * prices[c] for c, a in losses.items() if c in prices), Decimal(0)),
        "adl_starts": m.adl_starts,
        "adl_events": m.adl_events,
    }
    return Disclosure(
        Fund.RISK_PROVISION, TITLES[Fund.RISK_PROVISION], version, text, start, end, _sources(raw, prices), usage
    )


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_FAR = datetime.fromisoformat("9999-01-01T00:00:00+00:00")


def all_disclosures(
    session: Session, start: datetime | None, end: datetime | None, prices: dict[str, Decimal]
) -> list[Disclosure]:
    return [protection(session, start, end, prices), risk_provision(session, start, end, prices)]
