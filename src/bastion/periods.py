"""Reporting periods shared by the domains, the report and the simulator (a month is the report's unit)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`"2026-10"` -> (2026-10-01T00:00Z, 2026-11-01T00:00Z)."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"month {month!r}: expected YYYY-MM") from exc
    days = calendar.monthrange(year, mon)[1]
    return start, start + timedelta(days=days)
