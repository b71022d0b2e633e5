"""Anti-phishing code: a phrase the user chooses, shown in every notification Bastion sends, so that a
message without it (or with a wrong one) is recognisably not from the exchange."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bastion.db.sealing import Keyring
from bastion.errors import InvalidInputError, NotFoundError
from bastion.protection.models import AntiPhishingCode

CODE_RE = re.compile(r"^[A-Za-z0-9_\-]{4,20}$")

# Every outgoing notification. Each body is rendered with the user's code at its top (see `render`).
TEMPLATES: dict[str, tuple[str, str]] = {
    "login_new_device": ("New device login", "A login to your account from a new device ({device}) at {ip}."),
    "withdrawal_requested": (
        "Withdrawal requested",
        "A withdrawal of {amount} {asset} to {address} was requested.",
    ),
    "withdrawal_held": (
        "Withdrawal under review",
        "Your withdrawal of {amount} {asset} is held for a security review.",
    ),
    "withdrawal_cancelled": (
        "Withdrawal cancelled",
        "Your withdrawal of {amount} {asset} was cancelled for your protection.",
    ),
    "password_changed": (
        "Password changed",
        "Your password was changed. Withdrawals are locked for 24 hours.",
    ),
    "credential_lock": (
        "Withdrawals locked for 24 hours",
        "Your {credential} was changed. For your protection withdrawals are blocked until {locked_until} (UTC).",
    ),
    "totp_enabled": ("Two-factor authentication on", "Authenticator-app 2FA was enabled on your account."),
    "passkey_added": ("Passkey added", "A passkey was added to your account."),
    "address_added": ("Withdrawal address added", "The address {address} was added to your address book."),
    "api_key_created": ("API key created", "An API key '{label}' was created with permissions {perms}."),
}


@dataclass(frozen=True)
class Notification:
    template: str
    subject: str
    body: str


def _sealer(key: bytes) -> Keyring:
    return Keyring.derived(key, "anti-phishing")


def set_code(session: Session, key: bytes, user_id: str, code: str) -> bool:
    """Set the user's code; True when it replaced one (a change, which locks withdrawals), False for the first."""
    if not CODE_RE.fullmatch(code):
        raise InvalidInputError("code", "4 to 20 letters, digits, '_' or '-'")
    sealed = _sealer(key).seal(code.encode(), user_id.encode())
    row = session.get(AntiPhishingCode, user_id)
    now = datetime.now(UTC)
    if row is None:
        session.add(AntiPhishingCode(user_id=user_id, code_sealed=sealed, updated_at=now))
        return False
    row.code_sealed, row.updated_at = sealed, now
    return True


def get_code(session: Session, key: bytes, user_id: str) -> str | None:
    row = session.get(AntiPhishingCode, user_id)
    return None if row is None else _sealer(key).open(row.code_sealed, user_id.encode()).decode()


def render(session: Session, key: bytes, user_id: str, template: str, params: dict[str, str]) -> Notification:
    """A notification for the user, with their anti-phishing code (or advice to set one) on top."""
    if template not in TEMPLATES:
        raise NotFoundError(f"no notification template {template!r}")
    subject, body = TEMPLATES[template]
    try:
        text = body.format(**params)
    except KeyError as exc:
        raise InvalidInputError(f"params.{exc.args[0]}", "required by this template") from None
    code = get_code(session, key, user_id)
    header = (
        f"Anti-phishing code: {code}"
        if code
        else "Tip: set an anti-phishing code so you can tell our messages from fakes."
    )
    return Notification(template=template, subject=f"[Bastion] {subject}", body=f"{header}\n\n{text}")
