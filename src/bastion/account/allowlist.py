"""Allowlist management: the user's withdrawal allowlist is the risk engine's address book (`risk_addresses`),
changed here through the same address-book events the exchange's feeds send (`risk/ingest.py`), so the
engine's enforcement (`risk/decide/locks.py`: allowlist-only mode, a new address usable only 24 hours after it was
added) and this list can never disagree.

Switching allowlist-only mode on needs nothing; switching it off loosens security, so it needs a step-up (a
fresh TOTP code, one use per code) and starts the 24-hour withdrawal lock. Every change alerts the user.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.account import audit
from bastion.bounds import LongIdentifier, ShortIdentifier, Text
from bastion.errors import BastionError, ConflictError, NotFoundError
from bastion.protection import totp
from bastion.risk import clock as risk_clock
from bastion.risk import ingest as risk_ingest
from bastion.risk import schemas as risk_schemas
from bastion.risk.decide.locks import LOCK
from bastion.risk.models import RiskAddress, RiskUserState
from bastion.risk.schemas import normalize_address


class StepUpRequired(BastionError):
    """A change that loosens security was asked for without a valid fresh second factor (403)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: LongIdentifier
    chain: ShortIdentifier | None = None
    label: Annotated[Text, MaxLen(64)] | None = None


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allowlist_only: bool
    # Required to switch it off: a fresh code of the user's authenticator app.
    totp_code: str | None = Field(default=None, min_length=6, max_length=8, pattern=r"^[0-9]+$")


class AddressOut(BaseModel):
    address: str
    chain: str | None
    label: str | None
    added_at: datetime
    usable_from: datetime  # 24 hours after it was added: the engine refuses it before that
    usable: bool


class AllowlistOut(BaseModel):
    allowlist_only: bool
    addresses: list[AddressOut]
    withdrawals_locked_until: datetime | None = None


def _event_id() -> str:
    return "account-allowlist:" + secrets.token_hex(12)


def get(session: Session, user_id: str, at: datetime) -> AllowlistOut:
    st = session.get(RiskUserState, user_id)
    rows = session.scalars(
        select(RiskAddress)
        .where(RiskAddress.user_id == user_id, RiskAddress.removed_at.is_(None))
        .order_by(RiskAddress.added_at, RiskAddress.address)
    )
    out = []
    for r in rows:
        added = risk_clock.utc(r.added_at)
        out.append(
            AddressOut(
                address=r.address,
                chain=r.chain,
                label=r.label,
                added_at=added,
                usable_from=added + LOCK,
                usable=at >= added + LOCK,
            )
        )
    until = None
    if st is not None and st.last_credential_change_at is not None:
        end = risk_clock.utc(st.last_credential_change_at) + LOCK
        until = end if at < end else None
    return AllowlistOut(
        allowlist_only=bool(st.allowlist_enabled) if st else False, addresses=out, withdrawals_locked_until=until
    )


def add(session: Session, user_id: str, body: AddressIn, at: datetime) -> AddressOut:
    address = normalize_address(body.address)
    row = session.get(RiskAddress, (user_id, address))
    if row is not None and row.removed_at is None:
        raise ConflictError("address is already in the allowlist")
    risk_ingest.ingest_address_book(
        session,
        risk_schemas.AddressBookEvent(
            event_id=_event_id(),
            user_id=user_id,
            action="add",
            address=address,
            chain=body.chain,
            label=body.label,
            at=at,
        ),
    )
    audit.record(session, user_id, "allowlist_added", "user", at, address=address, chain=body.chain)
    audit.alert(
        session,
        user_id,
        "allowlist_added",
        {"address": address, "usable_from": (at + LOCK).isoformat(), "chain": body.chain or ""},
        f"allowlist_added:{user_id}:{address}:{at.isoformat()}",
        at,
    )
    return AddressOut(
        address=address, chain=body.chain, label=body.label, added_at=at, usable_from=at + LOCK, usable=False
    )


def remove(session: Session, user_id: str, address: str, at: datetime) -> None:
    address = normalize_address(address)
    row = session.get(RiskAddress, (user_id, address))
    if row is None or row.removed_at is not None:
        raise NotFoundError("address is not in the allowlist")
    risk_ingest.ingest_address_book(
        session,
        risk_schemas.AddressBookEvent(event_id=_event_id(), user_id=user_id, action="remove", address=address, at=at),
    )
    audit.record(session, user_id, "allowlist_removed", "user", at, address=address)
    audit.alert(
        session,
        user_id,
        "allowlist_removed",
        {"address": address, "at": at.isoformat()},
        f"allowlist_removed:{user_id}:{address}:{at.isoformat()}",
        at,
    )


def set_mode(session: Session, key: bytes, user_id: str, body: ModeIn, at: datetime) -> AllowlistOut:
    """Allowlist-only mode on (no step-up) or off (a fresh TOTP code; the 24 h withdrawal lock starts). A
    failed code is counted by the TOTP lockout: the caller commits also when this raises StepUpRequired."""
    st = session.get(RiskUserState, user_id)
    on = bool(st.allowlist_enabled) if st else False
    if body.allowlist_only == on:
        return get(session, user_id, at)
    if not body.allowlist_only:
        if body.totp_code is None:
            raise StepUpRequired("totp_code", "switching allowlist-only mode off needs a fresh code of your 2FA app")
        check = totp.verify(session, key, user_id, body.totp_code, at)
        if check is not totp.Check.ok:
            why = {
                totp.Check.not_enrolled: "2FA is not set up: allowlist-only mode can only be switched off with it",
                totp.Check.replayed: "this code was already used; wait for the next one",
                totp.Check.locked: "too many wrong codes; try again later",
            }.get(check, "wrong code")
            raise StepUpRequired("totp_code", why)
    action: Literal["allowlist_on", "allowlist_off"] = "allowlist_on" if body.allowlist_only else "allowlist_off"
    risk_ingest.ingest_address_book(
        session, risk_schemas.AddressBookEvent(event_id=_event_id(), user_id=user_id, action=action, at=at)
    )
    audit.record(session, user_id, f"allowlist_mode_{'on' if body.allowlist_only else 'off'}", "user", at)
    if body.allowlist_only:
        audit.alert(
            session,
            user_id,
            "allowlist_mode_on",
            {"at": at.isoformat()},
            f"allowlist_mode_on:{user_id}:{at.isoformat()}",
            at,
        )
    else:
        audit.alert(
            session,
            user_id,
            "allowlist_mode_off",
            {"at": at.isoformat(), "lock_until": (at + LOCK).isoformat()},
            f"allowlist_mode_off:{user_id}:{at.isoformat()}",
            at,
        )
    session.flush()
    return get(session, user_id, at)
