"""The security checklist a user sees (`GET /v1/account/security`): what is done, what is pending, and why it
matters, from the domains' own data (nothing self-declared), with a score (the share done, 0 to 100)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.account import devices
from bastion.account.models import AccountDevice
from bastion.keys.models import ApiKey
from bastion.notify.models import Contact
from bastion.protection import totp
from bastion.protection.models import AntiPhishingCode, PasskeyCredential
from bastion.risk.models import RiskUserState

RECENT_DEVICES = timedelta(days=30)

WHY: dict[str, tuple[str, str]] = {
    "two_factor": (
        "Two-factor authentication (authenticator app)",
        "A stolen password alone no longer opens your account or approves a withdrawal.",
    ),
    "passkey": (
        "Passkey or physical security key",
        "Phishing-resistant: a fake site cannot use it, because the key checks the site it talks to.",
    ),
    "anti_phishing_code": (
        "Anti-phishing code",
        "Every genuine email from us shows your code; a message without it is not from us.",
    ),
    "allowlist_only": (
        "Withdrawal allowlist only",
        "Withdrawals go only to addresses you added at least 24 hours earlier, so a thief cannot empty the "
        "account to their own address.",
    ),
    "api_keys_ip_bound": (
        "All API keys bound to IP addresses",
        "A leaked key is useless from anywhere but your own servers.",
    ),
    "no_unrecognised_devices": (
        "No new devices in the last 30 days besides this one",
        "Every device in your list can act for you; remove any you do not recognise.",
    ),
    "recovery_options": (
        "Recovery options",
        "A contact address on file lets us reach you, and you prove it is you, if you lose access.",
    ),
}


class Item(BaseModel):
    id: str
    title: str
    done: bool
    why: str
    detail: str | None = None


class SecurityOut(BaseModel):
    user_id: str
    score: int  # share of the items done, 0..100
    done: int
    total: int
    items: list[Item]


def checklist(session: Session, user_id: str, sid: str | None, at: datetime) -> SecurityOut:
    current = devices.current_device(session, user_id, sid)
    recent = session.scalars(
        select(AccountDevice.id).where(
            AccountDevice.user_id == user_id,
            AccountDevice.removed_at.is_(None),
            AccountDevice.first_seen_at >= at - RECENT_DEVICES,
        )
    ).all()
    unrecognised = [d for d in recent if d != current]
    live_keys = select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
    keys = session.scalars(live_keys).all()
    unbound = [k.id for k in keys if not (k.ips or "").strip()]
    risk = session.get(RiskUserState, user_id)
    passkeys = session.scalar(select(func.count()).where(PasskeyCredential.user_id == user_id)) or 0
    state: dict[str, tuple[bool, str | None]] = {
        "two_factor": (totp.is_enabled(session, user_id), None),
        "passkey": (passkeys > 0, f"{passkeys} registered" if passkeys else None),
        "anti_phishing_code": (session.get(AntiPhishingCode, user_id) is not None, None),
        "allowlist_only": (bool(risk.allowlist_enabled) if risk else False, None),
        "api_keys_ip_bound": (
            not unbound,
            f"{len(unbound)} of {len(keys)} keys without IP binding" if unbound else f"{len(keys)} keys",
        ),
        "no_unrecognised_devices": (
            not unrecognised,
            f"{len(unrecognised)} new devices in 30 days: review your devices" if unrecognised else None,
        ),
        "recovery_options": (session.get(Contact, user_id) is not None, None),
    }
    items = [Item(id=k, title=WHY[k][0], done=v[0], why=WHY[k][1], detail=v[1]) for k, v in state.items()]
    done = sum(i.done for i in items)
    return SecurityOut(user_id=user_id, score=round(100 * done / len(items)), done=done, total=len(items), items=items)
