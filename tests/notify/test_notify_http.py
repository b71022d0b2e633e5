"""Over HTTP with real clients: the official-channel registry (operator) and its public check, users' contact
addresses (service), and the service's own background dispatcher delivering an alert to a real SMTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from notify_support import SmtpSink
from typer.testing import CliRunner

from auth_support import OPERATOR, bearer, named_credential
from bastion.cli import app as cli_app
from bastion.notify.outbox import enqueue
from bastion.notify.settings import NotifySettings
from bastion.protection import anti_phishing
from bastion.service.app import create_app
from bastion.service.testing import ServerThread

CHANNELS = [
    ("website", "https://www.Bastion.example/", "main site"),
    ("email", "Bastion Security <security@bastion.example>", ""),
    ("phone", "+44 20 7946 0000", "support line"),
    ("social", "https://t.me/Bastion_Official", "announcements"),
]


@pytest.fixture
def served(settings: Any) -> Iterator[tuple[Any, httpx.Client]]:
    app = create_app(settings)
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield app, c
    app.state.engine.dispose()


def test_registry_and_public_verify(served: tuple[Any, httpx.Client]) -> None:
    _, c = served
    ids = []
    for kind, value, note in CHANNELS:
        r = c.post("/v1/notify/channels", json={"kind": kind, "value": value, "note": note}, headers=OPERATOR)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    again = c.post("/v1/notify/channels", json={"kind": "website", "value": "bastion.example"}, headers=OPERATOR)
    assert again.status_code == 409
    listed = c.get("/v1/notify/channels", headers=OPERATOR).json()
    assert sorted((x["kind"], x["value"]) for x in listed) == [
        ("email", "security@bastion.example"),
        ("phone", "+442079460000"),
        ("social", "telegram:@bastion_official"),
        ("website", "bastion.example"),
    ]

    def check(value: str) -> dict[str, Any]:
        r = c.get("/v1/public/verify", params={"value": value})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json" and r.headers["x-content-type-options"] == "nosniff"
        return dict(r.json())

    official = {
        "bastion.example": "website",
        "HTTPS://WWW.BASTION.EXAMPLE/login?next=/": "website",
        "support.bastion.example": "website",  # only the domain's owner can make its subdomains
        "SECURITY@bastion.example": "email",
        "Someone <security@www.bastion.example>": "email",
        "0044 20-7946-0000": "phone",
        "(+44) 20 7946 0000": "phone",
        "@Bastion_Official": "social",
        "telegram:@bastion_official": "social",
        "t.me/bastion_official": "social",
    }
    for value, kind in official.items():
        got = check(value)
        assert got["official"] is True and got["kind"] == kind, (value, got)
    fakes = {
        "bastion.example.evil.io": "website",
        "bаstion.example": "website",  # a Cyrillic "а": punycode, never the real domain
        "bastion-example.com": "website",
        "security@bastion.example.evil.io": "email",
        "support@bastion.example": "email",  # a sender is matched exactly
        "+44 20 7946 0001": "phone",
        "x.com/bastion_official": "social",  # the Telegram handle, but on another platform
        "@bastion_0fficial": "social",
    }
    for value, kind in fakes.items():
        got = check(value)
        assert got["official"] is False and got["kind"] == kind and got["matches"] == [], (value, got)
        assert "NOT an official channel" in got["advice"]

    # Markup never comes back: the answer carries only the normalised value, or a 422 naming the field.
    r = c.get("/v1/public/verify", params={"value": "<script>alert(1)</script>"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "value" and "<script" not in r.text
    r = c.get("/v1/public/verify", params={"value": "https://bastion.example/<img/src=x/onerror=alert(1)>"})
    assert r.status_code == 200 and "<" not in r.text and r.json()["value"] == "bastion.example"
    assert c.get("/v1/public/verify", params={"value": "x" * 300}).status_code == 422
    assert c.get("/v1/public/verify").status_code == 422

    # removed: no longer confirmed, at once
    assert c.delete(f"/v1/notify/channels/{ids[0]}", headers=OPERATOR).status_code == 200
    assert check("bastion.example")["official"] is False
    assert c.delete(f"/v1/notify/channels/{ids[0]}", headers=OPERATOR).status_code == 404


def test_registry_refuses_bad_values_naming_the_field(served: tuple[Any, httpx.Client]) -> None:
    _, c = served
    for body, field in [
        ({"kind": "website", "value": "not a domain"}, "value"),
        ({"kind": "phone", "value": "12345"}, "value"),
        ({"kind": "social", "value": "@bastion"}, "value"),  # which platform?
        ({"kind": "fax", "value": "+442079460000"}, "kind"),
        ({"kind": "website", "value": "bastion.example", "note": "<b>hi</b>"}, "note"),
    ]:
        r = c.post("/v1/notify/channels", json=body, headers=OPERATOR)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["field"].split(".")[-1] == field, (body, r.json())


def test_contact_ingest_is_service_only_and_validated(served: tuple[Any, httpx.Client], db_url: str) -> None:
    app, c = served
    token = named_credential(db_url, "account-service", ["notify:write"])
    r = c.put("/v1/notify/contacts/alice", json={"email": "alice@users.example"}, headers=bearer(token))
    assert r.status_code == 200
    r = c.put("/v1/notify/contacts/alice", json={"email": "alice@\r\nBcc: x@evil.io"}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "email"
    from bastion.notify import contacts
    from bastion.notify.models import Contact

    with app.state.sessionmaker() as s:
        assert contacts.get_email(s, app.state.settings.secret_key_bytes(), "alice") == "alice@users.example"
        assert b"alice@users.example" not in s.get(Contact, "alice").email_sealed  # sealed at rest
    assert c.delete("/v1/notify/contacts/alice", headers=bearer(token)).json() == {"removed": True}


def test_service_background_dispatcher_delivers(settings: Any, smtp_sink: SmtpSink) -> None:
    settings = settings.model_copy(
        update={"notify": NotifySettings(smtp_url=smtp_sink.url, notify_dispatch_interval_seconds=0.05)}  # type: ignore[arg-type]
    )
    app = create_app(settings)
    key = settings.secret_key_bytes()
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        put = c.put("/v1/notify/contacts/alice", json={"email": "alice@users.example"}, headers=OPERATOR)
        assert put.status_code == 200
        with app.state.sessionmaker() as s:
            anti_phishing.set_code(s, key, "alice", "Otter-99")
            enqueue(s, user_id="alice", kind="account_frozen", data={"by": "you"}, dedupe_key="f:1")
            s.commit()
        assert smtp_sink.wait_for(1)
        # the row is marked just after the server's 250: wait for that asynchronous step (bounded)
        deadline = time.monotonic() + 20
        while (rows := c.get("/v1/notify/outbox", headers=OPERATOR).json())[0]["status"] != "delivered":
            assert time.monotonic() < deadline, rows
    app.state.engine.dispose()
    [msg] = smtp_sink.messages
    assert msg["To"] == "alice@users.example" and "Anti-phishing code: Otter-99" in str(msg.get_content())
    assert {"channel": "email", "status": "delivered", "rows": 1} in rows


def test_channels_cli(db_url: str) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["channels", "add", "website", "https://www.Bastion.example", "--database-url", db_url])
    assert r.exit_code == 0 and "bastion.example" in r.output, r.output
    r = runner.invoke(cli_app, ["channels", "add", "phone", "0044 20 7946 0000", "--database-url", db_url])
    assert r.exit_code == 0 and "+442079460000" in r.output
    r = runner.invoke(cli_app, ["channels", "list", "--database-url", db_url])
    assert "website  bastion.example" in r.output and "phone    +442079460000" in r.output
    r = runner.invoke(cli_app, ["channels", "add", "phone", "12", "--database-url", db_url])
    assert (
        r.exit_code == 2
        and r.output.strip().splitlines()[-1].startswith("error: value: ")
        and "Traceback" not in r.output
    )
    r = runner.invoke(cli_app, ["channels", "remove", "999", "--database-url", db_url])
    assert r.exit_code == 2 and "no official channel 999" in r.output
    r = runner.invoke(cli_app, ["notify", "status", "--database-url", db_url])
    assert r.exit_code == 0 and "the outbox is empty" in r.output


def test_service_refuses_to_start_with_a_webhook_but_no_secret(settings: Any) -> None:
    """The service's dispatcher is built at start: a webhook URL without its secret fails the start, naming it."""
    import asyncio

    from bastion.errors import InvalidInputError
    from bastion.service.routers.notify import _lifespan

    bad = NotifySettings(alert_webhook_url="https://notify.internal/x", notify_dispatch_interval_seconds=5)  # type: ignore[call-arg]
    app = create_app(settings.model_copy(update={"notify": bad}))

    async def start() -> None:
        async with _lifespan(app):
            pass

    with pytest.raises(InvalidInputError) as exc:
        asyncio.run(start())
    assert exc.value.field == "alert_webhook_secret"
    app.state.engine.dispose()
