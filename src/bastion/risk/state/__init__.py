"""What a service worker keeps between decisions: users and destinations in memory (`memory.py`), kept current
by the commit log every worker appends to and reads (`commit_log.py`) in one shared catch-up before deciding
(`catchup.py`), and the cached rules, lists and model (`config.py`, reloaded when `config_versions.py` says
they changed)."""
