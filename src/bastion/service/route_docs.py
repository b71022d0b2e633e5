"""`python -m bastion.service.route_docs docs/security.md`: regenerate the route table of docs/security.md from
the app's own declarations (`bastion.service.access.render_docs`).

Apart from `access.py` because it creates the app: the access model must not import the app that imports it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bastion.service.access import render_docs
from bastion.service.app import create_app
from bastion.settings import Settings


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bastion.service.route_docs docs/security.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    # A throwaway data dir: creating the app makes its keys (secret, session, Travel Rule) in it, and the
    # generator must leave nothing behind in the directory it runs in.
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(database_url="sqlite://", data_dir=Path(data_dir)))
        try:
            path.write_text(render_docs(path.read_text(), app))
        finally:
            app.state.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
