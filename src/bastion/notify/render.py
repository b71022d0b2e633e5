"""What an alert says: subject and text for each kind, with the user's anti-phishing code on top and a scam
warning linking to the official-channel check at the bottom.

The account-security kinds are Jinja2 templates here; the older notifications keep their templates in
`protection/anti_phishing.py` and are rendered by it. A kind with no template, or whose data lacks a field its
template needs, is sent with the generic template (its title and the data as "key: value" lines) rather than
dropped: an alert that arrives plainly beats one that never arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined, TemplateError
from sqlalchemy.orm import Session

from bastion.protection import anti_phishing

# Plain-text mail, no HTML anywhere: nothing to escape (the subject's control characters are removed below).
_env = Environment(undefined=StrictUndefined, autoescape=False)

_FREEZE_HINT = "If this was not you, freeze your account at once (Security > Freeze account) and contact support."

# kind -> (subject, body); bodies see `data` as `d`.
# The account domain's data (docs/account.md) names fields as below; the `default` filters also accept the
# names the first draft of this contract used, so either arrives as a readable sentence.
_DEVICE = "{{ d.user_agent | default(d.device | default('an unrecognised device'), true) }}"
_UNTIL = "{{ d.locked_until | default(d.lock_until | default('24 hours from now'), true) }}"

# kind -> (subject, body); bodies see `data` as `d`.
TEMPLATES: dict[str, tuple[str, str]] = {
    "new_device": (
        "New device signed in",
        "Your account was signed in from a new device: " + _DEVICE + "{% if d.ip is defined %} at {{ d.ip }}"
        "{% endif %}{% if d.country %} ({{ d.country }}){% endif %}{% if d.at is defined %} on {{ d.at }}"
        "{% endif %}.\n" + _FREEZE_HINT,
    ),
    "account_frozen": (
        "Your account is frozen",
        "Your account was frozen{% if d.by == 'user' %} at your request{% elif d.by == 'operator' %} by our"
        " security team{% elif d.by is defined %} by our security systems{% endif %}"
        "{% if d.at is defined %} on {{ d.at }}{% endif %}. Withdrawals, API keys and all sessions are stopped.\n"
        "To unfreeze it, contact support: we will verify your identity first.",
    ),
    "account_unfrozen": (
        "Your account is unfrozen",
        "Your account was unfrozen after identity verification. Withdrawals stay locked until "
        + _UNTIL
        + ".\n"
        + _FREEZE_HINT,
    ),
    "device_removed": (
        "Device removed",
        "A device (" + _DEVICE + ") was removed from your account and its sessions were ended.\n" + _FREEZE_HINT,
    ),
    "allowlist_added": (
        "Withdrawal address added",
        "The address {{ d.address }}{% if d.chain %} ({{ d.chain }}){% endif %} was added to your withdrawal"
        " allowlist{% if d.usable_from is defined %}; it can be used from {{ d.usable_from }}{% endif %}.\n"
        + _FREEZE_HINT,
    ),
    "allowlist_removed": (
        "Withdrawal address removed",
        "The address {{ d.address }} was removed from your withdrawal allowlist.",
    ),
    "allowlist_mode_on": (
        "Allowlist-only withdrawals switched on",
        "Withdrawals can now go only to addresses in your allowlist, each from 24 hours after it was added.\n"
        + _FREEZE_HINT,
    ),
    "allowlist_mode_off": (
        "Allowlist-only withdrawals switched off",
        "Withdrawals are no longer limited to your allowlist. Withdrawals are locked until "
        + _UNTIL
        + ".\n"
        + _FREEZE_HINT,
    ),
    "credential_lock": (
        "Withdrawals locked after a security change",
        "{% set what = d.credential | default(d.change | default(''), true) %}"
        "{% if what %}A security setting changed ({{ what | replace('_', ' ') }}). {% endif %}"
        "Withdrawals are blocked until " + _UNTIL + ".\n" + _FREEZE_HINT,
    ),
    "travel_rule_hold": (
        "Transfer held for Travel Rule information",
        "A transfer{% if d.amount is defined %} of {{ d.amount }} {{ d.asset | default('') }}{% endif %} is held"
        " until the originator and beneficiary information the Travel Rule requires is complete"
        "{% if d.deadline is defined %} (by {{ d.deadline }}, or it is returned){% endif %}.",
    ),
    "travel_rule_released": (
        "Transfer released",
        "A transfer{% if d.amount is defined %} of {{ d.amount }} {{ d.asset | default('') }}{% endif %} passed"
        " the Travel Rule check and is released.",
    ),
    "travel_rule_returned": (
        "Transfer returned",
        "A transfer{% if d.amount is defined %} of {{ d.amount }} {{ d.asset | default('') }}{% endif %} was"
        " returned to its sender: the information the Travel Rule requires did not arrive in time.",
    ),
    "due_diligence_request": (
        "Information requested about a transfer",
        "We need more information about a transfer"
        "{% if d.reference is defined %} ({{ d.reference }}){% endif %}. Please answer in your account's"
        " message centre{% if d.due_at is defined %} by {{ d.due_at }}{% endif %}; we never ask for it by phone or"
        " social media.",
    ),
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str


def _title(kind: str) -> str:
    return kind.replace("_", " ").strip().capitalize() or "Security notice"


def _generic(kind: str, data: dict[str, str]) -> tuple[str, str]:
    lines = [f"{k}: {v}" for k, v in sorted(data.items())]
    return _title(kind), "A security event on your account:\n" + ("\n".join(lines) if lines else _title(kind))


def compose(kind: str, data: dict[str, str]) -> tuple[str, str]:
    """(subject, text) of an alert: its own template, the anti_phishing.py one, or the generic one."""
    if kind in TEMPLATES:
        subject, body = TEMPLATES[kind]
        try:
            return subject, _env.from_string(body).render(d=data)
        except TemplateError:
            pass  # a field the template needs is missing: fall through to the generic form
    if kind in anti_phishing.TEMPLATES:
        subject, body = anti_phishing.TEMPLATES[kind]
        try:
            return subject, body.format(**data)
        except (KeyError, IndexError, ValueError):
            pass
    return _generic(kind, data)


def scam_warning(verify_url: str) -> str:
    return (
        "Stay safe: we never ask for your password, 2FA codes or seed phrase, and never ask you to move funds to"
        " a 'safe' address. Before trusting a website, email sender, phone number or social account that"
        f" claims to be us, check it: {verify_url}?value=<the address, number or handle>"
    )


def render(session: Session, key: bytes, *, user_id: str, kind: str, data: dict[str, str], verify_url: str) -> Alert:
    """The alert as the user reads it: anti-phishing code (unsealed now), text, scam warning."""
    subject, text = compose(kind, data)
    # A code that cannot be unsealed (wrong key) raises: better a retried alert than one without its code.
    code = anti_phishing.get_code(session, key, user_id)
    header = (
        f"Anti-phishing code: {code}"
        if code
        else "Tip: set an anti-phishing code so you can tell our messages from fakes."
    )
    # A subject is a mail header: a newline from an event's data must not start a header of its own.
    clean_subject = _CONTROL.sub(" ", f"[Bastion] {subject}")
    return Alert(subject=clean_subject, body=f"{header}\n\n{text}\n\n--\n{scam_warning(verify_url)}\n")
