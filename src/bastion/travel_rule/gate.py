"""The Travel Rule's say in a withdrawal decision, cheap for the withdrawals it does not touch.

The risk hot path asks every hold check `screen(req, at)` from memory: this one keeps the active rules, the
day's prices and every VASP deposit address in memory (reloaded every `cache_seconds`), so a withdrawal to an
address no VASP claims, below the self-hosted threshold, costs no database round trip. Only a withdrawal the
rule touches (to a VASP, or above the threshold to a self-hosted wallet) is `check`ed in a worker thread, which
looks up the approved transfer or the proven wallet and answers what is missing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from bastion.travel_rule import directory, flows
from bastion.travel_rule import rules as tr_rules

REASON = "travel_rule"


class WithdrawalLike(Protocol):
    @property
    def event_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def asset(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def amount_usd(self) -> Decimal: ...
    @property
    def address(self) -> str: ...
    @property
    def chain(self) -> str | None: ...


@dataclass(frozen=True)
class Book:
    version: int
    ruleset: tr_rules.RuleSet
    prices: tr_rules.Prices
    by_address: dict[str, tuple[str, str]]  # normalized address -> (LEI, jurisdiction)
    by_chain_address: dict[tuple[str, str], tuple[str, str]]


class TravelRuleGate:
    reason = REASON

    def __init__(self, factory: sessionmaker[Session], jurisdiction: str, cache_seconds: float = 2.0) -> None:
        self._factory = factory
        self._jurisdiction = jurisdiction
        self._cache_seconds = cache_seconds
        self._book: Book | None = None
        self._loaded = 0.0
        self._lock = threading.Lock()

    def _stale(self) -> bool:
        return self._book is None or time.monotonic() - self._loaded > self._cache_seconds

    def book(self) -> Book:
        """The cached rules, prices and VASP addresses (reloaded when older than `cache_seconds`)."""
        if self._stale():
            with self._lock:
                if self._stale():
                    with self._factory() as session:
                        version, ruleset = tr_rules.active(session)
                        owners = directory.address_owners(session)
                        prices = tr_rules.Prices.load(session)
                        session.commit()  # `active` may have installed the built-in rules (first start)
                    self._book = Book(version, ruleset, prices, {a: o for (_, a), o in owners.items()}, owners)
                    self._loaded = time.monotonic()
        assert self._book is not None
        return self._book

    def invalidate(self) -> None:
        self._loaded = 0.0

    def _judge(self, book: Book, req: WithdrawalLike, at: datetime) -> tuple[tuple[str, str] | None, tr_rules.Verdict]:
        address = directory.normalize_address(req.address)
        owner = book.by_chain_address.get((req.chain, address)) if req.chain else book.by_address.get(address)
        verdict = tr_rules.judge(
            book.ruleset,
            book.prices,
            jurisdiction=self._jurisdiction,
            counterparty_jurisdiction=owner[1] if owner else None,
            counterparty="vasp" if owner else "self_hosted",
            direction="out",
            asset=req.asset,
            amount=Decimal(req.amount),
            day=at.date(),
            amount_usd=Decimal(req.amount_usd),
        )
        return owner, verdict

    def screen(self, req: WithdrawalLike, at: datetime) -> bool:
        """From memory only: does this withdrawal need `check`? (Also True while the cache is stale.)"""
        book = self._book
        if book is None or self._stale():
            return True
        return self._judge(book, req, at)[1].applies

    def check(self, req: WithdrawalLike, at: datetime) -> dict[str, Any] | None:
        """In a worker thread: the hold this withdrawal gets (reason, what is missing), or None."""
        owner, verdict = self._judge(self.book(), req, at)
        if not verdict.applies:
            return None
        with self._factory() as session:
            missing = flows.withdrawal_missing(
                session,
                user_id=req.user_id,
                asset=req.asset,
                amount=Decimal(req.amount),
                address=req.address,
                chain=req.chain,
                owner=owner,
                requires=verdict.requires,
                event_id=req.event_id,
                now=at,
            )
            session.commit()  # the approved transfer this withdrawal event used, if any, is now bound to it
        if not missing:
            return None
        assert verdict.rule is not None
        return {
            "reason": REASON,
            "missing": missing,
            "rule": verdict.rule.id,
            "counterparty": owner[0] if owner else "self_hosted",
        }
