"""Every table of Bastion: one plain import per domain's `models.py`, so `Base.metadata` knows them all.

Imported by what needs the whole schema at once (the model/migration consistency test, drafting a migration
with autogenerate); the domains themselves import only their own tables. A new domain with tables adds a line.
"""

from __future__ import annotations

from bastion.access import models as access
from bastion.account import models as account
from bastion.db.base import Base
from bastion.diligence import models as diligence
from bastion.funds import models as funds
from bastion.keys import models as keys
from bastion.notify import models as notify
from bastion.protection import models as protection
from bastion.protection_fund import models as protection_fund
from bastion.risk import models as risk
from bastion.stepup import models as stepup
from bastion.travel_rule import models as travel_rule

DOMAIN_MODELS = (
    access, account, diligence, funds, keys, notify, protection, protection_fund, risk, stepup, travel_rule,
)  # fmt: skip
metadata = Base.metadata
