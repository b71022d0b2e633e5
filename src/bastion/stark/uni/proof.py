"""The proof object and its byte format.

Layout (all integers little-endian; "ext" is two u64; see docs/spec/stark.md):

    magic "BSTK" | version u16 | params digest (32) | circuit digest (32) | log_n u8 | n_used u32
    | num public inputs u32 | public inputs u64*
    | main root (32) | aux root (32, only if the AIR has an auxiliary trace) | quotient root (32)
    | OOD values: main at z, main at gz, aux at z, aux at gz, quotient chunks at z (ext each)
    | FRI: layer roots (32 each) | final coefficients (ext each) | pow nonce u64
    | openings, each u32 length + bytes: main, aux (if any), quotient, then one per FRI layer

Counts are not read from the proof but derived from the AIR and parameters the verifier already
trusts, so a hostile length field cannot make the parser allocate or loop without bound. Any
deviation (short, long, a value >= p) raises :class:`ProofFormatError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bastion.stark.commit.merkle import MerkleOpening
from bastion.stark.field.scalar import P

MAGIC = b"BSTK"
VERSION = 2  # 2: independent DEEP coefficients (docs/spec/stark.md); 1 is refused
MAX_PROOF_BYTES = 64 << 20

Ext = tuple[int, int]
U64 = NDArray[np.uint64]


class ProofFormatError(ValueError):
    """The bytes are not a well-formed proof of the expected shape."""


@dataclass(frozen=True)
class ProofShape:
    """What the verifier expects, computed from the AIR and the parameters."""

    log_n: int
    n_used: int
    num_public_inputs: int
    main_width: int
    aux_base_width: int  # 2 * aux_width
    quotient_base_width: int  # 2 * chunks + 2 (mask)
    num_chunks: int
    num_fri_layers: int  # committed layers
    num_final_coeffs: int
    num_query_rows: int  # distinct opened rows of the trace trees (known only after queries)
    salt_bytes: int


@dataclass
class Proof:
    params_digest: bytes
    circuit_digest: bytes
    log_n: int
    n_used: int
    public_inputs: list[int]
    main_root: bytes
    aux_root: bytes | None
    quotient_root: bytes
    main_z: list[Ext]
    main_gz: list[Ext]
    aux_z: list[Ext]
    aux_gz: list[Ext]
    quotient_z: list[Ext]
    fri_roots: list[bytes]
    final_coeffs: list[Ext]
    pow_nonce: int
    main_opening: MerkleOpening | None = None
    aux_opening: MerkleOpening | None = None
    quotient_opening: MerkleOpening | None = None
    fri_openings: list[MerkleOpening] = field(default_factory=list)

    # -- writing --------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        out = bytearray()
        out += MAGIC + struct.pack("<H", VERSION) + self.params_digest + self.circuit_digest
        out += struct.pack("<BI", self.log_n, self.n_used)
        out += struct.pack("<I", len(self.public_inputs))
        out += b"".join(struct.pack("<Q", v) for v in self.public_inputs)
        out += self.main_root
        if self.aux_root is not None:
            out += self.aux_root
        out += self.quotient_root
        for group in (self.main_z, self.main_gz, self.aux_z, self.aux_gz, self.quotient_z):
            out += b"".join(struct.pack("<QQ", a, b) for a, b in group)
        out += b"".join(self.fri_roots)
        out += b"".join(struct.pack("<QQ", a, b) for a, b in self.final_coeffs)
        out += struct.pack("<Q", self.pow_nonce)
        openings = [self.main_opening]
        if self.aux_root is not None:
            openings.append(self.aux_opening)
        openings.append(self.quotient_opening)
        openings += self.fri_openings
        for op in openings:
            if op is None:
                raise ValueError("proof is missing an opening")
            blob = op.to_bytes()
            out += struct.pack("<I", len(blob)) + blob
        return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProofFormatError(f"proof truncated while reading {what}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u(self, fmt: str, what: str) -> int:
        size = struct.calcsize(fmt)
        return int(struct.unpack(fmt, self.take(size, what))[0])

    def felt(self, what: str) -> int:
        v = self.u("<Q", what)
        if v >= P:
            raise ProofFormatError(f"{what}: {v} is not a canonical field element")
        return v

    def ext(self, what: str) -> Ext:
        return (self.felt(what), self.felt(what))

    def exts(self, n: int, what: str) -> list[Ext]:
        return [self.ext(what) for _ in range(n)]


def read_digests(data: bytes) -> tuple[bytes, bytes]:
    """Params digest and circuit digest only: what a verifier checks before reading anything else."""
    params_digest, circuit, *_ = read_header(bytes(data)[: 4 + 2 + 32 + 32 + 1 + 4 + 4], 0, lenient=True)
    return params_digest, circuit


def read_header(
    data: bytes, expected_public_inputs: int | None = None, *, lenient: bool = False
) -> tuple[bytes, bytes, int, int, list[int]]:
    """Params digest, circuit digest, log_n, n_used and public inputs, without the rest."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProofFormatError("a proof is bytes")
    data = bytes(data)
    if len(data) > MAX_PROOF_BYTES:
        raise ProofFormatError("proof larger than any valid proof")
    r = _Reader(data)
    if r.take(4, "magic") != MAGIC:
        raise ProofFormatError("not a Bastion STARK proof (bad magic)")
    version = r.u("<H", "version")
    if version != VERSION:
        raise ProofFormatError(f"unsupported proof version {version} (this verifier reads {VERSION})")
    params_digest = r.take(32, "params digest")
    circuit = r.take(32, "circuit digest")
    log_n = r.u("<B", "log_n")
    n_used = r.u("<I", "n_used")
    npub = r.u("<I", "public input count")
    if lenient:
        return params_digest, circuit, log_n, n_used, []
    if expected_public_inputs is not None and npub != expected_public_inputs:
        raise ProofFormatError(f"proof has {npub} public inputs, the statement {expected_public_inputs}")
    if npub > 1 << 20:
        raise ProofFormatError("too many public inputs")
    pubs = [r.felt("public input") for _ in range(npub)]
    return params_digest, circuit, log_n, n_used, pubs


def parse_fixed(data: bytes, shape: ProofShape) -> tuple[Proof, int]:
    """The fixed-size part of a proof (everything but the openings) and where the openings start."""
    params_digest, circuit, log_n, n_used, pubs = read_header(data, shape.num_public_inputs)
    r = _Reader(bytes(data))
    r.pos = 4 + 2 + 32 + 32 + 1 + 4 + 4 + 8 * len(pubs)
    if (log_n, n_used, len(pubs)) != (shape.log_n, shape.n_used, shape.num_public_inputs):
        raise ProofFormatError("proof header does not match the statement's shape")
    main_root = r.take(32, "main root")
    aux_root = r.take(32, "aux root") if shape.aux_base_width else None
    quotient_root = r.take(32, "quotient root")
    aux_w = shape.aux_base_width // 2
    proof = Proof(
        params_digest=params_digest,
        circuit_digest=circuit,
        log_n=log_n,
        n_used=n_used,
        public_inputs=pubs,
        main_root=main_root,
        aux_root=aux_root,
        quotient_root=quotient_root,
        main_z=r.exts(shape.main_width, "main OOD value"),
        main_gz=r.exts(shape.main_width, "main OOD value"),
        aux_z=r.exts(aux_w, "aux OOD value"),
        aux_gz=r.exts(aux_w, "aux OOD value"),
        quotient_z=r.exts(shape.num_chunks, "quotient OOD value"),
        fri_roots=[r.take(32, "FRI root") for _ in range(shape.num_fri_layers)],
        final_coeffs=r.exts(shape.num_final_coeffs, "FRI final coefficient"),
        pow_nonce=r.u("<Q", "pow nonce"),
    )
    return proof, r.pos


def parse_openings(data: bytes, start: int, proof: Proof, shape: ProofShape,
                   opening_rows: dict[str, list[int]]) -> Proof:
    """Read the openings into ``proof``. ``opening_rows`` gives the sorted leaf indices each opening
    covers (the verifier derives them from the transcript, so they are not in the bytes)."""
    r = _Reader(bytes(data))
    r.pos = start
    specs: list[tuple[str, int]] = [("main", shape.main_width)]
    if proof.aux_root is not None:
        specs.append(("aux", shape.aux_base_width))
    specs.append(("quotient", shape.quotient_base_width))
    specs += [(f"fri{i}", 4) for i in range(shape.num_fri_layers)]
    parsed: dict[str, MerkleOpening] = {}
    for name, width in specs:
        length = r.u("<I", f"{name} opening length")
        blob = r.take(length, f"{name} opening")
        try:
            parsed[name] = MerkleOpening.from_bytes(blob, len(opening_rows[name]), width, shape.salt_bytes)
        except Exception as exc:  # the opening parser is defensive; name the part that failed
            raise ProofFormatError(f"{name} opening malformed: {exc}") from None
        if np.any(np.asarray(parsed[name].values) >= np.uint64(P)):
            raise ProofFormatError(f"{name} opening holds a non-canonical field element")
    if r.pos != len(r.data):
        raise ProofFormatError("trailing bytes after the proof")
    proof.main_opening = parsed["main"]
    proof.aux_opening = parsed.get("aux")
    proof.quotient_opening = parsed["quotient"]
    proof.fri_openings = [parsed[f"fri{i}"] for i in range(shape.num_fri_layers)]
    return proof
