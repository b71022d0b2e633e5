"""Step-up on risky withdrawals: a withdrawal the risk engine answered `step_up` goes through only once the
user confirms it with a second factor they have enrolled, bound to that withdrawal (docs/risk.md, "Step-up").

- TOTP: a code for the current 30-second step (one step of drift either way), accepted once: the step it
  matched is remembered (`protection.totp`), so a code used for any step-up (or anything else) is refused again.
- Passkey: a WebAuthn assertion over a challenge this module issued for that withdrawal: an HMAC of the
  withdrawal's id, user, asset, amount and destination, the challenge's expiry and a nonce, stored (hashed) and
  consumed by the first attempt. An assertion made for another withdrawal, a replayed or an expired one is
  refused; the signature is checked by py_webauthn (`protection.passkeys.verify_assertion`), user
  verification required.

Every attempt, passed or refused, is audited (`StepUpAttempt`); a passed one moves the risk decision on to the
score's decision (allow, or review) through `risk.decide.decision.step_up_passed`.
"""
