"""Fiat-Shamir transcript: determinism, domain separation, framing, proof of work."""

from bastion.stark.commit.transcript import Transcript


def test_same_messages_same_challenges() -> None:
    a, b = Transcript(b"d"), Transcript(b"d")
    for t in (a, b):
        t.absorb(b"root", b"\x01" * 32)
    assert a.challenge_ext(b"z") == b.challenge_ext(b"z")


def test_domain_label_and_framing_separate() -> None:
    base = Transcript(b"d")
    base.absorb(b"x", b"ab")
    other_domain = Transcript(b"e")
    other_domain.absorb(b"x", b"ab")
    reframed = Transcript(b"d")
    reframed.absorb(b"xa", b"b")  # same concatenation, different framing
    relabelled = Transcript(b"d")
    relabelled.absorb(b"y", b"ab")
    c = base.challenge_bytes(b"c", 32)
    assert c != other_domain.challenge_bytes(b"c", 32)
    assert c != reframed.challenge_bytes(b"c", 32)
    assert c != relabelled.challenge_bytes(b"c", 32)


def test_successive_challenges_differ() -> None:
    t = Transcript(b"d")
    assert t.challenge_ext(b"a") != t.challenge_ext(b"a")


def test_indices_in_range() -> None:
    t = Transcript(b"d")
    idx = t.challenge_indices(b"q", 500, 64)
    assert all(0 <= i < 64 for i in idx) and len(set(idx)) > 40


def test_proof_of_work_round_trip_and_rejects_wrong_nonce() -> None:
    p, v, w = Transcript(b"d"), Transcript(b"d"), Transcript(b"d")
    nonce = p.grind(10)
    assert v.check_pow(10, nonce)
    assert p.challenge_bytes(b"c", 8) == v.challenge_bytes(b"c", 8)
    # the smallest nonce is found first, so every smaller one fails; a random other one fails w.h.p.
    assert nonce == 0 or not w.check_pow(10, nonce - 1)
