"""Messages between exchanges, shaped after OpenVASP's Travel Rule Protocol (TRP): an `inquiry` (IVMS101, asset,
amount, callback) from the originator's VASP, `approve` / `reject` from the beneficiary's, and `confirm` with the
transaction id once sent. Each travels as one compact JWS (RFC 7515, joserfc) signed with the sender's key;
the receiver checks it with the key its directory holds for the sender's LEI (the JWS header's `kid`).

What a receiver refuses, and how (`MessageRefused.status`): an unknown sender (401), a bad signature, which also
covers any change to the amount or anything else signed (401), a message for another receiver or of the wrong
shape (422), one issued outside the time window (422), a message id seen before from that sender (409, stored),
an inquiry whose callback is not under the sender's directory endpoint (422), an answer about a transfer the
sender is no party to (404).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import MaxLen, MinLen
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bastion.errors import BastionError
from bastion.travel_rule.directory import ACCEPTED_ALGS, SIGNING_ALGS
from bastion.travel_rule.ivms101 import IdentityPayload

MESSAGES_PATH = "/v1/travel-rule/messages"
# The compact JWS travels inside a JSON object ({"jws": "<compact JWS>"}): every body the service takes is JSON,
# checked by the request boundary before any route sees it.
JWS_TYP = "trp+jws"
KEY_FILE = "travel-rule-signing.jwk"
MAX_MESSAGE_BYTES = 256 * 1024

Kind = Literal["inquiry", "approve", "reject", "confirm"]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")]


class MessageRefused(BastionError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class CounterpartyUnavailable(BastionError):
    """The counterparty did not accept a message (down, refused it, or timed out)."""


class Asset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")]
    chain: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]


MAX_IAT = 253_402_300_799


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    id: Token
    type: Kind
    sender: Annotated[str, Field(pattern=r"^[A-Z0-9]{20}$")]
    receiver: Annotated[str, Field(pattern=r"^[A-Z0-9]{20}$")]
    # Seconds since the epoch, at most 9999-12-31T23:59:59Z: a larger one cannot be a datetime (no 500 on it).
    iat: int = Field(ge=0, le=MAX_IAT)
    transfer_id: Token
    asset: Asset | None = None
    amount: Decimal | None = Field(default=None, gt=0, max_digits=38, decimal_places=18)
    callback: Annotated[str, MinLen(8), MaxLen(500)] | None = None
    IVMS101: IdentityPayload | None = None
    txid: Annotated[str, MinLen(1), MaxLen(128)] | None = None
    reason: Annotated[str, MaxLen(300)] | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Message:
        need = {"inquiry": ("asset", "amount", "callback", "IVMS101"), "confirm": ("txid",)}.get(self.type, ())
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"a {self.type} message needs {', '.join(missing)}")
        return self

    def __repr__(self) -> str:  # the IVMS101 part is personal data
        return f"Message(type={self.type!r}, id={self.id!r}, transfer_id={self.transfer_id!r})"

    __str__ = __repr__


def new_id() -> str:
    return str(uuid.uuid4())


# -------------------------------------------------------------------------------------------- our key
SigningKey = OKPKey | ECKey


def signing_key(data_dir: Path, key_file: Path | None = None) -> SigningKey:
    """This exchange's private signing key: `key_file` if set, else made once into the data dir (0600; several
    workers starting at once agree on the first one written), like the other generated secrets."""
    if key_file is not None:
        return _import(json.loads(key_file.read_text()))
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _import(json.loads(path.read_text()))
    key = OKPKey.generate_key("Ed25519")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(key.as_dict(private=True)))
    return key


def _import(jwk: dict[str, Any]) -> SigningKey:
    return ECKey.import_key(jwk) if jwk.get("kty") == "EC" else OKPKey.import_key(jwk)


def public_jwk_of(key: SigningKey) -> dict[str, Any]:
    out = key.as_dict(private=False)
    return {k: out[k] for k in sorted(out) if k in ("kty", "crv", "x", "y")}


@dataclass(frozen=True)
class Identity:
    """Who we are to counterparties."""

    lei: str
    name: str
    jurisdiction: str
    endpoint: str
    key: SigningKey

    @property
    def callback(self) -> str:
        return self.endpoint.rstrip("/") + MESSAGES_PATH


def sign(me: Identity, message: Message) -> str:
    alg = SIGNING_ALGS[me.key.key_type]
    header = {"alg": alg, "kid": me.lei, "typ": JWS_TYP}
    payload = message.model_dump_json(exclude_none=True, by_alias=True)
    return jws.serialize_compact(header, payload, me.key, algorithms=[alg])


def sender_of(token: str) -> str:
    """The LEI a compact JWS says it is from (its header's `kid`), before anything is verified."""
    if len(token) > MAX_MESSAGE_BYTES:
        raise MessageRefused(413, f"a message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, TypeError):
        raise MessageRefused(422, "body: not a compact JWS") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MessageRefused(401, "the JWS header names no sender (kid: the sender's LEI)")
    return kid


def verify(token: str, jwk: dict[str, Any]) -> Message:
    """The message, if `token` is signed by the key `jwk` (any change to the payload breaks the signature)."""
    try:
        key = _import(jwk)
        obj = jws.deserialize_compact(token, key, algorithms=ACCEPTED_ALGS[key.key_type])
    except (JoseError, ValueError, TypeError, KeyError):
        raise MessageRefused(
            401, "bad signature: the message is not signed by the sender's key in our directory"
        ) from None
    if obj.protected.get("typ") != JWS_TYP:
        raise MessageRefused(422, f"JWS header typ must be {JWS_TYP!r}")
    try:
        return Message.model_validate_json(obj.payload)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in e.get("loc", ())) or "message"
        raise MessageRefused(422, f"{where}: {e.get('msg', 'invalid')}") from None


def check_time(message: Message, now: datetime, window_seconds: int) -> datetime:
    try:
        issued = datetime.fromtimestamp(message.iat, UTC)
    except (OverflowError, ValueError, OSError):  # a model built without validation: refuse, never 500
        raise MessageRefused(422, "iat: not a time (seconds since the epoch)") from None
    if abs((now - issued).total_seconds()) > window_seconds:
        raise MessageRefused(422, f"iat: issued outside the {window_seconds} s window (a stale or replayed message)")
    return issued


def http_send(url: str, token: str, timeout: float) -> None:
    """POST one signed message; anything but a 200 is CounterpartyUnavailable naming what came back."""
    import httpx

    try:
        r = httpx.post(url, json={"jws": token}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise CounterpartyUnavailable(f"counterparty at {url} unreachable: {type(exc).__name__}") from None
    if r.status_code != 200:
        raise CounterpartyUnavailable(f"counterparty at {url} refused the message: {r.status_code} {r.text[:200]}")
