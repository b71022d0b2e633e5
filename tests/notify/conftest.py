"""Fixtures of tests/notify; the helpers live in notify_support.py, which tests import by that unique name (a bare
`from conftest import` finds whichever conftest was imported last)."""

from notify_support import *  # noqa: F403
