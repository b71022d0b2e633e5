"""The access model, tried the way an attacker would: every route of the running service, from its OpenAPI
schema, called with no credential, with a credential that lacks the route's scope or is of the wrong kind,
and (user routes) as another user. Plus the table itself: exactly one kind per route, a short explicit public
list, and docs/security.md generated from it.

A route added without a marker fails `test_every_route_declares_exactly_one_kind`; one added with a marker
but not reachable by its rightful caller fails the walker's "the right credential gets past the door" check;
a user route added without an other-user case here fails `test_every_user_route_has_an_other_user_case`.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfWriter

from auth_support import OPERATOR, bearer, named_credential, user_headers
from bastion.access.scopes import OPERATOR_SCOPES, SERVICE_SCOPES
from bastion.keys import lifecycle, signing
from bastion.service.access import Rule, render_docs, route_table
from bastion.service.app import create_app
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread

ROOT = Path(__file__).resolve().parents[2]

# Everything anyone may call. Short on purpose: adding to it is a decision someone has to write down here.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/por"),
    ("GET", "/por/"),
    ("GET", "/por/static/{name}"),
    ("GET", "/por/api/round"),
    ("GET", "/por/files/{name:path}"),
    ("GET", "/v1/public/insurance-fund"),
    ("GET", "/v1/public/adl"),
    ("GET", "/v1/public/protection-fund"),
    ("GET", "/por/rounds"),
    ("GET", "/por/api/rounds"),
    ("GET", "/por/api/rounds/{round_id}"),
    ("GET", "/por/rounds/{round_id}/files/{name:path}"),
    # the appropriateness questionnaire's questions (never its answers)
    ("GET", "/v1/beginner/questionnaire"),
    ("GET", "/v1/public/funds/disclosures"),
    # the funds page: the protection fund's figures and both funds' disclosures, read from the two above
    ("GET", "/funds"),
    ("GET", "/funds/"),
    ("GET", "/funds/static/{name}"),
    # is this website / email sender / phone / social handle an official channel? (answers only yes/no and the
    # normalised value, never the raw input; the registry itself is operator-only)
    ("GET", "/v1/public/verify"),
    # the account security page: static files only; its data comes from the /v1/account/* user routes
    ("GET", "/account"),
    ("GET", "/account/"),
    ("GET", "/account/static/{name}"),
    # a third-party app's server redeeming a code: its client secret (in the body) is the credential
    ("POST", "/v1/fast-api/token"),
    # another exchange's Travel Rule message: its JWS signature by the key in our VASP directory is the credential
    # (refusals: tests/travel_rule/test_exchange.py)
    ("POST", "/v1/travel-rule/messages"),
}


def _rules(app: Any) -> dict[tuple[str, str], Rule]:
    out = {}
    for r in route_table(app):
        for m in r.methods:
            if m != "HEAD":
                out[(m, r.path)] = r.rule
    return out


def test_every_route_declares_exactly_one_kind(settings: Any) -> None:
    app = create_app(settings)
    bad = [f"{'/'.join(r.methods)} {r.path}: {len(r.rules)}" for r in route_table(app) if len(r.rules) != 1]
    assert not bad, f"routes without exactly one access marker (bastion.service.access): {bad}"
    public = {k for k, rule in _rules(app).items() if rule.kind == "public"}
    assert public == PUBLIC, f"public routes changed: added {public - PUBLIC}, removed {PUBLIC - public}"
    app.state.engine.dispose()


def test_a_route_without_a_marker_or_with_two_is_caught(settings: Any) -> None:
    """The check above can fail: a route with no marker, and one with two, are both reported."""
    from fastapi import APIRouter

    from bastion.service.access import OperatorScope, Public

    app = create_app(settings)
    router = APIRouter()

    @router.get("/_naked")
    def naked() -> None: ...

    @router.get("/_both", dependencies=[Public, OperatorScope("risk:admin")])
    def both() -> None: ...

    app.include_router(router)
    counts = {r.path: len(r.rules) for r in route_table(app)}
    assert counts["/_naked"] == 0 and counts["/_both"] == 2
    app.state.engine.dispose()


def test_docs_security_md_is_generated_from_the_code(settings: Any) -> None:
    app = create_app(settings)
    current = (ROOT / "docs" / "security.md").read_text()
    assert render_docs(current, app) == current, (
        "docs/security.md is stale: python -m bastion.service.route_docs docs/security.md"
    )
    app.state.engine.dispose()


# ------------------------------------------------------------------------------------------ the walker
@dataclass
class World:
    app: Any
    url: str
    settings: Any
    db_url: str
    keys: dict[str, Any]  # user -> IssuedKey (read permission)
    _wrong: dict[str, str]

    def all_but(self, scope: str) -> dict[str, str]:
        """A named credential holding every service and operator scope except `scope`."""
        if scope not in self._wrong:
            others = sorted((SERVICE_SCOPES.keys() | OPERATOR_SCOPES.keys()) - {scope})
            self._wrong[scope] = named_credential(self.db_url, f"walker-no-{scope.replace(':', '-')}", others)
        return bearer(self._wrong[scope])

    def only(self, scope: str) -> dict[str, str]:
        key = f"only:{scope}"
        if key not in self._wrong:
            self._wrong[key] = named_credential(self.db_url, f"walker-only-{scope.replace(':', '-')}", [scope])
        return bearer(self._wrong[key])

    def user(self, uid: str) -> dict[str, str]:
        return user_headers(self.settings, uid)

    def signed(self, uid: str, method: str, path: str, body: str = "") -> dict[str, str]:
        key = self.keys[uid]
        ts = signing.format_timestamp(datetime.now(UTC))
        return {
            "OK-ACCESS-KEY": key.key_id,
            "OK-ACCESS-SIGN": signing.sign(key.secret, ts, method, path, body),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": "Passphrase123!",
        }


@pytest.fixture
def world(settings: Any, db_url: str) -> Iterator[World]:
    settings = settings.model_copy(
        update={"keys_rate_limit_per_key": "1000/second", "keys_rate_limit_per_user": "1000/second"}
    )
    app = create_app(settings)
    rt = keys_runtime(app)
    keys = {}
    with app.state.sessionmaker() as s:
        for uid in ("alice", "bob"):
            keys[uid] = lifecycle.create_key(
                s, rt.vault, user_id=uid, label="walker", permissions=["read"], ips=[], passphrase="Passphrase123!",
                now=rt.clock(),
            )  # fmt: skip
        s.commit()
    with ServerThread(app) as url:
        yield World(app, url, settings, db_url, keys, {})
    app.state.engine.dispose()


_SAMPLE = {"integer": "1", "number": "1"}


def _fill(path: str, params: list[dict[str, Any]]) -> str:
    """A concrete path: each path parameter replaced by a value of its type (an enum's first value)."""
    by_name = {p["name"]: p.get("schema", {}) for p in params if p.get("in") == "path"}

    def value(m: re.Match[str]) -> str:
        schema = by_name.get(m.group(1), {})
        if "enum" in schema:
            return str(schema["enum"][0])
        for ref in schema.get("allOf", []) + schema.get("anyOf", []) + [schema]:
            if "$ref" in ref:
                return "phishing_address"  # the only enum path parameter (risk list kinds)
        return _SAMPLE.get(schema.get("type", ""), "walker-x")

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, path)


def _operations(world: World) -> list[tuple[str, str, str, Rule]]:
    """(method, route path, concrete path, rule) for every operation in the served OpenAPI schema."""
    schema = httpx.get(f"{world.url}/openapi.json").json()
    rules = _rules(world.app)
    out = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            m = method.upper()
            out.append((m, path, _fill(path, op.get("parameters", []) + item.get("parameters", [])), rules[(m, path)]))
    return out


def test_every_route_is_walked(world: World) -> None:
    """Routes missing from the schema are all public (the page and its files): the walker sees the rest."""
    walked = {(m, p) for m, p, _, _ in _operations(world)}
    hidden = {k for k, rule in _rules(world.app).items() if k not in walked}
    assert all(_rules(world.app)[k].kind == "public" for k in hidden), hidden


def test_walker_no_credential_wrong_credential_right_credential(world: World) -> None:
    ops = [o for o in _operations(world) if o[3].kind != "public"]
    assert len(ops) > 40  # the walk really covers the service
    problems: list[str] = []
    with httpx.Client(base_url=world.url, timeout=30) as c:

        def call(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
            return c.request(method, path, json={} if method in ("POST", "PUT") else None, headers=headers)

        for method, route, path, rule in ops:
            where = f"{method} {route}"
            # 1. nobody: 401, whatever the body
            r = call(method, path, {})
            if r.status_code != 401:
                problems.append(f"{where}: no credential -> {r.status_code}")
            for fake in ("bst_not-a-real-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."):
                garbage = call(method, path, bearer(fake))
                if garbage.status_code != 401:
                    problems.append(f"{where}: unknown token {fake[:8]} -> {garbage.status_code}")
            if rule.kind in ("service", "operator"):
                # 2. the wrong credential: everything but this scope; a user's session
                for who, headers in (
                    ("all-but-scope", world.all_but(rule.need)),
                    ("user session", world.user("alice")),
                ):
                    r = call(method, path, headers)
                    if r.status_code != 403:
                        problems.append(f"{where}: {who} -> {r.status_code} {r.text[:80]}")
                # 3. the right credential (only this scope) gets past the door (then its body may be wrong)
                r = call(method, path, world.only(rule.need))
                if r.status_code in (401, 403):
                    problems.append(f"{where}: a credential with {rule.need} -> {r.status_code} {r.text[:80]}")
            elif rule.kind == "user":
                # 2. an admin credential (every scope) is not a user; on the OKX-only routes it is no key at all
                r = call(method, path, OPERATOR)
                want = 401 if rule.note.startswith("OKX") else 403
                if r.status_code != want:
                    problems.append(f"{where}: operator credential -> {r.status_code} (want {want})")
                # 3. a user gets past the door (the other-user cases below check what they can reach)
                okx = rule.note.startswith("OKX")
                headers = world.signed("alice", method, path) if okx else world.user("alice")
                r = call(method, path, headers)
                if r.status_code in (401, 403):
                    problems.append(f"{where}: alice's own credential -> {r.status_code} {r.text[:80]}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------- as another user
_n = itertools.count()


def _observed(c: httpx.Client, txid: str, user: str | None) -> None:
    obs = {"chain": "XRP", "txid": txid, "token": "XRP", "to_address": "rEx", "amount": "5", "usd_value": "3",
           "observed_at": datetime.now(UTC).isoformat(), "user_id": user}  # fmt: skip
    assert c.post("/v1/deposits/observed", json=obs, headers=OPERATOR).status_code == 200


def _case_of(c: httpx.Client, w: World, user: str) -> int:
    txid = f"walk-{next(_n)}"
    _observed(c, txid, None)
    r = c.post("/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": txid}, headers=w.user(user))
    assert r.status_code == 200 and r.json()["case"] is not None, r.text
    return int(r.json()["case"]["id"])


def _same_404(a: httpx.Response, b: httpx.Response) -> None:
    """Another user's object and one that does not exist answer alike: nothing said about existence."""
    assert a.status_code == b.status_code == 404, (a.text, b.text)
    norm = [re.sub(r"\d+", "N", r.text) for r in (a, b)]
    assert norm[0] == norm[1]


def _cooling_off_post(c: httpx.Client, w: World) -> None:
    # bob's valid request acts for bob: there is no field or path naming anyone else
    r = c.post("/v1/cooling-off", json={"request_id": f"w{next(_n)}", "period": "1d"}, headers=w.user("bob"))
    assert r.status_code == 200 and r.json()["user_id"] == "bob"
    alice = c.get("/v1/cooling-off/alice", headers=w.user("alice")).json()
    assert alice["active"] is False


def _cooling_off_get(c: httpx.Client, w: World) -> None:
    c.post("/v1/cooling-off", json={"request_id": f"w{next(_n)}", "period": "1d"}, headers=w.user("alice"))
    _same_404(
        c.get("/v1/cooling-off/alice", headers=w.user("bob")), c.get("/v1/cooling-off/nobody", headers=w.user("bob"))
    )


def _mistaken_check(c: httpx.Client, w: World) -> None:
    txid = f"alice-{next(_n)}"
    _observed(c, txid, "alice")  # credited to alice's account... but with a mistake (no memo)
    theirs = c.post("/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": txid}, headers=w.user("bob"))
    unknown = c.post("/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": "never"}, headers=w.user("bob"))
    assert theirs.status_code == unknown.status_code == 200 and theirs.json() == unknown.json()
    assert theirs.json() == {"status": "not_found", "case": None}
    mine = c.post("/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": txid}, headers=w.user("alice"))
    assert mine.json()["case"]["user_id"] == "alice"


def _case_get(c: httpx.Client, w: World) -> None:
    case_id = _case_of(c, w, "alice")
    _same_404(c.get(f"/v1/deposits/cases/{case_id}", headers=w.user("bob")),
              c.get("/v1/deposits/cases/987654", headers=w.user("bob")))  # fmt: skip
    assert c.get(f"/v1/deposits/cases/{case_id}", headers=w.user("alice")).status_code == 200


def _authorize(c: httpx.Client, w: World) -> None:
    app = c.post("/v1/fast-api/apps", headers=OPERATOR, json={
        "name": "Walker", "redirect_uri": "https://walker.example/cb", "ips": ["127.0.0.1"]})  # fmt: skip
    consent = {"client_id": app.json()["client_id"], "redirect_uri": "https://walker.example/cb", "perms": ["read"]}
    r = c.post("/v1/fast-api/authorize", json=consent, headers=w.user("bob"))
    assert r.status_code == 200
    from bastion.keys.models import FastApiCode

    with w.app.state.sessionmaker() as s:
        users = {g.user_id for g in s.query(FastApiCode).all()}
    assert users == {"bob"}


def _own_path(method: str, route: str, body: Any) -> Callable[[httpx.Client, World], None]:
    def check(c: httpx.Client, w: World) -> None:
        theirs = c.request(method, route.replace("{user_id}", "alice"), json=body, headers=w.user("bob"))
        nobody = c.request(method, route.replace("{user_id}", "nobody"), json=body, headers=w.user("bob"))
        _same_404(theirs, nobody)
        mine = c.request(method, route.replace("{user_id}", "bob"), json=body, headers=w.user("bob"))
        # bob's own uid gets past the guard (the domain may still say bob has no passkey)
        assert mine.status_code not in (401, 403) and mine.json() != theirs.json(), (route, mine.text)

    return check


def _my_keys(c: httpx.Client, w: World) -> None:
    r = c.get("/v1/keys", headers=w.signed("bob", "GET", "/v1/keys"))
    assert [k["apiKey"] for k in r.json()["data"]] == [w.keys["bob"].key_id]


def _pfund_cases(c: httpx.Client, w: World) -> None:
    admin = OPERATOR  # the bootstrap admin (pfund:admin among its scopes)
    r = c.post("/v1/pfund/incidents", headers=admin, json={
        "ref": f"walk-{next(_n)}", "kind": "hack", "title": "walker", "occurred_at": datetime.now(UTC).isoformat(),
        "actor": "ciso"})  # fmt: skip
    assert r.status_code == 200, r.text
    iid = r.json()["id"]
    users = [{"user_id": "alice", "ccy": "USDT", "amount": "5"}]
    assert c.post(f"/v1/pfund/incidents/{iid}/affected", json={"actor": "ciso", "users": users},
                  headers=admin).status_code == 200  # fmt: skip
    assert c.get("/v1/pfund/my-cases", headers=w.user("bob")).json() == {"cases": []}
    assert len(c.get("/v1/pfund/my-cases", headers=w.user("alice")).json()["cases"]) == 1


BEGINNER_RULES = {
    "enabled": True, "account_age_days": 30, "no_derivatives_history": True, "cooling_off_hours": 24,
    "max_leverage": "10", "max_position_usd": "1000",
    "questionnaire": {"pass_mark": 1, "retry_hours": 1,
                      "questions": [{"id": "a", "text": "A?", "options": ["x", "y"], "answer": 1}]},
}  # fmt: skip


def _beginner_rules(c: httpx.Client) -> None:
    r = c.put("/v1/beginner/rules", json={"definition": BEGINNER_RULES, "actor": "walker"}, headers=OPERATOR)
    assert r.status_code == 200, r.text


def _beginner_questionnaire(c: httpx.Client, w: World) -> None:
    _beginner_rules(c)
    r = c.post("/v1/beginner/questionnaire", json={"answers": {"a": 1}}, headers=w.user("bob"))
    assert r.status_code == 200 and r.json()["passed"] is True, r.text
    from bastion.protection.models import QuestionnaireAttempt

    with w.app.state.sessionmaker() as s:
        assert {a.user_id for a in s.query(QuestionnaireAttempt).all()} == {"bob"}
    alice = c.get("/v1/beginner/status", headers=w.user("alice")).json()
    assert alice["questionnaire_passed"] is False


def _beginner_status(c: httpx.Client, w: World) -> None:
    _beginner_rules(c)
    c.post("/v1/beginner/questionnaire", json={"answers": {"a": 1}}, headers=w.user("alice"))
    assert c.get("/v1/beginner/status", headers=w.user("alice")).json()["questionnaire_passed"] is True
    assert c.get("/v1/beginner/status", headers=w.user("bob")).json()["questionnaire_passed"] is False


def _account_config(c: httpx.Client, w: World) -> None:
    r = c.get("/api/v5/account/config", headers=w.signed("bob", "GET", "/api/v5/account/config"))
    assert r.json()["data"][0]["uid"] == "bob"


def _por_my_proof(c: httpx.Client, w: World) -> None:
    """Alice's session (or Bob's API key) gets their own proof of the published round, whatever the query says."""
    import json
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="walker-round-"))
    (base / "users").mkdir()
    (base / "round.json").write_text(json.dumps({"format": "bastion-round/3", "round_id": "walk"}))
    for uid in ("alice", "bob"):
        (base / "users" / f"{uid}.json").write_text(json.dumps({"format": "bastion-user-proof/1", "uid": uid}))
    settings = w.app.state.settings
    before = settings.round_dir
    settings.round_dir = base  # the running app publishes this round for the length of the case
    try:
        r = c.get("/v1/por/my-proof", params={"uid": "bob", "user_id": "bob"}, headers=w.user("alice"))
        assert r.status_code == 200 and r.json()["uid"] == "alice", r.text
        signed = w.signed("bob", "GET", "/v1/por/my-proof")
        assert c.get("/v1/por/my-proof", headers=signed).json()["uid"] == "bob"
        r = c.get("/v1/por/my-proof", headers=w.user("carol"))  # not in the round: nothing, and nobody else's
        assert r.status_code == 404 and "alice" not in r.text and "bob" not in r.text
    finally:
        settings.round_dir = before


def _account_login(c: httpx.Client, uid: str, sid: str, device: str) -> str:
    body = {"user_id": uid, "sid": sid, "device_fingerprint": device, "ip": "203.0.113.9"}
    r = c.post("/v1/account/logins", json=body, headers=OPERATOR)
    assert r.status_code == 200, r.text
    return str(r.json()["device_id"])


def _sid_headers(w: World, uid: str, sid: str) -> dict[str, str]:
    from auth_support import user_token

    return bearer(user_token(w.settings, uid, sid=sid))


def _account_devices(c: httpx.Client, w: World) -> None:
    theirs = _account_login(c, "alice", f"a{next(_n)}", "fp-alice")
    bob = c.get("/v1/account/devices", headers=w.user("bob")).json()["devices"]
    assert theirs not in {d["device_id"] for d in bob}


def _account_device_delete(c: httpx.Client, w: World) -> None:
    sid = f"a{next(_n)}"
    theirs = _account_login(c, "alice", sid, "fp-alice")
    _same_404(c.delete(f"/v1/account/devices/{theirs}", headers=w.user("bob")),
              c.delete("/v1/account/devices/dev_0123456789abcdef01234567", headers=w.user("bob")))  # fmt: skip
    assert c.get("/v1/account/devices", headers=_sid_headers(w, "alice", sid)).status_code == 200


def _account_remove_others(c: httpx.Client, w: World) -> None:
    sid = f"a{next(_n)}"
    _account_login(c, "alice", sid, "fp-alice")
    assert c.post("/v1/account/devices/remove-others", headers=w.user("bob")).json()["removed_devices"] == []
    assert c.get("/v1/account/devices", headers=_sid_headers(w, "alice", sid)).status_code == 200


def _account_freeze(c: httpx.Client, w: World) -> None:
    r = c.post("/v1/account/freeze", json={"confirm": True}, headers=w.user("bob"))
    assert r.status_code == 200 and r.json()["user_id"] == "bob"
    assert c.get("/v1/account/security", headers=w.user("alice")).status_code == 200  # alice is not frozen
    assert c.get("/v1/account/security", headers=w.user("bob")).status_code == 401


def _account_allowlist_get(c: httpx.Client, w: World) -> None:
    r = c.post("/v1/account/allowlist", json={"address": "0xA11CE"}, headers=w.user("alice"))
    assert r.status_code == 201, r.text
    assert c.get("/v1/account/allowlist", headers=w.user("bob")).json()["addresses"] == []


def _account_allowlist_post(c: httpx.Client, w: World) -> None:
    assert c.post("/v1/account/allowlist", json={"address": "0xB0B"}, headers=w.user("bob")).status_code == 201
    assert c.get("/v1/account/allowlist", headers=w.user("alice")).json()["addresses"] == []


def _account_allowlist_delete(c: httpx.Client, w: World) -> None:
    c.post("/v1/account/allowlist", json={"address": "0xA11CE"}, headers=w.user("alice"))
    theirs = c.delete("/v1/account/allowlist", params={"address": "0xA11CE"}, headers=w.user("bob"))
    nobody = c.delete("/v1/account/allowlist", params={"address": "0xN0NE"}, headers=w.user("bob"))
    assert theirs.status_code == nobody.status_code == 404
    assert [x["address"] for x in c.get("/v1/account/allowlist", headers=w.user("alice")).json()["addresses"]] == [
        "0xa11ce"
    ]


def _account_allowlist_mode(c: httpx.Client, w: World) -> None:
    r = c.post("/v1/account/allowlist/mode", json={"allowlist_only": True}, headers=w.user("bob"))
    assert r.status_code == 200 and r.json()["allowlist_only"] is True
    assert c.get("/v1/account/allowlist", headers=w.user("alice")).json()["allowlist_only"] is False


def _account_security(c: httpx.Client, w: World) -> None:
    c.post("/v1/account/allowlist/mode", json={"allowlist_only": True}, headers=w.user("alice"))
    items = {i["id"]: i["done"] for i in c.get("/v1/account/security", headers=w.user("bob")).json()["items"]}
    assert items["allowlist_only"] is False


def _alices_step_up(c: httpx.Client, w: World) -> tuple[str, str]:
    """A withdrawal of alice's waiting for her step-up (a rule set with a step-up rule, her TOTP enrolled); its
    id and a valid code."""
    import pyotp

    from bastion.protection import totp
    from bastion.risk.decide.rules import DEFAULT_SCENARIO

    rule = {"id": "walker_step_up", "score": 0, "step_up": True, "when": {"feature": "amount_usd", "op": ">=",
                                                                          "value": 1000}}  # fmt: skip
    definition = {**DEFAULT_SCENARIO, "rules": [*DEFAULT_SCENARIO["rules"], rule]}
    r = c.post("/v1/risk/rulesets", json={"definition": definition, "created_by": "walker", "activate": True},
               headers=OPERATOR)  # fmt: skip
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    key = w.settings.secret_key_bytes()
    with w.app.state.sessionmaker() as s:
        before = now - timedelta(minutes=2)
        seed = pyotp.TOTP(totp.enroll(s, key, "alice", "alice", now=before).secret)
        assert totp.confirm(s, key, "alice", seed.at(before), before) is totp.Check.ok
        s.commit()
    event_id = f"walk-wd-{next(_n)}"
    body = {"event_id": event_id, "user_id": "alice", "asset": "USDT", "amount": "1500", "amount_usd": "1500",
            "address": "TWalker"}  # fmt: skip
    d = c.post("/v1/withdrawals/evaluate", json=body, headers=OPERATOR).json()
    assert d["decision"] == "step_up", d
    return event_id, seed.now()


def _step_up_options(c: httpx.Client, w: World) -> None:
    event_id, _ = _alices_step_up(c, w)
    _same_404(c.post(f"/v1/withdrawals/{event_id}/step-up/options", headers=w.user("bob")),
              c.post("/v1/withdrawals/walk-wd-987654/step-up/options", headers=w.user("bob")))  # fmt: skip
    r = c.post(f"/v1/withdrawals/{event_id}/step-up/options", headers=w.user("alice"))
    assert r.status_code == 200 and r.json()["methods"] == ["totp"], r.text


def _step_up(c: httpx.Client, w: World) -> None:
    event_id, code = _alices_step_up(c, w)
    body = {"method": "totp", "code": code}
    _same_404(c.post(f"/v1/withdrawals/{event_id}/step-up", json=body, headers=w.user("bob")),
              c.post("/v1/withdrawals/walk-wd-987654/step-up", json=body, headers=w.user("bob")))  # fmt: skip
    r = c.post(f"/v1/withdrawals/{event_id}/step-up", json=body, headers=w.user("alice"))
    assert r.status_code == 200 and r.json()["status"] == "passed", r.text


def _dd_request(c: httpx.Client, user: str) -> int:
    sig = {"type": "jurisdiction", "user_id": user, "country": "KP", "at": datetime.now(UTC).isoformat()}
    r = c.post("/v1/compliance/signals", json=[sig], headers=OPERATOR)
    assert r.status_code == 200, r.text
    return int(r.json()[0]["request_id"])


_DD_ANSWERS = {"occupation": "Baker", "source_of_income": "employment", "expected_monthly_volume_usd": "100",
               "expected_activity": "Savings", "source_of_funds": "Salary"}  # fmt: skip


def _dd_list(c: httpx.Client, w: World) -> None:
    rid = _dd_request(c, "alice")
    assert rid not in [x["id"] for x in c.get("/v1/account/due-diligence", headers=w.user("bob")).json()]
    assert rid in [x["id"] for x in c.get("/v1/account/due-diligence", headers=w.user("alice")).json()]


def _dd_get(c: httpx.Client, w: World) -> None:
    rid = _dd_request(c, "alice")
    _same_404(c.get(f"/v1/account/due-diligence/{rid}", headers=w.user("bob")),
              c.get("/v1/account/due-diligence/987654", headers=w.user("bob")))  # fmt: skip
    assert c.get(f"/v1/account/due-diligence/{rid}", headers=w.user("alice")).status_code == 200


def _dd_answers(c: httpx.Client, w: World) -> None:
    rid = _dd_request(c, "alice")
    _same_404(c.put(f"/v1/account/due-diligence/{rid}/answers", json=_DD_ANSWERS, headers=w.user("bob")),
              c.put("/v1/account/due-diligence/987654/answers", json=_DD_ANSWERS, headers=w.user("bob")))  # fmt: skip
    assert c.get(f"/v1/account/due-diligence/{rid}", headers=w.user("alice")).json()["answered"] is False


def _dd_documents(c: httpx.Client, w: World) -> None:
    rid = _dd_request(c, "alice")
    out = io.BytesIO()  # a real PDF, so only the ownership check can refuse it (the content would pass)
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.write(out)
    pdf = out.getvalue()

    def up(r: int) -> httpx.Response:
        files = {"file": ("a.pdf", pdf, "application/pdf")}
        return c.post(f"/v1/account/due-diligence/{r}/documents", headers=w.user("bob"), files=files,
                      data={"purpose": "source_of_funds"})  # fmt: skip

    _same_404(up(rid), up(987654))
    assert c.get(f"/v1/account/due-diligence/{rid}", headers=w.user("alice")).json()["documents"] == []


def _tr_deposit(c: httpx.Client, user: str) -> int:
    body = {"deposit_id": f"walk-tr-{next(_n)}", "user_id": user, "chain": "ethereum", "asset": "USD",
            "amount": "5000", "txid": f"walk-{next(_n)}", "to_address": "0x" + "11" * 20,
            "from_address": "0x" + "22" * 20}  # fmt: skip
    r = c.post("/v1/travel-rule/deposits", json=body, headers=OPERATOR)
    assert r.status_code == 200 and r.json()["status"] == "held", r.text
    return int(r.json()["id"])


def _tr_my_deposits(c: httpx.Client, w: World) -> None:
    _tr_deposit(c, "alice")
    assert c.get("/v1/account/travel-rule/deposits", headers=w.user("bob")).json() == []
    assert [d["user_id"] for d in c.get("/v1/account/travel-rule/deposits", headers=w.user("alice")).json()]


_ORIGINATOR = {"originatorPersons": [{"naturalPerson": {"name": [{"nameIdentifier": [
    {"primaryIdentifier": "Walker", "nameIdentifierType": "LEGL"}]}]}}]}  # fmt: skip


def _tr_originator(c: httpx.Client, w: World) -> None:
    dep = _tr_deposit(c, "alice")
    path = "/v1/account/travel-rule/deposits/{}/originator"
    _same_404(c.post(path.format(dep), json=_ORIGINATOR, headers=w.user("bob")),
              c.post(path.format(987654), json=_ORIGINATOR, headers=w.user("bob")))  # fmt: skip
    assert c.post(path.format(dep), json=_ORIGINATOR, headers=w.user("alice")).json()["status"] == "released"


def _tr_wallets(c: httpx.Client, w: World) -> None:
    """A challenge and a proof are the caller's own: bob's proof never proves alice's wallet."""
    wallet = {"chain": "ethereum", "address": "0x" + "33" * 20}
    alice = c.post("/v1/account/travel-rule/wallets/challenge", json=wallet, headers=w.user("alice")).json()
    assert "alice" in alice["message"]
    bob = c.post("/v1/account/travel-rule/wallets/proof", json=wallet | {"signature": "0x" + "00" * 65},
                 headers=w.user("bob"))  # fmt: skip
    assert bob.status_code == 422 and "challenge" in bob.text


def _tr_transfer(c: httpx.Client, w: World) -> None:
    # the transfer is the caller's: there is no field naming a user; an unknown destination is refused for anyone
    body = {
        "asset": "ETH",
        "chain": "ethereum",
        "amount": "1",
        "address": "0x" + "44" * 20,
        "originator": _ORIGINATOR,
        "beneficiary": {"beneficiaryPersons": _ORIGINATOR["originatorPersons"]},
    }
    r = c.post("/v1/account/travel-rule/transfers", json=body | {"user_id": "alice"}, headers=w.user("bob"))
    assert r.status_code == 422 and "user_id" in r.text
    r = c.post("/v1/account/travel-rule/transfers", json=body, headers=w.user("bob"))
    assert r.status_code == 422 and "no VASP" in r.text


OTHER_USER: dict[tuple[str, str], Callable[[httpx.Client, World], None]] = {
    ("POST", "/v1/withdrawals/{event_id}/step-up/options"): _step_up_options,
    ("POST", "/v1/withdrawals/{event_id}/step-up"): _step_up,
    ("GET", "/v1/account/travel-rule/deposits"): _tr_my_deposits,
    ("POST", "/v1/account/travel-rule/deposits/{deposit_id}/originator"): _tr_originator,
    ("POST", "/v1/account/travel-rule/wallets/challenge"): _tr_wallets,
    ("POST", "/v1/account/travel-rule/wallets/proof"): _tr_wallets,
    ("POST", "/v1/account/travel-rule/transfers"): _tr_transfer,
    ("POST", "/v1/cooling-off"): _cooling_off_post,
    ("GET", "/v1/cooling-off/{user_id}"): _cooling_off_get,
    ("POST", "/v1/deposits/mistaken/check"): _mistaken_check,
    ("GET", "/v1/deposits/cases/{case_id}"): _case_get,
    ("POST", "/v1/fast-api/authorize"): _authorize,
    ("GET", "/v1/keys"): _my_keys,
    ("GET", "/api/v5/account/config"): _account_config,
    ("GET", "/v1/pfund/my-cases"): _pfund_cases,
    ("GET", "/v1/por/my-proof"): _por_my_proof,
    ("POST", "/v1/beginner/questionnaire"): _beginner_questionnaire,
    ("GET", "/v1/beginner/status"): _beginner_status,
    ("GET", "/v1/account/devices"): _account_devices,
    ("DELETE", "/v1/account/devices/{device_id}"): _account_device_delete,
    ("POST", "/v1/account/devices/remove-others"): _account_remove_others,
    ("POST", "/v1/account/freeze"): _account_freeze,
    ("GET", "/v1/account/allowlist"): _account_allowlist_get,
    ("POST", "/v1/account/allowlist"): _account_allowlist_post,
    ("DELETE", "/v1/account/allowlist"): _account_allowlist_delete,
    ("POST", "/v1/account/allowlist/mode"): _account_allowlist_mode,
    ("GET", "/v1/account/security"): _account_security,
    ("GET", "/v1/account/due-diligence"): _dd_list,
    ("GET", "/v1/account/due-diligence/{request_id}"): _dd_get,
    ("PUT", "/v1/account/due-diligence/{request_id}/answers"): _dd_answers,
    ("POST", "/v1/account/due-diligence/{request_id}/documents"): _dd_documents,
    ("PUT", "/v1/users/{user_id}/anti-phishing-code"): _own_path("PUT", "/v1/users/{user_id}/anti-phishing-code",
                                                                 {"code": "Blue-Otter7"}),
    ("POST", "/v1/users/{user_id}/notifications/render"): _own_path(
        "POST", "/v1/users/{user_id}/notifications/render", {"template": "password_changed"}),
    ("POST", "/v1/users/{user_id}/totp/enroll"): _own_path("POST", "/v1/users/{user_id}/totp/enroll",
                                                           {"account_name": "walker"}),
    ("POST", "/v1/users/{user_id}/totp/confirm"): _own_path(
        "POST", "/v1/users/{user_id}/totp/confirm", {"code": "123456"}),
    ("POST", "/v1/users/{user_id}/totp/verify"): _own_path(
        "POST", "/v1/users/{user_id}/totp/verify", {"code": "123456"}),
    ("POST", "/v1/users/{user_id}/passkeys/registration/options"): _own_path(
        "POST", "/v1/users/{user_id}/passkeys/registration/options", {"user_name": "walker"}),
    ("POST", "/v1/users/{user_id}/passkeys/registration/verify"): _own_path(
        "POST", "/v1/users/{user_id}/passkeys/registration/verify", {"id": "x", "rawId": "x", "type": "public-key",
                                                                      "response": {}}),
    ("POST", "/v1/users/{user_id}/passkeys/authentication/options"): _own_path(
        "POST", "/v1/users/{user_id}/passkeys/authentication/options", None),
    ("POST", "/v1/users/{user_id}/passkeys/authentication/verify"): _own_path(
        "POST", "/v1/users/{user_id}/passkeys/authentication/verify", {"id": "x", "rawId": "x", "type": "public-key",
                                                                        "response": {}}),
}  # fmt: skip


def test_every_user_route_has_an_other_user_case(settings: Any) -> None:
    app = create_app(settings)
    user_routes = {k for k, rule in _rules(app).items() if rule.kind == "user"}
    assert user_routes == set(OTHER_USER), f"user routes without an other-user case: {user_routes - set(OTHER_USER)}"
    app.state.engine.dispose()


@pytest.mark.parametrize("route", sorted(OTHER_USER), ids=lambda r: f"{r[0]} {r[1]}")
def test_user_routes_as_another_user(world: World, route: tuple[str, str]) -> None:
    with httpx.Client(base_url=world.url, timeout=30) as c:
        OTHER_USER[route](c, world)
