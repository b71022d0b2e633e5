"""Storage: the declarative base, engines and sessions, and the Alembic migrations shipped in the package."""

from bastion.db.base import Base
from bastion.db.session import make_engine, make_sessionmaker

__all__ = ["Base", "make_engine", "make_sessionmaker"]
