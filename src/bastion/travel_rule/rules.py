"""Rules as data: what the Travel Rule requires of a transfer, per jurisdiction pair, above which value, versioned in
the database like the risk rules (`travel_rule_rulesets`, one active) and changed without code.

A rule names the jurisdiction whose law applies (ours, or `*`), the counterparty's jurisdiction (or `*`), the
kind of counterparty (`vasp`: an exchange in the directory; `self_hosted`: a wallet that is not a VASP's, for
withdrawals; `unknown`: a deposit from an address no VASP in the directory claims), the direction, the threshold
and its currency, and what is required above it. The most specific rule wins (our jurisdiction over `*`, then
the counterparty's over `*`), so the EU's rules override the FATF default. A rule applies when the transfer's value
in the rule's currency is *above* the threshold (0 means every transfer), converted with the day's price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.db.versioned import activate_only, active_row, next_version, refuse_repeated_ids
from bastion.errors import InvalidInputError
from bastion.travel_rule.models import TravelRulePrice, TravelRuleRuleset

Requirement = Literal["beneficiary_information", "originator_information", "ownership_proof"]
Counterparty = Literal["vasp", "self_hosted", "unknown"]
Direction = Literal["in", "out", "both"]
Currency = Literal["EUR", "USD"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    description: str = ""
    jurisdiction: str = Field(pattern=r"^(\*|[A-Z]{2,8})$")
    counterparty_jurisdiction: str = Field(default="*", pattern=r"^(\*|[A-Z]{2,8})$")
    counterparty: Counterparty
    direction: Direction
    threshold: Decimal = Field(ge=0, max_digits=20, decimal_places=2)
    currency: Currency
    requires: list[Requirement] = Field(min_length=1)

    @model_validator(mode="after")
    def _sensible(self) -> Rule:
        if self.counterparty == "self_hosted" and self.direction != "out":
            raise ValueError("counterparty self_hosted is for withdrawals (direction out); deposits from an "
                             "address no VASP claims are counterparty unknown")  # fmt: skip
        if self.counterparty == "unknown" and self.direction != "in":
            raise ValueError("counterparty unknown is for deposits (direction in)")
        return self

    def specificity(self) -> int:
        return (2 if self.jurisdiction != "*" else 0) + (1 if self.counterparty_jurisdiction != "*" else 0)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "travel-rule"
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        refuse_repeated_ids(self.rules)
        return self

    def find(
        self, jurisdiction: str, counterparty_jurisdiction: str | None, counterparty: str, direction: str
    ) -> Rule | None:
        """The most specific rule for this kind of transfer, or None (nothing required)."""
        best: Rule | None = None
        for r in self.rules:
            if r.counterparty != counterparty or r.direction not in (direction, "both"):
                continue
            if r.jurisdiction not in (jurisdiction, "*"):
                continue
            if r.counterparty_jurisdiction not in ((counterparty_jurisdiction or "*"), "*"):
                continue
            if best is None or r.specificity() > best.specificity():
                best = r
        return best


# The rules installed on first use. EU: Regulation (EU) 2023/1113 (TFR) from the first euro between VASPs, and a
# self-hosted wallet's ownership proven above EUR 1,000; deposits from an address no VASP claims above EUR 1,000
# need the originator (or proof that the user owns the sending wallet). Elsewhere: the FATF R.16 default of
# USD 1,000.
DEFAULT_RULESET: dict[str, Any] = {
    "name": "travel-rule",
    "rules": [
        {"id": "eu_vasp", "jurisdiction": "EU", "counterparty": "vasp", "direction": "both", "threshold": "0",
         "currency": "EUR", "requires": ["beneficiary_information", "originator_information"],
         "description": "EU TFR: every transfer between VASPs carries originator and beneficiary information"},
        {"id": "eu_self_hosted_out", "jurisdiction": "EU", "counterparty": "self_hosted", "direction": "out",
         "threshold": "1000", "currency": "EUR", "requires": ["ownership_proof"],
         "description": "EU TFR art. 14(5): above EUR 1,000 to a self-hosted wallet, its ownership is verified"},
        {"id": "eu_unknown_in", "jurisdiction": "EU", "counterparty": "unknown", "direction": "in",
         "threshold": "1000", "currency": "EUR", "requires": ["originator_information"],
         "description": "above EUR 1,000 from an address no VASP claims: the originator, or the user's own wallet"},
        {"id": "fatf_vasp", "jurisdiction": "*", "counterparty": "vasp", "direction": "both", "threshold": "1000",
         "currency": "USD", "requires": ["beneficiary_information", "originator_information"],
         "description": "FATF R.16: VASP transfers above USD 1,000 carry originator and beneficiary information"},
        {"id": "fatf_unknown_in", "jurisdiction": "*", "counterparty": "unknown", "direction": "in",
         "threshold": "1000", "currency": "USD", "requires": ["originator_information"],
         "description": "FATF R.16: above USD 1,000 from an unidentified source, the originator is obtained"},
    ],
}  # fmt: skip


def parse_ruleset(definition: dict[str, Any]) -> RuleSet:
    try:
        return RuleSet.model_validate(definition)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        loc = e.get("loc", ())
        index = next((x for x in loc if isinstance(x, int)), None)
        row = None if index is None else index + 1  # rule 1 is the first, as a person counts
        name = ".".join(str(x) for x in loc if not isinstance(x, int)) or "definition"
        raise InvalidInputError(name, e.get("msg", "invalid"), row=row) from None


# -------------------------------------------------------------------------------------------- versions
def ensure_default(session: Session, now: datetime | None = None) -> None:
    """Install the built-in rules as version 1 if there is no rule set yet (caller commits)."""
    if session.scalar(select(func.count()).select_from(TravelRuleRuleset)) == 0:
        # Two workers' first withdrawals race here: the loser's insert of version 1 conflicts. Its savepoint
        # rolls back and the winner's identical built-in set is used (a 500 for that withdrawal otherwise).
        try:
            with session.begin_nested():
                install(session, DEFAULT_RULESET, by="built-in", note="default rules", now=now)
        except IntegrityError:
            pass


def install(
    session: Session, definition: dict[str, Any], *, by: str, note: str | None = None, now: datetime | None = None
) -> int:
    """Store a new version (validated whole first) and make it the active one; returns its number."""
    parsed = parse_ruleset(definition)
    version = next_version(session, TravelRuleRuleset)
    session.execute(update(TravelRuleRuleset).values(active=False))
    session.add(
        TravelRuleRuleset(
            version=version,
            created_at=now or datetime.now(UTC),
            created_by=by[:128],
            note=note,
            definition=parsed.model_dump(mode="json"),
            active=True,
        )
    )
    session.flush()
    return version


def activate(session: Session, version: int) -> None:
    activate_only(session, TravelRuleRuleset, version, f"no travel rule set version {version}")


def active(session: Session) -> tuple[int, RuleSet]:
    row = active_row(session, TravelRuleRuleset)
    if row is None:
        ensure_default(session)
        row = session.scalars(select(TravelRuleRuleset).where(TravelRuleRuleset.active.is_(True))).one()
    return row.version, RuleSet.model_validate(row.definition)


def versions(session: Session) -> list[TravelRuleRuleset]:
    return list(session.scalars(select(TravelRuleRuleset).order_by(TravelRuleRuleset.version)))


# ---------------------------------------------------------------------------------------------- prices
def set_price(session: Session, day: date, asset: str, currency: str, price: Decimal) -> None:
    if price <= 0:
        raise InvalidInputError("price", "must be above 0")
    if currency not in ("EUR", "USD"):
        raise InvalidInputError("currency", "EUR or USD")
    row = session.get(TravelRulePrice, (day, asset.upper(), currency))
    if row is None:
        session.add(TravelRulePrice(day=day, asset=asset.upper(), currency=currency, price=price))
    else:
        row.price = price


@dataclass
class Prices:
    """Every stored price in memory: (asset, currency) -> [(day, price)] by day; the day's price is the latest
    one on or before that day."""

    table: dict[tuple[str, str], list[tuple[date, Decimal]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Prices:
        return cls.of(session.execute(select(TravelRulePrice.day, TravelRulePrice.asset, TravelRulePrice.currency,
                                             TravelRulePrice.price).order_by(TravelRulePrice.day)))  # fmt: skip

    @classmethod
    def of(cls, rows: Iterable[Any]) -> Prices:
        table: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
        for day, asset, currency, price in rows:
            table.setdefault((asset, currency), []).append((day, Decimal(price)))
        return cls(table)

    def price(self, asset: str, currency: str, day: date) -> Decimal | None:
        if asset == currency:
            return Decimal(1)
        best = None
        for d, p in self.table.get((asset.upper(), currency), ()):
            if d > day:
                break
            best = p
        return best

    def value(
        self, asset: str, amount: Decimal, currency: str, day: date, amount_usd: Decimal | None = None
    ) -> Decimal | None:
        """`amount` of `asset` in `currency` at `day`'s price (directly, or through USD); None if unknown."""
        direct = self.price(asset, currency, day)
        if direct is not None:
            return amount * direct
        usd = amount_usd
        if usd is None:
            p = self.price(asset, "USD", day)
            usd = amount * p if p is not None else None
        if usd is None:
            return None
        if currency == "USD":
            return usd
        fx = self.price("USD", currency, day)
        return usd * fx if fx is not None else None


@dataclass(frozen=True)
class Verdict:
    """What the rules require of one transfer: the rule that applies (None: nothing), its value, the needs."""

    rule: Rule | None
    value: Decimal | None
    requires: tuple[str, ...]

    @property
    def applies(self) -> bool:
        return bool(self.requires)


def judge(
    ruleset: RuleSet,
    prices: Prices,
    *,
    jurisdiction: str,
    counterparty_jurisdiction: str | None,
    counterparty: str,
    direction: str,
    asset: str,
    amount: Decimal,
    day: date,
    amount_usd: Decimal | None = None,
) -> Verdict:
    rule = ruleset.find(jurisdiction, counterparty_jurisdiction, counterparty, direction)
    if rule is None:
        return Verdict(None, None, ())
    value = prices.value(asset, amount, rule.currency, day, amount_usd)
    # No price for the day: the rule is applied (held until met) rather than skipped on an unknown value.
    if value is not None and value <= rule.threshold:
        return Verdict(rule, value, ())
    return Verdict(rule, value, tuple(rule.requires))
