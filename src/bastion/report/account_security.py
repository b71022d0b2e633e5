"""The report's section on the account security center: freezes, devices removed, alerts sent by kind, and
adoption of the security checklist.

`gather` reads the month from the domains' own rows (the account trail `account_audit`, the alert outbox
`notify_outbox`, and the checklist as `account.checklist` computes it for each user); `to_json` gives the
figures to report.json; `render` lays the section out as one HTML fragment (Jinja2, autoescaped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from bastion.account import checklist as account_checklist
from bastion.account.models import AccountAudit, AccountDevice
from bastion.notify.models import OutboxRow

# Checklist items counted for adoption. "No unrecognised devices" is judged against the device the user is
# looking from (their session), which a monthly report has not: it is left out rather than counted wrongly.
ADOPTION_ITEMS: tuple[str, ...] = (
    "two_factor",
    "passkey",
    "anti_phishing_code",
    "allowlist_only",
    "api_keys_ip_bound",
    "recovery_options",
)


@dataclass
class AccountSecurityMonth:
    start: datetime
    end: datetime
    freezes: int = 0  # accounts frozen (a freeze of an already frozen account is not counted again)
    freezes_by_source: dict[str, int] = field(default_factory=dict)  # user / operator / service
    unfreezes: int = 0
    new_device_logins: int = 0
    devices_removed: int = 0
    alerts_by_kind: dict[str, int] = field(default_factory=dict)  # created this month (one per causing event)
    alerts_sent_by_kind: dict[str, int] = field(default_factory=dict)  # of those, delivered on some channel
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> rows
    users: int = 0  # users with a device seen by the month's end: the adoption base
    adoption: dict[str, int] = field(default_factory=dict)  # item -> users who have it done

    @property
    def alerts(self) -> int:
        return sum(self.alerts_by_kind.values())

    @property
    def alerts_sent(self) -> int:
        return sum(self.alerts_sent_by_kind.values())

    @property
    def empty(self) -> bool:
        return not (self.freezes or self.devices_removed or self.alerts or self.users)


def gather(session: Session, start: datetime, end: datetime) -> AccountSecurityMonth:
    m = AccountSecurityMonth(start=start, end=end)
    in_month = (AccountAudit.at >= start, AccountAudit.at < end)
    for actor, detail in session.execute(
        select(AccountAudit.actor, AccountAudit.detail).where(AccountAudit.action == "freeze", *in_month)
    ):
        if (detail or {}).get("already_frozen"):
            continue
        source = actor.split(":", 1)[0]
        m.freezes += 1
        m.freezes_by_source[source] = m.freezes_by_source.get(source, 0) + 1
    m.freezes_by_source = dict(sorted(m.freezes_by_source.items()))

    def count(action: str) -> int:
        return int(
            session.scalar(
                select(func.count()).select_from(AccountAudit).where(AccountAudit.action == action, *in_month)
            )
            or 0
        )

    m.unfreezes = count("unfrozen")
    m.devices_removed = count("device_removed")
    m.new_device_logins = sum(
        1
        for (detail,) in session.execute(select(AccountAudit.detail).where(AccountAudit.action == "login", *in_month))
        if (detail or {}).get("new_device")
    )

    created = (OutboxRow.created_at >= start, OutboxRow.created_at < end)
    m.alerts_by_kind = {
        k: int(n)
        for k, n in session.execute(
            select(OutboxRow.kind, func.count(distinct(OutboxRow.dedupe_key)))
            .where(*created)
            .group_by(OutboxRow.kind)
            .order_by(OutboxRow.kind)
        )
    }
    m.alerts_sent_by_kind = {
        k: int(n)
        for k, n in session.execute(
            select(OutboxRow.kind, func.count(distinct(OutboxRow.dedupe_key)))
            .where(*created, OutboxRow.status == "delivered")
            .group_by(OutboxRow.kind)
            .order_by(OutboxRow.kind)
        )
    }
    for channel, status, n in session.execute(
        select(OutboxRow.channel, OutboxRow.status, func.count())
        .where(*created)
        .group_by(OutboxRow.channel, OutboxRow.status)
    ):
        m.deliveries.setdefault(channel, {})[status] = int(n)
    m.deliveries = {c: dict(sorted(v.items())) for c, v in sorted(m.deliveries.items())}

    users = session.scalars(
        select(AccountDevice.user_id)
        .where(AccountDevice.first_seen_at < end)
        .distinct()
        .order_by(AccountDevice.user_id)
    ).all()
    m.users = len(users)
    m.adoption = dict.fromkeys(ADOPTION_ITEMS, 0)
    for uid in users:
        items = {i.id: i.done for i in account_checklist.checklist(session, uid, None, end).items}
        for item in ADOPTION_ITEMS:
            m.adoption[item] += bool(items.get(item))
    return m


def to_json(m: AccountSecurityMonth) -> dict[str, Any]:
    return {
        "account_security": {
            "freezes": m.freezes,
            "freezes_by_source": m.freezes_by_source,
            "unfreezes": m.unfreezes,
            "new_device_logins": m.new_device_logins,
            "devices_removed": m.devices_removed,
            "alerts": m.alerts,
            "alerts_by_kind": m.alerts_by_kind,
            "alerts_sent": m.alerts_sent,
            "alerts_sent_by_kind": m.alerts_sent_by_kind,
            "alert_deliveries": m.deliveries,
            "checklist_users": m.users,
            "checklist_adoption": m.adoption,
        }
    }


_env: Any = None


def _environment() -> Any:
    global _env
    if _env is None:
        from bastion.report.templating import new_environment

        _env = new_environment({"pct": lambda part, whole: f"{100 * part / whole:.0f}%" if whole else "n/a"})
    return _env


def render(m: AccountSecurityMonth) -> str:
    titles = {k: v[0] for k, v in account_checklist.WHY.items()}
    return str(_environment().get_template("account_security_section.html.j2").render(m=m, titles=titles))
