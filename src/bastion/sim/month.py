"""One simulated exchange month driven through the real running service, with its ground truth.

`simulate_month(out_dir, "2026-10", users=400, seed=7)` starts the service in-process (uvicorn in a thread, on
`db_url` or an embedded SQLite file under `out_dir`) and sends it, at the month's simulated times:
- withdrawal-risk traffic (`sim.risk_traffic`: logins, credential and address-book changes, withdrawals with
  labelled account takeovers and phishing), replayed by `risk_traffic.replay` over HTTP, whose analyst reviews
  held withdrawals by the labels;
- API keys over the keys routes: keys created (some bound to IPs, a few withdraw keys), third-party apps and
  their Fast API keys, signed OKX-v5 requests from the clients' addresses (with stale clocks, wrong
  passphrases, forged signatures and stolen keys among them), keys bound to an IP later, keys deleted by their
  users, and the idle-key sweeper run daily. The service's clock follows the simulated time;
- liquidations and ADL over the funds routes (`sim.liquidations`: opening injections, the crash pool's open
  positions, every liquidation in batches);
- cooling-off activations, order prechecks and mistaken deposits (`sim.user_protection`) over the protection
  routes (`user_protection.send`): activations, prechecks from every channel, the chain watcher's
  observations, the users' self-service checks and support's case moves. The protection clock follows the
  simulated time too;
- new derivatives traders under beginner protection, which the exchange's rules switch on part-way through
  (`sim.beginners`): accounts, questionnaires (as the user, signed), first orders through the precheck,
  first trades and their margin events;
- the user protection fund (`sim.protection_fund`): contributions, a transfer, one hack with its affected
  users paid (the payout sent twice) and the incident closed;
- due diligence (`sim.diligence`): the month's triggers as a new version, the feeds' deposits, risk scores and
  jurisdictions, the users' answers and documents (as the user), the officers' decisions; the diligence clock
  follows the simulated time;
- the Travel Rule (`sim.travel_rule`): deposits from unidentified wallets, held above the threshold and released
  by the user's originator information or wallet-ownership proof, or returned by the compliance sweep at their
  deadline; the Travel Rule clock follows the simulated time (one instance: no counterparty messages);
- the account security center (`sim.account_security`): logins from new devices, device removals, checklist
  adoption (anti-phishing code, 2FA, allowlist-only, a contact address), takeovers the users stop by freezing
  (the thief's session refused from then on), and the alert outbox delivered at the month's end to a local SMTP
  server and webhook receiver.

What was generated (attacks, values, counts) and what the service was seen to do is written to
`out_dir/ground-truth.json`; the report's figures are checked against it in tests.
Ids carry the month (`2026-10:...`), so several months can share one database.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.orm import Session, sessionmaker

    from bastion.settings import Settings
    from bastion.sim.credentials import RouteKind, SimCredentials

from bastion.periods import month_bounds
from bastion.sim import diligence, travel_rule
from bastion.sim.account_security import AccountTruth
from bastion.sim.clock import SimClock, SimClocks
from bastion.sim.diligence import DiligenceTruth
from bastion.sim.protection_fund import FundTruth
from bastion.sim.travel_rule import TravelRuleTruth

TRUTH_FILE = "ground-truth.json"
FORMAT = "bastion-month-truth/1"
PROXY_IP = "127.0.0.1"  # the simulator's client: trusted to forward the simulated clients' addresses


def _seed(seed: int, month: str, domain: int) -> int:
    year, mon = (int(p) for p in month.split("-"))
    return seed * 1_000_003 + (year * 12 + mon) * 10 + domain


# ----------------------------------------------------------------------------------------- ground truth
@dataclass
class RiskTruth:
    events: int = 0
    logins: int = 0
    withdrawals: int = 0
    withdrawals_value_usd: str = "0.00"
    attacks: int = 0
    attacks_by_kind: dict[str, int] = field(default_factory=dict)
    attack_withdrawals: int = 0
    attack_value_usd: str = "0.00"  # what the attackers tried to take
    attacks_caught: int = 0  # at least one of the attack's withdrawals held or blocked
    attack_withdrawals_stopped: int = 0
    # Seen by the client: blocked or held-then-rejected, whatever the label.
    intercepted: int = 0
    intercepted_users: int = 0
    intercepted_value_usd: str = "0.00"
    value_preserved_attacks_usd: str = "0.00"  # attack withdrawals only
    held_then_approved: int = 0
    legit_withdrawals: int = 0
    legit_held: int = 0
    decisions: dict[str, int] = field(default_factory=dict)


@dataclass
class KeysTruth:
    users: int = 0
    created_direct: int = 0
    created_fast_api: int = 0
    created_ip_bound: int = 0
    withdraw_keys: int = 0
    bound_later: int = 0  # an IP added to a key after its creation
    revoked: int = 0  # deleted by their users
    swept: int = 0  # this month's keys deleted by the idle sweeper (reference model of the policy)
    # Observed: keys of earlier months (already in the database) the sweeper deleted this month.
    swept_earlier_keys: int = 0
    # Keys issued to third-party apps (Fast API) still live at the end of the month (not deleted by the user).
    bound_to_apps_at_end: int = 0
    requests: int = 0
    requests_ok: int = 0
    rejections_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def created(self) -> int:
        return self.created_direct + self.created_fast_api


@dataclass
class PoolTruthOut:
    inst_type: str
    inst_family: str
    ccy: str
    balance: str
    triggers: int
    surplus_in: str
    injections_in: str
    losses_out: str
    adl_liquidations: int
    adl_positions: int
    adl_starts: int
    worst_drawdown_8h: str


@dataclass
class FundsTruth:
    liquidations: int = 0
    injections: int = 0
    crash_pool: str = ""
    crash_day: str = ""
    pools: list[PoolTruthOut] = field(default_factory=list)


@dataclass
class ProtectionTruth:
    activations: int = 0
    users_activating: int = 0
    durations: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    refused: int = 0
    mistaken_deposits: int = 0
    cases_by_reason: dict[str, int] = field(default_factory=dict)
    manual_recovered: int = 0
    manual_value_usd: str = "0"
    auto_returned: int = 0
    auto_value_usd: str = "0"
    unrecoverable: int = 0

    @property
    def recovered(self) -> int:
        return self.manual_recovered + self.auto_returned


@dataclass
class BeginnersTruth:
    switch_at: str = ""
    traders: int = 0
    refusals_by_rule: dict[str, int] = field(default_factory=dict)
    users_refused: int = 0
    questionnaire_passed: int = 0
    questionnaire_failed: int = 0
    cohorts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MonthGroundTruth:
    month: str
    start: str
    end: str
    users: int
    seed: int
    database: str
    fresh_database: bool  # the funds' balances are exact only when the pools started empty
    risk: RiskTruth = field(default_factory=RiskTruth)
    keys: KeysTruth = field(default_factory=KeysTruth)
    funds: FundsTruth = field(default_factory=FundsTruth)
    protection: ProtectionTruth = field(default_factory=ProtectionTruth)
    beginners: BeginnersTruth = field(default_factory=BeginnersTruth)
    protection_fund: FundTruth = field(default_factory=FundTruth)
    account: AccountTruth = field(default_factory=AccountTruth)
    diligence: DiligenceTruth = field(default_factory=DiligenceTruth)
    travel_rule: TravelRuleTruth = field(default_factory=TravelRuleTruth)
    seconds: dict[str, float] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> MonthGroundTruth:
        raw = json.loads(path.read_text())
        if raw.get("format") != FORMAT:
            raise ValueError(f"{path}: format {raw.get('format')!r}, expected {FORMAT}")
        return cls(
            **{
                k: v
                for k, v in raw.items()
                if k
                not in (
                    "risk",
                    "keys",
                    "funds",
                    "protection",
                    "beginners",
                    "protection_fund",
                    "account",
                    "diligence",
                    "travel_rule",
                )
            },
            risk=RiskTruth(**raw["risk"]),
            keys=KeysTruth(**raw["keys"]),
            funds=FundsTruth(
                **{k: v for k, v in raw["funds"].items() if k != "pools"},
                pools=[PoolTruthOut(**p) for p in raw["funds"]["pools"]],
            ),
            protection=ProtectionTruth(**raw["protection"]),
            beginners=BeginnersTruth(**raw.get("beginners", {})),
            protection_fund=FundTruth(**raw.get("protection_fund", {})),
            account=AccountTruth(**raw.get("account", {})),
            diligence=DiligenceTruth(**raw.get("diligence", {})),
            travel_rule=TravelRuleTruth(**raw.get("travel_rule", {})),
        )


# ---------------------------------------------------------------------------------------------- progress
Step = Callable[[str, int, int], None]  # phase, done, total


@contextmanager
def _rich_progress(enabled: bool) -> Iterator[Step]:
    if not enabled:
        yield lambda _phase, _done, _total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:

        def step(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield step


# ------------------------------------------------------------------------------------------------- risk
def _run_risk(
    client: Any, truth: RiskTruth, month: str, start: datetime, days: int, users: int, seed: int, step: Step,
    creds: SimCredentials,
) -> None:  # fmt: skip
    from bastion.sim import risk_traffic

    traffic = risk_traffic.month(seed=seed, users=users, start=start, days=days)
    for ev in traffic.events:  # ids unique across months sharing a database
        ev.body["event_id"] = f"{month}:{ev.body['event_id']}"
    wds = traffic.withdrawals()
    total = len(traffic.events)
    rep = risk_traffic.replay(
        traffic, client, progress=lambda i, _n: step("risk: events and withdrawals", i, total), creds=creds
    )
    step("risk: events and withdrawals", total, total)
    attack_wds = [w for w in wds if w.label != "legit"]
    kinds: dict[str, int] = {}
    for kind in traffic.attacks.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    truth.events = total
    truth.logins = sum(1 for e in traffic.events if e.kind == "login")
    truth.withdrawals = len(wds)
    truth.withdrawals_value_usd = str(sum((Decimal(w.body["amount_usd"]) for w in wds), Decimal(0)))
    truth.attacks = len(traffic.attacks)
    truth.attacks_by_kind = dict(sorted(kinds.items()))
    truth.attack_withdrawals = len(attack_wds)
    truth.attack_value_usd = str(sum((Decimal(w.body["amount_usd"]) for w in attack_wds), Decimal(0)))
    truth.attacks_caught = rep.attacks_caught
    truth.attack_withdrawals_stopped = rep.attack_withdrawals_stopped
    truth.intercepted = rep.intercepted
    truth.intercepted_users = rep.intercepted_users
    truth.intercepted_value_usd = f"{Decimal(str(rep.intercepted_value_usd)):.2f}"
    truth.value_preserved_attacks_usd = f"{Decimal(str(rep.value_preserved_usd)):.2f}"
    truth.held_then_approved = rep.held_then_approved
    truth.legit_withdrawals = rep.legit_withdrawals
    truth.legit_held = rep.legit_held
    truth.decisions = dict(sorted(rep.decisions.items()))


# ------------------------------------------------------------------------------------------------- keys
@dataclass
class _PlannedKey:
    user: str
    created_at: datetime
    perms: str
    ips: tuple[str, ...]
    passphrase: str
    app: int | None = None  # index into the apps: a Fast API key
    quiet: bool = False
    bind_at: datetime | None = None
    bind_ip: str = ""
    revoke_at: datetime | None = None
    # filled in when the service issues it
    key_id: str = ""
    secret: str = ""


@dataclass(frozen=True)
class _Request:
    key: int
    at: datetime
    n: int
    fault: str  # "", "stale", "passphrase", "forged", "stolen"


_APPS = (("GridBot", "trade"), ("TaxLens", "read"), ("CopyDesk", "trade"))
_KEY_ROUTE = "/api/v5/account/config"
_EXPECTED_CODE = {"stale": "50102", "passphrase": "50105", "forged": "50113", "stolen": "50110"}


def _plan_keys(
    rng: random.Random, month: str, start: datetime, days: int, users: int, requests: int
) -> tuple[list[_PlannedKey], list[_Request]]:
    day = timedelta(days=1)
    keys: list[_PlannedKey] = []
    for u in range(users):
        uid = f"keys-{u:04d}"
        for _ in range(rng.choice((1, 1, 1, 2))):
            at = start + rng.random() * (days - 10) * day
            perms = rng.choices(["read", "read,trade", "read,trade,withdraw"], weights=(5, 4, 1))[0]
            ips = (f"203.0.113.{rng.randrange(1, 250)}",) if rng.random() < 0.55 else ()
            keys.append(_PlannedKey(uid, at, perms, ips, f"Sim{rng.randrange(10**8):08d}x"))
        if rng.random() < 0.3:
            app = rng.randrange(len(_APPS))
            at = start + rng.random() * (days - 5) * day
            keys.append(_PlannedKey(uid, at, _APPS[app][1], (f"198.51.100.{10 + app}",), "", app=app))
    keys.sort(key=lambda k: k.created_at)
    for k in keys:
        k.quiet = rng.random() < 0.35
        if k.app is None and not k.ips and rng.random() < 0.15:  # the user binds an IP a few days later
            k.bind_at = k.created_at + timedelta(days=rng.uniform(1, 3))
            k.bind_ip = f"203.0.113.{rng.randrange(1, 250)}"
        if rng.random() < 0.08 and k.created_at + 11 * day < start + days * day:  # deleted by its user
            k.revoke_at = k.created_at + timedelta(days=rng.uniform(10, 11))
    reqs: list[_Request] = []
    for i in range(requests):
        idx = rng.randrange(len(keys))
        k = keys[idx]
        at = k.created_at + timedelta(seconds=1) + rng.random() * (2 * day if k.quiet else 9 * day)
        roll = rng.random()
        bound = bool(k.ips) or (k.bind_at is not None and at >= k.bind_at)
        fault = (
            "stale" if roll < 0.03 else
            "passphrase" if roll < 0.05 else
            "forged" if roll < 0.07 else
            "stolen" if roll < 0.09 and bound else ""
        )  # fmt: skip
        reqs.append(_Request(idx, at, i, fault))
    reqs.sort(key=lambda r: r.at)
    return keys, reqs


def _keys_reference(keys: list[_PlannedKey], reqs: list[_Request], sweeps: list[datetime], truth: KeysTruth) -> None:
    """The sweeper's rule by hand (trade or withdraw, no IP bound, unused for 14 days or more), over the plan."""
    from bastion.keys.auth import LAST_USED_RESOLUTION
    from bastion.keys.policy import IDLE_LIMIT

    last_used: dict[int, datetime] = {}
    gone: set[int] = set()
    events: list[tuple[datetime, int, Any]] = [(r.at, 1, r) for r in reqs]
    events += [(at, 2, ("sweep", at)) for at in sweeps]
    events += [(k.revoke_at, 0, ("revoke", i)) for i, k in enumerate(keys) if k.revoke_at is not None]
    events.sort(key=lambda e: (e[0], e[1]))
    for at, _, ev in events:
        if isinstance(ev, _Request):
            if ev.key in gone or ev.at < keys[ev.key].created_at:
                raise AssertionError("planned a request on a deleted key")
            if ev.fault:
                code = _EXPECTED_CODE[ev.fault]
                truth.rejections_by_code[code] = truth.rejections_by_code.get(code, 0) + 1
            else:
                truth.requests_ok += 1
                prev = last_used.get(ev.key)
                if prev is None or at - prev >= LAST_USED_RESOLUTION:
                    last_used[ev.key] = at
        elif ev[0] == "revoke":
            gone.add(ev[1])
            truth.revoked += 1
        else:
            for i, k in enumerate(keys):
                if i in gone or k.created_at > at or "trade" not in k.perms:
                    continue
                bound = bool(k.ips) or (k.bind_at is not None and k.bind_at <= at)
                idle_since = last_used.get(i, k.created_at)
                if not bound and at - idle_since >= IDLE_LIMIT:
                    gone.add(i)
                    truth.swept += 1
    truth.rejections_by_code = dict(sorted(truth.rejections_by_code.items()))
    truth.bound_to_apps_at_end = sum(1 for i, k in enumerate(keys) if k.app is not None and i not in gone)


Call = Callable[..., Any]  # (method, path, at, ip="", **httpx kwargs) -> response, on the keys routes' clock


def _create_apps(call: Call, month: str, start: datetime) -> list[dict[str, Any]]:
    """The third-party apps users authorize through the Fast API flow, registered by the back office."""
    apps: list[dict[str, Any]] = []
    for i, (name, perm) in enumerate(_APPS):
        r = call("POST", "/v1/fast-api/apps", start, json={
            "name": f"{name} {month}", "redirect_uri": f"https://{name.lower()}.example/cb",
            "ips": [f"198.51.100.{10 + i}"], "max_permission": perm,
        })  # fmt: skip
        r.raise_for_status()
        apps.append(r.json())
    return apps


def _key_actions(
    keys: list[_PlannedKey], reqs: list[_Request], sweeps: list[datetime]
) -> list[tuple[datetime, int, Any]]:
    """Everything the month does with keys, in time order (at the same instant: create, bind, request,
    revoke, sweep)."""
    actions: list[tuple[datetime, int, Any]] = [(k.created_at, 0, ("create", i)) for i, k in enumerate(keys)]
    actions += [(k.bind_at, 1, ("bind", i)) for i, k in enumerate(keys) if k.bind_at is not None]
    actions += [(r.at, 2, r) for r in reqs]
    actions += [(k.revoke_at, 3, ("revoke", i)) for i, k in enumerate(keys) if k.revoke_at is not None]
    actions += [(at, 4, ("sweep", 0)) for at in sweeps]
    actions.sort(key=lambda a: (a[0], a[1]))
    return actions


def _signed_request(call: Call, rng: random.Random, k: _PlannedKey, act: _Request, at: datetime, month: str) -> None:
    """One OKX-signed request with the key, faulty as planned; the answer's code must be the one expected."""
    from bastion.keys import signing

    if k.ips:
        ip = k.ips[0]
    elif k.bind_at is not None and at >= k.bind_at:
        ip = k.bind_ip
    else:
        ip = f"192.0.2.{rng.randrange(1, 250)}"  # an unbound key: any address
    ts, pp, secret = at, k.passphrase, k.secret
    if act.fault == "stale":
        ts = at - timedelta(seconds=rng.randrange(31, 600))
    elif act.fault == "passphrase":
        pp = "Wrong" + pp
    elif act.fault == "forged":
        secret = "0" * 32
    elif act.fault == "stolen":
        ip = "192.0.2.66"
    stamp = signing.format_timestamp(ts)
    path = f"{_KEY_ROUTE}?n={month}-{act.n}"
    r = call("GET", path, at, ip, headers={
        "OK-ACCESS-KEY": k.key_id, "OK-ACCESS-PASSPHRASE": pp, "OK-ACCESS-TIMESTAMP": stamp,
        "OK-ACCESS-SIGN": signing.sign(secret, stamp, "GET", path),
    })  # fmt: skip
    code = "0" if r.status_code == 200 else r.json().get("code", "?")
    want = _EXPECTED_CODE.get(act.fault, "0")
    if code != want:
        raise RuntimeError(f"signed request {act.n}: code {code}, expected {want}: {r.text}")


def _create_key(call: Call, k: _PlannedKey, apps: list[dict[str, Any]], at: datetime, creds: SimCredentials) -> None:
    """A key the user makes (direct), or one an app obtains through the Fast API flow (authorize, token)."""
    if k.app is None:
        r = call("POST", f"/v1/users/{k.user}/keys", at, json={
            "label": "sim", "perms": k.perms.split(","), "ips": list(k.ips), "passphrase": k.passphrase,
            "totp_code": "000000" if "withdraw" in k.perms else None,
        })  # fmt: skip
        r.raise_for_status()
        k.key_id, k.secret = r.json()["key_id"], r.json()["secret"]
        return
    a = apps[k.app]
    r = call("POST", "/v1/fast-api/authorize", at, headers=creds.user(k.user), json={
        "client_id": a["client_id"], "perms": [a["max_permission"]], "redirect_uri": a["redirect_uri"],
    })  # fmt: skip
    r.raise_for_status()
    r = call("POST", "/v1/fast-api/token", at + timedelta(seconds=20), a["ips"][0], headers={}, json={
        "grant_type": "authorization_code", "client_id": a["client_id"],
        "client_secret": a["client_secret"], "code": r.json()["code"], "redirect_uri": a["redirect_uri"],
    })  # fmt: skip
    r.raise_for_status()
    tok = r.json()
    k.key_id, k.secret, k.passphrase = tok["api_key"], tok["secret_key"], tok["passphrase"]


def _run_keys(
    clocks: SimClocks, client: Any, truth: KeysTruth, month: str, start: datetime, days: int, users: int, seed: int,
    step: Step, creds: SimCredentials,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    n_requests = users * 15
    keys, reqs = _plan_keys(rng, month, start, days, users, n_requests)
    sweeps = [start + timedelta(days=d) for d in range(1, days + 1)]
    _keys_reference(keys, reqs, sweeps, truth)
    truth.users = users
    truth.requests = len(reqs)
    truth.created_direct = sum(1 for k in keys if k.app is None)
    truth.created_fast_api = sum(1 for k in keys if k.app is not None)
    truth.created_ip_bound = sum(1 for k in keys if k.ips)
    truth.withdraw_keys = sum(1 for k in keys if "withdraw" in k.perms)
    truth.bound_later = sum(1 for k in keys if k.bind_at is not None)

    # The keys routes' clock is the simulated one (the service that runs the month accepts the simulated
    # user's second factor: the TOTP check itself is tested with the protection routes).
    clocks.keys.set(start)

    def call(method: str, path: str, at: datetime, ip: str = "", **kw: Any) -> Any:
        """As the back office unless `headers` says who else (a user's session, a signed key, nobody: {})."""
        clocks.keys.set(at)
        headers = dict(kw.pop("headers", creds.operator))
        if ip:
            headers["X-Forwarded-For"] = ip
        r = client.request(method, path, headers=headers, **kw)
        return r

    apps = _create_apps(call, month, start)
    actions = _key_actions(keys, reqs, sweeps)
    swept = 0
    for done, (at, _, act) in enumerate(actions):
        if done % 50 == 0:
            step("api keys: lifecycle and traffic", done, len(actions))
        if isinstance(act, _Request):
            _signed_request(call, rng, keys[act.key], act, at, month)
            continue
        kind, i = act
        if kind == "sweep":
            r = call("POST", "/v1/keys/sweep", at)
            r.raise_for_status()
            ids = {x["key_id"] for x in r.json()["keys"]}
            mine = sum(1 for k in keys if k.key_id in ids)
            swept += mine
            truth.swept_earlier_keys += len(ids) - mine
            continue
        k = keys[i]
        if kind == "create":
            _create_key(call, k, apps, at, creds)
        elif kind == "bind":
            r = call("PUT", f"/v1/users/{k.user}/keys/{k.key_id}/ips", at, json={"ips": [k.bind_ip]})
            r.raise_for_status()
        elif kind == "revoke":
            r = call("DELETE", f"/v1/users/{k.user}/keys/{k.key_id}", at)
            r.raise_for_status()
    step("api keys: lifecycle and traffic", len(actions), len(actions))
    if swept != truth.swept:
        raise RuntimeError(f"the sweeper deleted {swept} keys, the policy says {truth.swept}")
    clocks.keys.set(None)


# ------------------------------------------------------------------------------------------------ funds
def _run_funds(
    client: Any, truth: FundsTruth, month: str, start: datetime, days: int, users: int, seed: int, step: Step,
    creds: SimCredentials,
) -> None:  # fmt: skip
    from bastion.sim import liquidations as liq

    m = liq.simulate(seed=seed, per_day=max(10, users // 8), start=start, days=days)
    for pool, book in m.positions.items():
        r = client.put("/v1/funds/positions", json={
            "instType": pool.inst_type, "instFamily": pool.inst_family, "ccy": pool.ccy,
            "positions": [
                {"posId": f"{month}:{p.position_id}", "userId": p.user_id, "posSide": p.side.value,
                 "pos": str(p.size), "avgPx": str(p.entry_price), "markPx": str(p.mark_price),
                 "margin": str(p.margin)}
                for p in book
            ],
        }, headers=creds.service)  # fmt: skip
        r.raise_for_status()
    for inj in m.injections:
        r = client.post("/v1/funds/injections", json={
            "id": f"{month}:{inj.id}", "instType": inj.pool.inst_type, "instFamily": inj.pool.inst_family,
            "ccy": inj.pool.ccy, "amt": str(inj.amount), "ts": inj.ts.isoformat(),
        }, headers=creds.operator)  # fmt: skip
        r.raise_for_status()
    rows = [
        {"id": f"{month}:{x.id}", "instType": x.pool.inst_type, "instFamily": x.pool.inst_family,
         "ccy": x.pool.ccy, "instId": x.inst_id, "posSide": x.pos_side.value, "sz": str(x.sz),
         "bkPx": str(x.bk_px), "fillPx": str(x.fill_px), "ts": x.ts.isoformat()}
        for x in m.liquidations
    ]  # fmt: skip
    for i in range(0, len(rows), 1000):
        step("funds: liquidations and ADL", i, len(rows))
        r = client.post("/v1/liquidations/batch", json=rows[i : i + 1000], headers=creds.service)
        if r.status_code != 200:
            raise RuntimeError(f"liquidations batch: {r.status_code} {r.text}")
    step("funds: liquidations and ADL", len(rows), len(rows))
    truth.liquidations = len(rows)
    truth.injections = len(m.injections)
    truth.crash_pool = m.crash_pool.inst_family
    truth.crash_day = m.crash_day.date().isoformat()
    truth.pools = [
        PoolTruthOut(
            p.inst_type, p.inst_family, p.ccy, str(t.balance), t.triggers, str(t.surplus_in), str(t.injections_in),
            str(t.losses_out), t.adl_liquidations, t.adl_positions, t.adl_starts, str(t.worst_drawdown),
        )
        for p, t in m.truth.items()
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------- protection
def _run_protection(
    svc: _Service, client: Any, truth: ProtectionTruth, month: str, start: datetime, days: int, users: int,
    seed: int, step: Step, creds: SimCredentials,
) -> None:  # fmt: skip
    from sqlalchemy import func, select

    from bastion.protection.models import CoolingOffRefusal
    from bastion.sim import user_protection as up

    m = up.simulate(seed=seed, users=users, start=start, days=days)
    # Ids and users carry the month: a period started in an earlier month sharing the database (up to a year
    # long) must not meet this month's generated activations, which the simulator checked only among themselves.
    m.activations = [
        dataclasses.replace(a, request_id=f"{month}:{a.request_id}", user_id=f"{month}:{a.user_id}")
        for a in m.activations
    ]
    m.orders = [dataclasses.replace(o, user_id=f"{month}:{o.user_id}") for o in m.orders]
    m.mistakes = [
        dataclasses.replace(
            x, obs=dataclasses.replace(x.obs, txid=f"{month}:{x.obs.txid}"), user_id=f"{month}:{x.user_id}"
        )
        for x in m.mistakes
    ]
    # The service's protection clock is the simulated one while the month goes through its routes.
    svc.clocks.protection.set(start)
    try:
        sent = up.send(
            client, m, svc.clocks.protection.set, progress=lambda i, n: step("user protection", i, n), creds=creds
        )
    finally:
        svc.clocks.protection.set(None)
    t = m.truth
    if sent.refused != t.refused:
        raise RuntimeError(f"the service refused {sent.refused} orders, the simulated periods say {t.refused}")
    if sent.automatic != t.auto_returned:
        raise RuntimeError(f"the service returned {sent.automatic} deposits by itself, expected {t.auto_returned}")
    # A refusal is written by the service right after its answer: wait until all of this month's are stored.
    deadline = time.monotonic() + 60
    while True:
        with svc.sessions() as s:
            mine = CoolingOffRefusal.user_id.startswith(f"{month}:")
            stored = s.scalar(select(func.count()).select_from(CoolingOffRefusal).where(mine))
        if stored == sent.refused:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{stored} refusals stored, the service answered {sent.refused}")
        time.sleep(0.05)
    truth.activations = t.activations
    truth.users_activating = len({a.user_id for a in m.activations})
    truth.durations = dict(sorted(t.durations.items()))
    truth.orders = len(m.orders)
    truth.refused = t.refused
    truth.mistaken_deposits = len(m.mistakes)
    truth.cases_by_reason = dict(sorted(t.cases_by_reason.items()))
    truth.manual_recovered = t.manual_recovered
    truth.manual_value_usd = str(t.manual_value)
    truth.auto_returned = t.auto_returned
    truth.auto_value_usd = str(t.auto_value)
    truth.unrecoverable = t.unrecoverable


# ---------------------------------------------------------------------------------- beginners, protection fund
def _simulated_clock(clocks: SimClocks) -> Callable[[datetime], None]:
    """The protection routes' clock, simulated from now on (until set back to None)."""
    clocks.protection.set(datetime.now(UTC))
    return clocks.protection.set


def _beginners_off(clocks: SimClocks, client: Any, start: datetime) -> None:
    """The exchange's beginner rules are off when the month starts (a month simulated earlier in the same
    database may have left them on), so the cooling-off phase's orders meet only the user's own periods."""
    from bastion.sim import beginners

    _simulated_clock(clocks)(start)
    try:
        r = client.put("/v1/beginner/rules", json={"definition": beginners.rules(False), "actor": "sim"})
        if r.status_code != 200:
            raise RuntimeError(f"beginner rules: HTTP {r.status_code} {r.text[:200]}")
    finally:
        clocks.protection.set(None)


def _user_key_headers(client: Any, user: str, method: str, path: str, body: str) -> dict[str, str]:
    """Headers of one request signed (OKX v5) with a read+trade key the back office made for `user` through
    the keys routes, as the user's own client would send it."""
    from bastion.keys import signing

    passphrase = "Sim-Passphrase-123!"
    r = client.post(f"/v1/users/{user}/keys", json={
        "label": "as-user", "perms": ["read", "trade"], "ips": [], "passphrase": passphrase,
    })  # fmt: skip
    if r.status_code != 201:
        raise RuntimeError(f"key for {user}: HTTP {r.status_code} {r.text[:200]}")
    key = r.json()
    ts = signing.format_timestamp(datetime.now(UTC))
    return {
        "OK-ACCESS-KEY": key["key_id"],
        "OK-ACCESS-SIGN": signing.sign(key["secret"], ts, method, path, body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
    }


def _run_beginners(
    clocks: SimClocks, client: Any, truth: BeginnersTruth, month: str, start: datetime, days: int, users: int,
    seed: int, step: Step,
) -> None:  # fmt: skip
    from bastion.sim import beginners

    m = beginners.simulate(seed=seed, traders=max(40, users // 5), start=start, days=days, prefix=f"{month}:")
    try:
        sent = beginners.send(
            client,
            m,
            _simulated_clock(clocks),
            lambda u, meth, p, b: _user_key_headers(client, u, meth, p, b),
            progress=lambda i, n: step("beginners", i, n),
        )
    finally:
        clocks.protection.set(None)
    if sent.surprises:
        raise RuntimeError(f"beginner protection answered otherwise than planned: {sent.surprises[:3]}")
    t = m.truth
    truth.switch_at = m.switch_at.isoformat()
    truth.traders = sum(c.traders for c in t.cohorts.values())
    truth.refusals_by_rule = t.refusals_by_rule
    truth.users_refused = t.users_refused
    truth.questionnaire_passed = t.questionnaire_passed
    truth.questionnaire_failed = t.questionnaire_failed
    truth.cohorts = t.cohorts_json()


def _run_protection_fund(
    clocks: SimClocks, client: Any, truth: FundTruth, month: str, start: datetime, days: int, seed: int
) -> None:
    from bastion.sim import protection_fund

    m = protection_fund.simulate_month(seed=seed, start=start, days=days, prefix=f"{month}:")
    try:
        protection_fund.send_month(client, m, _simulated_clock(clocks))
    finally:
        clocks.protection.set(None)
    for k, v in vars(m.truth).items():
        setattr(truth, k, v)


def _run_account(
    svc: _Service, client: Any, truth: AccountTruth, month: str, start: datetime, days: int, users: int, seed: int,
    step: Step, creds: SimCredentials,
) -> None:  # fmt: skip
    from bastion.sim import account_security

    planned = account_security.plan(seed, users, start, days, prefix=f"{month}:")
    _, end = month_bounds(month)
    try:
        account_security.send(
            svc.sessions, svc.settings.secret_key_bytes(), client, planned, _simulated_clock(svc.clocks), end, creds,
            truth, progress=lambda i, n: step("account security and alerts", i, n),
        )  # fmt: skip
    finally:
        svc.clocks.protection.set(None)


def _run_planned(
    part: Any, label: str, clock: SimClock, client: Any, truth: DiligenceTruth | TravelRuleTruth, month: str,
    start: datetime, days: int, users: int, seed: int, step: Step, creds: SimCredentials,
) -> None:  # fmt: skip
    """A part whose month is planned first, then sent (due diligence, the Travel Rule: `part` is its sim
    module): its clock follows the plan's events, and what the plan counted becomes the part's truth."""
    plan = part.simulate(seed=seed, users=users, start=start, days=days, prefix=f"{month}:")
    clock.set(start)
    try:
        part.send(client, plan, clock.set, creds.user, progress=lambda i, n: step(label, i, n))
    finally:
        clock.set(None)
    for k, v in vars(plan.truth).items():
        setattr(truth, k, v)


def _run_parts(
    svc: _Service, client: Any, truth: MonthGroundTruth, month: str, start: datetime, days: int, users: int,
    seed: int, step: Step, creds: SimCredentials,
) -> None:  # fmt: skip
    """Every part of the month through the service, one after another, each timed into the truth."""
    with _timed(truth.seconds, "risk"):
        _run_risk(client, truth.risk, month, start, days, users, _seed(seed, month, 1), step, creds)
    with _timed(truth.seconds, "keys"):
        _run_keys(
            svc.clocks, client, truth.keys, month, start, days, max(6, users // 20), _seed(seed, month, 2),
            step, creds,
        )  # fmt: skip
    with _timed(truth.seconds, "funds"):
        _run_funds(client, truth.funds, month, start, days, users, _seed(seed, month, 3), step, creds)
    with _timed(truth.seconds, "protection"):
        _beginners_off(svc.clocks, client, start)
        _run_protection(
            svc, client, truth.protection, month, start, days, users, _seed(seed, month, 4), step, creds
        )
    with _timed(truth.seconds, "beginners"):
        _run_beginners(
            svc.clocks, client, truth.beginners, month, start, days, users, _seed(seed, month, 5), step
        )
    with _timed(truth.seconds, "protection_fund"):
        _run_protection_fund(svc.clocks, client, truth.protection_fund, month, start, days, _seed(seed, month, 6))
    with _timed(truth.seconds, "diligence"):
        _run_planned(
            diligence, "due diligence", svc.clocks.diligence, client, truth.diligence, month, start, days, users,
            _seed(seed, month, 7), step, creds,
        )  # fmt: skip
    with _timed(truth.seconds, "travel_rule"):
        _run_planned(
            travel_rule, "travel rule", svc.clocks.travel_rule, client, truth.travel_rule, month, start, days,
            users, _seed(seed, month, 9), step, creds,
        )  # fmt: skip
    with _timed(truth.seconds, "account"):  # last: its dispatcher delivers every alert the month raised
        _run_account(
            svc, client, truth.account, month, start, days, max(12, users // 8), _seed(seed, month, 8), step,
            creds,
        )  # fmt: skip


@contextmanager
def _timed(seconds: dict[str, float], part: str) -> Iterator[None]:
    """Record how long a part of the month took, in the truth's `seconds`."""
    t0 = time.perf_counter()
    yield
    seconds[part] = round(time.perf_counter() - t0, 2)


# ------------------------------------------------------------------------------------------------- main
def service_settings(out_dir: Path | str, db_url: str | None = None) -> Settings:
    """The settings of the service a month runs through: its database (`db_url`, else a SQLite file in
    `out_dir`), a private data dir, the sweeper left to the simulator, rate limits out of the way, and the
    simulated users' proxy trusted for their addresses."""
    from bastion.settings import Settings

    out = Path(out_dir)
    return Settings(
        database_url=db_url or f"sqlite:///{(out / 'bastion.sqlite').resolve()}",
        data_dir=out / "service-data",
        redis_url=None,
        operator_token=None,  # the simulator's own named credentials, revoked at the end
        keys_sweep_interval_seconds=0,  # the simulator runs the sweeper at simulated times
        keys_rate_limit_per_key="100000/second",
        keys_rate_limit_per_user="100000/second",
        trusted_proxies=PROXY_IP,
    )


def always_right(_session: Any, _user: str, _code: str, _now: datetime) -> bool:
    """The simulated users' second factor when they make a withdraw key: always right (the TOTP check itself is
    tested with the protection routes). The service's starter installs it in-process."""
    return True


@dataclass
class _Service:
    """What the month needs besides HTTP: the clocks it moves, the settings the service runs with (its data dir
    holds the development key users' sessions are signed with), and the database for its setup and checks."""

    clocks: SimClocks
    settings: Settings
    sessions: sessionmaker[Session]


def prepare_month(out_dir: Path | str, month: str, users: int, db_url: str | None = None) -> Settings:
    """Check the arguments, create or upgrade the database, refuse a month already in it; the service's settings.
    Run before the service is started on them."""
    from sqlalchemy import select

    from bastion.db.migrate import upgrade
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.risk.models import RiskDecision

    if users < 20:
        raise ValueError("users: at least 20 (attacks are a share of the users)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start, end = month_bounds(month)
    settings = service_settings(out, db_url)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            done = s.scalar(
                select(RiskDecision.id)
                .where(RiskDecision.requested_at >= start, RiskDecision.requested_at < end)
                .limit(1)
            )
    finally:
        engine.dispose()
    if done is not None:
        raise ValueError(f"{month} is already in the database: simulate another month (ids are per month)")
    return settings


def simulate_month(
    client: httpx.Client,
    clocks: SimClocks,
    routes: Iterable[RouteKind],
    settings: Settings,
    out_dir: Path | str,
    month: str,
    users: int = 400,
    seed: int = 7,
    embedded: bool = True,
    progress: bool = True,
) -> MonthGroundTruth:
    """Simulate `month` ("YYYY-MM") with `users` users through the running service that `client` talks to;
    write `out_dir/ground-truth.json`.

    The caller started the service on `settings` (from `prepare_month`) with `clocks` installed in it and hands
    over its route table (`routes`, for the credential each route takes); the simulator only talks HTTP, never
    to the service's objects. `embedded`: the database is the default SQLite file (said so in the truth)."""
    from sqlalchemy import select

    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.funds.models import FundEntry
    from bastion.sim.credentials import SimCredentials

    out = Path(out_dir)
    start, end = month_bounds(month)
    days = (end - start).days
    url = settings.database_url
    engine = make_engine(url)
    svc = _Service(clocks, settings, make_sessionmaker(engine))
    with svc.sessions() as s:
        fresh = s.scalar(select(FundEntry.id).limit(1)) is None
    truth = MonthGroundTruth(
        month=month, start=start.isoformat(), end=end.isoformat(), users=users, seed=seed,
        database="embedded SQLite" if embedded else url.split("://", 1)[0], fresh_database=fresh,
    )  # fmt: skip
    creds = SimCredentials.create(svc.sessions, settings.data_dir, f"sim-{month}")
    # the exchange's machines and back office present their credential by route; users their own
    client.auth = creds.by_route(routes)
    try:
        with _rich_progress(progress) as step:
            _run_parts(svc, client, truth, month, start, days, users, seed, step, creds)
    finally:
        creds.revoke(svc.sessions)
        engine.dispose()
    truth.write(out / TRUTH_FILE)
    return truth
