"""The directory of counterparty VASPs: name, LEI (ISO 17442, check digits verified), message endpoint, the public
key (JWK) their messages are signed with, their jurisdiction, and the deposit addresses known to be theirs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from stdnum import lei as stdnum_lei
from stdnum.exceptions import ValidationError as StdnumError

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.travel_rule.models import TravelRuleVasp, TravelRuleVaspAddress

# The algorithm we sign with per key type: Ed25519 by its RFC 9864 name (joserfc deprecates the generic "EdDSA").
SIGNING_ALGS: dict[str, str] = {"OKP": "Ed25519", "EC": "ES256"}
# What we accept from counterparties: also "EdDSA", which TRP implementations still send for Ed25519 keys.
ACCEPTED_ALGS: dict[str, list[str]] = {"OKP": ["Ed25519", "EdDSA"], "EC": ["ES256"]}


def normalize_address(address: str) -> str:
    """Hex (EVM) addresses compare case-insensitively; other chains are case-sensitive (as the risk engine)."""
    a = address.strip()
    return a.lower() if a[:2] in ("0x", "0X") else a


def validate_lei(text: str, field: str = "lei") -> str:
    """An LEI: 20 characters, its last two the ISO 7064 MOD 97-10 check digits of ISO 17442."""
    try:
        return str(stdnum_lei.validate(text.strip().upper()))
    except StdnumError as exc:
        raise InvalidInputError(field, f"not a valid LEI (ISO 17442): {exc}") from None


def validate_endpoint(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInputError("endpoint", "an http(s) base URL without query or fragment")
    return text.strip().rstrip("/")


def public_jwk(jwk: dict[str, Any], field: str = "jwk") -> dict[str, Any]:
    """The public part of an Ed25519 (OKP) or P-256 (EC) JWK; anything else is refused."""
    try:
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            key: OKPKey | ECKey = OKPKey.import_key(jwk)
        elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            key = ECKey.import_key(jwk)
        else:
            raise InvalidInputError(field, "an Ed25519 (OKP) or P-256 (EC) public key")
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidInputError(field, f"not a usable JWK: {exc}") from None
    out = key.as_dict(private=False)
    return {k: out[k] for k in sorted(out) if k in ("kty", "crv", "x", "y", "kid")}


@dataclass(frozen=True)
class Vasp:
    lei: str
    name: str
    jurisdiction: str
    endpoint: str
    public_jwk: dict[str, Any]
    addresses: tuple[tuple[str, str], ...]


def _out(row: TravelRuleVasp, addresses: list[tuple[str, str]]) -> Vasp:
    return Vasp(row.lei, row.name, row.jurisdiction, row.endpoint, row.public_jwk, tuple(addresses))


def add(
    session: Session,
    *,
    name: str,
    lei: str,
    endpoint: str,
    jwk: dict[str, Any],
    jurisdiction: str,
    addresses: list[tuple[str, str]] | None = None,
    by: str,
    now: datetime | None = None,
) -> Vasp:
    lei = validate_lei(lei)
    name = name.strip()
    if not 1 <= len(name) <= 140:
        raise InvalidInputError("name", "1 to 140 characters")
    jurisdiction = jurisdiction.strip().upper()
    if not (2 <= len(jurisdiction) <= 8 and jurisdiction.isalpha()):
        raise InvalidInputError("jurisdiction", "2 to 8 letters, e.g. EU, US, SG")
    if session.scalar(select(TravelRuleVasp.id).where(TravelRuleVasp.lei == lei)) is not None:
        raise ConflictError(f"a VASP with LEI {lei} is already in the directory")
    row = TravelRuleVasp(
        lei=lei,
        name=name,
        jurisdiction=jurisdiction,
        endpoint=validate_endpoint(endpoint),
        public_jwk=public_jwk(jwk),
        added_at=now or datetime.now(UTC),
        added_by=by[:128],
    )
    session.add(row)
    session.flush()
    clean: list[tuple[str, str]] = []
    for i, (chain, address) in enumerate(addresses or []):
        if not chain.strip() or not address.strip() or len(address.strip()) > 128:
            raise InvalidInputError("address", "chain:address, the address 1 to 128 characters", row=i + 1)
        pair = (chain.strip().lower(), normalize_address(address))
        taken = session.scalar(
            select(TravelRuleVaspAddress.id).where(
                TravelRuleVaspAddress.chain == pair[0], TravelRuleVaspAddress.address == pair[1]
            )
        )
        if taken is not None or pair in clean:
            raise ConflictError(f"address {pair[0]}:{pair[1]} already belongs to a VASP in the directory")
        clean.append(pair)
        session.add(TravelRuleVaspAddress(vasp_id=row.id, chain=pair[0], address=pair[1]))
    session.flush()
    return _out(row, clean)


def remove(session: Session, lei: str) -> None:
    lei = validate_lei(lei)
    row = session.scalars(select(TravelRuleVasp).where(TravelRuleVasp.lei == lei)).first()
    if row is None:
        raise NotFoundError(f"no VASP with LEI {lei} in the directory")
    session.execute(delete(TravelRuleVaspAddress).where(TravelRuleVaspAddress.vasp_id == row.id))
    session.delete(row)


def listing(session: Session) -> list[Vasp]:
    rows = list(session.scalars(select(TravelRuleVasp).order_by(TravelRuleVasp.name)))
    addrs: dict[int, list[tuple[str, str]]] = {}
    for vid, chain, address in session.execute(
        select(TravelRuleVaspAddress.vasp_id, TravelRuleVaspAddress.chain, TravelRuleVaspAddress.address)
    ):
        addrs.setdefault(vid, []).append((chain, address))
    return [_out(r, sorted(addrs.get(r.id, []))) for r in rows]


def by_lei(session: Session, lei: str) -> Vasp | None:
    row = session.scalars(select(TravelRuleVasp).where(TravelRuleVasp.lei == lei)).first()
    return None if row is None else _out(row, [])


def address_owners(session: Session) -> dict[tuple[str, str], tuple[str, str]]:
    """(chain, address) -> (LEI, jurisdiction) of every VASP address (the hot path keeps it in memory)."""
    q = select(
        TravelRuleVaspAddress.chain, TravelRuleVaspAddress.address, TravelRuleVasp.lei, TravelRuleVasp.jurisdiction
    ).join(TravelRuleVasp, TravelRuleVasp.id == TravelRuleVaspAddress.vasp_id)
    return {(c, a): (lei, j) for c, a, lei, j in session.execute(q)}
