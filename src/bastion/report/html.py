"""The monthly security report as one standalone HTML page (inline CSS and SVG, no JavaScript), laid out for
print as well as the screen: the PDF is this page printed by headless Chromium (`bastion.report.pdf`).

The page is `templates/report.html.j2` (Jinja2, autoescaped: every figure and every name from a file is
text, never markup); this module gives it the report, the charts (inline SVG from `charts.py`) and the
formatting filters.
"""

from __future__ import annotations

import calendar
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from bastion.report import account_security, charts, protection
from bastion.report.figures import DbFigures, MonthlyReport
from bastion.report.templating import new_environment

MONTHS = list(calendar.month_name)[1:]

NO_DATA = "No data for this month"


def month_title(month: str) -> str:
    year, mon = month.split("-")
    return f"{MONTHS[int(mon) - 1]} {year}"


def n(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def usd(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "n/a"
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"-${-q:,}" if q < 0 else f"${q:,}"


def signed_usd(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    text = usd(value)
    return text if text.startswith("-") or value == 0 else "+" + text


def amount(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "n/a"
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = f"{q:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def signed(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "n/a"
    text = amount(value, places)
    return text if text.startswith("-") or value == 0 else "+" + text


def pct(ratio: Decimal | float | None) -> str:
    if ratio is None:
        return "n/a"
    return f"{(Decimal(str(ratio)) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def breakable(text: object) -> Markup:
    """A code name that may wrap only after '.', '_', '/', ',' or ' (': never in the middle of a word."""
    out = str(escape(str(text)))
    for sep in (".", "_", "/", ","):
        out = out.replace(sep, sep + "<wbr>")
    return Markup(out)


def css_string(text: object) -> Markup:
    """Text for inside a double-quoted CSS string in a <style> element (where HTML entities mean nothing)."""
    out = "".join(ch if ch.isalnum() or ch in " -_:.,()'" else f"\\{ord(ch):x} " for ch in str(text))
    return Markup(out)


def _change_rows(cur: DbFigures, prev: DbFigures) -> list[tuple[str, Decimal, Decimal, bool]]:
    """(figure, this month, previous month, is money)."""
    return [
        ("Users protected", Decimal(cur.risk.users_protected), Decimal(prev.risk.users_protected), False),
        ("Withdrawals intercepted", Decimal(cur.risk.withdrawals_intercepted),
         Decimal(prev.risk.withdrawals_intercepted), False),
        ("Value preserved (USD)", cur.risk.value_preserved_usd, prev.risk.value_preserved_usd, True),
        ("Withdrawals evaluated", Decimal(cur.risk.withdrawals_evaluated), Decimal(prev.risk.withdrawals_evaluated),
         False),
        ("Fund triggers", Decimal(cur.funds.triggers), Decimal(prev.funds.triggers), False),
        *[
            (f"Fund balance ({ccy})", cur.funds.balance_by_ccy.get(ccy, Decimal(0)),
             prev.funds.balance_by_ccy.get(ccy, Decimal(0)), True)
            for ccy in sorted(set(cur.funds.balance_by_ccy) | set(prev.funds.balance_by_ccy))
        ],
        ("API keys created", Decimal(cur.keys.created), Decimal(prev.keys.created), False),
        ("Fast API keys issued", Decimal(cur.keys.created_fast_api), Decimal(prev.keys.created_fast_api), False),
        ("Keys bound to third-party apps at month end", Decimal(cur.keys.live_bound_to_apps_at_end),
         Decimal(prev.keys.live_bound_to_apps_at_end), False),
        ("API keys deleted", Decimal(cur.keys_deleted), Decimal(prev.keys_deleted), False),
        ("Cooling-off activations", Decimal(cur.cooling_off.activations), Decimal(prev.cooling_off.activations),
         False),
        ("Mistaken deposits recovered by support", Decimal(cur.deposits.manual_recovered),
         Decimal(prev.deposits.manual_recovered), False),
        ("Mistaken deposits returned automatically", Decimal(cur.deposits.automatic_returned),
         Decimal(prev.deposits.automatic_returned), False),
        ("Value recovered by support (USD)", cur.deposits.manual_value_usd, prev.deposits.manual_value_usd, True),
        ("Value returned automatically (USD)", cur.deposits.automatic_value_usd, prev.deposits.automatic_value_usd,
         True),
    ]  # fmt: skip


def change_table(r: MonthlyReport) -> list[dict[str, str]]:
    if r.previous is None:
        return []
    rows = []
    for name, cur, prev, money in _change_rows(r.current, r.previous):

        def fmt(v: Decimal, money: bool = money) -> str:
            return amount(v, 2) if money else n(int(v))

        delta = cur - prev
        rel = "n/a" if prev == 0 else f"{(delta / prev * 100).quantize(Decimal('0.1'))}%"
        rows.append({
            "name": name,
            "cur": fmt(cur),
            "prev": fmt(prev),
            "delta": ("+" if delta > 0 else "") + fmt(delta),
            "cls": "up" if delta > 0 else "down" if delta < 0 else "",
            "rel": rel,
        })  # fmt: skip
    return rows


# ------------------------------------------------------------------------------------------------- FAQ
FAQ: list[tuple[str, str]] = [
    ("What is a proof of reserves?",
     "A way to show that the exchange holds at least what it owes its users, asset by asset. The wallet side is "
     "shown by a signature from every wallet over this round's challenge, and its balance at the snapshot block. "
     "The user side is a zk-STARK proof over every user's balances: it proves the published totals without "
     "revealing anyone's balance."),
    ("What does a reserve ratio of 100% mean?",
     "Wallet assets equal user assets for that asset. Above 100% the exchange holds more than it owes; under "
     "100% it holds less, and the report says so in its status line."),
    ("How do I check that my balance was included?",
     "Sign in to your account and open the proof-of-reserves page: the 'verify my balances' button fetches your "
     "own inclusion proof and checks it in your browser. You can also download the file and run bastion por "
     "verify-user FILE --round ROUND (see 'How to verify' above). The proof shows your balances, your leaf and "
     "the path up to the published liabilities root."),
    ("Why is a debt subtracted from my assets?",
     "User assets are net of what users borrowed (margin, loans): an exchange must hold what it owes, which is "
     "equity minus debt. The circuit also proves no user's net balance is negative."),
    ("What does 'withdrawal intercepted' mean?",
     "The risk engine blocked the withdrawal, or held it for an analyst who then rejected it. A held withdrawal "
     "that the analyst approved is counted as a false positive, not as an interception."),
    ("What is the risk provision fund?",
     "The insurance fund that covers losses when a liquidated position closes below its bankruptcy price. When "
     "it falls fast (30% below its 8-hour peak) auto-deleveraging closes opposing profitable positions instead."),
    ("What is the difference between Fast API keys and keys bound to third-party apps?",
     "A Fast API key is issued when you authorize an app through the one-click Fast API flow; the count is of "
     "those issued this month. Keys bound to third-party apps are all keys linked to an app and still live at "
     "the end of the month, whenever they were issued."),
    ("Why was my API key deleted?",
     "Keys with trade or withdraw permission, not bound to any IP address and unused for 14 days are deleted "
     "automatically: an idle, unbound key is a risk if it leaks. Bind your key to your server's IP to keep it."),
    ("What is a cooling-off period?",
     "A period of 1, 7 or 30 days (or a custom length) that a user chooses, during which no derivatives position "
     "can be opened or increased. It cannot be shortened; closing positions is always allowed."),
    ("I sent a deposit on the wrong network. Can I get it back?",
     "Often yes. Unlisted tokens on supported chains go back automatically; wrong-network and missing-memo "
     "deposits are recovered by support for a fee. Open a case with the self-service check."),
]  # fmt: skip

# What the proof does not show (docs/por.md): printed in every report with a round.
CAVEATS: list[str] = [
    "Prices, haircuts and caps are the exchange's word. The proof is exact at the published prices; an auditor "
    "compares them with the market at the snapshot time.",
    "Solvency is proven per user in USD, not per asset. A user may owe BTC backed by USDT (cross-margin), so the "
    "exchange could add solvent 'dummy' users (its own money) that shift liabilities between assets: reserves "
    "must be checked per asset (the reserve ratio per asset above), not only in total.",
    "User ids are not forced unique across users. A second block under a real user's id must itself be solvent, "
    "so it is no more than a dummy user (above).",
    "The proof covers one instant, the snapshot time. Assets borrowed for the snapshot and returned after it are "
    "not visible in a single round: compare rounds over time (the change since the previous round).",
    "Wallet balances are read at the published block heights from the balance source named in the reserves "
    "verification; a reader checks them with a node or explorer of their own.",
    "An inclusion check run without the published round (verify-user without --round) cannot check asset names "
    "against the round.",
]

DISCLAIMER = (
    "This report is produced by the exchange with Bastion, open-source software, from the exchange's own "
    "records and the proof-of-reserves round named in it. It is not an audit opinion, a guarantee of solvency "
    "at any time other than the snapshot, or financial advice. The proof of reserves shows what its checks "
    "show and nothing more (see 'What the proof does not show'); figures other than the proof of reserves are "
    "the exchange's own records and are not independently verified. Anyone may check the round with the "
    "published files and the commands above, and check that this report is the one the exchange signed."
)

DEFINITIONS: list[tuple[str, str, str]] = [
    ("User assets (per asset)", "Sum over users of equity minus debt in that asset at the snapshot.",
     "round.json assets[].net_liabilities (bastion por prove)"),
    ("Wallet assets (per asset)", "Sum of the balances of the wallets whose signature over the round's challenge "
     "verified; failed rows are left out.", "reserves.json assets[].reserves (bastion por reserves verify)"),
    ("Reserve ratio", "Wallet assets / user assets, per asset; the total uses each asset's round price in USD.",
     "bastion.por.reserves.report.build_report"),
    ("Change since the previous round", "This round's user and wallet assets minus the previous round's, per "
     "asset, and in USD each at its own round's prices.", "bastion.por.reserves.report.build_report"),
    ("Round number", "Position of the round among the published rounds, in order of snapshot time.",
     "bastion.por.history.load_history"),
    ("Round digest", "SHA-256 of round.json as published; round.json states the digests of the leaf list and "
     "of every batch proof.", "round.json"),
    ("Coverage", "Number of assets in the round.", "round.json assets[]"),
    ("Circuit digest, liabilities root, batch proofs", "What the zk-STARK proof commits to.",
     "round.json circuit.digest, leaves.root, batches[]"),
    ("Withdrawals evaluated", "Withdrawal requests scored in the month.",
     "risk_decisions; bastion.risk.metrics.monthly"),
    ("Withdrawals intercepted", "Blocked, or held then rejected by an analyst.",
     "risk_decisions.decision, review_status; bastion.risk.metrics.monthly"),
    ("Users protected", "Distinct users with at least one intercepted withdrawal.", "bastion.risk.metrics.monthly"),
    ("Value preserved", "USD value, at the time of the attempt, of the intercepted withdrawals.",
     "risk_decisions.amount_usd; bastion.risk.metrics.monthly"),
    ("False positives", "Held then approved by an analyst.", "risk_decisions.review_status"),
    ("Rule hits", "Withdrawals each rule fired on (snoozed rules excluded).",
     "risk_rule_hits; bastion.risk.metrics.monthly"),
    ("Daily interceptions", "Withdrawals intercepted per UTC day.", "bastion.risk.metrics.monthly"),
    ("Fund balance", "Balance of each pool after its last booking of the month, summed per settlement currency; "
     "in USD at the round's prices.", "fund_entries.balance; bastion.funds.metrics.monthly"),
    ("Fund balance over the month (chart)", "Each pool's balance after its last booking of each hour.",
     "fund_entries (ts, balance)"),
    ("Fund triggers", "Bankruptcy losses the fund paid.", "fund_entries type loss; bastion.funds.metrics.monthly"),
    ("ADL events / activations", "Losses closed against opposing positions instead of the fund; times a pool "
     "entered the ADL state.", "fund_entries, fund_pool_events, fund_adl_fills; bastion.funds.metrics.monthly"),
    ("API keys created", "Keys created in the month, by users and through third-party apps (Fast API).",
     "keys_api_keys.created_at, source; bastion.keys.metrics.monthly"),
    ("Fast API keys issued", "Keys issued in the month through the Fast API authorization flow.",
     "keys_api_keys.source = fast_api; bastion.keys.metrics.monthly"),
    ("Keys bound to third-party apps", "Keys linked to a third-party app and live at the end of the month.",
     "keys_api_keys.app_id, revoked_at; bastion.keys.metrics.monthly"),
    ("API keys deleted", "Idle unbound keys swept, plus keys deleted by their users.",
     "keys_events (swept, revoked); bastion.keys.metrics.monthly"),
    ("Signed requests refused", "OKX-v5 signed requests refused, by reason.",
     "keys_rejections; bastion.keys.metrics.monthly"),
    ("Cooling-off activations", "Periods started in the month, and the users who started them.",
     "cooling_off activations; bastion.protection.cooling_off.monthly"),
    ("Orders refused", "Orders refused because they would open or grow a derivatives position in a period.",
     "cooling_off refusals; bastion.protection.cooling_off.monthly"),
    ("Mistaken deposits recovered", "Cases opened in the month that were credited by support (manual) or "
     "returned automatically, each with its USD value at arrival.",
     "deposit cases; bastion.protection.deposits.monthly"),
    ("Change from the previous month", "The same figures for the previous calendar month from the same database.",
     "bastion.report.figures.gather"),
]  # fmt: skip

# Above this many wallets the report gives the wallet file's digest and link instead of every row.
WALLETS_LISTED = 40

_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = new_environment(dict(
            n=n, usd=usd, signed_usd=signed_usd, amount=amount, signed=signed, pct=pct, breakable=breakable,
            month_title=month_title, css_string=css_string,
        ))  # fmt: skip
    return _env


def context(r: MonthlyReport) -> dict[str, Any]:
    c = r.current
    who = f"{r.exchange} monthly" if r.exchange else "Monthly"
    fund_usd, fund_usd_by_ccy, fund_unpriced = r.fund_usd()
    f = r.fund
    rep = f.report if f else None
    return {
        "r": r,
        "c": c,
        "f": f,
        "rep": rep,
        "title": f"{who} security report: {month_title(r.month)}",
        "fund_usd": fund_usd,
        "fund_usd_by_ccy": fund_usd_by_ccy,
        "fund_unpriced": fund_unpriced,
        "files_url": r.files_url(),
        "charts": {
            "ratio": Markup(
                charts.reserve_ratio_bars(
                    "Reserve ratio per asset", [(x.asset, x.ratio) for x in rep.lines] if rep else []
                )
            ),
            "daily": Markup(charts.daily_columns("Daily interceptions", r.daily_interceptions())),
            "fund": Markup(
                charts.balance_lines(
                    "Fund balance over the month", [(s.name, s.points) for s in c.fund_series], c.start, c.end
                )
            ),
        },
        "rules": sorted(c.risk.hits_per_rule.items(), key=lambda kv: (-kv[1], kv[0])),
        "rejections": list(zip(c.keys.rejections_by_code.items(), c.keys.rejections_by_reason, strict=True)),
        "change": change_table(r),
        "faq": FAQ,
        "caveats": CAVEATS,
        "disclaimer": DISCLAIMER,
        "definitions": DEFINITIONS,
        "wallets_listed": WALLETS_LISTED,
        "durations": {"1d": "1 day", "7d": "7 days", "30d": "30 days", "custom": "custom (1-365 days)"},
        "reasons": {
            "wrong_network": "Wrong network",
            "unlisted_token": "Token not listed",
            "missing_memo": "Memo missing",
        },
        "dd_reasons": {
            "deposits_30d": "Deposits over the 30-day threshold",
            "risk_score": "High withdrawal risk score",
            "jurisdiction": "High-risk jurisdiction",
            "operator": "Compliance officer's request",
        },
        "tr_release": {
            "message": "the counterparty exchange's message",
            "originator": "the originator supplied by the user",
            "ownership": "the user's proof of owning the sending wallet",
        },
        "no_data": NO_DATA,
        # the user protection fund, both funds' disclosures and beginner protection: its own template
        "protection_section": Markup(protection.render(r.protection) if r.protection is not None else ""),
        # the account security center: freezes, devices removed, alerts, checklist adoption
        "account_section": Markup(
            account_security.render(r.account_security) if r.account_security is not None else ""
        ),
    }


def render(r: MonthlyReport) -> str:
    return environment().get_template("report.html.j2").render(context(r))
