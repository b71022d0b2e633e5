"""API keys: lifecycle, secrets at rest, OKX-v5-compatible request signing, Fast API, the idle-key sweeper."""
