"""The round-bound challenge every reserve wallet signs.

One line of ASCII-safe text (wallet UIs often trim or mangle newlines), fixed template, version tagged:

    Bastion proof of reserves v1 | exchange: <exchange> | round: <round_id> | snapshot: <snapshot_time> | nonce: <nonce>

`exchange`, `round_id`, `snapshot_time` and `nonce` are copied verbatim from round.json. The nonce is fresh
per round, so a signature cannot be prepared before the round exists nor replayed from an older one; the
snapshot time and round id make the text readable to the person signing. The message is the same for every
wallet of the round: what binds a signature to one address is the key that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.por.reserves.round_view import Round

PREFIX = "Bastion proof of reserves v1"
_PARSE = re.compile(
    r"Bastion proof of reserves v1 \| exchange: (?P<exchange>.+) \| round: (?P<round_id>\S+) "
    r"\| snapshot: (?P<snapshot>\S+) \| nonce: (?P<nonce>[0-9a-f]{32})"
)


def challenge_message(rnd: Round) -> str:
    return (
        f"{PREFIX} | exchange: {rnd.exchange} | round: {rnd.round_id} "
        f"| snapshot: {rnd.snapshot_time} | nonce: {rnd.nonce}"
    )


@dataclass(frozen=True, slots=True)
class ParsedChallenge:
    exchange: str
    round_id: str
    snapshot_time: str
    nonce: str


def parse_challenge(message: str) -> ParsedChallenge | None:
    """The fields of a message in the challenge format, or None for any other text."""
    m = _PARSE.fullmatch(message)
    if m is None:
        return None
    return ParsedChallenge(m["exchange"], m["round_id"], m["snapshot"], m["nonce"])


def why_not_this_round(message: str, rnd: Round) -> str | None:
    """None when `message` is this round's challenge; otherwise a reason a person can act on."""
    expected = challenge_message(rnd)
    if message == expected:
        return None
    parsed = parse_challenge(message)
    if parsed is None:
        return "message is not a Bastion challenge (a static or foreign text); sign this round's challenge"
    if parsed.exchange != rnd.exchange:
        return f"message is a challenge for exchange {parsed.exchange!r}, not {rnd.exchange!r}"
    if parsed.round_id != rnd.round_id or parsed.nonce != rnd.nonce:
        return (
            f"message is the challenge of another round ({parsed.round_id}, nonce {parsed.nonce[:8]}...), "
            f"not round {rnd.round_id}"
        )
    return "message differs from this round's challenge"
