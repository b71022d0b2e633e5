"""Each user's own proof in their account: `GET /v1/por/my-proof` hands the signed-in user their inclusion
proof (uid from the session only), and the page's "Verify my balances" fetches it with the session taken
from the URL fragment and checks it in the browser.

The attacks: no or a bad credential, another user's uid in the query, a session for a uid shaped like a
path, a proof file on disk whose uid is someone else's; and in the page, the token never in a URL that
reaches the server, never sent anywhere but this service's proof route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_round import WebRound, make_round, serve

from bastion.por.verify.user import verify_user_proof


@dataclass
class Served:
    url: str
    data_dir: Path

    def token(self, uid: str, **kw: Any) -> str:
        from bastion.access import sessions

        return sessions.issue(sessions.dev_key(self.data_dir), uid, **kw)

    def mine(self, token: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}/v1/por/my-proof", params=params, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def mine_round(tmp_path_factory: pytest.TempPathFactory) -> WebRound:
    return make_round(tmp_path_factory.mktemp("mine") / "round", seed=21, users=8)


@pytest.fixture(scope="module")
def served(mine_round: WebRound, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("srv-mine")
    with serve(tmp, mine_round.path, migrate=True) as url:
        yield Served(url, tmp / "data")


def test_the_signed_in_user_gets_their_own_proof_and_only_theirs(served: Served, mine_round: WebRound) -> None:
    alice, bob = mine_round.uids[0], mine_round.uids[1]
    r = served.mine(served.token(alice))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    doc = r.json()
    assert doc == mine_round.proof(alice) and doc["uid"] == alice
    assert verify_user_proof(doc, mine_round.round_json).ok
    # naming another user anywhere in the request changes nothing: the uid is the session's
    for params in ({"uid": bob}, {"user_id": bob}, {"round": mine_round.round_json["round_id"], "uid": bob}):
        assert served.mine(served.token(alice), **params).json()["uid"] == alice
    assert served.mine(served.token(bob)).json() == mine_round.proof(bob)


def test_without_a_valid_session_there_is_no_proof(served: Served, mine_round: WebRound, tmp_path: Path) -> None:
    from bastion.access import sessions

    alice = mine_round.uids[0]
    assert served.mine(None).status_code == 401
    assert served.mine("not-a-token").status_code == 401
    expired = served.token(alice, now=datetime.now(UTC) - timedelta(hours=2), ttl=timedelta(minutes=15))
    assert served.mine(expired).status_code == 401
    forged = sessions.issue(sessions.dev_key(tmp_path / "other"), alice)  # right uid, someone else's key
    assert served.mine(forged).status_code == 401
    wrong_audience = served.token(alice, audience="another-service")
    assert served.mine(wrong_audience).status_code == 401
    for bad in (None, "not-a-token", expired, forged):
        assert alice not in served.mine(bad).text


def test_a_uid_shaped_like_a_path_or_a_mislabelled_file_gets_nothing(
    served: Served, mine_round: WebRound
) -> None:
    bob = mine_round.uids[1]
    for uid in (f"../users/{bob}", f"users/{bob}", f"{bob}/", "..", ".hidden", "nobody"):
        r = served.mine(served.token(uid))
        assert r.status_code == 404 and "holds no inclusion proof for you" in r.text, (uid, r.text)
        assert bob not in r.text
    # a file on disk under carol's name that holds dave's proof is never handed to carol
    carol, dave = mine_round.uids[2], mine_round.uids[3]
    path = mine_round.proof_path(carol)
    original = path.read_text()
    try:
        path.write_text(json.dumps(mine_round.proof(dave)))
        r = served.mine(served.token(carol))
        assert r.status_code == 404 and dave not in r.text  # no private data in this round to make hers
    finally:
        path.write_text(original)
    assert served.mine(served.token(carol)).json()["uid"] == carol


def test_a_round_that_is_not_published_is_404(served: Served, mine_round: WebRound) -> None:
    alice = mine_round.uids[0]
    r = served.mine(served.token(alice), round="2020-01")
    assert r.status_code == 404 and "2020-01" in r.text


# ------------------------------------------------------------------------------------------ in the page
def _open_signed_in(page: Any, url: str, token: str, query: str = "") -> None:
    page.goto(f"{url}/por/{query}#session={token}")
    page.wait_for_selector("body[data-loaded='1']")


def _click_verify(page: Any) -> str:
    page.evaluate("delete document.body.dataset.verified")
    page.click("#verify-mine")
    page.wait_for_selector("body[data-verified]")
    text: str = page.inner_text("#verdict")
    return text


@pytest.mark.browser
def test_one_click_verifies_the_signed_in_users_balances(page: Any, served: Served, mine_round: WebRound) -> None:
    alice = mine_round.uids[0]
    token = served.token(alice)
    _open_signed_in(page, served.url, token)
    assert "session=" not in page.url and token not in page.url  # out of the address bar at once
    verdict = _click_verify(page)
    assert verdict == f"Your balances are included in round {mine_round.round_json['round_id']}"
    proof = mine_round.proof(alice)
    rows = page.locator("#balances tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == [
        r["asset"] for r in proof["rows"]
    ]
    # the Merkle paths are there, behind the details toggle
    assert not page.locator("#leaves").is_visible()
    page.click("#path-details summary")
    assert page.locator("#leaves table.path").first.is_visible()
    # the token went only to the proof route, in the Authorization header, never in a URL
    calls = [r for r in page.recorded.requests if "/v1/por/my-proof" in r.url]
    assert len(calls) == 1 and calls[0].headers.get("authorization") == f"Bearer {token}"
    assert all(token not in r.url for r in page.recorded.requests)
    assert not page.recorded.console, page.recorded.console


@pytest.mark.browser
def test_another_user_sees_their_own_balances_and_no_session_gets_none(
    page: Any, served: Served, mine_round: WebRound
) -> None:
    bob = mine_round.uids[1]
    _open_signed_in(page, served.url, served.token(bob))
    assert _click_verify(page).startswith("Your balances are included")
    cells = page.locator("#balances tbody tr").first.locator("td").all_inner_texts()
    first = mine_round.proof(bob)["rows"][0]
    assert cells[0] == first["asset"] and cells[1].replace(",", "") == first["equity"]
    # a new tab without the fragment: not signed in, nothing fetched
    page.context.clear_cookies()
    page.evaluate("sessionStorage.clear()")
    page.goto(f"{served.url}/por/")
    page.wait_for_selector("body[data-loaded='1']")
    assert _click_verify(page).startswith("NOT verified: you are not signed in")
    # an expired session: the page says to sign in again
    expired = served.token(bob, now=datetime.now(UTC) - timedelta(hours=2))
    _open_signed_in(page, served.url, expired)
    assert "sign in to your account again" in _click_verify(page)
