"""Users' email addresses for alerts, ingested from the exchange's account service and sealed at rest."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from bastion.db.sealing import Keyring
from bastion.errors import InvalidInputError
from bastion.notify.models import Contact

# Deliberately plain: one @, no spaces, no display name, a dotted domain. The account service validated the
# address when the user proved they own it; this only refuses what could not be a mailbox (or a header).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^[^@\s<>\"',;]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def _sealer(key: bytes) -> Keyring:
    return Keyring.derived(key, "notify-contact")


def set_email(session: Session, key: bytes, user_id: str, email: str, now: datetime) -> None:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        raise InvalidInputError("email", "not an email address (name@domain.tld)")
    sealed = _sealer(key).seal(email.encode(), user_id.encode())
    row = session.get(Contact, user_id)
    if row is None:
        session.add(Contact(user_id=user_id, email_sealed=sealed, updated_at=now))
    else:
        row.email_sealed, row.updated_at = sealed, now


def get_email(session: Session, key: bytes, user_id: str) -> str | None:
    row = session.get(Contact, user_id)
    return None if row is None else _sealer(key).open(row.email_sealed, user_id.encode()).decode()


def delete(session: Session, user_id: str) -> bool:
    row = session.get(Contact, user_id)
    if row is None:
        return False
    session.delete(row)
    return True
