"""Hard withdrawal locks: policies that block whatever the rules and the score say, with a reason and the
time the lock ends, so the wallet service and the user's notice can both say when withdrawals work again.

- `account_frozen`: the account is frozen (by the user, an operator or a service); until an operator
  unfreezes it after re-verifying the user's identity.
- `withdrawal_lock`: 24 hours after a credential change (password, 2FA, passkey, anti-phishing code, phone,
  email), after allowlist-only mode was switched off, and after an unfreeze; `cause` says which.
- `allowlist`: allowlist-only mode is on and the destination is not in the allowlist, or was added less than
  24 hours ago (usable from `until`).

The rules (`rules.py`) still run and are stored beside the lock, for the analysts; the lock decides.
`withdrawal_lock` is pure: the in-memory hot path and `lock_for` (from the tables: a step-up confirmed or a
review approved later must still respect a lock that started meanwhile) compute it from the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bastion.risk.clock import utc
from bastion.risk.models import RiskAddress, RiskUserState
from bastion.risk.schemas import normalize_address

# Exactly 24 hours: at 23:59:59 after the change a withdrawal is blocked, at 24:00:00 it is not.
LOCK = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class WithdrawalLock:
    reason: str  # account_frozen / withdrawal_lock / allowlist
    cause: str | None  # what started it (password, totp, passkey, anti_phishing, allowlist_off, unfreeze, ...)
    until: datetime | None  # when it ends by itself; None: only an operator ends it (frozen, not allowlisted)


def withdrawal_lock(
    *,
    at: datetime,
    frozen: bool,
    credential_at: datetime | None,
    credential_kind: str | None,
    allowlist: bool,
    address_added_at: datetime | None,
) -> WithdrawalLock | None:
    """The lock a withdrawal requested at `at` is under, or None."""
    if frozen:
        return WithdrawalLock("account_frozen", "frozen", None)
    if credential_at is not None and at < credential_at + LOCK:
        return WithdrawalLock("withdrawal_lock", credential_kind or "credential_change", credential_at + LOCK)
    if allowlist:
        if address_added_at is None:
            return WithdrawalLock("allowlist", "not_allowlisted", None)
        if at < address_added_at + LOCK:
            return WithdrawalLock("allowlist", "address_pending", address_added_at + LOCK)
    return None


def lock_for(session: Session, user_id: str, address: str, at: datetime) -> WithdrawalLock | None:
    """The hard lock a withdrawal of `user_id` to `address` at `at` is under, from the database."""
    st = session.get(RiskUserState, user_id)
    if st is None:
        return None
    added = None
    if st.allowlist_enabled:
        row = session.get(RiskAddress, (user_id, normalize_address(address)))
        added = utc(row.added_at) if row is not None and row.removed_at is None else None
    return withdrawal_lock(
        at=at,
        frozen=st.frozen_at is not None,
        credential_at=utc(st.last_credential_change_at) if st.last_credential_change_at else None,
        credential_kind=st.last_credential_change_kind,
        allowlist=bool(st.allowlist_enabled),
        address_added_at=added,
    )
