"""Who may call the service: named service/operator credentials with scopes, and end users' sessions.

No HTTP here: `bastion.service.access` adapts this to routes. Credentials are stored as SHA-256 digests of
high-entropy tokens (shown once), checked through an in-process cache (`CredentialGate`) and audited by name
in batches; user sessions are JWTs signed by the exchange's login service (`sessions`).
"""
