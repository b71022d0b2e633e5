"""The streamed leaf list and tree (``stream_tree``, ``LeafListWriter``, the memory-mapped tree cache) against the
in-memory reference (``build_tree``, ``write_leaves``): the same bytes, whatever the chunking. Issue 19: a round of
10^7 users must never hold the whole leaf list or tree in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from bastion.por.format import leaves as leaf_format
from bastion.por.format.leaves import LeafListWriter, RoundFormatError, read_leaves, stream_tree, write_leaves
from bastion.por.liabilities.prover.plan import _write_uids, user_ids, user_salt
from bastion.por.liabilities.user_proofs import _MappedLevel
from bastion.por.progress import SilentProgress


@pytest.mark.parametrize("chunk_log", [0, 1, 3, 16])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9, 31, 100])
def test_stream_tree_is_build_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_log: int, n: int) -> None:
    monkeypatch.setattr(leaf_format, "TREE_CHUNK_LOG", chunk_log)
    words = np.random.default_rng(n).integers(0, 2**63, size=(n, 4), dtype=np.uint64)
    sha = write_leaves(tmp_path / "leaves.bin", words)
    records, _ = read_leaves(tmp_path / "leaves.bin")
    levels = leaf_format.build_tree(records)
    seen: list[tuple[int, bytes]] = []
    advanced: list[int] = []
    root, file_sha, count = stream_tree(tmp_path / "leaves.bin", out=tmp_path / "tree.bin", progress=advanced.append,
                                        inspect=lambda first, chunk: seen.append((first, chunk)))
    assert (root, file_sha, count) == (levels[-1].hex(), sha, n)
    assert (tmp_path / "tree.bin").read_bytes() == b"".join(levels)
    assert b"".join(chunk for _, chunk in seen) == records
    assert [first for first, _ in seen] == list(range(0, n, 1 << chunk_log))
    assert sum(advanced) == n + (1 << leaf_format.tree_depth(n)) - 1  # what the progress bars are started with
    # the memory-mapped cache gives every user the same path as the levels in memory
    data = (tmp_path / "tree.bin").read_bytes()
    mapped, at, size = [], 0, 1 << leaf_format.tree_depth(n)
    while size >= 1:
        mapped.append(_MappedLevel(data, at, 32 * size))  # type: ignore[arg-type]  # bytes slice like an mmap
        at, size = at + 32 * size, size // 2
    for i in range(n):
        assert leaf_format.tree_path(mapped, i) == leaf_format.tree_path(levels, i)


def test_leaf_list_writer_writes_what_write_leaves_writes(tmp_path: Path) -> None:
    words = np.random.default_rng(7).integers(0, 2**63, size=(50, 4), dtype=np.uint64)
    sha = write_leaves(tmp_path / "whole.bin", words)
    writer = LeafListWriter(tmp_path / "streamed.bin", 50)
    for lo in range(0, 50, 16):
        writer.write(words[lo : lo + 16])
    assert not (tmp_path / "streamed.bin").exists()  # put in place only once complete
    assert writer.close() == sha
    assert (tmp_path / "streamed.bin").read_bytes() == (tmp_path / "whole.bin").read_bytes()
    short = LeafListWriter(tmp_path / "short.bin", 51)
    short.write(words)
    with pytest.raises(ValueError, match="holds 50 leaves, its header says 51"):
        short.close()
    assert not (tmp_path / "short.bin").exists()


def test_stream_tree_refuses_what_read_leaves_refuses(tmp_path: Path) -> None:
    (tmp_path / "bad.bin").write_bytes(b"NOTLEAFS" + (1).to_bytes(8, "little") + bytes(32))
    with pytest.raises(RoundFormatError, match="bad magic"):
        stream_tree(tmp_path / "bad.bin")
    write_leaves(tmp_path / "cut.bin", np.zeros((3, 4), dtype=np.uint64))
    (tmp_path / "cut.bin").write_bytes((tmp_path / "cut.bin").read_bytes()[:-1])
    with pytest.raises(RoundFormatError, match="header says 3 leaves"):
        stream_tree(tmp_path / "cut.bin")


def test_ids_and_uid_file_in_chunks_are_the_per_user_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bastion.por.liabilities.prover.plan as plan

    monkeypatch.setattr(plan, "_ID_CHUNK", 3)
    uids = sorted(["100000000001", "7", "ünïcode-uid", "a,b", "x" * 40, "42", "1000"])
    for secret in (bytes(range(32)), bytes(range(100))):  # a round's 32 bytes; a key longer than SHA-256's block
        ids = user_ids(secret, "2026-12", pa.array(uids, pa.string()), SilentProgress())
        expect = [leaf_format.user_id("2026-12", u, user_salt(secret, u)) for u in uids]
        assert [tuple(int(w) for w in row) for row in ids] == expect
    _write_uids(tmp_path / "uids.npy", pa.array(uids, pa.string()))
    np.save(tmp_path / "whole.npy", np.array(uids, dtype=str))
    assert (tmp_path / "uids.npy").read_bytes() == (tmp_path / "whole.npy").read_bytes()
