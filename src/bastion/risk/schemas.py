"""The risk domain's input types: the events it ingests and the withdrawal it decides on, with the few
helpers their validation needs. The service uses them as request bodies as they are."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bastion.bounds import Identifier, LongIdentifier, ShortIdentifier, Text, Timestamp
from bastion.risk.clock import utc

EventId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")


def normalize_address(address: str) -> str:
    """Compare destinations case-insensitively for hex (EVM) addresses; other chains are case-sensitive."""
    a = address.strip()
    return a.lower() if a[:2] in ("0x", "0X") else a


class EventIn(BaseModel):
    """What every event carries: its id (idempotency), the user, and when it happened."""

    model_config = ConfigDict(extra="forbid")
    event_id: str = EventId
    user_id: Identifier
    # When it happened at the exchange; defaults to arrival time. Replays send the original time.
    at: Timestamp | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


class LoginEvent(EventIn):
    ip: IPv4Address | IPv6Address
    device_fingerprint: LongIdentifier
    user_agent: Annotated[Text, MaxLen(512)] | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    asn: int | None = Field(default=None, ge=0, le=4294967295)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    success: bool = True


class CredentialChangeEvent(EventIn):
    kind: Literal["password", "totp", "phone", "email", "passkey", "anti_phishing"]


class AddressBookEvent(EventIn):
    action: Literal["add", "remove", "allowlist_on", "allowlist_off"]
    address: LongIdentifier | None = None
    chain: ShortIdentifier | None = None
    label: Annotated[Text, MaxLen(64)] | None = None

    @field_validator("address")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        # Stored as decisions compare it (`normalize_address`): a checksummed EVM address must match its
        # lower-case form in a withdrawal, or an allowlisted address would count as not allowlisted.
        return normalize_address(v) if v is not None else None


class IngestResult(BaseModel):
    event_id: str
    duplicate: bool
    # A credential change that starts the 24 h withdrawal lock: when it ends (what the user's notice says).
    withdrawals_locked_until: datetime | None = None


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class LoginItem(LoginEvent):
    type: Literal["login"]


class CredentialChangeItem(CredentialChangeEvent):
    type: Literal["credential_change"]


class AddressBookItem(AddressBookEvent):
    type: Literal["address_book"]


BatchEvent = Annotated[LoginItem | CredentialChangeItem | AddressBookItem, Field(discriminator="type")]
MAX_BATCH = 1000


class WithdrawalRequest(EventIn):
    asset: Annotated[ShortIdentifier, MaxLen(16)]
    amount: Decimal = Field(gt=0, max_digits=28, decimal_places=8)
    # USD value at the time of the attempt (the exchange's price), the basis of "value preserved".
    amount_usd: Decimal = Field(ge=0, max_digits=28, decimal_places=8)
    address: LongIdentifier
    chain: ShortIdentifier | None = None
    # The user's balance (USD) available before this withdrawal; enables the balance-drain rule.
    balance_usd: Decimal | None = Field(default=None, ge=0, max_digits=28, decimal_places=8)
    ip: IPv4Address | IPv6Address | None = None
    device_fingerprint: LongIdentifier | None = None
    user_agent: Annotated[Text, MaxLen(512)] | None = None
