"""Operator changes: rule set versions, reputation lists, per-user rule snoozes."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.bounds import Identifier, LongIdentifier, Text, Timestamp
from bastion.db.versioned import activate_only, next_version
from bastion.errors import InvalidInputError, NotFoundError
from bastion.risk.clock import now_utc, utc
from bastion.risk.decide.rules import parse_scenario
from bastion.risk.models import RiskListEntry, RiskRuleset, RiskSnooze
from bastion.risk.schemas import normalize_address
from bastion.risk.state import commit_log
from bastion.risk.state.config import ensure_default_ruleset
from bastion.risk.state.config_versions import bump_config

ListKind = Literal["phishing_address", "bad_ip"]


class RulesetOut(BaseModel):
    version: int
    active: bool
    created_at: datetime
    created_by: str
    note: str | None
    definition: dict[str, Any]


def _ruleset_out(r: RiskRuleset) -> RulesetOut:
    return RulesetOut(
        version=r.version,
        active=r.active,
        created_at=utc(r.created_at),
        created_by=r.created_by,
        note=r.note,
        definition=r.definition,
    )


def validate_definition(definition: dict[str, Any]) -> None:
    """Refuse a bad scenario, naming the first offending field (e.g. `rules.3.when.all.0`)."""
    try:
        parse_scenario(definition)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if p not in ("all", "any", "not", "compare") or isinstance(p, int)]
        raise InvalidInputError(".".join(loc) or "definition", err["msg"]) from None


def list_rulesets(session: Session) -> list[RulesetOut]:
    ensure_default_ruleset(session)
    return [_ruleset_out(r) for r in session.scalars(select(RiskRuleset).order_by(RiskRuleset.version))]


def create_ruleset(
    session: Session,
    definition: dict[str, Any],
    created_by: str,
    note: str | None = None,
    activate: bool = False,
) -> RulesetOut:
    validate_definition(definition)
    ensure_default_ruleset(session)
    version = next_version(session, RiskRuleset)
    row = RiskRuleset(
        version=version,
        created_at=now_utc(),
        created_by=created_by,
        note=note,
        definition=definition,
        active=False,
    )
    session.add(row)
    session.flush()
    if activate:
        return activate_ruleset(session, version)
    return _ruleset_out(row)


def activate_ruleset(session: Session, version: int) -> RulesetOut:
    row = activate_only(session, RiskRuleset, version, f"rule set version {version} does not exist")
    bump_config(session, "rules")
    return _ruleset_out(row)


class ListEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored

    value: LongIdentifier
    source: Identifier | None = None


def _normalize_entry(kind: str, value: str, row: int | None) -> str:
    if kind == "phishing_address":
        return normalize_address(value)
    try:
        return str(ipaddress.ip_network(value, strict=False)) if "/" in value else str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInputError("value", f"{value!r} is not an IP address or CIDR range", row=row) from None


def add_list_entries(session: Session, kind: ListKind, entries: list[ListEntryIn]) -> int:
    """Add entries (existing ones are kept); all validated before any is written."""
    normalized = [(_normalize_entry(kind, e.value, i), e.source) for i, e in enumerate(entries)]
    added = 0
    for value, source in normalized:
        if session.get(RiskListEntry, (kind, value)) is None:
            session.add(RiskListEntry(kind=kind, value=value, source=source, added_at=now_utc()))
            added += 1
    session.flush()
    bump_config(session, "lists")
    return added


def remove_list_entry(session: Session, kind: ListKind, value: str) -> bool:
    n = session.execute(
        delete(RiskListEntry).where(
            RiskListEntry.kind == kind, RiskListEntry.value == _normalize_entry(kind, value, None)
        )
    ).rowcount  # type: ignore[attr-defined]
    bump_config(session, "lists")
    return bool(n)


def list_entries(session: Session, kind: ListKind) -> list[str]:
    return list(
        session.scalars(select(RiskListEntry.value).where(RiskListEntry.kind == kind).order_by(RiskListEntry.value))
    )


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored

    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    until: Timestamp
    reason: Text | None = None
    created_by: Identifier


class SnoozeOut(SnoozeIn):
    id: int
    user_id: str
    created_at: datetime


def snooze(session: Session, user_id: str, s: SnoozeIn) -> SnoozeOut:
    until = utc(s.until)
    if until <= now_utc():
        raise InvalidInputError("until", "must be in the future")
    row = RiskSnooze(
        user_id=user_id,
        rule_id=s.rule_id,
        until=until,
        reason=s.reason,
        created_by=s.created_by,
        created_at=now_utc(),
    )
    session.add(row)
    session.flush()
    _log_snooze(session, row)
    return SnoozeOut(
        id=row.id,
        user_id=user_id,
        created_at=utc(row.created_at),
        rule_id=row.rule_id,
        until=until,
        reason=row.reason,
        created_by=row.created_by,
    )


def snoozes(session: Session, user_id: str) -> list[SnoozeOut]:
    rows = session.scalars(select(RiskSnooze).where(RiskSnooze.user_id == user_id, RiskSnooze.until > now_utc()))
    return [
        SnoozeOut(
            id=r.id,
            user_id=r.user_id,
            created_at=utc(r.created_at),
            rule_id=r.rule_id,
            until=utc(r.until),
            reason=r.reason,
            created_by=r.created_by,
        )
        for r in rows
    ]


def end_snooze(session: Session, user_id: str, snooze_id: int) -> None:
    row = session.get(RiskSnooze, snooze_id)
    if row is None or row.user_id != user_id:
        raise NotFoundError(f"snooze {snooze_id} of user {user_id} does not exist")
    row.until = now_utc()
    _log_snooze(session, row)


def _log_snooze(session: Session, row: RiskSnooze) -> None:
    data = {"id": row.id, "rule": row.rule_id, "until": utc(row.until).isoformat()}
    commit_log.append(session, row.user_id, "snooze", data)
