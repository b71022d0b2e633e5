"""Two workers' first withdrawals both find no Travel Rule set and both install the built-in one: the loser must
not fail its withdrawal (a CI run of tests/risk/test_live.py answered 500 on PostgreSQL this way)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from bastion.travel_rule import rules as tr_rules
from bastion.travel_rule.models import TravelRuleRuleset


def test_racing_first_installs_of_the_default_rules_both_succeed(session_factory: Any) -> None:
    first = session_factory()
    tr_rules.ensure_default(first)  # installed, not yet committed: the second worker cannot see it
    errors: list[BaseException] = []
    seen: list[int] = []

    def second_worker() -> None:
        try:
            with session_factory() as s:
                seen.append(tr_rules.active(s)[0])
                s.commit()
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    t = threading.Thread(target=second_worker)
    t.start()
    t.join(0.5)  # PostgreSQL: blocked on the conflicting insert; SQLite: blocked on BEGIN IMMEDIATE
    first.commit()
    first.close()
    t.join(30)
    assert not t.is_alive() and not errors, errors
    assert seen == [1]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(TravelRuleRuleset)) == 1
