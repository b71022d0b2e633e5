"""The counters in `risk_config_versions` that tell every process the rules, the lists or the learned model
changed (`config.RiskRuntime` reloads what moved). Its own module: the score's learning writes a counter and
the config cache reads the score, so the two may not import each other."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.risk.models import RiskConfigVersion


def bump_config(session: Session, name: str) -> None:
    """Tell every process that `name` (rules, lists, model) changed. Caller commits."""
    stmt = update(RiskConfigVersion).where(RiskConfigVersion.name == name)
    if session.execute(stmt.values(version=RiskConfigVersion.version + 1)).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(RiskConfigVersion(name=name, version=1))
    except IntegrityError:
        # Another process created the counter at the same moment: count on top of it.
        session.execute(stmt.values(version=RiskConfigVersion.version + 1))
