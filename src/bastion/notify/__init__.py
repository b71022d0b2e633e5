"""Alerts that arrive: the transactional outbox, its dispatcher (SMTP email, signed webhook), users' contact
addresses, and the registry of the exchange's official channels (docs/alerts.md)."""
