"""The account security center's month: users who set up their checklist, log in from new devices, remove
devices, and account takeovers stopped by the user freezing the account; then the alert outbox delivered to a
real local SMTP server and a real webhook receiver (the exchange's notification service), counted there.

`plan` draws the month from a seed; `send` drives it through the running service over HTTP (as the login
service, the account service, the wallet service and the users themselves) at simulated times, then runs the
dispatcher at the month's end and returns what the receivers got. The report's account-security section is
checked against this ground truth.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

ADOPTION = {"anti_phishing_code": 0.6, "two_factor": 0.4, "allowlist_only": 0.25, "recovery_options": 0.8}
WEBHOOK_SECRET = b"sim-notification-service-secret"
AGENTS = {"laptop": "Firefox 140 on Linux", "phone": "Safari on iPhone", "thief": "Chrome 141 on Windows"}


def _email(uid: str) -> str:
    return f"{uid.replace(':', '-')}@users.example"


@dataclass
class AccountTruth:
    users: int = 0
    logins: int = 0
    new_device_logins: int = 0
    devices_removed: int = 0
    takeovers: int = 0
    takeovers_stopped_by_freeze: int = 0  # the thief's session worked before the user's freeze, refused after
    freezes: int = 0
    freezes_by_source: dict[str, int] = field(default_factory=dict)
    adoption: dict[str, int] = field(default_factory=dict)  # checklist item -> users who did it
    # Alerts the month's own actions raise: new devices, device removals, freezes.
    alerts_planned_by_kind: dict[str, int] = field(default_factory=dict)
    # What the receivers got, deduplicated by Message-ID / alert id (every alert of this database).
    alerts_received_by_kind: dict[str, int] = field(default_factory=dict)
    emails_received: int = 0
    emails_with_anti_phishing_code: int = 0  # of the emails to users who set a code, those carrying it
    emails_to_users_with_code: int = 0
    duplicate_deliveries: int = 0


@dataclass
class _User:
    uid: str
    contact: bool
    code: str | None
    totp: bool
    allowlist_only: bool
    phone_at: datetime | None  # a second device
    remove_phone_at: datetime | None
    takeover_at: datetime | None
    freeze_after: timedelta = timedelta(minutes=20)
    setup_at: datetime = datetime.min


def plan(seed: int, users: int, start: datetime, days: int, prefix: str) -> list[_User]:
    rng = random.Random(seed)
    out = []
    day = timedelta(days=1)
    for i in range(users):
        setup = start + rng.uniform(0, 4) * day
        phone = setup + rng.uniform(1, 8) * day if rng.random() < 0.5 else None
        remove = phone + rng.uniform(1, 3) * day if phone is not None and rng.random() < 0.5 else None
        takeover = start + rng.uniform(15, days - 2) * day if rng.random() < 0.15 else None
        out.append(
            _User(
                uid=f"{prefix}acct-{i:04d}",
                contact=rng.random() < ADOPTION["recovery_options"],
                code=f"Code{rng.randrange(10**6):06d}" if rng.random() < ADOPTION["anti_phishing_code"] else None,
                totp=rng.random() < ADOPTION["two_factor"],
                allowlist_only=rng.random() < ADOPTION["allowlist_only"],
                phone_at=phone,
                remove_phone_at=remove,
                takeover_at=takeover,
                freeze_after=timedelta(minutes=rng.uniform(5, 120)),
                setup_at=setup,
            )
        )
    return out


# ------------------------------------------------------------------------------------------ the receivers
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Receivers:
    """A local SMTP server (aiosmtpd) and a webhook receiver (stdlib HTTP server) that verifies signatures."""

    def __init__(self, clock: Callable[[], float]) -> None:
        from aiosmtpd.controller import Controller

        from bastion.notify.webhook import WebhookRejected, WebhookVerifier

        self.emails: dict[str, Any] = {}  # Message-ID -> message
        self.email_copies = 0
        self.alerts: dict[str, dict[str, Any]] = {}  # alert id -> body
        self.alert_copies = 0
        self.rejected: list[str] = []
        self.lock = threading.Lock()
        verifier = WebhookVerifier(WEBHOOK_SECRET, window_seconds=300)
        recv = self

        class SmtpHandler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = message_from_bytes(envelope.content, policy=default_policy)
                with recv.lock:
                    recv.email_copies += 1
                    recv.emails.setdefault(str(msg["Message-ID"]), msg)
                return "250 OK"

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    got = verifier.accept(body, dict(self.headers.items()), clock())
                except WebhookRejected as exc:
                    recv.rejected.append(exc.reason)
                    self.send_response(401)
                    self.end_headers()
                    return
                with recv.lock:
                    recv.alert_copies += 1
                    if not got.duplicate:
                        recv.alerts[got.alert["id"]] = got.alert
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.smtp_port = _free_port()
        self.smtp = Controller(SmtpHandler(), hostname="127.0.0.1", port=self.smtp_port)
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.webhook_url = f"http://127.0.0.1:{self.http.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> _Receivers:
        self.smtp.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.smtp.stop()
        self.http.shutdown()
        self.http.server_close()


# --------------------------------------------------------------------------------------------- the month
def send(
    sessions_: sessionmaker[Session],
    secret_key: bytes,
    client: Any,
    users: list[_User],
    set_time: Callable[[datetime], None],
    end: datetime,
    creds: Any,
    truth: AccountTruth,
    progress: Callable[[int, int], None] = lambda _i, _n: None,
) -> None:
    from bastion.access import sessions

    actions = _actions(users)
    planned: Counter[str] = Counter()
    key = sessions.dev_key(creds.data_dir)
    phones: dict[str, str] = {}

    def login(u: _User, at: datetime, device: str, ip: str, country: str) -> dict[str, Any]:
        set_time(at)
        body = {
            "user_id": u.uid, "sid": f"{u.uid}-{device}-{int(at.timestamp())}", "user_agent": AGENTS[device],
            "device_fingerprint": f"{u.uid}-{device}", "ip": ip, "country": country, "at": at.isoformat(),
        }  # fmt: skip
        out: dict[str, Any] = _ok(client.post("/v1/account/logins", json=body), f"login {u.uid}")
        truth.logins += 1
        if out["new_device"]:
            truth.new_device_logins += 1
            planned["new_device"] += 1
        return out

    for n, (at, _, kind, u) in enumerate(actions):
        if n % 25 == 0:
            progress(n, len(actions))
        me = creds.user(u.uid)
        if kind == "setup":
            login(u, at, "laptop", "198.51.100.7", "DE")
            _set_up(client, u, at, me, planned)
        elif kind == "phone":
            phones[u.uid] = login(u, at, "phone", "198.51.100.8", "DE")["device_id"]
        elif kind == "remove_phone":
            set_time(at)
            out = _ok(client.delete(f"/v1/account/devices/{phones[u.uid]}", headers=me), "remove device")
            truth.devices_removed += len(out["removed_devices"])
            planned["device_removed"] += len(out["removed_devices"])
        else:  # a takeover: the thief logs in from their device; the user sees the alert and freezes
            truth.takeovers += 1
            thief_sid = login(u, at, "thief", "203.0.113.66", "BR")["sid"]

            def thief_get(uid: str = u.uid, sid: str = thief_sid) -> Any:
                token = sessions.issue(key, uid, sid=sid, ttl=timedelta(minutes=10), now=datetime.now(UTC))
                return client.get("/v1/account/devices", headers={"Authorization": f"Bearer {token}"})

            before = thief_get().status_code
            frozen_at = at + u.freeze_after
            set_time(frozen_at)
            out = _ok(
                client.post("/v1/account/freeze", json={"confirm": True, "reason": "not me"}, headers=me), "freeze"
            )
            if not out.get("already_frozen", False):
                truth.freezes += 1
                truth.freezes_by_source["user"] = truth.freezes_by_source.get("user", 0) + 1
                planned["account_frozen"] += 1
            # The thief's session works until the freeze, and is refused from then on (as is every other).
            truth.takeovers_stopped_by_freeze += before == 200 and thief_get().status_code == 401
    progress(len(actions), len(actions))
    truth.users = len(users)
    truth.adoption = _adoption(users)
    truth.alerts_planned_by_kind = dict(sorted(planned.items()))
    _deliver_alerts(sessions_, secret_key, users, end, truth)
    json.dumps(truth.__dict__)  # plain data only: it goes to ground-truth.json


def _actions(users: list[_User]) -> list[tuple[datetime, int, str, _User]]:
    """Every user's planned actions in time order (setup, phone, phone removed, takeover at equal times)."""
    actions: list[tuple[datetime, int, str, _User]] = []
    for u in users:
        actions.append((u.setup_at, 0, "setup", u))
        if u.phone_at is not None:
            actions.append((u.phone_at, 1, "phone", u))
        if u.remove_phone_at is not None:
            actions.append((u.remove_phone_at, 2, "remove_phone", u))
        if u.takeover_at is not None:
            actions.append((u.takeover_at, 3, "takeover", u))
    actions.sort(key=lambda a: (a[0], a[1], a[3].uid))
    return actions


def _ok(r: Any, what: str) -> Any:
    if r.status_code >= 300:
        raise RuntimeError(f"account sim, {what}: HTTP {r.status_code} {r.text[:200]}")
    return r.json()


def _set_up(client: Any, u: _User, at: datetime, me: dict[str, str], planned: Counter[str]) -> None:
    """A user's protections after their first login: contact, anti-phishing code, TOTP, allowlist-only mode."""
    import pyotp

    if u.contact:
        _ok(client.put(f"/v1/notify/contacts/{u.uid}", json={"email": _email(u.uid)}), "contact")
    if u.code:
        _ok(client.put(f"/v1/users/{u.uid}/anti-phishing-code", json={"code": u.code}, headers=me), "code")
    if u.totp:
        e = _ok(client.post(f"/v1/users/{u.uid}/totp/enroll", json={"account_name": u.uid}, headers=me), "totp")
        code = pyotp.TOTP(e["secret"]).at(at)
        r = _ok(client.post(f"/v1/users/{u.uid}/totp/confirm", json={"code": code}, headers=me), "confirm")
        if not r["ok"]:
            raise RuntimeError(f"account sim: TOTP confirm refused for {u.uid}: {r}")
    if u.allowlist_only:
        _ok(client.post("/v1/account/allowlist/mode", json={"allowlist_only": True}, headers=me), "allowlist")
        planned["allowlist_mode_on"] += 1


def _adoption(users: list[_User]) -> dict[str, int]:
    return {
        "anti_phishing_code": sum(1 for u in users if u.code),
        "two_factor": sum(1 for u in users if u.totp),
        "allowlist_only": sum(1 for u in users if u.allowlist_only),
        "recovery_options": sum(1 for u in users if u.contact),
        "passkey": 0,  # the simulated users register none (passkeys are exercised in the protection tests)
    }


def _deliver_alerts(
    sessions_: sessionmaker[Session], secret_key: bytes, users: list[_User], end: datetime, truth: AccountTruth
) -> None:
    """The month's end: the dispatcher delivers everything that is due to the local receivers; what arrived
    goes into the ground truth."""
    from bastion.notify.dispatch import Dispatcher, DispatchPolicy, EmailChannel, WebhookChannel

    now = [end]
    with _Receivers(lambda: now[0].timestamp()) as recv:
        dispatcher = Dispatcher(
            sessions_,
            secret_key,
            email=EmailChannel(f"smtp://127.0.0.1:{recv.smtp_port}", "Bastion <alerts@bastion.example>", 30),
            webhook=WebhookChannel(recv.webhook_url, WEBHOOK_SECRET, 30),
            verify_url="https://bastion.example/v1/public/verify",
            policy=DispatchPolicy(batch_size=200),
            clock=lambda: now[0],
        )
        with dispatcher:
            report = dispatcher.run_until_idle(max_batches=10_000)
        if report.retried or report.failed or recv.rejected:
            raise RuntimeError(f"account sim: alerts not delivered: {report.errors[:3]} {recv.rejected[:3]}")
        codes = {u.uid: u.code for u in users if u.code}
        by_kind: Counter[str] = Counter(a["kind"] for a in recv.alerts.values())
        truth.alerts_received_by_kind = dict(sorted(by_kind.items()))
        truth.emails_received = len(recv.emails)
        truth.duplicate_deliveries = (recv.email_copies - len(recv.emails)) + (recv.alert_copies - len(recv.alerts))
        to_user = {_email(uid): c for uid, c in codes.items()}
        mails = [m for m in recv.emails.values() if str(m["To"]) in to_user]
        truth.emails_to_users_with_code = len(mails)
        truth.emails_with_anti_phishing_code = sum(
            1 for m in mails if f"Anti-phishing code: {to_user[str(m['To'])]}" in str(m.get_content())
        )
