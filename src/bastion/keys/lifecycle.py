"""Key lifecycle: create, list, re-bind IPs, revoke, sweep idle keys. Plain functions on a Session.

Every function takes `now` so that tests (and the simulator) control time; callers commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.db.sealing import Keyring
from bastion.keys import policy
from bastion.keys.authcache import announce_change
from bastion.keys.crypto import (
    PassphraseVerifier,
    check_passphrase,
    derive_encryption_key,
    new_api_key,
    new_secret,
)
from bastion.keys.errors import KeyInputError, KeyNotFound, SecondFactorRejected
from bastion.keys.models import ApiKey, ApiKeyEvent
from bastion.keys.policy import Permission

# (session, user_id, code, now) -> is this a valid TOTP code for the user? Supplied by the caller (the service
# and CLI wire in the account-protection TOTP check) so that this domain does not reach into another.
SecondFactor = Callable[[Session, str, str, datetime], bool]

MAX_LABEL = 50


@dataclass
class KeyVault:
    """What it takes to hold key material: the sealing box and the passphrase verifier."""

    box: Keyring
    passphrases: PassphraseVerifier = field(default_factory=PassphraseVerifier)

    @classmethod
    def from_keyring(cls, keyring: str | None, secret_material: Callable[[], bytes]) -> KeyVault:
        """From BASTION_KEYS_ENCRYPTION_KEYS when set, else a key derived from the service secret key."""
        if keyring:
            return cls(Keyring.from_setting(keyring))
        return cls(Keyring.from_setting(derive_encryption_key(secret_material())))


@dataclass(frozen=True)
class IssuedKey:
    """A new key as shown to its owner, once. The secret (and a generated passphrase) exist only here."""

    key_id: str
    secret: str
    user_id: str
    label: str
    permissions: frozenset[Permission]
    ips: str
    created_at: datetime
    passphrase: str | None = None  # only when Bastion chose it (Fast API)
    app_id: str | None = None


@dataclass(frozen=True)
class KeyView:
    """A key as its owner may see it later: everything but the secret and passphrase."""

    key_id: str
    user_id: str
    label: str
    permissions: frozenset[Permission]
    ips: str
    source: str
    app_id: str | None
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls(
            key_id=key.id,
            user_id=key.user_id,
            label=key.label,
            permissions=policy.parse_permissions([key.permissions]),
            ips=key.ips,
            source=key.source,
            app_id=key.app_id,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
        )


def audit(session: Session, key: ApiKey, event: str, actor: str, at: datetime, **detail: object) -> None:
    session.add(
        ApiKeyEvent(
            key_id=key.id,
            user_id=key.user_id,
            event=event,
            actor=actor,
            at=at,
            detail=json.dumps(detail, sort_keys=True, default=str) if detail else "",
        )
    )


def _check_user(user_id: str) -> str:
    user_id = user_id.strip()
    if not user_id or len(user_id) > 64:
        raise KeyInputError("user_id", "must be 1 to 64 characters")
    return user_id


def _check_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise KeyInputError("label", f"must be 1 to {MAX_LABEL} characters")
    return label


def create_key(
    session: Session,
    vault: KeyVault,
    *,
    user_id: str,
    label: str,
    permissions: Sequence[str],
    ips: Sequence[str],
    passphrase: str,
    now: datetime,
    totp_code: str | None = None,
    second_factor: SecondFactor | None = None,
    actor: str = "user",
    source: str = "direct",
    app_id: str | None = None,
) -> IssuedKey:
    """Make a key and return its secret (shown once). A withdraw key needs a valid TOTP code."""
    user_id = _check_user(user_id)
    label = _check_label(label)
    perms = policy.parse_permissions(permissions)
    networks = policy.parse_allowlist(ips)
    check_passphrase(passphrase)
    # No code, no verifier, or a wrong code: all the same refusal, before anything is written.
    if Permission.WITHDRAW in perms and (
        not totp_code or second_factor is None or not second_factor(session, user_id, totp_code, now)
    ):
        raise SecondFactorRejected("a withdraw-permission key needs a valid TOTP code (field: totp_code)")
    key_id, secret = new_api_key(), new_secret()
    ips_text = policy.allowlist_text(networks)
    key = ApiKey(
        id=key_id,
        user_id=user_id,
        label=label,
        permissions=policy.permissions_text(perms),
        ips=ips_text,
        ip_count=len(networks),
        secret_sealed=vault.box.seal_text(secret, key_id),
        passphrase_hash=vault.passphrases.hash(passphrase),
        source=source,
        app_id=app_id,
        created_at=now,
    )
    session.add(key)
    session.flush()
    audit(session, key, "created", actor, now, permissions=key.permissions, ips=ips_text, source=source)
    return IssuedKey(
        key_id=key_id,
        secret=secret,
        user_id=user_id,
        label=label,
        permissions=perms,
        ips=ips_text,
        created_at=now,
        app_id=app_id,
    )


def _live_key(session: Session, user_id: str, key_id: str, *, for_update: bool = False) -> ApiKey:
    stmt = select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    key = session.scalars(stmt).first()
    if key is None:
        # Someone else's key and a missing key give the same answer: ids are not confirmed to strangers.
        raise KeyNotFound(f"no live API key {key_id} for this user")
    return key


def list_keys(session: Session, user_id: str) -> list[KeyView]:
    rows = session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return [KeyView.of(k) for k in rows]


def update_ips(
    session: Session, user_id: str, key_id: str, ips: Sequence[str], now: datetime, *, actor: str
) -> KeyView:
    """Replace the key's IP allowlist. Keys issued to a third-party app stay bound to the app's servers.
    `actor` is who really made the change (the user, an operator, the CLI), as the audit trail names it."""
    networks = policy.parse_allowlist(ips)
    key = _live_key(session, user_id, key_id, for_update=True)
    if key.app_id is not None:
        raise KeyInputError("ips", "a key issued to a third-party app is bound to the app's registered IPs")
    before = key.ips
    key.ips = policy.allowlist_text(networks)
    key.ip_count = len(networks)
    audit(session, key, "ips_updated", actor, now, before=before, after=key.ips)
    announce_change(session)  # every process's cached allowlist of this key is dropped (keys/authcache.py)
    session.flush()
    return KeyView.of(key)


def delete_key(
    session: Session, vault: KeyVault, key: ApiKey, reason: str, actor: str, now: datetime
) -> None:
    key.revoked_at = now
    key.revoke_reason = reason
    key.secret_sealed = None
    key.passphrase_hash = None
    vault.passphrases.forget(key.id)
    audit(session, key, "swept" if reason == "swept" else "revoked", actor, now, reason=reason)
    announce_change(session)  # every process stops honouring it (keys/authcache.py)


def revoke(
    session: Session, vault: KeyVault, user_id: str, key_id: str, now: datetime, *, actor: str
) -> None:
    key = _live_key(session, user_id, key_id, for_update=True)
    by_back_office = actor == "cli" or actor == "operator" or actor.startswith("operator:")
    delete_key(session, vault, key, "operator" if by_back_office else "user", actor, now)
    session.flush()


@dataclass(frozen=True)
class SweepReport:
    dry_run: bool
    at: datetime
    keys: list[KeyView]

    @property
    def count(self) -> int:
        return len(self.keys)


def sweep(session: Session, vault: KeyVault, now: datetime, *, dry_run: bool = False) -> SweepReport:
    """Delete every live key with trade or withdraw permission, not IP-bound and no use for 14+ days.

    The SQL narrows to idle candidates; the policy rule decides (an allowlist broader than a /8 in total does
    not bind the key, whatever its entry count), so the two cannot drift apart.
    """
    cutoff = now - policy.IDLE_LIMIT
    candidates = session.scalars(
        select(ApiKey)
        .where(
            ApiKey.revoked_at.is_(None),
            ApiKey.created_at <= cutoff,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at <= cutoff),
        )
        .order_by(ApiKey.created_at, ApiKey.id)
        .with_for_update(skip_locked=True)
    ).all()
    swept: list[KeyView] = []
    for key in candidates:
        perms = policy.parse_permissions([key.permissions])
        bound = policy.ip_bound(policy.parse_allowlist(key.ips.split(",") if key.ips else []))
        if not policy.sweepable(perms, bound, key.created_at, key.last_used_at, now):
            continue
        swept.append(KeyView.of(key))
        if not dry_run:
            delete_key(session, vault, key, "swept", "sweeper", now)
    session.flush()
    return SweepReport(dry_run=dry_run, at=now, keys=swept)
