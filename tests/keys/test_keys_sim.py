"""The simulated month lands in the database and the monthly metrics read it back consistently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bastion.db.sealing import Keyring
from bastion.keys import metrics
from bastion.keys.crypto import new_encryption_key
from bastion.keys.lifecycle import KeyVault
from bastion.sim.api_keys import simulate_month


def test_simulated_month_matches_metrics(session_factory: Any) -> None:
    start = datetime(2025, 5, 1, tzinfo=UTC)
    vault = KeyVault(Keyring.from_setting(new_encryption_key()))
    out = simulate_month(session_factory, vault, start, users=8, requests=100, seed=3)
    with session_factory() as s:
        m = metrics.monthly(s, start, start + timedelta(days=31))
    assert (m.created_direct, m.created_fast_api) == (out.keys_direct, out.keys_fast_api)
    assert m.created_fast_api > 0 and m.bound_to_apps == m.created_fast_api
    assert m.swept == out.swept > 0
    assert m.rejections_by_code == dict(sorted(out.rejected.items())) and m.rejections > 0
    assert out.requests_ok + m.rejections == 100
    # The same seed gives the same month (its sweeps also catch what the first month left idle).
    again = simulate_month(session_factory, vault, start + timedelta(days=62), users=8, requests=100, seed=3)
    assert (again.keys_direct, again.keys_fast_api, again.rejected) == (
        out.keys_direct,
        out.keys_fast_api,
        out.rejected,
    )
