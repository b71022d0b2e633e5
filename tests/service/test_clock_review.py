"""Review of the clock wiring (b013d39): every part's "now" is read in service/deps.py from the overrides the app
was created with. An app created as production creates it (`create_app(settings)`, `app_factory()` for `bastion
serve`'s workers) runs every clock on the wall clock, whatever the environment says."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.service.deps import (
    InProcessOverrides,
    diligence_clock,
    protection_clock,
    travel_rule_clock,
    wall_clock,
)
from bastion.settings import Settings

# What an attacker who can set the service's environment (or a careless deployment) might try.
SPOOFED_ENV = {
    name: "1999-01-01T00:00:00Z"
    for name in (
        "BASTION_PROTECTION_CLOCK",
        "BASTION_DILIGENCE_CLOCK",
        "BASTION_TRAVEL_RULE_CLOCK",
        "BASTION_KEYS_CLOCK",
        "BASTION_CLOCK",
        "BASTION_NOW",
        "BASTION_OVERRIDES",
    )
}


def _assert_wall_clocks(app: Any) -> None:
    from bastion.service.okx_auth import keys_runtime
    from bastion.service.wiring import _utcnow

    assert app.state.overrides == InProcessOverrides()
    assert protection_clock(app) is wall_clock
    assert diligence_clock(app) is wall_clock
    assert travel_rule_clock(app) is wall_clock
    runtime = keys_runtime(app)
    assert runtime.clock is _utcnow
    assert runtime.second_factor is not None
    assert runtime.second_factor.__qualname__.startswith("totp_second_factor.")  # the real TOTP check


def test_settings_have_no_clock() -> None:
    """No setting (hence no BASTION_ variable) names a clock or a time to run at."""
    words = ("clock", "now", "offset", "fake", "freeze_time", "override")
    assert [f for f in Settings.model_fields if any(w in f for w in words)] == []


def test_create_app_without_overrides_runs_on_the_wall_clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.service.app import create_app

    for name, value in SPOOFED_ENV.items():
        monkeypatch.setenv(name, value)
    app = create_app(settings)
    try:
        _assert_wall_clocks(app)
    finally:
        app.state.engine.dispose()


def test_app_factory_runs_on_the_wall_clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`bastion serve`'s workers (`uvicorn --factory bastion.service.app:app_factory`) read only the
    environment; with every spoofed clock variable set, their clocks are still the wall clock."""
    from bastion.service.app import app_factory

    monkeypatch.setenv("BASTION_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BASTION_DATA_DIR", str(settings.data_dir))
    for name, value in SPOOFED_ENV.items():
        monkeypatch.setenv(name, value)
    app = app_factory()
    try:
        _assert_wall_clocks(app)
    finally:
        app.state.engine.dispose()


def test_overrides_cannot_be_changed_after_creation(settings: Any) -> None:
    """The overrides an app was created with are frozen: code holding the app cannot swap one clock in place."""
    from dataclasses import FrozenInstanceError

    from bastion.service.app import create_app

    app = create_app(settings)
    try:
        with pytest.raises(FrozenInstanceError):
            app.state.overrides.protection_clock = lambda: None
    finally:
        app.state.engine.dispose()
