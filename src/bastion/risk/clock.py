"""Time as the risk domain reads it: every timestamp aware and in UTC.

A leaf (it imports nothing of Bastion), so any risk module may ask for "now" without importing the module that
ingests events or keeps the commit log; that is what kept the former `events <-> livelog` in a circle."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(dt: datetime) -> datetime:
    """Naive timestamps are taken as UTC; everything stored is aware UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)
