"""The real OKX clients (python-okx, ccxt) against the running service, and each refusal's OKX code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ccxt
import httpx
import pytest
from keys_support import PASSPHRASE, Service
from okx import Account
from okx import utils as okx_utils

from auth_support import OPERATOR
from bastion.keys import signing
from bastion.keys.lifecycle import IssuedKey


def okx_client(service: Service, key: IssuedKey, *, secret: str | None = None, passphrase: str = PASSPHRASE) -> Any:
    return Account.AccountAPI(key.key_id, secret or key.secret, passphrase, flag="0", domain=service.url, debug=False)


def ccxt_client(service: Service, key: IssuedKey, *, secret: str | None = None) -> Any:
    ex = ccxt.okx({"apiKey": key.key_id, "secret": secret or key.secret, "password": PASSPHRASE})
    ex.urls["api"] = {"rest": service.url}
    return ex


def test_python_okx_reads_private_routes(service: Service) -> None:
    key = service.key("u-okx", "read,trade", label="bot")
    other = service.key("u-other", "read")
    client = okx_client(service, key)
    config = client.get_account_config()
    assert config["code"] == "0", config
    assert config["data"] == [{"uid": "u-okx", "mainUid": "u-okx", "label": "bot", "ip": "", "perm": "read_only,trade"}]
    mine = client._request_without_params("GET", "/v1/keys")
    assert mine["code"] == "0"
    # Only the caller's own keys: another user's key is not listed.
    assert [k["apiKey"] for k in mine["data"]] == [key.key_id]
    assert other.key_id not in str(mine)
    assert mine["data"][0]["perm"] == "read_only,trade"
    assert mine["data"][0]["lastUsedTs"] != ""  # the call itself counts as a use


def test_ccxt_okx_fetches_accounts(service: Service) -> None:
    key = service.key("u-ccxt", "read")
    accounts = ccxt_client(service, key).fetch_accounts()
    assert [a["id"] for a in accounts] == ["u-ccxt"]
    assert accounts[0]["info"]["perm"] == "read_only"


def test_wrong_secret_gets_50113_in_both_clients(service: Service) -> None:
    key = service.key("u1", "read")
    wrong = "0" * 32
    assert okx_client(service, key, secret=wrong).get_account_config()["code"] == "50113"
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        ccxt_client(service, key, secret=wrong).fetch_accounts()


def test_stale_timestamp_gets_50102(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    key = service.key("u1", "read")
    stale = signing.format_timestamp(datetime.now(UTC) - timedelta(seconds=45))
    monkeypatch.setattr(okx_utils, "get_timestamp", lambda: stale)
    assert okx_client(service, key).get_account_config()["code"] == "50102"
    ex = ccxt_client(service, key)
    ex.nonce = lambda: ex.milliseconds() + 45_000  # a client clock running ahead
    with pytest.raises(ccxt.InvalidNonce, match="50102"):
        ex.fetch_accounts()


def test_wrong_passphrase_gets_50105(service: Service) -> None:
    key = service.key("u1", "read")
    assert okx_client(service, key, passphrase="Passphrase124!").get_account_config()["code"] == "50105"
    ex = ccxt_client(service, key)
    ex.password = "nope1234"
    with pytest.raises(ccxt.AuthenticationError, match="50105"):
        ex.fetch_accounts()


def test_ip_outside_allowlist_gets_50110(service: Service) -> None:
    key = service.key("u1", "read", ips=("203.0.113.7", "10.0.0.0/8"))
    reply = okx_client(service, key).get_account_config()
    assert reply["code"] == "50110" and "127.0.0.1" in reply["msg"]
    with pytest.raises(ccxt.PermissionDenied, match="50110"):
        ccxt_client(service, key).fetch_accounts()
    bound_here = service.key("u1", "read", ips=("127.0.0.1",))
    assert okx_client(service, bound_here).get_account_config()["code"] == "0"


def test_missing_permission_gets_50120(service: Service) -> None:
    reader = service.key("u1", "read")
    trader = service.key("u1", "trade")
    refused = okx_client(service, reader)._request_with_params("POST", "/test-probe/trade", {"x": 1})
    assert refused["code"] == "50120"
    ok = okx_client(service, trader)._request_with_params("POST", "/test-probe/trade", {"x": 1})
    assert ok["code"] == "0" and ok["data"][0]["uid"] == "u1"
    # Trade does not imply withdraw.
    assert okx_client(service, trader)._request_without_params("GET", "/test-probe/withdraw")["code"] == "50120"


def test_revoked_key_gets_50119(service: Service) -> None:
    key = service.key("u1", "read")
    client = okx_client(service, key)
    assert client.get_account_config()["code"] == "0"
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        assert http.delete(f"/v1/users/u1/keys/{key.key_id}").status_code == 204
        # Another user cannot be named to reach it, and it is gone for its owner too.
        assert http.delete(f"/v1/users/u1/keys/{key.key_id}").status_code == 404
    assert client.get_account_config()["code"] == "50119"
