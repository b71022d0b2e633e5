"""Two real Bastion services on loopback, each the other's counterparty in its Travel Rule directory, each with its
own SQLite database and data dir (its own signing key), on an injected clock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from stdnum.iso7064 import mod_97_10

from auth_support import OPERATOR, OPERATOR_TOKEN, user_headers
from bastion.service.app import create_app
from bastion.service.deps import InProcessOverrides
from bastion.service.routers.travel_rule import state_of
from bastion.service.testing import ServerThread, free_port
from bastion.settings import Settings
from bastion.travel_rule import directory, protocol
from bastion.travel_rule import rules as tr_rules
from bastion.travel_rule.settings import TravelRuleSettings

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_lei(base18: str) -> str:
    return base18 + mod_97_10.calc_check_digits(base18)


@dataclass
class Side:
    name: str
    lei: str
    url: str
    app: Any
    settings: Settings
    clock: list[datetime]
    # the deposit addresses this exchange's users receive on (known to the other side's directory)
    address: str

    def user(self, uid: str) -> dict[str, str]:
        return user_headers(self.settings, uid)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20, headers=OPERATOR)

    def identity(self) -> protocol.Identity:
        return state_of(self.app).identity

    def session(self) -> Any:
        return self.app.state.sessionmaker()


def make_settings(db_url: str, data_dir: Path, name: str, lei: str, port: int, cache_seconds: float = 0.0) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=data_dir,
        secret_key=f"test-secret-key-{name}-0123456789abcdef0123456789",  # type: ignore[arg-type]
        operator_token=OPERATOR_TOKEN,  # type: ignore[arg-type]
        risk_cache_seconds=0.0,
        travel_rule=TravelRuleSettings(
            lei=lei, name=name, jurisdiction="EU", endpoint=f"http://127.0.0.1:{port}", cache_seconds=cache_seconds
        ),
    )


def seed_prices(app: Any) -> None:
    with app.state.sessionmaker() as s:
        for asset, ccy, price in (("ETH", "EUR", "3000"), ("ETH", "USD", "3300"), ("USD", "EUR", "0.9")):
            tr_rules.set_price(s, date(2026, 1, 1), asset, ccy, Decimal(price))
        s.commit()


def know(side: Side, other: Side) -> None:
    """`side`'s directory gets `other` (its key, endpoint and deposit address), as `bastion travel-rule vasps add`."""
    with side.session() as s:
        directory.add(
            s, name=other.name, lei=other.lei, endpoint=other.url,
            jwk=protocol.public_jwk_of(other.identity().key), jurisdiction="EU",
            addresses=[("ethereum", other.address)], by="test",
        )  # fmt: skip
        s.commit()


@pytest.fixture(scope="module")
def pair(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    sides = []
    threads = []
    for name, base, address in (("Alpha Exchange", "529900ALPHA0000000", "0x" + "a1" * 20),
                                ("Beta Exchange", "529900BETA00000000", "0x" + "b2" * 20)):  # fmt: skip
        tmp = tmp_path_factory.mktemp(name.split()[0].lower())
        shutil.copyfile(_sqlite_template, tmp / "db.sqlite")
        port = free_port()
        lei = make_lei(base)
        settings = make_settings(f"sqlite:///{tmp / 'db.sqlite'}", tmp / "data", name, lei, port)
        clock = [T0]
        app = create_app(settings, overrides=InProcessOverrides(travel_rule_clock=lambda c=clock: c[0]))
        seed_prices(app)
        thread = ServerThread(app, port=port)
        url = thread.__enter__()
        threads.append(thread)
        sides.append(Side(name, lei, url, app, settings, clock, address))
    a, b = sides
    know(a, b)
    know(b, a)
    try:
        yield a, b
    finally:
        for t in threads:
            t.__exit__(None, None, None)
        for s in sides:
            s.app.state.engine.dispose()
