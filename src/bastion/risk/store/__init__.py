"""How the hot path reaches the database: its own long-lived connections (`connections.py`) and the
group-commit writer that stores every decision (`writer.py`). The tables themselves are `risk/models.py`, as in
every domain."""
