"""The signed-in user's own proof of reserves: their inclusion proof for a published round (user route).

The uid is the credential's (a session from the exchange's login service, or the user's own API key with
read permission): there is no uid in the path or the query, so no request can name another user. The page
(`/por/`, "Verify my balances") fetches it with the session and checks it in the browser (docs/web.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from bastion.service.access import CurrentUser
from bastion.service.deps import SettingsDep
from bastion.service.routers.por_public import published

router = APIRouter(tags=["proof of reserves"])

# A proof holds the user's balances and salts: never kept by a cache, never sent to another site.
_PRIVATE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@router.get("/v1/por/my-proof", responses={404: {"description": "no proof for you in that round"}})
def my_proof(
    user: CurrentUser,
    settings: SettingsDep,
    round_id: str | None = Query(
        None, alias="round", max_length=64, description="A published round's id (default: the newest)."
    ),
) -> Any:
    """Your inclusion proof (`bastion-user-proof/1`) for a published round: your balances in it, their leaves and
    the Merkle paths to the round's published root. Check it on /por/ or with `bastion por verify-user`."""
    from bastion.por.liabilities.inclusion import NoProof, own_proof

    p = published(settings, round_id)
    try:
        doc = own_proof(p.path, user.uid)
    except NoProof:
        raise HTTPException(404, f"round {p.round_id} holds no inclusion proof for you") from None
    return JSONResponse(doc, headers=_PRIVATE)
