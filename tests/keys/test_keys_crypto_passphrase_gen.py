"""Generated Fast API passphrases always satisfy OKX's rule (a letter and a digit), not just usually."""

from bastion.keys.crypto import check_passphrase, new_passphrase


def test_generated_passphrases_always_pass_the_rule() -> None:
    seen = set()
    for _ in range(5000):
        p = new_passphrase()
        check_passphrase(p)
        seen.add(p)
    assert len(seen) == 5000
