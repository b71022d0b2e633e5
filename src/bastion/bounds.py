"""Bounded field types for everything that comes in from outside (request bodies, paths, queries).

Each type refuses, at validation time and naming the field, a value the rest of the system could not take:
an identifier with NUL or control characters (PostgreSQL refuses NUL in text; a line break in an id forges
log lines), an integer wider than its database column, a timestamp outside the years any exchange record can
have (year 1 overflows date arithmetic; year 9999 breaks "+ 1 day"), a decimal with more digits than its
NUMERIC column holds, NaN or Infinity. The request boundary (`bastion.service.boundary`) already refuses the
worst of these for every body; these types say, per field, what the field really is.

Usable as pydantic model fields and as FastAPI path and query parameters alike:

    class In(BaseModel):
        user_id: Identifier
        amount: Money
        at: Timestamp | None = None

    def route(decision_id: PositiveInt64, start: Timestamp): ...
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from annotated_types import Ge, Gt, Le, MaxLen, MinLen
from pydantic import AfterValidator, Field

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# No exchange record is older than 1970 or later than 2100; outside that, date arithmetic (a day back, a
# year ahead) can overflow Python's and the databases' calendars.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

# C0 controls, DEL and C1 controls: never part of an identifier.
_CONTROL = frozenset(chr(c) for c in (*range(32), *range(127, 160)))


def _identifier(value: str) -> str:
    if not _CONTROL.isdisjoint(value):
        raise ValueError("must not contain NUL or other control characters")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must be valid Unicode (no lone surrogates)")
    return value


def _text(value: str) -> str:
    """Free text (a note, a reason, a user agent): tab and line breaks allowed, NUL and the rest of C0 not."""
    if any(c in _CONTROL and c not in "\t\n\r" for c in value):
        raise ValueError("must not contain NUL or other control characters")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must be valid Unicode (no lone surrogates)")
    return value


def _timestamp(value: datetime) -> datetime:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= aware < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return aware


# Identifiers: user ids, event ids, key ids, addresses, names; no control characters, no lone surrogates.
Identifier = Annotated[str, MinLen(1), MaxLen(64), AfterValidator(_identifier)]
ShortIdentifier = Annotated[str, MinLen(1), MaxLen(32), AfterValidator(_identifier)]
LongIdentifier = Annotated[str, MinLen(1), MaxLen(128), AfterValidator(_identifier)]
# Free text up to 2,000 characters.
Text = Annotated[str, MaxLen(2000), AfterValidator(_text)]

Int32 = Annotated[int, Ge(INT32_MIN), Le(INT32_MAX)]
Int64 = Annotated[int, Ge(INT64_MIN), Le(INT64_MAX)]
PositiveInt32 = Annotated[int, Ge(1), Le(INT32_MAX)]
PositiveInt64 = Annotated[int, Ge(1), Le(INT64_MAX)]
NonNegativeInt32 = Annotated[int, Ge(0), Le(INT32_MAX)]
NonNegativeInt64 = Annotated[int, Ge(0), Le(INT64_MAX)]

# Aware UTC (a naive value is taken as UTC), within EARLIEST..LATEST.
Timestamp = Annotated[datetime, AfterValidator(_timestamp)]

# Amounts: NUMERIC(38, 18)-sized at most, never NaN or Infinity.
Money = Annotated[Decimal, Field(max_digits=38, decimal_places=18, allow_inf_nan=False)]
PositiveMoney = Annotated[Decimal, Gt(0), Field(max_digits=38, decimal_places=18, allow_inf_nan=False)]
NonNegativeMoney = Annotated[Decimal, Ge(0), Field(max_digits=38, decimal_places=18, allow_inf_nan=False)]


def timestamp_ms_bounds() -> tuple[int, int]:
    """EARLIEST..LATEST in milliseconds since the epoch (for routes that take OKX-style `ts` integers)."""
    return int(EARLIEST.timestamp() * 1000), int(LATEST.timestamp() * 1000)


__all__ = [
    "EARLIEST",
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "LATEST",
    "Identifier",
    "Int32",
    "Int64",
    "LongIdentifier",
    "Money",
    "NonNegativeInt32",
    "NonNegativeInt64",
    "NonNegativeMoney",
    "PositiveInt32",
    "PositiveInt64",
    "PositiveMoney",
    "ShortIdentifier",
    "Text",
    "Timestamp",
]
