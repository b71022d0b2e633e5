"""Review of the split `Authenticator._authenticate` (f4b7d86): the four OK-ACCESS headers are tested once and
`_missing_header` names the refusal only when one is missing. Each test is an attack that would pass (or 500)
had the split changed what is refused, with which OKX code, or what runs before the refusal."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from keys_support import PASSPHRASE, Service, sign_headers

from auth_support import OPERATOR
from bastion.keys.auth import SignedRequest
from bastion.keys.errors import AuthRejected, Rejection
from bastion.keys.policy import Permission

CONFIG = "/api/v5/account/config"
# In the order the refusal names them (the version before the split: e5d695b).
HEADERS = ("OK-ACCESS-KEY", "OK-ACCESS-PASSPHRASE", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP")
MISSING = (Rejection.KEY_MISSING, Rejection.PASSPHRASE_MISSING, Rejection.SIGN_MISSING, Rejection.TIMESTAMP_MISSING)


def code(r: httpx.Response) -> str:
    return str(r.json()["code"])


@pytest.fixture
def http(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(headers=OPERATOR, base_url=service.url, timeout=10) as client:
        yield client


def _signed(headers: dict[str, str]) -> SignedRequest:
    return SignedRequest("GET", CONFIG, "", b"", httpx.Headers(headers), "198.51.100.9")


class _Untouchable:
    """Stands for the key cache and the limits: a refused header must be decided before either is read."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{self.what}.{name} reached by a request missing a header")


@pytest.mark.parametrize("empty", ["absent", "empty"])
def test_every_incomplete_header_set_gets_the_first_missing_ones_code(service: Service, empty: str) -> None:
    """All 15 incomplete sets of the four headers, absent or present but empty: the refusal is the first missing
    header's, in the old loop's order, with the same key id and IP, and neither the key cache, the passphrase
    counter, the replay guard nor the rate limits are touched (nothing downstream runs before the refusal)."""
    key = service.key("u1")
    full = sign_headers(key, "GET", CONFIG)
    auth = service.runtime.authenticator
    cache, limits = auth.cache, auth.limits
    auth.cache, auth.limits = _Untouchable("cache"), _Untouchable("limits")  # type: ignore[assignment]
    try:
        for n in range(1, 5):
            for dropped in itertools.combinations(range(4), n):
                headers = dict(full)
                for i in dropped:
                    if empty == "absent":
                        del headers[HEADERS[i]]
                    else:
                        headers[HEADERS[i]] = ""
                for blocking in (True, False):
                    with pytest.raises(AuthRejected) as refused:
                        auth._authenticate(
                            _signed(headers), CONFIG, Permission.READ, datetime.now(UTC), blocking=blocking
                        )
                    assert refused.value.reason is MISSING[min(dropped)], (dropped, blocking)
                    assert refused.value.ip == "198.51.100.9"
                    assert refused.value.key_id == (None if 0 in dropped else key.key_id)
    finally:
        auth.cache, auth.limits = cache, limits


@pytest.mark.parametrize(("header", "expected"), list(zip(HEADERS, ("50103", "50104", "50106", "50107"), strict=True)))
def test_a_header_present_but_empty_is_refused_as_missing(
    service: Service, http: httpx.Client, header: str, expected: str
) -> None:
    key = service.key("u1")
    headers = {**sign_headers(key, "GET", CONFIG), header: ""}
    r = http.get(CONFIG, headers=headers)
    assert (r.status_code, code(r)) == (401, expected)
    assert r.json()["msg"] == f'Request header "{header}" cannot be empty.'


def test_duplicated_headers_never_complete_a_request(service: Service, http: httpx.Client) -> None:
    """A header sent twice is read once (the first): an empty first copy is missing whatever the second holds,
    a wrong first copy is wrong whatever the second holds; never a 500, never accepted."""
    key = service.key("u1")
    good = sign_headers(key, "GET", CONFIG)
    for header, first, expected in (
        ("OK-ACCESS-KEY", "", "50103"),
        ("OK-ACCESS-PASSPHRASE", "", "50104"),
        ("OK-ACCESS-SIGN", "", "50106"),
        ("OK-ACCESS-TIMESTAMP", "", "50107"),
        ("OK-ACCESS-KEY", "not-a-key", "50111"),
        ("OK-ACCESS-SIGN", "A" * 44, "50113"),
        ("OK-ACCESS-PASSPHRASE", "Wrong12345!", "50105"),
    ):
        others = [(k, v) for k, v in good.items() if k != header]
        r = http.get(CONFIG, headers=[*others, (header, first), (header, good[header])])
        assert (r.status_code, code(r)) == (401, expected), header
    r = http.get(CONFIG, headers=good)  # the same headers once each pass (so the refusals above are the copies')
    assert (r.status_code, code(r)) == (200, "0")


def test_header_names_are_case_insensitive(service: Service, http: httpx.Client) -> None:
    key = service.key("u1")
    signed = sign_headers(key, "GET", CONFIG)
    lower = {k.lower(): v for k, v in signed.items()}
    assert code(http.get(CONFIG, headers=lower)) == "0"
    # A missing header spelled any way is still missing.
    del lower["ok-access-timestamp"]
    r = http.get(CONFIG, headers={**lower, "Ok-Access-Timestamp": ""})
    assert (r.status_code, code(r)) == (401, "50107")


def test_a_missing_header_is_refused_before_the_signature_and_costs_no_passphrase_guess(
    service: Service, http: httpx.Client
) -> None:
    """Missing passphrase with a valid signature: 50104 (not an argon2 run counted as a wrong guess); missing
    timestamp with a forged signature: 50107, not 50113. Many such requests never freeze the key (50100)."""
    key = service.key("u1")
    for _ in range(12):
        h = sign_headers(key, "GET", CONFIG)
        del h["OK-ACCESS-PASSPHRASE"]
        assert code(http.get(CONFIG, headers=h)) == "50104"
        forged = sign_headers(key, "GET", CONFIG, secret="F" * 32)
        del forged["OK-ACCESS-TIMESTAMP"]
        assert code(http.get(CONFIG, headers=forged)) == "50107"
    assert code(http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, passphrase=PASSPHRASE))) == "0"


def test_odd_header_values_are_refusals_not_server_errors(service: Service, http: httpx.Client) -> None:
    key = service.key("u1")
    h = sign_headers(key, "GET", CONFIG)
    for header, value, expected in (
        ("OK-ACCESS-KEY", "é" * 36, "50111"),
        ("OK-ACCESS-TIMESTAMP", "２０２６-01-01T00:00:00.000Z", "50112"),
        ("OK-ACCESS-TIMESTAMP", "2026-02-30T00:00:00.000Z", "50112"),
        ("OK-ACCESS-SIGN", "ü" * 44, "50113"),
        ("OK-ACCESS-PASSPHRASE", "ß" * 300, "50105"),
    ):
        others = [(k.encode(), v.encode()) for k, v in h.items() if k != header]
        r = http.get(CONFIG, headers=[*others, (header.encode(), value.encode())])
        assert (r.status_code, code(r)) == (401, expected), header
        h = sign_headers(key, "GET", CONFIG, at=datetime.now(UTC))  # a fresh signature: no 50114 in the way
