"""Reporting periods shared by the domains, the report and the simulator (a month is the report's unit)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

# A report month as a query parameter: years 1970-9998, so both bounds are representable datetimes (year 0 and
# 9999-12's end are not; the fuzzer found `0000-01` answering 500).
MONTH_PATTERN = r"^(19[7-9]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8])-(0[1-9]|1[0-2])$"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`"2026-10"` -> (2026-10-01T00:00Z, 2026-11-01T00:00Z)."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"month {month!r}: expected YYYY-MM") from exc
    days = calendar.monthrange(year, mon)[1]
    return start, start + timedelta(days=days)
