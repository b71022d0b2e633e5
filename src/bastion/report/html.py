"""The monthly security report as one standalone HTML page (inline CSS and SVG, no JavaScript), laid out for
print as well as the screen: the PDF is this page printed by headless Chromium."""

from __future__ import annotations

import calendar
import html
from decimal import ROUND_HALF_EVEN, Decimal

from bastion.report import charts, protection
from bastion.report.figures import DbFigures, MonthlyReport

MONTHS = list(calendar.month_name)[1:]

NO_DATA = "No data for this month"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def month_title(month: str) -> str:
    year, mon = month.split("-")
    return f"{MONTHS[int(mon) - 1]} {year}"


def n(value: int) -> str:
    return f"{value:,}"


def usd(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def amount(value: Decimal, places: int = 8) -> str:
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = f"{q:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pct(ratio: Decimal | float | None) -> str:
    if ratio is None:
        return "n/a"
    return f"{(Decimal(str(ratio)) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _figures(items: list[tuple[str, str, str]]) -> str:
    """Big-number tiles: (value, label, note)."""
    tiles = "".join(
        f"<div class='tile'><div class='value'>{v}</div><div class='label'>{_e(label)}</div>"
        f"<div class='note'>{_e(note)}</div></div>"
        for v, label, note in items
    )
    return f"<div class='tiles'>{tiles}</div>"


def _nodata(message: str = NO_DATA) -> str:
    return f"<p class='nodata'>{_e(message)}</p>"


CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
* { box-sizing: border-box; }
body { font-family: Helvetica, Arial, sans-serif; color: #1b1b1b; font-size: 11pt; line-height: 1.4;
       max-width: 190mm; margin: 0 auto; padding: 12px; }
h1 { font-size: 22pt; margin: 0 0 4px; color: #0e2f5a; }
h2 { font-size: 15pt; color: #0e2f5a; border-bottom: 2px solid #0e2f5a; padding-bottom: 3px; margin-top: 28px; }
h3 { font-size: 12pt; margin: 18px 0 6px; }
section { break-before: page; }
section.first { break-before: auto; }
.sub { color: #555; margin: 0 0 14px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 9.5pt; break-inside: avoid; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef2f7; border-bottom: 1px solid #9aa; }
table.defs td { text-align: left; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 12px; }
.tile { flex: 1 1 150px; border: 1px solid #c9d3e0; border-radius: 4px; padding: 8px 10px; break-inside: avoid; }
.tile .value { font-size: 16pt; font-weight: bold; color: #0e2f5a; }
.tile .label { font-weight: bold; font-size: 9.5pt; }
.tile .note { color: #555; font-size: 8.5pt; }
.status { font-weight: bold; padding: 6px 10px; border-radius: 4px; display: inline-block; }
.status.ok { background: #e3f3e8; color: #17623a; border: 1px solid #17623a; }
.status.bad { background: #fbe9e7; color: #8c1d12; border: 1px solid #8c1d12; }
.nodata { background: #f6f6f6; border: 1px dashed #aaa; padding: 8px 12px; color: #444; }
.chart { margin: 6px 0 14px; break-inside: avoid; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 8.5pt; word-break: break-all; }
pre { background: #f4f6f9; padding: 8px; font-size: 8.5pt; white-space: pre-wrap; break-inside: avoid; }
dl.faq dt { font-weight: bold; margin-top: 10px; }
dl.faq dd { margin: 2px 0 0 0; }
.up { color: #17623a; } .down { color: #8c1d12; }
footer { margin-top: 24px; color: #666; font-size: 8.5pt; }
"""


# ------------------------------------------------------------------------------------------ fund security
def _fund_section(r: MonthlyReport) -> str:
    out = ["<section class='first' id='fund-security'><h2>1. Fund security</h2>"]
    f = r.fund
    if f is None:
        out.append(
            _nodata(
                "No data: no proof-of-reserves round was given for this month "
                "(bastion report monthly --round ROUND_DIR)."
            )
        )
        out.append(charts.reserve_ratio_bars("Reserve ratio per asset", []))
        out.append("</section>")
        return "".join(out)
    rep = f.report
    ok = rep.ok
    total_ratio = rep.totals.get("ratio")
    out.append(
        f"<p class='sub'>Proof-of-reserves round <b>{_e(rep.round_id)}</b>, snapshot {_e(rep.snapshot_time)}. "
        f"Coverage: <b>{f.assets_covered} assets</b>. {rep.wallets_verified} wallets verified.</p>"
        f"<p><span class='status {'ok' if ok else 'bad'}'>{_e(rep.status)}</span></p>"
    )
    out.append(
        _figures(
            [
                (usd(rep.totals["liabilities_usd"] or Decimal(0)), "User assets (USD)", "net of debt, at round prices"),
                (usd(rep.totals["reserves_usd"] or Decimal(0)), "Wallet assets (USD)", "verified wallets"),
                (pct(total_ratio), "Total reserve ratio", "wallet assets / user assets"),
                (n(f.assets_covered), "Assets covered", "every asset users hold"),
            ]
        )
    )
    rows = [
        [
            _e(x.asset),
            amount(x.liabilities),
            amount(x.reserves),
            f"<b>{pct(x.ratio)}</b>" if x.ratio is not None and x.ratio >= 1 else f"<b class='down'>{pct(x.ratio)}</b>",
            amount(x.difference),
        ]
        for x in rep.lines
    ]
    out.append("<h3>User assets, wallet assets and reserve ratio per asset</h3>")
    out.append(_table(["Asset", "User assets", "Wallet assets", "Reserve ratio", "Difference"], rows))
    out.append(charts.reserve_ratio_bars("Reserve ratio per asset", [(x.asset, x.ratio) for x in rep.lines]))
    if rep.failures:
        out.append("<h3>Wallet rows that failed verification (left out of the wallet assets)</h3>")
        out.append(
            _table(
                ["Row", "Chain", "Asset", "Address", "Reason"],
                [
                    [_e(x.get("row")), _e(x.get("chain")), _e(x.get("asset")), f"<code>{_e(x.get('address'))}</code>",
                     _e(x.get("reason"))]
                    for x in rep.failures[:30]
                ],
            )
        )
    p = f.proof
    out.append("<h3>The zk-STARK proof of liabilities</h3>")
    if p.circuit_digest is None and not p.batches:
        out.append(_nodata("No data: round.json carries no proof (circuit and batches) yet."))
    params = ", ".join(f"{_e(k)}={_e(v)}" for k, v in sorted(p.stark_params.items())) or "n/a"
    out.append(
        _table(
            ["Item", "Value"],
            [
                ["Circuit", _e(p.circuit_name or "n/a")],
                ["Circuit digest", f"<code>{_e(p.circuit_digest or 'n/a')}</code>"],
                ["STARK parameters", f"<code>{params}</code>"],
                ["Prover", _e(p.prover_version or "n/a")],
                ["Users in the tree", n(p.users) if p.users is not None else "n/a"],
                ["Leaves (Merkle tree over SHA-256)", n(p.leaf_count) if p.leaf_count is not None else "n/a"],
                ["Liabilities root (leaf_root)", f"<code>{_e(p.leaf_root or 'n/a')}</code>"],
                ["Batch proofs", n(p.batches)],
            ],
            "defs",
        )
    )
    out.append(
        "<h3>How to verify</h3><p>Each batch proof shows, without revealing any balance, that every user's "
        "net balance is non-negative and that the batch's totals are the sum of its users' balances; the "
        "published totals per asset are the sums of the batches. You need the round's public files "
        "(everything but <code>private/</code>).</p><pre>"
        f"bastion por verify {_e(f.round_dir)}                 # every batch proof, the leaf root, the totals\n"
        f"bastion por verify-user u123.json --round {_e(f.round_dir)}   # your own inclusion proof\n"
        f"bastion por reserves verify WALLETS.csv --round {_e(f.round_dir)}   # wallet signatures, balances\n"
        "</pre><p>Your inclusion proof can also be checked in the browser on the exchange's verification page: "
        "the file stays on your computer. The check passes only if your leaf, built from your balances and your "
        "salt, hashes up to the liabilities root above, and the proof names the same circuit digest.</p>"
    )
    out.append("</section>")
    return "".join(out)


# ------------------------------------------------------------------------------------ transaction security
def _transaction_section(r: MonthlyReport) -> str:
    c = r.current
    risk, keys, funds = c.risk, c.keys, c.funds
    out = ["<section id='transaction-security'><h2>2. Transaction security</h2>"]
    out.append("<h3>Withdrawal risk engine</h3>")
    if not risk.withdrawals_evaluated:
        out.append(_nodata("No data: no withdrawal was evaluated this month."))
    else:
        out.append(
            _figures(
                [
                    (n(risk.users_protected), "Users protected", "users with a withdrawal intercepted"),
                    (n(risk.withdrawals_intercepted), "Withdrawals intercepted", "blocked, or held and rejected"),
                    (usd(risk.value_preserved_usd), "Value preserved", "USD value of the intercepted withdrawals"),
                    (n(risk.withdrawals_evaluated), "Withdrawals evaluated", "every request scored in real time"),
                ]
            )
        )
        reviewed = risk.held - risk.pending_review
        out.append(
            _table(
                ["Decisions", "Count"],
                [
                    ["Allowed", n(risk.allowed)],
                    ["Held for review", n(risk.held)],
                    ["Blocked", n(risk.blocked)],
                    ["Held, then approved by an analyst (false positives)", n(risk.false_positives)],
                    ["Held, still pending at the end of the month", n(risk.pending_review)],
                    ["Share of reviewed holds that were false positives",
                     pct(risk.false_positive_rate) if reviewed else "n/a"],
                    ["Median review time", "n/a" if risk.median_review_seconds is None
                     else f"{risk.median_review_seconds / 60:.0f} min"],
                ],
            )
        )
    out.append(charts.daily_columns("Daily interceptions", r.daily_interceptions()))
    if risk.hits_per_rule:
        out.append("<h3>Rule hits</h3>")
        hits = sorted(risk.hits_per_rule.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(_table(["Rule", "Withdrawals it fired on"], [[f"<code>{_e(k)}</code>", n(v)] for k, v in hits]))

    out.append("<h3>Risk provision fund (insurance fund)</h3>")
    if not c.fund_series:
        out.append(_nodata("No data: the fund has no pool and no booking yet."))
    else:
        bal = "; ".join(f"{amount(v, 2)} {_e(k)}" for k, v in sorted(funds.balance_by_ccy.items()))
        out.append(
            _figures(
                [
                    (bal or "0", "Fund balance at the end of the month", "all pools, per settlement currency"),
                    (n(funds.triggers), "Fund triggers", "bankruptcy losses the fund paid"),
                    (n(funds.adl_events), "Losses closed by auto-deleveraging", "ADL instead of the fund"),
                    (n(funds.adl_starts), "ADL activations", "pool entered ADL state"),
                ]
            )
        )
        out.append(
            _table(
                ["Pool", "Balance", "Triggers", "Inflows", "Outflows", "ADL events", "Worst 8 h drawdown", "State"],
                [
                    [
                        _e(f"{p.inst_type} {p.inst_family} ({p.ccy})"),
                        amount(p.balance_end, 2),
                        n(p.triggers),
                        amount(p.inflows, 2),
                        amount(p.losses_out, 2),
                        n(p.adl_liquidations),
                        pct(p.worst_drawdown_8h),
                        _e(p.state_end),
                    ]
                    for p in funds.pools
                ],
            )
        )
    out.append(
        charts.balance_lines(
            "Fund balance over the month", [(s.name, s.points) for s in c.fund_series], c.start, c.end
        )
    )

    out.append("<h3>API keys</h3>")
    if not (keys.created or c.keys_deleted or keys.rejections):
        out.append(_nodata("No data: no API key was created, bound or deleted this month."))
    else:
        out.append(
            _figures(
                [
                    (n(keys.created), "API keys created", f"{n(keys.created_direct)} by users, "
                     f"{n(keys.created_fast_api)} through third-party apps"),
                    (n(keys.bound_to_apps), "API keys bound to apps", "Fast API keys, bound to the app's IPs"),
                    (n(c.keys_deleted), "API keys deleted", f"{n(keys.swept)} idle unbound keys swept, "
                     f"{n(keys.revoked)} deleted by users"),
                    (n(keys.rejections), "Signed requests refused", "bad signature, clock, passphrase, IP..."),
                ]
            )
        )
        if keys.rejections_by_code:
            names = keys.rejections_by_reason
            out.append(
                _table(
                    ["Refusal (OKX code)", "Requests"],
                    [
                        [f"{_e(name)} ({_e(code)})", n(cnt)]
                        for (code, cnt), name in zip(keys.rejections_by_code.items(), names, strict=True)
                    ],
                )
            )
    out.append("</section>")
    return "".join(out)


# ------------------------------------------------------------------------------------------ user protection
def _protection_section(r: MonthlyReport) -> str:
    c = r.current
    co, dep = c.cooling_off, c.deposits
    out = ["<section id='user-protection'><h2>3. User protection</h2><h3>Cooling-off period</h3>"]
    if not co.activations and not co.orders_refused:
        out.append(_nodata("No data: no cooling-off period was activated this month."))
    else:
        out.append(
            _figures(
                [
                    (n(co.activations), "Cooling-off activations", f"by {n(co.users)} users"),
                    (n(co.orders_refused), "Orders refused during a period", "opening or increasing derivatives"),
                ]
            )
        )
        labels = {"1d": "1 day", "7d": "7 days", "30d": "30 days", "custom": "custom (1-365 days)"}
        out.append(
            _table(
                ["Period chosen", "Activations"],
                [[labels.get(k, _e(k)), n(v)] for k, v in sorted(co.durations.items())],
            )
        )
    out.append("<h3>Mistaken deposits</h3>")
    if not dep.cases:
        out.append(_nodata("No data: no mistaken deposit case was opened this month."))
    else:
        out.append(
            _figures(
                [
                    (n(c.deposits_recovered), "Mistaken deposits recovered",
                     f"{n(dep.manual_recovered)} by support, {n(dep.automatic_returned)} returned automatically"),
                    (usd(c.deposits_recovered_usd), "Value recovered", "USD value of the deposits at arrival"),
                    (n(dep.cases), "Cases opened", f"{n(dep.unrecoverable)} could not be recovered"),
                ]
            )
        )
        reasons = {
            "wrong_network": "Wrong network",
            "unlisted_token": "Token not listed",
            "missing_memo": "Memo missing",
        }
        rows = [[reasons.get(k, _e(k)), n(v)] for k, v in sorted(dep.by_reason.items())]
        rows.append(["Fees charged for recovery", usd(dep.fees_usd)])
        if dep.median_hours_to_resolution is not None:
            rows.append(["Median time to resolution", f"{dep.median_hours_to_resolution:.1f} h"])
        out.append(_table(["Cases by reason", "Count"], rows))
    out.append("</section>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- change
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
        ("API keys bound to apps", Decimal(cur.keys.bound_to_apps), Decimal(prev.keys.bound_to_apps), False),
        ("API keys deleted", Decimal(cur.keys_deleted), Decimal(prev.keys_deleted), False),
        ("Cooling-off activations", Decimal(cur.cooling_off.activations), Decimal(prev.cooling_off.activations),
         False),
        ("Mistaken deposits recovered", Decimal(cur.deposits_recovered), Decimal(prev.deposits_recovered), False),
        ("Value of mistaken deposits recovered (USD)", cur.deposits_recovered_usd, prev.deposits_recovered_usd, True),
    ]  # fmt: skip


def _change_section(r: MonthlyReport) -> str:
    out = [f"<section id='change'><h2>4. Change from the previous month ({_e(month_title(r.previous_month))})</h2>"]
    if r.previous is None:
        out.append(
            _nodata(
                f"First report: the database holds no activity for {month_title(r.previous_month)}, "
                "so there is nothing to compare with."
            )
        )
        out.append("</section>")
        return "".join(out)
    rows = []
    for name, cur, prev, money in _change_rows(r.current, r.previous):

        def fmt(v: Decimal, money: bool = money) -> str:
            return amount(v, 2) if money else n(int(v))

        delta = cur - prev
        rel = "n/a" if prev == 0 else f"{(delta / prev * 100).quantize(Decimal('0.1'))}%"
        cls = "up" if delta > 0 else "down" if delta < 0 else ""
        sign = "+" if delta > 0 else ""
        rows.append([_e(name), fmt(cur), fmt(prev), f"<span class='{cls}'>{sign}{fmt(delta)}</span>", rel])
    out.append(_table(["Figure", "This month", "Previous month", "Change", "Change %"], rows))
    out.append("</section>")
    return "".join(out)


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
     "Download your inclusion proof from your account and drop it on the verification page (it is checked in "
     "your browser and never uploaded), or run bastion por verify-user FILE --round ROUND_DIR. The proof shows "
     "your balances, your leaf and the path up to the published liabilities root."),
    ("Why is a debt subtracted from my assets?",
     "User assets are net of what users borrowed (margin, loans): an exchange must hold what it owes, which is "
     "equity minus debt. The circuit also proves no user's net balance is negative."),
    ("What does 'withdrawal intercepted' mean?",
     "The risk engine blocked the withdrawal, or held it for an analyst who then rejected it. A held withdrawal "
     "that the analyst approved is counted as a false positive, not as an interception."),
    ("What is the risk provision fund?",
     "The insurance fund that covers losses when a liquidated position closes below its bankruptcy price. When "
     "it falls fast (30% below its 8-hour peak) auto-deleveraging closes opposing profitable positions instead."),
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


def _faq() -> str:
    items = "".join(f"<dt>{_e(q)}</dt><dd>{_e(a)}</dd>" for q, a in FAQ)
    return f"<section id='faq'><h2>5. FAQ</h2><dl class='faq'>{items}</dl></section>"


# -------------------------------------------------------------------------------------------- appendix
DEFINITIONS: list[tuple[str, str, str]] = [
    ("User assets (per asset)", "Sum over users of equity minus debt in that asset at the snapshot.",
     "round.json assets[].net_liabilities (bastion por prove)"),
    ("Wallet assets (per asset)", "Sum of the balances of the wallets whose signature over the round's challenge "
     "verified; failed rows are left out.", "reserves.json assets[].reserves (bastion por reserves verify)"),
    ("Reserve ratio", "Wallet assets / user assets, per asset; the total uses each asset's round price in USD.",
     "bastion.por.reserves.report.build_report"),
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
    ("Fund balance", "Balance of each pool after its last booking of the month, summed per settlement currency.",
     "fund_entries.balance; bastion.funds.metrics.monthly"),
    ("Fund balance over the month (chart)", "Each pool's balance after its last booking of each hour.",
     "fund_entries (ts, balance)"),
    ("Fund triggers", "Bankruptcy losses the fund paid.", "fund_entries type loss; bastion.funds.metrics.monthly"),
    ("ADL events / activations", "Losses closed against opposing positions instead of the fund; times a pool "
     "entered the ADL state.", "fund_entries, fund_pool_events, fund_adl_fills; bastion.funds.metrics.monthly"),
    ("API keys created", "Keys created in the month, by users and through third-party apps (Fast API).",
     "keys_api_keys.created_at, source; bastion.keys.metrics.monthly"),
    ("API keys bound to apps", "Keys issued to third-party apps in the month (bound to the app's IPs).",
     "keys_api_keys.app_id; bastion.keys.metrics.monthly"),
    ("API keys deleted", "Idle unbound keys swept, plus keys deleted by their users.",
     "keys_events (swept, revoked); bastion.keys.metrics.monthly"),
    ("Signed requests refused", "OKX-v5 signed requests refused, by reason.",
     "keys_rejections; bastion.keys.metrics.monthly"),
    ("Cooling-off activations", "Periods started in the month, and the users who started them.",
     "cooling_off activations; bastion.protection.cooling_off.monthly"),
    ("Orders refused", "Orders refused because they would open or grow a derivatives position in a period.",
     "cooling_off refusals; bastion.protection.cooling_off.monthly"),
    ("Mistaken deposits recovered", "Cases opened in the month that were credited or returned (by support, or "
     "automatically), and their USD value at arrival.", "deposit cases; bastion.protection.deposits.monthly"),
    ("Change from the previous month", "The same figures for the previous calendar month from the same database.",
     "bastion.report.figures.gather"),
]  # fmt: skip


def _appendix() -> str:
    rows = [[f"<b>{_e(a)}</b>", _e(b), f"<code>{_e(c)}</code>"] for a, b, c in DEFINITIONS]
    return (
        "<section id='appendix'><h2>Appendix: definitions and sources</h2>"
        "<p>Every figure in this report is computed by <code>bastion report monthly</code> from the service's "
        "database and the proof-of-reserves round. Months are calendar months in UTC, [first day 00:00, next "
        "month's first day 00:00).</p>" + _table(["Figure", "Definition", "Source"], rows, "defs") + "</section>"
    )


def render(r: MonthlyReport) -> str:
    c = r.current
    who = f"{r.exchange} monthly" if r.exchange else "Monthly"
    title = f"{who} security report: {month_title(r.month)}"
    summary = _figures(
        [
            (pct(r.fund.report.totals.get("ratio")) if r.fund else "n/a", "Total reserve ratio",
             f"{r.fund.assets_covered} assets" if r.fund else "no round given"),
            (n(c.risk.users_protected), "Users protected", "withdrawals intercepted"),
            (usd(c.risk.value_preserved_usd), "Value preserved", "USD"),
            (n(c.deposits_recovered), "Mistaken deposits recovered", usd(c.deposits_recovered_usd)),
        ]
    )  # fmt: skip
    empty = _nodata(f"No data: the database holds no activity for {month_title(r.month)}.") if c.empty else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class='sub'>Period {c.start:%Y-%m-%d} to {c.end:%Y-%m-%d} (UTC, end excluded). "
        f"Generated {r.generated_at:%Y-%m-%d %H:%M} UTC by Bastion.</p>{empty}{summary}"
        + _fund_section(r)
        + _transaction_section(r)
        + _protection_section(r)
        + (protection.render(r.protection, "3b. ") if r.protection is not None else "")
        + _change_section(r)
        + _faq()
        + _appendix()
        + "<footer>Bastion: open-source security platform for centralized exchanges.</footer></body></html>"
    )
