"""Fixtures for the protection-fund tests: the real service under uvicorn with an operator token set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

OPERATOR_TOKEN = "pfund-operator-token-0123456789"


@dataclass
class Live:
    app: Any
    url: str
    http: httpx.Client  # sends the operator token
    anon: httpx.Client  # sends nothing


@pytest.fixture
def live(settings: Any) -> Iterator[Live]:
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    app = create_app(settings.model_copy(update={"operator_token": SecretStr(OPERATOR_TOKEN)}))
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    with ServerThread(app) as url:
        op = httpx.Client(base_url=url, timeout=60, headers=auth)
        anon = httpx.Client(base_url=url, timeout=60)
        try:
            yield Live(app, url, op, anon)
        finally:
            op.close()
            anon.close()
