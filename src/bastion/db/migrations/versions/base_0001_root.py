"""The common root every domain's migration branch starts from. Creates nothing.

Revision ID: base_0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "base_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("base",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
