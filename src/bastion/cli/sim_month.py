"""`simulate_month`: start the service in this process and run a simulated month through it over HTTP.

The simulator (`bastion.sim.month`) is a client and never imports the service; this is where the two meet.
The app is created here with the month's clocks installed (`InProcessOverrides`), served on a local port,
and the simulator gets an HTTP client to it, the same clocks, and the route table as plain data. A production
app (`bastion serve`) is never created with overrides, so no clock can be moved there.
"""

from __future__ import annotations

from pathlib import Path

from bastion.sim.month import MonthGroundTruth


def simulate_month(
    out_dir: Path | str,
    month: str,
    users: int = 400,
    seed: int = 7,
    db_url: str | None = None,
    progress: bool = True,
) -> MonthGroundTruth:
    """Simulate `month` ("YYYY-MM") with `users` users through the service; write `out_dir/ground-truth.json`."""
    import httpx

    from bastion.service.access import route_table
    from bastion.service.app import create_app
    from bastion.service.deps import InProcessOverrides
    from bastion.service.testing import ServerThread
    from bastion.sim import month as sim_month
    from bastion.sim.clock import SimClocks

    settings = sim_month.prepare_month(out_dir, month, users, db_url)
    clocks = SimClocks()
    app = create_app(
        settings,
        overrides=InProcessOverrides(
            protection_clock=clocks.protection,
            diligence_clock=clocks.diligence,
            travel_rule_clock=clocks.travel_rule,
            keys_clock=clocks.keys,
            keys_second_factor=sim_month.always_right,
        ),
    )
    routes = [(m, r.path, r.rule.kind) for r in route_table(app) for m in r.methods]
    try:
        with ServerThread(app) as base_url, httpx.Client(base_url=base_url, timeout=120) as client:
            return sim_month.simulate_month(
                client, clocks, routes, settings, out_dir, month, users=users, seed=seed,
                embedded=db_url is None, progress=progress,
            )  # fmt: skip
    finally:
        app.state.engine.dispose()
