"""Fixtures for the API-key tests: the real service under uvicorn on loopback (see keys_support)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from keys_support import Service, build_app

from bastion.service.okx_auth import keys_runtime


@pytest.fixture
def keys_settings(settings: Any) -> Any:
    # The scheduled sweeper is off unless a test turns it on; limits high unless a test lowers them.
    return settings.model_copy(
        update={
            "keys_sweep_interval_seconds": 0.0,
            "keys_rate_limit_per_key": "1000/second",
            "keys_rate_limit_per_user": "1000/second",
        }
    )


@pytest.fixture
def service(keys_settings: Any) -> Iterator[Service]:
    from bastion.service.testing import ServerThread

    app = build_app(keys_settings)
    with ServerThread(app) as url:
        yield Service(app, url, keys_runtime(app))
