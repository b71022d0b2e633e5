"""Request dependencies shared by every router: settings, a database session; the protection routes' clock; the
risk hot path, built in the app's lifespan (`start_risk`).

Who may call a route is declared with the markers of `bastion.service.access` (Public, CurrentUser,
ServiceScope, OperatorScope...), one per route."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker

from bastion.risk.hotpath import HotPath
from bastion.risk.state.config import RiskRuntime
from bastion.settings import Settings
from bastion.stepup.confirm import enrolled_methods

if TYPE_CHECKING:
    from bastion.protection.cooling_off_cache import CoolingOffCache
    from bastion.service.wiring import KeysRuntime, TravelRuleState
    from bastion.travel_rule.gate import TravelRuleGate


# Dependencies that do no I/O are `async def`: FastAPI runs sync ones in the threadpool, a thread hop per
# dependency per request on the hot routes.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; the route commits what it means to keep, the rest is rolled back."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


# ------------------------------------------------------------------------------------- shared app parts
# Built once by `create_app` (`service/wiring.py`); routes read them here, no router keeps a singleton.
def keys_runtime(app: FastAPI) -> KeysRuntime:
    """The app's keys machinery: vault, rate limits, the OKX-v5 authenticator, its clock."""
    runtime: KeysRuntime = app.state.keys_runtime
    return runtime


def cooling_off_cache(app: FastAPI) -> CoolingOffCache:
    """The app's cooling-off cache (activations announced through Redis, or a file in the data dir)."""
    cache: CoolingOffCache = app.state.cooling_off_cache
    return cache


def travel_rule_state(app: FastAPI) -> TravelRuleState:
    """This exchange as a Travel Rule counterparty (identity, sealer, windows, sender)."""
    state: TravelRuleState = app.state.travel_rule
    return state


def travel_rule_gate(app: FastAPI) -> TravelRuleGate:
    """The withdrawal hot path's Travel Rule check."""
    gate: TravelRuleGate = app.state.travel_rule_gate
    return gate


# ------------------------------------------------------------------------------------------------ clock
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class InProcessOverrides:
    """What only the code that creates the app in its own process may replace (tests, `bastion sim month`):
    each part's "now" and the keys domain's second-factor check. It is an argument of `create_app`, never a
    setting, a header or a route, so a production app (`bastion serve`, `app_factory`) always runs on the wall
    clock with the real TOTP check, and no request can move its time. A test that moves time hands the app a
    clock it keeps (e.g. `bastion.sim.clock.SimClock`) and moves that clock, never the app."""

    protection_clock: Clock | None = None
    diligence_clock: Clock | None = None
    travel_rule_clock: Clock | None = None
    keys_clock: Clock | None = None
    keys_second_factor: Callable[[Session, str, str, datetime], bool] | None = None

    def install(self, app: FastAPI) -> None:
        """Put the overrides where the clocks below (and the keys runtime, `service/wiring.py`) read them."""
        app.state.overrides = self


def _overrides(app: FastAPI) -> InProcessOverrides:
    overrides: InProcessOverrides = app.state.overrides
    return overrides


def protection_clock(app: FastAPI) -> Clock:
    """What the protection routes (cooling-off, order precheck, mistaken deposits, TOTP, passkeys, step-up,
    account security) take as "now": the wall clock unless the app was created with another one
    (`InProcessOverrides.protection_clock`), as the keys routes' clock is `KeysRuntime.clock`."""
    clock = _overrides(app).protection_clock
    return wall_clock if clock is None else clock


def diligence_clock(app: FastAPI) -> Clock:
    """The due-diligence routes' "now" (deadlines, overdue, retention): the wall clock unless the app was created
    with another one (`InProcessOverrides.diligence_clock`)."""
    clock = _overrides(app).diligence_clock
    return wall_clock if clock is None else clock


def travel_rule_clock(app: FastAPI) -> Clock:
    """The Travel Rule routes' "now" (holds, windows, message stamps): the wall clock unless the app was created
    with another one (`InProcessOverrides.travel_rule_clock`)."""
    clock = _overrides(app).travel_rule_clock
    return wall_clock if clock is None else clock


# ------------------------------------------------------------------------------------------------- risk
def start_risk(app: FastAPI) -> HotPath:
    """Build the risk domain's per-process parts (the app's lifespan calls this once, before serving): the cache
    of rules, lists and model, and the hot path every withdrawal decision goes through (state in memory, one
    catch-up read and one group commit for the requests in flight). Its queue is flushed at shutdown."""
    settings: Settings = app.state.settings
    runtime = RiskRuntime(cache_seconds=settings.risk_cache_seconds, async_commit=settings.risk_async_commit)
    # A step-up decision reads the user's enrolled factors, and other domains' checks may hold a withdrawal
    # (the Travel Rule's): risk imports neither, the service hands them in.
    hot_path = HotPath(app.state.engine, app.state.sessionmaker, runtime, step_up_methods=enrolled_methods)
    hot_path.hold_checks = list(getattr(app.state, "withdrawal_hold_checks", []))
    app.state.risk_runtime = runtime
    app.state.risk_hot_path = hot_path
    app.state.shutdown_hooks.append(hot_path.close)
    return hot_path


def risk_hot_path(app: FastAPI) -> HotPath:
    hot_path: HotPath | None = getattr(app.state, "risk_hot_path", None)
    if hot_path is None:
        raise RuntimeError("the risk hot path is built in the app's lifespan (start_risk): serve the app with it on")
    return hot_path


async def get_risk_runtime(request: Request) -> RiskRuntime:
    return risk_hot_path(request.app).runtime


RiskRuntimeDep = Annotated[RiskRuntime, Depends(get_risk_runtime)]
