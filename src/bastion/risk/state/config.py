"""What a service process keeps in memory between decisions: the active scenario, the reputation lists and
the learned model, each reloaded when its counter in `risk_config_versions` moves (checked at most every
`cache_seconds`), so a change made through any worker or the CLI reaches every worker within that time."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.db.versioned import active_row
from bastion.risk.decide import score
from bastion.risk.decide.features import Lists
from bastion.risk.decide.rules import DEFAULT_SCENARIO, Scenario, parse_scenario
from bastion.risk.models import RiskConfigVersion, RiskListEntry, RiskRuleset
from bastion.risk.schemas import normalize_address
from bastion.risk.state.config_versions import bump_config

LIST_KINDS = ("phishing_address", "bad_ip")


def ensure_default_ruleset(session: Session) -> None:
    """Install the built-in scenario as version 1 when no rule set exists yet (first start)."""
    if session.scalar(select(func.count()).select_from(RiskRuleset)):
        return
    try:
        with session.begin_nested():
            session.add(
                RiskRuleset(
                    version=1,
                    created_at=datetime.now(UTC),
                    created_by="bastion",
                    note="built-in default",
                    definition=DEFAULT_SCENARIO,
                    active=True,
                )
            )
            bump_config(session, "rules")
    except IntegrityError:
        pass  # another worker installed it at the same moment


def load_lists(session: Session) -> Lists:
    phishing: set[str] = set()
    ips: set[str] = set()
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for kind, value in session.execute(select(RiskListEntry.kind, RiskListEntry.value)):
        if kind == "phishing_address":
            phishing.add(normalize_address(value))
        elif "/" in value:
            nets.append(ipaddress.ip_network(value, strict=False))
        else:
            ips.add(str(ipaddress.ip_address(value)))
    return Lists(frozenset(phishing), frozenset(ips), tuple(nets))


@dataclass
class RiskRuntime:
    cache_seconds: float = 2.0
    async_commit: bool = False
    ruleset_version: int = 0
    scenario: Scenario | None = None
    lists: Lists = field(default_factory=Lists)
    model: score.ModelSnapshot | None = None
    _seen: dict[str, int] = field(default_factory=dict)
    _checked_at: float = -1e18
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self) -> bool:
        """Whether `refresh` would look at the database now."""
        return self.scenario is None or time.monotonic() - self._checked_at >= self.cache_seconds

    def refresh(self, session: Session) -> None:
        now = time.monotonic()
        if self.scenario is not None and now - self._checked_at < self.cache_seconds:
            return
        with self._lock:
            versions = dict(session.execute(select(RiskConfigVersion.name, RiskConfigVersion.version)).all())
            if self.scenario is None or versions.get("rules") != self._seen.get("rules"):
                ensure_default_ruleset(session)
                row = active_row(session, RiskRuleset)
                if row is None:  # every version deactivated: fall back to the newest
                    row = session.scalars(select(RiskRuleset).order_by(RiskRuleset.version.desc())).first()
                assert row is not None
                self.scenario = parse_scenario(row.definition)
                self.ruleset_version = row.version
            if versions.get("lists") != self._seen.get("lists") or "lists" not in self._seen:
                self.lists = load_lists(session)
            if self.model is None or versions.get("model") != self._seen.get("model"):
                self.model = score.load(session)
            self._seen = {k: versions.get(k, 0) for k in ("rules", "lists", "model")}
            self._checked_at = now

    def relax_commit(self, session: Session) -> None:
        """Opt-in (BASTION_RISK_ASYNC_COMMIT): this transaction's commit does not wait for the WAL flush."""
        if self.async_commit:
            conn = session.connection()
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    def snapshot(self) -> tuple[int, Scenario, Lists, score.ModelSnapshot]:
        assert self.scenario is not None and self.model is not None
        return self.ruleset_version, self.scenario, self.lists, self.model


def describe(runtime: RiskRuntime) -> dict[str, Any]:
    return {"ruleset_version": runtime.ruleset_version, "config_versions": dict(runtime._seen)}
