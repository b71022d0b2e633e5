"""Creating, listing and revoking named credentials. A token is shown once; only its digest is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.access.models import AccessCredential
from bastion.access.scopes import ALL, parse_scopes
from bastion.errors import ConflictError, InvalidInputError, NotFoundError

TOKEN_PREFIX = "bst_"
BOOTSTRAP_NAME = "bootstrap-admin"
_NAME = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}", re.ASCII)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    # 256 random bits; the prefix lets secret scanners and people recognise what leaked
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class CredentialView:
    name: str
    scopes: frozenset[str]
    bootstrap: bool
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    uses: int
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: AccessCredential) -> CredentialView:
        return cls(
            row.name,
            frozenset(row.scopes.split(",")),
            row.bootstrap,
            row.created_at,
            row.created_by,
            row.last_used_at,
            row.uses,
            row.revoked_at,
        )


@dataclass(frozen=True)
class Issued:
    """A new credential and its token: the only time the token exists outside the caller's hands."""

    token: str
    credential: CredentialView


def create(
    session: Session,
    name: str,
    scopes: str | list[str],
    now: datetime,
    created_by: str = "cli",
    *,
    bootstrap: bool = False,
) -> Issued:
    if not _NAME.fullmatch(name):
        raise InvalidInputError("name", "1-64 characters: lowercase letters, digits and . _ : -")
    try:
        held = parse_scopes(scopes)
    except ValueError as exc:
        raise InvalidInputError("scopes", str(exc).split(": ", 1)[-1]) from None
    if session.scalar(select(AccessCredential.id).where(AccessCredential.name == name)) is not None:
        raise ConflictError(f"a credential named {name!r} exists (revoked names are not reused)")
    token = new_token()
    row = AccessCredential(
        name=name,
        scopes=",".join(sorted(held)),
        token_sha256=token_digest(token),
        bootstrap=bootstrap,
        created_at=now,
        created_by=created_by,
        uses=0,
    )
    session.add(row)
    session.flush()
    return Issued(token, CredentialView.of(row))


def list_all(session: Session, *, include_revoked: bool = False) -> list[CredentialView]:
    q = select(AccessCredential).order_by(AccessCredential.id)
    if not include_revoked:
        q = q.where(AccessCredential.revoked_at.is_(None))
    return [CredentialView.of(r) for r in session.scalars(q)]


def revoke(session: Session, name: str, now: datetime) -> CredentialView:
    row = session.scalar(select(AccessCredential).where(AccessCredential.name == name))
    if row is None:
        raise NotFoundError(f"no credential named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return CredentialView.of(row)


def live_by_digest(session: Session, digest: str) -> AccessCredential | None:
    return session.scalar(
        select(AccessCredential).where(AccessCredential.token_sha256 == digest, AccessCredential.revoked_at.is_(None))
    )


def ensure_bootstrap(session: Session, now: datetime) -> Issued | None:
    """With no live credential at all, make the admin one (`*`); None when some credential exists."""
    if list_all(session):
        return None
    name = BOOTSTRAP_NAME
    n = 1
    while session.scalar(select(AccessCredential.id).where(AccessCredential.name == name)) is not None:
        n += 1
        name = f"{BOOTSTRAP_NAME}-{n}"
    return create(session, name, [ALL], now, created_by="bastion serve", bootstrap=True)
