"""A seeded month of user protection: cooling-off activations with orders from users in and out of them, and
mistaken deposits (wrong network, unlisted token, missing memo) worked by support or returned automatically.

`simulate()` generates the month and its ground truth. Two ways to deliver it, at the simulated times:
`send()` over HTTP through the service's protection routes (whose clock the caller sets to each action's time:
the clock it created the app with, `InProcessOverrides.protection_clock`), as the month simulator does;
`replay()` straight through the domain functions the routes call, for tests of the domain on a bare database.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bastion.protection import cooling_off as co
from bastion.protection import deposits as dep

if TYPE_CHECKING:
    from bastion.sim.credentials import SimCredentials
from bastion.protection.settings import default_deposits


@dataclass(frozen=True, slots=True)
class Activation:
    request_id: str
    user_id: str
    period: co.Period
    custom_days: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    user_id: str
    channel: co.Channel
    inst_type: co.InstType
    side: co.OrderSide
    sz: Decimal
    pos: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class Mistake:
    obs: dep.ObservedDeposit
    amount: Decimal
    usd_value: Decimal
    user_id: str
    at: datetime
    # Support's verdict and how long it takes, for manual cases: None = unrecoverable.
    outcome: dep.CaseState | None
    hours: int


@dataclass
class Truth:
    activations: int = 0
    durations: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    cases_by_reason: dict[str, int] = field(default_factory=dict)
    manual_recovered: int = 0
    manual_value: Decimal = Decimal(0)
    auto_returned: int = 0
    auto_value: Decimal = Decimal(0)
    unrecoverable: int = 0


@dataclass
class ProtectionMonth:
    start: datetime
    end: datetime
    activations: list[Activation]
    orders: list[Order]
    mistakes: list[Mistake]
    truth: Truth


def simulate(
    seed: int = 5, users: int = 300, start: datetime | None = None, days: int = 30
) -> ProtectionMonth:
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    truth = Truth()
    candidates: list[Activation] = []
    for i in range(users // 5):
        user = f"u{rng.randrange(users):04d}"
        at = start + timedelta(days=rng.randint(0, days - 2), seconds=rng.randint(0, 86_399))
        period = rng.choices(list(co.Period), weights=[5, 4, 2, 1])[0]
        custom = rng.randint(2, 365) if period is co.Period.CUSTOM else None
        candidates.append(Activation(f"act-{i}", user, period, custom, at))
    activations: list[Activation] = []
    ends: dict[str, datetime] = {}
    for a in sorted(candidates, key=lambda a: a.at):
        end = _end(a)
        if a.user_id in ends and ends[a.user_id] > a.at and end < ends[a.user_id]:
            continue  # the rules would refuse a shortening: the simulated user does not ask
        activations.append(a)
        ends[a.user_id] = max(ends.get(a.user_id, a.at), end)
        truth.activations += 1
        truth.durations[a.period.value] = truth.durations.get(a.period.value, 0) + 1
    orders: list[Order] = []
    for _ in range(users * 4):
        user = f"u{rng.randrange(users):04d}"
        at = start + timedelta(days=rng.randint(0, days - 1), seconds=rng.randint(0, 86_399))
        inst = rng.choice([co.InstType.SWAP, co.InstType.SWAP, co.InstType.FUTURES, co.InstType.SPOT])
        side = rng.choice(list(co.OrderSide))
        pos = Decimal(rng.choice([0, 0, 2, -2]))
        sz = Decimal(rng.choice([1, 2, 3]))
        orders.append(Order(user, rng.choice(list(co.Channel)), inst, side, sz, pos, at))
    orders.sort(key=lambda o: o.at)
    # Ground truth for refusals, from the activation list directly.
    for o in orders:
        effect = co.classify_order(o.inst_type, o.side, co.PosSide.NET, o.sz, False, o.pos)
        active = any(a.user_id == o.user_id and a.at <= o.at < _end(a) for a in activations)
        if active and effect in co.RISK_INCREASING:
            truth.refused += 1
    mistakes: list[Mistake] = []
    kinds = [
        ("ETH", "TRX", dep.DepositReason.WRONG_NETWORK),
        ("TRON", "USDC", dep.DepositReason.WRONG_NETWORK),
        ("ETH", "PEPE9", dep.DepositReason.UNLISTED_TOKEN),
        ("TRON", "WINX", dep.DepositReason.UNLISTED_TOKEN),
        ("XRP", "XRP", dep.DepositReason.MISSING_MEMO),
        ("TON", "TON", dep.DepositReason.MISSING_MEMO),
    ]
    defaults = default_deposits()
    fees, listing = defaults.fees(), defaults.listing()
    for k in range(users // 2):
        chain, token, reason = rng.choice(kinds)
        usd = Decimal(rng.randint(5, 20_000))
        amount = (usd / Decimal(rng.choice([1, 2, 50]))).quantize(Decimal("0.0001"))
        at = start + timedelta(days=rng.randint(0, days - 3), seconds=rng.randint(0, 86_399))
        outcome = rng.choices([dep.CaseState.RETURNED, dep.CaseState.CREDITED, None], weights=[5, 3, 1])[0]
        if reason is dep.DepositReason.MISSING_MEMO and outcome is dep.CaseState.RETURNED:
            outcome = dep.CaseState.CREDITED  # a memo case is fixed by crediting the right account
        obs = dep.ObservedDeposit(
            chain, f"0x{k:06x}{rng.getrandbits(32):08x}", token, f"addr-{k}", None, False
        )
        m = Mistake(obs, amount, usd, f"u{rng.randrange(users):04d}", at, outcome, rng.randint(2, 72))
        mistakes.append(m)
        truth.cases_by_reason[reason.value] = truth.cases_by_reason.get(reason.value, 0) + 1
        if dep.automatic_return(reason, chain, usd, listing, fees):
            truth.auto_returned += 1
            truth.auto_value += usd
        elif outcome is None:
            truth.unrecoverable += 1
        else:
            truth.manual_recovered += 1
            truth.manual_value += usd
    mistakes.sort(key=lambda m: m.at)
    return ProtectionMonth(start, start + timedelta(days=days), activations, orders, mistakes, truth)


def _end(a: Activation) -> datetime:
    return a.at + timedelta(days=co.period_days(a.period, a.custom_days))


def replay(factory: sessionmaker[Session], month: ProtectionMonth) -> None:
    """Drive the month through the domain functions, in time order, one transaction per action."""
    actions: list[tuple[datetime, int, object]] = [(a.at, 0, a) for a in month.activations]
    actions += [(o.at, 1, o) for o in month.orders]
    actions += [(m.at, 2, m) for m in month.mistakes]
    actions.sort(key=lambda x: (x[0], x[1]))
    for at, _, action in actions:
        with factory() as s:
            if isinstance(action, Activation):
                co.activate(
                    s,
                    action.request_id,
                    action.user_id,
                    action.period,
                    action.custom_days,
                    co.Channel.APP,
                    at,
                )
            elif isinstance(action, Order):
                effect = co.classify_order(
                    action.inst_type, action.side, co.PosSide.NET, action.sz, False, action.pos
                )
                co.check_order(s, action.user_id, action.channel, action.inst_type, "X-USDT-SWAP", effect, at)
            elif isinstance(action, Mistake):
                case = dep.record_observation(
                    s, action.obs, action.amount, action.usd_value, action.user_id, at
                )
                if case is None:
                    checked = dep.self_service_check(s, action.obs.chain, action.obs.txid, action.user_id, at)
                    assert checked.case is not None
                    case = checked.case
                    done = at + timedelta(hours=action.hours)
                    dep.move(s, case, dep.CaseState.INVESTIGATING, "support", at + timedelta(hours=1))
                    if action.outcome is None:
                        dep.move(s, case, dep.CaseState.UNRECOVERABLE, "support", done, "funds not reachable")
                    else:
                        dep.move(s, case, dep.CaseState.RECOVERABLE, "support", done - timedelta(hours=1))
                        dep.move(s, case, action.outcome, "support", done)
                    dep.move(s, case, dep.CaseState.CLOSED, "support", done)
            s.commit()


@dataclass
class Delivered:
    """What the service answered to `send()`."""

    activations: int = 0
    orders: int = 0
    refused: int = 0  # prechecks answered allowed=false
    observed: int = 0
    automatic: int = 0  # observations the service returned by itself
    cases_opened: int = 0  # by the users' self-service checks
    moves: int = 0


@dataclass(frozen=True, slots=True)
class _Move:
    mistake: int  # index into month.mistakes
    state: dep.CaseState
    note: str = ""


_INST_ID = "X-USDT-SWAP"
_ACTOR = "support"


def _moves(m: Mistake) -> list[tuple[timedelta, dep.CaseState, str]]:
    """Support's walk through a manual case, as offsets from the deposit (the same walk as `replay`)."""
    done = timedelta(hours=m.hours)
    walk = [(timedelta(hours=1), dep.CaseState.INVESTIGATING, "")]
    if m.outcome is None:
        walk.append((done, dep.CaseState.UNRECOVERABLE, "funds not reachable"))
    else:
        walk += [(done - timedelta(hours=1), dep.CaseState.RECOVERABLE, ""), (done, m.outcome, "")]
    return [*walk, (done, dep.CaseState.CLOSED, "")]


def send(
    client: Any,
    month: ProtectionMonth,
    set_time: Callable[[datetime], None],
    progress: Callable[[int, int], None] | None = None,
    *,
    creds: SimCredentials,
) -> Delivered:
    """Drive the month through the service's routes in time order: `POST /v1/cooling-off`,
    `POST /v1/orders/precheck`, `POST /v1/deposits/observed`, the user's `POST /v1/deposits/mistaken/check`
    and support's `POST /v1/deposits/cases/{id}/transition` at its own later times. `client` is an
    httpx.Client on the service; `creds` the order gateway's and chain watcher's service credential, support's
    operator credential and each user's session (a user acts for themselves only). `set_time(at)` sets the
    service's protection clock before each request. Raises on any answer the simulated users did not expect.

    Refusals are written by the service after it answers; the caller waits for them if it counts rows."""
    actions: list[tuple[datetime, int, int, object]] = [(a.at, 0, 0, a) for a in month.activations]
    actions += [(o.at, 1, 0, o) for o in month.orders]
    for i, m in enumerate(month.mistakes):
        actions.append((m.at, 2, 0, i))
        # Support's walk is skipped below when the service returned the deposit by itself.
        actions += [(m.at + dt, 3, k, _Move(i, state, note)) for k, (dt, state, note) in enumerate(_moves(m))]
    actions.sort(key=lambda x: (x[0], x[1], x[2]))
    out = Delivered()
    cases: dict[int, int] = {}  # mistake index -> case id
    automatic: set[int] = set()

    def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        r = client.post(path, json=body, headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return r.json()

    for done, (at, _, _, action) in enumerate(actions):
        if progress is not None and done % 100 == 0:
            progress(done, len(actions))
        set_time(at)
        if isinstance(action, Activation):
            post("/v1/cooling-off", {
                "request_id": action.request_id, "period": action.period.value,
                "custom_days": action.custom_days, "channel": co.Channel.APP.value,
            }, creds.user(action.user_id))  # fmt: skip
            out.activations += 1
        elif isinstance(action, Order):
            answer = post("/v1/orders/precheck", {
                "userId": action.user_id, "channel": action.channel.value, "instType": action.inst_type.value,
                "instId": _INST_ID, "side": action.side.value, "posSide": co.PosSide.NET.value,
                "sz": str(action.sz), "pos": str(action.pos),
            }, creds.service)  # fmt: skip
            out.orders += 1
            out.refused += not answer["allowed"]
        elif isinstance(action, int):
            m = month.mistakes[action]
            answer = post("/v1/deposits/observed", {
                "chain": m.obs.chain, "txid": m.obs.txid, "token": m.obs.token, "to_address": m.obs.to_address,
                "memo": m.obs.memo, "memo_matches_account": m.obs.memo_matches_account, "amount": str(m.amount),
                "usd_value": str(m.usd_value), "user_id": m.user_id, "observed_at": at.isoformat(),
            }, creds.service)  # fmt: skip
            out.observed += 1
            if answer["case"] is not None:
                automatic.add(action)
                out.automatic += 1
                continue
            checked = post("/v1/deposits/mistaken/check", {"chain": m.obs.chain, "txid": m.obs.txid},
                           creds.user(m.user_id))  # fmt: skip
            if checked["case"] is None:
                raise RuntimeError(f"deposit {m.obs.txid}: the self-service check opened no case: {checked}")
            cases[action] = checked["case"]["id"]
            out.cases_opened += 1
        elif isinstance(action, _Move):
            if action.mistake in automatic:
                continue
            post(f"/v1/deposits/cases/{cases[action.mistake]}/transition",
                 {"state": action.state.value, "actor": _ACTOR, "note": action.note}, creds.operator)  # fmt: skip
            out.moves += 1
    if progress is not None:
        progress(len(actions), len(actions))
    return out
