"""The /account/ page in headless Chromium against the real service: the user's checklist, devices and
allowlist as the /v1/account/* routes give them; removing a device (its session refused at once), adding an
address, and freezing the account (every session ends, withdrawals block); a device's user agent holding
markup is shown as text, never run. The page makes requests only to its own service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from auth_support import OPERATOR, bearer, user_token

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EVIL_UA = "<script>document.body.dataset.pwned='1'</script><img src=x onerror=\"document.body.dataset.pwned='2'\">"


@pytest.fixture
def account_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    from bastion.db.migrate import upgrade
    from bastion.service.app import create_app
    from bastion.service.deps import InProcessOverrides
    from bastion.service.testing import ServerThread
    from bastion.settings import Settings

    url = f"sqlite:///{tmp_path / 'account.sqlite'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        data_dir=tmp_path / "data",
        secret_key="x" * 40,  # type: ignore[arg-type]
        operator_token=OPERATOR["Authorization"].removeprefix("Bearer "),  # type: ignore[arg-type]
        risk_cache_seconds=0.0,
    )
    app = create_app(settings, overrides=InProcessOverrides(protection_clock=lambda: T0 + timedelta(hours=1)))
    with ServerThread(app) as base_url:
        yield base_url, settings


def _login(svc: httpx.Client, sid: str, fingerprint: str, ua: str, ip: str, at: datetime) -> str:
    body = {"user_id": "alice", "sid": sid, "device_fingerprint": fingerprint, "user_agent": ua, "ip": ip,
            "asn": 3320, "country": "DE", "at": at.isoformat()}  # fmt: skip
    r = svc.post("/v1/account/logins", json=body)
    assert r.status_code == 200, r.text
    device_id: str = r.json()["device_id"]
    return device_id


def test_account_page_removes_a_device_and_freezes(account_server: tuple[str, Any], page: Any) -> None:
    base_url, settings = account_server
    with httpx.Client(base_url=base_url, timeout=15, headers=OPERATOR) as svc:
        _login(svc, "sess-laptop", "fp-laptop", "Firefox on Linux", "198.51.100.7", T0 - timedelta(days=60))
        evil = _login(svc, "sess-evil", "fp-evil", EVIL_UA, "203.0.113.66", T0 - timedelta(hours=2))
        _login(svc, "sess-phone", "fp-phone", "Safari on iPhone", "198.51.100.9", T0 - timedelta(days=50))
        mine = user_token(settings, "alice", sid="sess-laptop")
        theirs = user_token(settings, "alice", sid="sess-evil")
        phone = user_token(settings, "alice", sid="sess-phone")
        assert svc.get("/v1/account/devices", headers=bearer(theirs)).status_code == 200

        page.goto(f"{base_url}/account/#session={mine}")
        page.wait_for_selector("body[data-state=loaded]")
        assert "#session" not in page.url  # taken out of the address bar at once
        rows = page.locator("#devices tbody tr")
        assert rows.count() == 3
        # The markup in a user agent is text on the page; nothing of it ran or became an element.
        evil_row = page.locator(f"#devices tr[data-device-id='{evil}']")
        assert evil_row.locator("td.ua").inner_text().startswith(EVIL_UA)
        assert evil_row.locator("script, img").count() == 0
        assert page.evaluate("document.body.dataset.pwned") is None
        assert "this device" in page.locator("#devices tr", has_text="Firefox on Linux").inner_text()
        # The checklist, as the service scores it.
        security = svc.get("/v1/account/security", headers=bearer(mine)).json()
        items = page.locator("#checklist li")
        assert items.count() == security["total"] and security["total"] > 0
        assert page.locator("#checklist li.done").count() == security["done"]
        assert f"score {security['score']}" in page.locator("#score").inner_text()

        # Remove the device the user does not recognise: gone from the list, its session refused at once.
        evil_row.get_by_role("button", name="Remove").click()
        page.wait_for_selector(f"#devices tr[data-device-id='{evil}']", state="detached")
        assert "1 session(s) ended" in page.locator("#status").inner_text()
        assert page.locator("#devices tbody tr").count() == 2
        assert svc.get("/v1/account/devices", headers=bearer(theirs)).status_code == 401
        assert svc.get("/v1/account/devices", headers=bearer(mine)).status_code == 200

        # An allowlist address, added from the page, usable 24 hours later.
        page.fill("#new-address", "TAllowAddr1")
        page.fill("#new-label", "cold <b>wallet</b>")
        page.click("#add-address")
        row = page.locator("#allowlist tr[data-address='TAllowAddr1']")
        row.wait_for()
        assert "cold <b>wallet</b>" in row.inner_text() and row.locator("b").count() == 0
        listed = svc.get("/v1/account/allowlist", headers=bearer(mine)).json()["addresses"]
        assert [a["address"] for a in listed] == ["TAllowAddr1"]

        # Freeze: two clicks on the page, then every session is over and withdrawals block.
        page.click("#freeze")
        page.click("#freeze-confirm")
        page.wait_for_selector("body[data-state=frozen]")
        assert page.locator("#frozen").is_visible() and not page.locator("#account").is_visible()
        for token in (mine, phone):
            assert svc.get("/v1/account/devices", headers=bearer(token)).status_code == 401
        wd = {"event_id": "wd-after-freeze", "user_id": "alice", "at": (T0 + timedelta(hours=1)).isoformat(),
              "asset": "USDT", "amount": "50", "amount_usd": "50", "address": "TAllowAddr1"}  # fmt: skip
        d = svc.post("/v1/withdrawals/evaluate", json=wd).json()
        assert d["decision"] == "block" and d["reason"] == "account_frozen", d
        # Reloading the page with the old session: signed out, told why.
        page.goto(f"{base_url}/account/#session={mine}")
        page.wait_for_selector("body[data-state=signed-out]")
        assert "sign in" in page.locator("#status").inner_text()

    hosts = {urlparse(r.url).netloc for r in page.recorded.requests}
    assert hosts == {urlparse(base_url).netloc}, hosts
    assert not [c for c in page.recorded.console if c.startswith("pageerror")], page.recorded.console


def test_account_page_without_a_session_asks_for_one(account_server: tuple[str, Any], page: Any) -> None:
    base_url, settings = account_server
    r = httpx.get(f"{base_url}/account/")
    assert r.status_code == 200 and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    page.goto(f"{base_url}/account/")
    page.wait_for_selector("body[data-state=signed-out]")
    assert page.locator("#signin").is_visible()
    # A pasted development token works as the fragment does.
    page.fill("#token", user_token(settings, "bob", sid="sess-bob"))
    page.click("#use-token")
    page.wait_for_selector("body[data-state=loaded]")
    assert page.locator("#devices tbody tr").count() == 0
    assert page.locator("#checklist li").count() > 0
