"""Rule sets kept as data (risk scenarios, Travel Rule requirements, due-diligence triggers): each change is a
new numbered version, validated whole before it is stored, and at most one version is active. Old versions
stay, because decisions and requests record the version they were made under and must stay explainable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, Boolean, Integer, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bastion.errors import NotFoundError


class VersionedDefinition:
    """The columns every versioned rule set shares; each table adds `created_at` and `created_by` in its own
    column types (its migration fixed them)."""

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    note: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


V = TypeVar("V", bound=VersionedDefinition)


def next_version(session: Session, model: type[VersionedDefinition]) -> int:
    """The number the next stored version gets (1 for the first)."""
    return int(session.scalar(select(func.max(model.version))) or 0) + 1


def active_row(session: Session, model: type[V]) -> V | None:
    return session.scalars(select(model).where(model.active.is_(True))).first()


def activate_only(session: Session, model: type[V], version: int, missing: str) -> V:
    """Make `version` the one active version (NotFoundError with `missing` if it does not exist)."""
    row = session.get(model, version)
    if row is None:
        raise NotFoundError(missing)
    session.execute(update(model).where(model.version != version).values(active=False))
    row.active = True
    return row


class _HasId(Protocol):
    id: str


def refuse_repeated_ids(rules: Iterable[_HasId]) -> None:
    """A rule set names each rule once (decisions, snoozes and audits refer to rules by id); raises ValueError,
    for a pydantic validator to report."""
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise ValueError(f"rule id {r.id!r} appears twice")
        seen.add(r.id)
