"""The Travel Rule's tables: the VASP directory, rule sets, prices, messages, transfers, held deposits, wallet
ownership proofs and the audit trail. Personal data (IVMS101 payloads, a user's originator information) is only
ever stored sealed (`bastion.db.sealing`), bound to its row."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import ExactDecimal, UtcDateTime
from bastion.db.versioned import VersionedDefinition


class TravelRuleVasp(Base):
    """A counterparty exchange: who it is (LEI), where it takes messages, and the key its messages are signed with."""

    __tablename__ = "travel_rule_vasps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lei: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(140))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    endpoint: Mapped[str] = mapped_column(String(500))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str] = mapped_column(String(128))


class TravelRuleVaspAddress(Base):
    """A deposit address known to belong to a VASP: a withdrawal to it is a VASP-to-VASP transfer."""

    __tablename__ = "travel_rule_vasp_addresses"
    __table_args__ = (UniqueConstraint("chain", "address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vasp_id: Mapped[int] = mapped_column(ForeignKey("travel_rule_vasps.id", ondelete="CASCADE"), index=True)
    chain: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(128))


class TravelRuleRuleset(VersionedDefinition, Base):
    """A version of the rules per jurisdiction pair, as data (like risk_rulesets). Exactly one is active."""

    __tablename__ = "travel_rule_rulesets"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class TravelRulePrice(Base):
    """The day's price of an asset in a currency (the rules' thresholds are in EUR or USD)."""

    __tablename__ = "travel_rule_prices"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)


class TravelRuleMessage(Base):
    """A message sent or received. (sender, message_id) is unique: a replayed message is refused."""

    __tablename__ = "travel_rule_messages"
    __table_args__ = (UniqueConstraint("sender_lei", "message_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(16))  # inquiry | approve | reject | confirm
    sender_lei: Mapped[str] = mapped_column(String(20))
    receiver_lei: Mapped[str] = mapped_column(String(20))
    transfer_id: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))  # accepted | sent | failed
    # The signed message as it travelled (it carries IVMS101 personal data): sealed.
    jws_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class TravelRuleTransfer(Base):
    """One transfer between VASPs, as this side sees it: `originator` (our user withdraws) or `beneficiary`."""

    __tablename__ = "travel_rule_transfers"
    __table_args__ = (UniqueConstraint("transfer_id", "role", "counterparty_lei"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(12))
    counterparty_lei: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    asset: Mapped[str] = mapped_column(String(16))
    chain: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    address: Mapped[str] = mapped_column(String(128), index=True)  # the beneficiary's account (destination)
    callback: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # inquired | approved | rejected | confirmed
    txid: Mapped[str | None] = mapped_column(String(128), index=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The withdrawal event (risk `event_id`) this approved transfer let through: it covers that one only.
    withdrawal_event: Mapped[str | None] = mapped_column(String(64))
    ivms_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class TravelRuleDeposit(Base):
    """An observed deposit and where it stands: cleared (nothing needed or met on arrival), held, released,
    returned. A held one waits for the counterparty's message, the user's originator information or their
    proof of owning the sending wallet, until `deadline`."""

    __tablename__ = "travel_rule_deposits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deposit_ref: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    chain: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    txid: Mapped[str] = mapped_column(String(128), index=True)
    to_address: Mapped[str] = mapped_column(String(128))
    from_address: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(12))  # vasp | unknown
    source_lei: Mapped[str | None] = mapped_column(String(20))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(12), index=True)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[Decimal | None] = mapped_column(ExactDecimal)  # in the rule's currency
    currency: Mapped[str | None] = mapped_column(String(3))
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(16))  # message | originator | ownership | deadline
    transfer_id: Mapped[str | None] = mapped_column(String(64))
    originator_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class TravelRuleWallet(Base):
    """A self-hosted wallet a user claims: the challenge to sign, and when the signature proved ownership."""

    __tablename__ = "travel_rule_wallets"
    __table_args__ = (UniqueConstraint("user_id", "chain", "address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(128))
    challenge: Mapped[str] = mapped_column(String(400))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    proven_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scheme: Mapped[str | None] = mapped_column(String(16))


class TravelRuleAudit(Base):
    """Every state change: what happened to which object, who did it, when."""

    __tablename__ = "travel_rule_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(96), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
