"""One user's own inclusion proof for a published round, for the exchange to hand to that user only.

    own_proof(round_dir, uid) -> the `bastion-user-proof/1` document of `uid`

Where it comes from: `users/<uid>.json` when the round directory holds one (`bastion por user-proof --out
ROUND/users`), else it is made from the round's private data (`UserProofs`, loaded once per round and kept
while round.json is unchanged). Who asks is not this module's business: the caller passes the uid of the
signed-in user, never one taken from a request. Even so, a file is served only if the uid inside it is the
uid asked for, and a uid that is not a plain file name never reaches the file system.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from bastion.por.format.round import round_path
from bastion.por.liabilities.prover.plan import RoundError
from bastion.por.liabilities.user_proofs import UserProofs

USERS_DIR = "users"
# A uid usable as a file name: no separators, no leading dot (no "..", no hidden files).
_PLAIN = re.compile(r"[A-Za-z0-9_@+=-][A-Za-z0-9_@+=.-]{0,127}")


class NoProof(LookupError):
    """This round has no inclusion proof for this user (not a user of the round, or the round cannot make one)."""


_makers: dict[Path, tuple[int, UserProofs]] = {}
_lock = threading.Lock()


def _maker(round_dir: Path) -> UserProofs:
    stamp = round_path(round_dir).stat().st_mtime_ns
    key = round_dir.resolve()
    with _lock:
        hit = _makers.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    maker = UserProofs(round_dir)  # RoundError when the private data is not here
    with _lock:
        _makers[key] = (stamp, maker)
    return maker


def _from_file(round_dir: Path, uid: str) -> dict[str, Any] | None:
    if not _PLAIN.fullmatch(uid):
        return None
    users = (round_dir / USERS_DIR).resolve()
    path = (users / f"{uid}.json").resolve()
    if path.parent != users or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("uid") != uid:
        return None  # a file under this name for someone else is never handed out
    return doc


def own_proof(round_dir: Path, uid: str) -> dict[str, Any]:
    """The inclusion proof of `uid` (the signed-in user) in the round at `round_dir`; NoProof if there is none."""
    doc = _from_file(round_dir, uid)
    if doc is not None:
        return doc
    try:
        made = _maker(round_dir).make(uid)
    except (RoundError, FileNotFoundError, OSError) as exc:
        raise NoProof(str(exc)) from None
    if made.get("uid") != uid:  # defence in depth: the maker looks the uid up by binary search
        raise NoProof(f"uid {uid!r} is not in this round")
    return made
