"""The API-key numbers for the monthly security report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bastion.keys.errors import Rejection
from bastion.keys.models import ApiKey, ApiKeyEvent, ApiKeyRejection

_REASONS = {r.code: r.name.lower() for r in Rejection}


@dataclass(frozen=True)
class KeysMonthly:
    """Counts over [start, end)."""

    start: datetime
    end: datetime
    created_direct: int
    created_fast_api: int
    # Keys issued to third-party apps in the period, and those live at `end`.
    bound_to_apps: int
    live_bound_to_apps_at_end: int
    swept: int
    revoked: int
    rejections: int
    # OKX code -> count, e.g. {"50113": 12}; `rejections_by_reason` names them (invalid_sign...).
    rejections_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def created(self) -> int:
        return self.created_direct + self.created_fast_api

    @property
    def rejections_by_reason(self) -> dict[str, int]:
        return {_REASONS.get(code, code): n for code, n in self.rejections_by_code.items()}


def monthly(session: Session, start: datetime, end: datetime) -> KeysMonthly:
    def in_period(col: Any) -> ColumnElement[bool]:
        return (col >= start) & (col < end)  # type: ignore[no-any-return]

    created = dict(
        session.execute(
            select(ApiKey.source, func.count()).where(in_period(ApiKey.created_at)).group_by(ApiKey.source)
        ).all()
    )
    bound = session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(in_period(ApiKey.created_at), ApiKey.app_id.is_not(None))
    )
    live_bound = session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.app_id.is_not(None),
            ApiKey.created_at < end,
            (ApiKey.revoked_at.is_(None)) | (ApiKey.revoked_at >= end),
        )
    )
    events = dict(
        session.execute(
            select(ApiKeyEvent.event, func.count())
            .where(in_period(ApiKeyEvent.at), ApiKeyEvent.event.in_(("swept", "revoked")))
            .group_by(ApiKeyEvent.event)
        ).all()
    )
    by_code = {
        code: int(n)
        for code, n in session.execute(
            select(ApiKeyRejection.code, func.count())
            .where(in_period(ApiKeyRejection.at))
            .group_by(ApiKeyRejection.code)
            .order_by(ApiKeyRejection.code)
        ).all()
    }
    return KeysMonthly(
        start=start,
        end=end,
        created_direct=int(created.get("direct", 0)),
        created_fast_api=int(created.get("fast_api", 0)),
        bound_to_apps=int(bound or 0),
        live_bound_to_apps_at_end=int(live_bound or 0),
        swept=int(events.get("swept", 0)),
        revoked=int(events.get("revoked", 0)),
        rejections=sum(by_code.values()),
        rejections_by_code=by_code,
    )
