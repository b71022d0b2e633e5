"""The prover's array pool: an array is handed out again only once nobody refers to it, and idle arrays
beyond the byte cap go back to the OS."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.stark.poly import buffers

SHAPE = (2, buffers.MIN_BYTES // 16)  # exactly MIN_BYTES: pooled


@pytest.fixture(autouse=True)
def _empty_pool() -> None:
    buffers.release()


def test_an_array_in_use_is_never_handed_out_again() -> None:
    a = buffers.empty(SHAPE)
    view = a[1, 10:20]
    b = buffers.empty(SHAPE)
    assert not np.shares_memory(a, b)
    del a
    c = buffers.empty(SHAPE)  # `view` still refers to the first array
    assert not np.shares_memory(c, view) and not np.shares_memory(c, b)


def test_an_idle_array_is_recycled() -> None:
    a = buffers.empty(SHAPE)
    a[0, 0] = 12345
    address = a.__array_interface__["data"][0]
    del a
    b = buffers.empty(SHAPE)
    assert b.__array_interface__["data"][0] == address and b.shape == SHAPE and b.dtype == np.uint64
    assert buffers.pooled_bytes() == b.nbytes


def test_small_arrays_and_a_zero_cap_are_not_pooled(monkeypatch: pytest.MonkeyPatch) -> None:
    buffers.empty((4, 4))
    assert buffers.pooled_bytes() == 0
    monkeypatch.setenv("BASTION_STARK_POOL_BYTES", "0")
    buffers.empty(SHAPE)
    assert buffers.pooled_bytes() == 0


def test_idle_arrays_beyond_the_cap_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_STARK_POOL_BYTES", str(2 * buffers.MIN_BYTES))
    held = buffers.empty(SHAPE)
    buffers.empty(SHAPE)  # idle at once
    other = buffers.empty((4, buffers.MIN_BYTES // 32))  # a different shape: the idle array makes room
    assert buffers.pooled_bytes() == held.nbytes + other.nbytes
    buffers.release()
    assert buffers.pooled_bytes() == held.nbytes + other.nbytes  # both still in use
    del held, other
    buffers.release()
    assert buffers.pooled_bytes() == 0


def test_transforms_on_recycled_memory_match_fresh_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.stark.poly import ntt

    rng = np.random.default_rng(9)
    first = rng.integers(0, 2**64 - 2**32 + 1, size=(8, 1 << 16), dtype=np.uint64)
    second = rng.integers(0, 2**64 - 2**32 + 1, size=(8, 1 << 16), dtype=np.uint64)
    monkeypatch.setenv("BASTION_STARK_POOL_BYTES", "0")
    want = [ntt.lde(first, 4, 7), ntt.lde(second, 4, 7)]
    monkeypatch.delenv("BASTION_STARK_POOL_BYTES")
    got_first = ntt.lde(first, 4, 7)  # 16 MiB of output: pooled
    assert buffers.pooled_bytes() >= got_first.nbytes
    assert (got_first == want[0]).all()
    address = got_first.__array_interface__["data"][0]
    del got_first
    got_second = ntt.lde(second, 4, 7)
    assert got_second.__array_interface__["data"][0] == address  # the first output's memory, recycled
    assert (got_second == want[1]).all()
