"""Account holds: other parts of the exchange (due diligence) hold a user's larger withdrawals for a reason.

A hold is a row (`risk_account_holds`: user, reason, the amount above which it applies) and a commit-log entry
(kind `hold`), so every service worker's in-memory user state (`UserState.holds` of `risk.decide.features`, kept
by `risk.state.memory`) has it before its next decision, exactly as it has the user's devices or address book:
deciding costs no extra query. The decision (`risk.decide.decision.decide`) answers `hold` with the reasons whose
limit the amount exceeds, unless the rules block it anyway.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.orm import Session

from bastion.risk.models import RiskAccountHold
from bastion.risk.state import commit_log

DUE_DILIGENCE = "due_diligence"


def place(session: Session, user_id: str, reason: str, over_usd: Decimal, at: datetime) -> None:
    """Hold `user_id`'s withdrawals above `over_usd` for `reason` (replaces the limit of an existing one)."""
    row = session.get(RiskAccountHold, (user_id, reason))
    if row is None:
        session.add(RiskAccountHold(user_id=user_id, reason=reason, over_usd=over_usd, since=at))
    elif row.over_usd == over_usd:
        return
    else:
        row.over_usd = over_usd
    commit_log.append(session, user_id, "hold", {"reason": reason, "over": format(over_usd.normalize(), "f")})


def lift(session: Session, user_id: str, reason: str) -> None:
    res = session.execute(
        delete(RiskAccountHold).where(RiskAccountHold.user_id == user_id, RiskAccountHold.reason == reason)
    )
    if getattr(res, "rowcount", 0):
        commit_log.append(session, user_id, "hold", {"reason": reason, "over": None})


def load(conn: Connection, user_ids: list[str]) -> dict[str, dict[str, Decimal]]:
    """user -> reason -> limit, for the users given (one query)."""
    t = cast(Table, RiskAccountHold.__table__)
    out: dict[str, dict[str, Decimal]] = {}
    q = select(t.c.user_id, t.c.reason, t.c.over_usd).where(t.c.user_id.in_(user_ids))
    for uid, reason, over in conn.execute(q):
        out.setdefault(uid, {})[reason] = Decimal(over)
    return out


def applying(holds: dict[str, Decimal], amount_usd: Decimal) -> list[dict[str, Any]]:
    """The holds a withdrawal of `amount_usd` falls under (amount strictly above the hold's limit)."""
    return [
        {"reason": reason, "over_usd": format(over.normalize(), "f")}
        for reason, over in sorted(holds.items())
        if amount_usd > over
    ]
