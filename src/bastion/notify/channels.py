"""The official-channel registry: website domains, email senders, phone numbers and social handles the
exchange really uses, kept by the operator, and the public check behind `GET /v1/public/verify`.

Values are stored normalised, so that what a user pastes matches however it is written:
- website: the host of a URL or a bare domain, lowercase, IDNA (punycode, so a look-alike letter never matches
  the real domain), without `www.`, port, path or trailing dot; a subdomain of an official domain is official
  (only the domain's owner can create it), a domain that merely contains it (bastion.example.evil.io) is not;
- email: the sender address (display name dropped), lowercase, domain in IDNA; matched exactly;
- phone: E.164 (`+` and digits; `00` taken as `+`; spaces, dots, dashes and brackets ignored), by phonenumbers;
- social: `<platform>:@<handle>`, lowercase; from `telegram:@name`, `https://t.me/name`, `x.com/name`, ...;
  a bare `@name` is checked against every platform.
Every normalised value uses only `a-z 0-9 . - _ @ : +`, so echoing it back can never carry markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from urllib.parse import urlsplit

import phonenumbers
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.notify.models import OfficialChannel

KINDS: tuple[str, ...] = ("website", "email", "phone", "social")
MAX_VALUE = 254

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HANDLE = re.compile(r"^[a-z0-9_.]{1,64}$")
_NOTE = re.compile(r"^[^<>&\"'\x00-\x1f\x7f]{0,100}$")

# Where a profile URL's host says which platform the handle is on.
SOCIAL_HOSTS: dict[str, str] = {
    "t.me": "telegram",
    "telegram.me": "telegram",
    "x.com": "x",
    "twitter.com": "x",
    "instagram.com": "instagram",
    "facebook.com": "facebook",
    "youtube.com": "youtube",
    "tiktok.com": "tiktok",
    "discord.gg": "discord",
    "reddit.com": "reddit",
    "linkedin.com": "linkedin",
    "medium.com": "medium",
}
PLATFORMS: frozenset[str] = frozenset(SOCIAL_HOSTS.values())


def _host(text: str) -> str | None:
    """A bare hostname from a URL or domain, lowercase IDNA without www./port/trailing dot; None if not one."""
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        return None
    parts = urlsplit(text if "://" in text else "//" + text)
    host = parts.hostname
    if not host:
        return None
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    if host.startswith("www."):
        host = host[4:]
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return None
    return host


def _email(text: str) -> str | None:
    address = parseaddr(text.strip())[1].strip()
    if address.count("@") != 1:
        return None
    local, domain = address.rsplit("@", 1)
    host = _host(domain)
    if not local or len(local) > 64 or not re.fullmatch(r"[a-z0-9!#$%*+/=?^_`{|}~.\-]+", local.lower()) or not host:
        return None
    # The domain is normalised as a website's (www. dropped: a host of the same owner).
    return f"{local.lower()}@{host}"


def _phone(text: str) -> str | None:
    raw = re.sub(r"[\s.\-()/]", "", text.strip())
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if not re.fullmatch(r"\+[0-9]{6,15}", raw):
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _social(text: str) -> tuple[str | None, str] | None:
    """(platform or None when not said, handle) from `platform:@h`, a profile URL, or `@h`."""
    text = text.strip()
    platform: str | None = None
    m = re.fullmatch(r"([A-Za-z]+):@?(.+)", text)
    if m and m.group(1).lower() in PLATFORMS:
        platform, handle = m.group(1).lower(), m.group(2)
    elif text.startswith("@"):
        handle = text[1:]
    else:
        parts = urlsplit(text if "://" in text else "//" + text)
        host = (parts.hostname or "").removeprefix("www.")
        if host not in SOCIAL_HOSTS:
            return None
        platform = SOCIAL_HOSTS[host]
        segments = [s for s in parts.path.split("/") if s]
        # reddit.com/r/<name>, linkedin.com/company/<name>, youtube.com/@<name>
        if segments and segments[0] in {"r", "u", "user", "company", "in", "c", "channel"} and len(segments) > 1:
            segments = segments[1:]
        if not segments:
            return None
        handle = segments[0]
    handle = handle.lstrip("@").lower()
    return (platform, handle) if _HANDLE.fullmatch(handle) else None


def normalise(kind: str, value: str) -> str:
    """The stored form of `value` as a channel of `kind`; InvalidInputError naming `value` if it is not one."""
    if kind not in KINDS:
        raise InvalidInputError("kind", f"one of {', '.join(KINDS)}")
    if not value or len(value) > MAX_VALUE:
        raise InvalidInputError("value", f"1 to {MAX_VALUE} characters")
    if kind == "website":
        host = _host(value)
        if host is None:
            raise InvalidInputError("value", "not a website domain (e.g. bastion.example or https://bastion.example)")
        return host
    if kind == "email":
        email = _email(value)
        if email is None:
            raise InvalidInputError("value", "not an email sender address (e.g. alerts@bastion.example)")
        return email
    if kind == "phone":
        phone = _phone(value)
        if phone is None:
            raise InvalidInputError("value", "not a phone number in international form (e.g. +44 20 7946 0000)")
        return phone
    social = _social(value)
    if social is None:
        raise InvalidInputError("value", "not a social handle (e.g. telegram:@bastion or https://t.me/bastion)")
    platform, handle = social
    if platform is None:
        raise InvalidInputError("value", f"say the platform: <platform>:@{handle} ({', '.join(sorted(PLATFORMS))})")
    return f"{platform}:@{handle}"


# ------------------------------------------------------------------------------------------------ registry
def add(session: Session, kind: str, value: str, *, note: str, actor: str, now: datetime) -> OfficialChannel:
    normal = normalise(kind, value)
    if not _NOTE.fullmatch(note):
        raise InvalidInputError("note", "up to 100 characters, no markup characters (< > & quotes)")
    if session.scalar(select(OfficialChannel).where(OfficialChannel.kind == kind, OfficialChannel.value == normal)):
        raise ConflictError(f"{kind} {normal} is already registered")
    row = OfficialChannel(kind=kind, value=normal, note=note, added_at=now, added_by=actor[:120])
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # registered by someone else in the meantime
        raise ConflictError(f"{kind} {normal} is already registered") from None
    return row


def list_all(session: Session, kind: str | None = None) -> list[OfficialChannel]:
    stmt = select(OfficialChannel).order_by(OfficialChannel.kind, OfficialChannel.value)
    if kind is not None:
        if kind not in KINDS:
            raise InvalidInputError("kind", f"one of {', '.join(KINDS)}")
        stmt = stmt.where(OfficialChannel.kind == kind)
    return list(session.scalars(stmt))


def remove(session: Session, channel_id: int) -> OfficialChannel:
    row = session.get(OfficialChannel, channel_id)
    if row is None:
        raise NotFoundError(f"no official channel {channel_id}")
    session.execute(delete(OfficialChannel).where(OfficialChannel.id == channel_id))
    return row


# ---------------------------------------------------------------------------------------------- the check
@dataclass(frozen=True)
class Match:
    kind: str
    value: str  # the registered (normalised) value that matched
    note: str


@dataclass(frozen=True)
class Verdict:
    kind: str  # what the value was read as
    normalised: str
    official: bool
    matches: list[Match]


def verify(session: Session, value: str) -> Verdict:
    """Is `value` an official channel? Read as an email, phone, social handle or website, in that order."""
    if not value.strip() or len(value) > MAX_VALUE:
        raise InvalidInputError("value", f"1 to {MAX_VALUE} characters")
    text = value.strip()
    candidates: list[tuple[str, str]] = []  # (kind, normalised)
    social = _social(text)
    if not text.startswith("@") and "@" in text and (email := _email(text)):
        candidates = [("email", email)]
    elif (phone := _phone(text)) is not None:
        candidates = [("phone", phone)]
    elif social is not None:
        platform, handle = social
        if platform is None:
            rows = session.scalars(
                select(OfficialChannel).where(
                    OfficialChannel.kind == "social", OfficialChannel.value.like(f"%:@{handle}")
                )
            )
            matches = [Match(r.kind, r.value, r.note) for r in rows if r.value.split(":@", 1)[1] == handle]
            return Verdict("social", f"@{handle}", bool(matches), matches)
        candidates = [("social", f"{platform}:@{handle}")]
    elif (host := _host(text)) is not None:
        # The domain itself or any parent domain registered as official (only its owner makes subdomains).
        labels = host.split(".")
        parents = [".".join(labels[i:]) for i in range(len(labels) - 1)]
        rows = session.scalars(
            select(OfficialChannel).where(OfficialChannel.kind == "website", OfficialChannel.value.in_(parents))
        )
        matches = [Match(r.kind, r.value, r.note) for r in rows]
        return Verdict("website", host, bool(matches), matches)
    else:
        raise InvalidInputError(
            "value", "not a website, email sender, phone number (+country code) or social handle (@name)"
        )
    kind, normal = candidates[0]
    row = session.scalar(select(OfficialChannel).where(OfficialChannel.kind == kind, OfficialChannel.value == normal))
    matches = [Match(row.kind, row.value, row.note)] if row is not None else []
    return Verdict(kind, normal, bool(matches), matches)
