"""A seeded month of exchange traffic for the risk engine, with labelled attacks among normal users.

Normal users log in from their usual device and network, sometimes from a new phone, while travelling, or
after changing their password; they withdraw to addresses in their book, sometimes to new ones, sometimes
all of their balance. Two kinds of attack are mixed in, each labelled:
- account takeover: a login from a new device on a new network (often abroad), then usually a credential
  change, a new address, and withdrawals draining the balance;
- phishing-approved withdrawals: the user, on their own device, sends most of their balance to a scam
  address shared by a campaign (some of these addresses are on the known-phishing list).

Event bodies are exactly what the service's event routes take; `label` is ground truth the service never
sees. Everything derives from `seed`, so a month is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bastion.risk.ingest import COUNTRY_CENTROIDS

if TYPE_CHECKING:
    from bastion.sim.credentials import SimCredentials

Kind = Literal["login", "credential_change", "address_book", "withdrawal"]
ROUTES: dict[str, str] = {
    "login": "/v1/events/logins",
    "credential_change": "/v1/events/credential-changes",
    "address_book": "/v1/events/address-book",
    "withdrawal": "/v1/withdrawals/evaluate",
}
HOME_COUNTRIES = [
    "DE",
    "FR",
    "GB",
    "ES",
    "IT",
    "NL",
    "PL",
    "TR",
    "AE",
    "IN",
    "SG",
    "JP",
    "KR",
    "VN",
    "TH",
    "ID",
    "PH",
    "BR",
    "AR",
    "US",
    "CA",
    "AU",
    "ZA",
    "NG",
]
ATTACKER_COUNTRIES = ["RU", "UA", "NG", "VN", "SC", "HK", "BR"]


@dataclass
class SimEvent:
    kind: Kind
    at: datetime
    body: dict[str, Any]
    # Withdrawals only: "legit", "ato" or "phishing". `attack_id` groups one attack's withdrawals.
    label: str | None = None
    attack_id: str | None = None

    @property
    def route(self) -> str:
        return ROUTES[self.kind]


@dataclass
class Traffic:
    start: datetime
    end: datetime
    events: list[SimEvent]
    phishing_list: list[str]
    bad_ips: list[str]
    attacks: dict[str, str] = field(default_factory=dict)  # attack_id -> kind

    def withdrawals(self) -> list[SimEvent]:
        return [e for e in self.events if e.kind == "withdrawal"]


@dataclass
class _User:
    uid: str
    country: str
    asn: int
    ip: str
    device: str
    balance: float
    book: list[str]
    last_login: datetime | None = None
    devices: list[str] = field(default_factory=list)


class _Gen:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.events: list[SimEvent] = []
        self.n = 0

    def eid(self, p: str) -> str:
        self.n += 1
        return f"{p}-{self.n}"

    def ip(self, first: int) -> str:
        r = self.rng
        return f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def address(self) -> str:
        return "T" + "".join(
            self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789") for _ in range(33)
        )

    def login(
        self,
        u: _User,
        at: datetime,
        device: str | None = None,
        asn: int | None = None,
        country: str | None = None,
        ip: str | None = None,
        success: bool = True,
    ) -> None:
        c = country or u.country
        lat, lon = COUNTRY_CENTROIDS[c]
        self.events.append(
            SimEvent(
                "login",
                at,
                {
                    "event_id": self.eid("login"),
                    "user_id": u.uid,
                    "at": at.isoformat(),
                    "ip": ip or u.ip,
                    "device_fingerprint": device or u.device,
                    "country": c,
                    "asn": asn or u.asn,
                    "latitude": round(lat + self.rng.uniform(-1, 1), 3),
                    "longitude": round(lon + self.rng.uniform(-1, 1), 3),
                    "success": success,
                    "user_agent": "Mozilla/5.0",
                },
            )
        )
        if success:
            u.last_login = at

    def cred(self, u: _User, at: datetime, kind: str) -> None:
        self.events.append(
            SimEvent(
                "credential_change",
                at,
                {"event_id": self.eid("cred"), "user_id": u.uid, "at": at.isoformat(), "kind": kind},
            )
        )

    def add_address(self, u: _User, at: datetime, address: str) -> None:
        self.events.append(
            SimEvent(
                "address_book",
                at,
                {
                    "event_id": self.eid("ab"),
                    "user_id": u.uid,
                    "at": at.isoformat(),
                    "action": "add",
                    "address": address,
                    "chain": "TRC20",
                },
            )
        )

    def withdraw(
        self,
        u: _User,
        at: datetime,
        address: str,
        usd: float,
        label: str,
        device: str | None = None,
        ip: str | None = None,
        attack_id: str | None = None,
    ) -> None:
        usd = round(max(usd, 5.0), 2)
        balance = u.balance
        self.events.append(
            SimEvent(
                "withdrawal",
                at,
                {
                    "event_id": self.eid("wd"),
                    "user_id": u.uid,
                    "at": at.isoformat(),
                    "asset": "USDT",
                    "amount": f"{usd:.2f}",
                    "amount_usd": f"{usd:.2f}",
                    "address": address,
                    "chain": "TRC20",
                    "balance_usd": f"{balance:.2f}",
                    "ip": ip or u.ip,
                    "device_fingerprint": device or u.device,
                },
                label=label,
                attack_id=attack_id,
            )
        )
        u.balance = max(balance - usd, 0.0)


def month(
    seed: int = 7,
    users: int = 1000,
    start: datetime | None = None,
    days: int = 30,
    ato_rate: float = 0.02,
    phishing_rate: float = 0.02,
) -> Traffic:
    """A month of traffic for `users` users; about ato_rate / phishing_rate of them are attacked."""
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=days)
    g = _Gen(seed, start)
    r = g.rng
    people = _people(g, users, start)

    # Attacker infrastructure: scam campaigns share addresses; part of them are already known.
    campaigns = [g.address() for _ in range(max(2, users // 150))]
    known_campaigns = campaigns[: len(campaigns) // 2]
    attacker_ips = [g.ip(r.choice([5, 31, 45, 91, 185])) for _ in range(40)]
    bad_ips = attacker_ips[:12]
    attacks: dict[str, str] = {}
    victims = r.sample(people, int(users * (ato_rate + phishing_rate)))
    n_ato = int(users * ato_rate)

    for u in people:
        _normal_life(g, u, start, days)

    for k, u in enumerate(victims):
        attack_id = f"attack-{k}"
        t = start + timedelta(days=r.uniform(1, days - 2))
        u.balance = max(u.balance, r.uniform(300, 20000))
        if k < n_ato:
            attacks[attack_id] = "ato"
            _takeover(g, u, t, f"dev-atk-{k}", attacker_ips, attack_id)
        else:
            attacks[attack_id] = "phishing"
            drop = r.choice(campaigns)
            at = t + timedelta(minutes=r.randint(1, 60))
            g.login(u, t)
            if r.random() < 0.5:
                g.add_address(u, at - timedelta(minutes=r.randint(1, 15)), drop)
            g.withdraw(u, at, drop, u.balance * r.uniform(0.5, 1.0), "phishing", attack_id=attack_id)

    g.events.sort(key=lambda e: e.at)
    return Traffic(
        start=start, end=end, events=g.events, phishing_list=known_campaigns, bad_ips=bad_ips, attacks=attacks
    )


def _people(g: _Gen, users: int, start: datetime) -> list[_User]:
    """The users, each with a history before the month: an old device, network and address book."""
    r = g.rng
    people: list[_User] = []
    for i in range(users):
        country = r.choice(HOME_COUNTRIES)
        u = _User(
            uid=f"user-{i:05d}",
            country=country,
            asn=r.randrange(1000, 60000),
            ip=g.ip(r.randrange(11, 190)),
            device=f"dev-{i}-{r.getrandbits(32):08x}",
            balance=round(r.lognormvariate(7.5, 1.4), 2),
            book=[g.address() for _ in range(r.randint(1, 3))],
        )
        u.devices.append(u.device)
        people.append(u)
        # History before the month: an old device, network and address book.
        first = start - timedelta(days=r.randint(20, 400))
        g.login(u, first)
        for a in u.book:
            g.add_address(u, first + timedelta(hours=r.randint(1, 400)), a)
        g.login(u, start - timedelta(hours=r.randint(1, 240)))
    return people


def _normal_life(g: _Gen, u: _User, start: datetime, days: int) -> None:
    """A user's month, day by day: logins (a trip, a new phone, a mistyped password now and then), a password
    change, withdrawals to known and new addresses, deposits."""
    r = g.rng
    travel_day = r.randrange(days) if r.random() < 0.03 else None
    new_phone_day = r.randrange(days) if r.random() < 0.04 else None
    password_day = r.randrange(days) if r.random() < 0.02 else None
    for day in range(days):
        base = start + timedelta(days=day, hours=r.uniform(7, 22))
        country, asn, ip = u.country, u.asn, u.ip
        if travel_day is not None and travel_day <= day < travel_day + 5:
            # A trip: first login abroad at least a flight after the last one at home.
            country, asn, ip = "US" if u.country != "US" else "JP", 7922, g.ip(73)
            if day == travel_day and u.last_login is not None:
                base = max(base, u.last_login + timedelta(hours=14))
        if new_phone_day is not None and day == new_phone_day:
            u.device = f"dev-{u.uid}-new"
            u.devices.append(u.device)
        if r.random() < 0.02:  # a mistyped password now and then
            g.login(u, base - timedelta(minutes=2), success=False, country=country, asn=asn, ip=ip)
        if r.random() < 0.7:
            g.login(u, base, country=country, asn=asn, ip=ip)
        if password_day == day:
            g.cred(u, base + timedelta(minutes=3), r.choice(["password", "email", "phone"]))
        if r.random() < 0.12 and u.balance > 20:
            at = base + timedelta(minutes=r.randint(5, 120))
            if r.random() < 0.85 or not u.book:
                addr = r.choice(u.book)
            else:
                addr = g.address()
                # Most people add an address some time before using it; some paste it and send at once.
                added = at - (
                    timedelta(minutes=r.randint(1, 10)) if r.random() < 0.4 else timedelta(days=r.randint(1, 5))
                )
                g.add_address(u, max(added, start), addr)
                u.book.append(addr)
            share = 1.0 if r.random() < 0.04 else min(r.betavariate(1.2, 6), 0.95)
            g.withdraw(u, at, addr, u.balance * share, "legit", ip=ip)
        u.balance += r.expovariate(1 / 40)  # deposits, trading gains


def _takeover(g: _Gen, u: _User, t: datetime, dev: str, attacker_ips: list[str], attack_id: str) -> None:
    """An account takeover: a failed then a successful login from the attacker's device, often a credential
    change and a new address, then one to three withdrawals emptying the account."""
    r = g.rng
    country = u.country if r.random() < 0.25 else r.choice(ATTACKER_COUNTRIES)  # VPN to the victim's country
    ip = r.choice(attacker_ips)
    g.login(
        u,
        t - timedelta(minutes=r.randint(1, 5)),
        success=False,
        device=dev,
        asn=r.randrange(60001, 65000),
        country=country,
        ip=ip,
    )
    g.login(u, t, device=dev, asn=r.randrange(60001, 65000), country=country, ip=ip)
    t2 = t + timedelta(minutes=r.randint(2, 30))
    if r.random() < 0.75:
        g.cred(u, t2, r.choice(["password", "email", "totp", "phone"]))
    drop = g.address()
    if r.random() < 0.8:
        g.add_address(u, t2 + timedelta(minutes=1), drop)
    left = u.balance
    for j in range(r.choice([1, 1, 2, 3])):
        at = t2 + timedelta(minutes=3 + 7 * j)
        g.withdraw(u, at, drop, left * r.uniform(0.6, 1.0), "ato", device=dev, ip=ip, attack_id=attack_id)
        left = u.balance


@dataclass
class ReplayReport:
    """What the service decided on a replayed month, scored against the labels."""

    attacks: int
    attacks_caught: int  # at least one of the attack's withdrawals held or blocked
    attack_withdrawals: int
    attack_withdrawals_stopped: int
    legit_withdrawals: int
    legit_held: int  # held or blocked
    decisions: dict[str, int]
    value_preserved_usd: float  # ground truth: attack withdrawals held-then-rejected or blocked
    users_protected: int
    seconds: float
    # As the service counts them (blocked or held-then-rejected, whatever the label): the metrics must agree.
    intercepted: int = 0
    intercepted_value_usd: float = 0.0
    intercepted_users: int = 0
    held_then_approved: int = 0

    @property
    def catch_rate(self) -> float:
        return self.attacks_caught / self.attacks if self.attacks else 1.0

    @property
    def withdrawal_catch_rate(self) -> float:
        return self.attack_withdrawals_stopped / self.attack_withdrawals if self.attack_withdrawals else 1.0

    @property
    def legit_hold_rate(self) -> float:
        return self.legit_held / self.legit_withdrawals if self.legit_withdrawals else 0.0


def replay(
    traffic: Traffic,
    client: Any,
    analyst_delay: timedelta = timedelta(minutes=20),
    progress: Any = None,
    batch: int = 500,
    creds: SimCredentials | None = None,
) -> ReplayReport:
    """Send every event to the service in time order (`client`: an httpx.Client on its base URL). The
    known-bad lists are loaded first; an analyst reviews each held withdrawal with the ground truth.
    `creds`: the login/wallet services' and the analysts' credentials (None: the client's own headers)."""
    import time

    svc = creds.service if creds is not None else {}
    op = creds.operator if creds is not None else {}

    t0 = time.perf_counter()
    for kind, values in (("phishing_address", traffic.phishing_list), ("bad_ip", traffic.bad_ips)):
        r = client.post(f"/v1/risk/lists/{kind}", json=[{"value": v, "source": "sim"} for v in values], headers=op)
        r.raise_for_status()
    tally = _Tally()
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        # Events between two withdrawals go in one batch: same order, far fewer round trips.
        for k in range(0, len(pending), batch):
            rb = client.post("/v1/events/batch", json=pending[k : k + batch], headers=svc)
            if rb.status_code != 200:
                raise RuntimeError(f"batch: {rb.status_code} {rb.text}")
        pending.clear()

    for i, ev in enumerate(traffic.events):
        if progress is not None and i % 1000 == 0:
            progress(i, len(traffic.events))
        if ev.kind != "withdrawal":
            if batch > 1:
                pending.append({**ev.body, "type": ev.kind})
                continue
            r = client.post(ev.route, json=ev.body, headers=svc)
            if r.status_code != 200:
                raise RuntimeError(f"{ev.route} {ev.body['event_id']}: {r.status_code} {r.text}")
            continue
        flush()
        r = client.post(ev.route, json=ev.body, headers=svc)
        if r.status_code != 200:
            raise RuntimeError(f"{ev.route} {ev.body['event_id']}: {r.status_code} {r.text}")
        d = r.json()
        is_attack = ev.label != "legit"
        stopped = d["decision"] == "block"
        if d["decision"] == "review":
            # The analyst decides with the ground truth: an attack is rejected (stopped), the rest approved.
            at = datetime.fromisoformat(ev.body["at"]) + analyst_delay
            body = {"action": "reject" if is_attack else "approve", "analyst": "sim-analyst", "at": at.isoformat()}
            client.post(f"/v1/risk/reviews/{d['decision_id']}", json=body, headers=op).raise_for_status()
            stopped = is_attack
        tally.count(ev, d["decision"], stopped)
    flush()
    return tally.report(len(traffic.attacks), time.perf_counter() - t0)


@dataclass
class _Tally:
    """The replayed withdrawals' decisions, counted against their labels as the replay goes."""

    decisions: dict[str, int] = field(default_factory=dict)
    caught: set[str] = field(default_factory=set)
    stopped_users: set[str] = field(default_factory=set)
    att_w: int = 0
    att_stopped: int = 0
    legit: int = 0
    legit_held: int = 0
    preserved: float = 0.0
    icpt: int = 0
    approved: int = 0
    icpt_value: float = 0.0
    icpt_users: set[str] = field(default_factory=set)

    def count(self, ev: SimEvent, decision: str, stopped: bool) -> None:
        """One withdrawal's decision; `stopped`: blocked, or held and then rejected by the analyst."""
        self.decisions[decision] = self.decisions.get(decision, 0) + 1
        is_attack = ev.label != "legit"
        self.approved += decision == "review" and not is_attack
        if stopped:
            self.icpt += 1
            self.icpt_value += float(ev.body["amount_usd"])
            self.icpt_users.add(ev.body["user_id"])
        if is_attack:
            self.att_w += 1
            if decision != "allow":
                self.att_stopped += 1
                assert ev.attack_id is not None
                self.caught.add(ev.attack_id)
            if stopped:
                self.preserved += float(ev.body["amount_usd"])
                self.stopped_users.add(ev.body["user_id"])
        else:
            self.legit += 1
            self.legit_held += decision != "allow"

    def report(self, attacks: int, seconds: float) -> ReplayReport:
        return ReplayReport(
            attacks=attacks,
            attacks_caught=len(self.caught),
            attack_withdrawals=self.att_w,
            attack_withdrawals_stopped=self.att_stopped,
            legit_withdrawals=self.legit,
            legit_held=self.legit_held,
            decisions=self.decisions,
            value_preserved_usd=round(self.preserved, 2),
            users_protected=len(self.stopped_users),
            seconds=seconds,
            intercepted=self.icpt,
            intercepted_value_usd=round(self.icpt_value, 2),
            intercepted_users=len(self.icpt_users),
            held_then_approved=self.approved,
        )
