"""`bastion por prove | verify | user-proof | verify-user`: the liabilities side of Proof of Reserves.

`verify-user` is what end users run: it imports only the plain-Python checker (no numpy, no numba) so it
answers in well under a second, cold. Exit codes: 0 verified; 1 verification failed (reason printed);
2 input that cannot be read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import typer

from bastion.cli.por import EXIT_BAD_INPUT, app

EXIT_FAILED = 1


class RichProgress:
    """Rich progress bars for the round's stages (plan, leaves, batches, aggregation, tree)."""

    LABELS: ClassVar[dict[str, str]] = {
        "ids": "user ids",
        "leaves": "leaves (Poseidon2)",
        "batches": "batch proofs (zk-STARK)",
        "aggregate": "aggregation proof (totals)",
        "tree": "liabilities tree (SHA-256)",
    }

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def start(self, task: str, total: int) -> None:
        self.tasks[task] = self.progress.add_task(self.LABELS.get(task, task), total=total)

    def advance(self, task: str, n: int = 1) -> None:
        self.progress.advance(self.tasks[task], n)


def progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    )


@app.command("prove")
def prove(
    snapshot_dir: Path = typer.Argument(..., help="Snapshot directory: assets.csv and balances.csv/.parquet."),
    out: Path = typer.Option(..., "--out", help="Round directory to write (or to resume: the same path again)."),
    exchange: str = typer.Option("Demo Exchange", help="Exchange name published in round.json."),
    round_id: str = typer.Option(None, "--round-id", help="Round id (default: the current month, YYYY-MM)."),
    snapshot_time: str = typer.Option(None, help="Snapshot time, ISO 8601 UTC (default: now)."),
    height: list[str] = typer.Option([], "--height", help="Block height per chain, CHAIN=HEIGHT (repeatable)."),
    workers: int = typer.Option(1, min=1, help="Batches proven in parallel on this machine (processes)."),
    ray_address: str = typer.Option(None, "--ray-address", help="Prove the batches on this Ray cluster instead."),
    max_log_rows: int = typer.Option(18, min=17, max=22, help="log2 of the largest batch trace (at most 22: the "
                                     "soundness count reaches 100 bits up to 2^22 rows)."),
    security: str = typer.Option("conjectured", "--security", help="conjectured (default parameters: >= 100 "
                                 "bits under the ethSTARK conjecture) or proven (more queries: >= 100 bits "
                                 "proven, unique-decoding regime); docs/spec/stark.md."),
    insecure_test_params: bool = typer.Option(False, hidden=True, help="Tests only: small, insecure STARK."),
) -> None:
    """Prove a liabilities snapshot: solvency of every user, exact per-asset totals, the leaf list and root.

    A killed run resumes where it stopped when run again with the same --out.
    """
    from bastion.por.liabilities.prover.pipeline import prove_round
    from bastion.por.liabilities.prover.plan import RoundConfig, RoundError
    from bastion.por.liabilities.snapshot import SnapshotError
    from bastion.stark.uni.params import DEFAULT_PARAMS, INSECURE_TEST_PARAMS, PROVEN_PARAMS

    if security not in ("conjectured", "proven"):
        typer.echo(f"error: --security {security!r}: expected conjectured or proven", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    params = PROVEN_PARAMS if security == "proven" else DEFAULT_PARAMS

    heights: dict[str, int] = {}
    for spec in height:
        chain, _, value = spec.partition("=")
        if not value.isdigit():
            typer.echo(f"error: --height {spec!r}: expected CHAIN=HEIGHT", err=True)
            raise typer.Exit(EXIT_BAD_INPUT)
        heights[chain] = int(value)
    config = RoundConfig(
        exchange=exchange, round_id=round_id, snapshot_time=snapshot_time, block_heights=heights,
        max_log_rows=max_log_rows, workers=workers, ray_address=ray_address,
        params=INSECURE_TEST_PARAMS if insecure_test_params else params, security=security,
    )
    started = time.perf_counter()
    try:
        with progress_bar() as bar:
            summary = prove_round(snapshot_dir, out, config, RichProgress(bar))
    except (SnapshotError, RoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    took = time.perf_counter() - started
    resumed = f" ({summary.resumed_batches} resumed from a checkpoint)" if summary.resumed_batches else ""
    typer.echo(
        f"round {summary.round_id}: {summary.users} users, {summary.rows} rows, {summary.batches} batch proofs"
        f"{resumed}, {summary.leaves} leaves, root {summary.leaf_root} in {took:.1f} s\n"
        f"publish {out} except {out}/private/; check it with: bastion por verify {out}"
    )


@app.command("verify")
def verify(
    round_dir: Path = typer.Argument(..., help="The published round directory."),
    allow_insecure_params: bool = typer.Option(
        False, help="Tests and development only: accept proofs below 100 bits of soundness."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON on stdout (exact totals)."),
) -> None:
    """Verify a whole round: every batch proof, the leaf list against its root, and the published totals."""
    from bastion.por.format.round import has_round
    from bastion.por.verify.round import verify_round

    if not has_round(round_dir):
        typer.echo(f"error: {round_dir}: no round.json here (not a round directory)", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    started = time.perf_counter()
    if as_json:  # machine-readable: nothing but the JSON on stdout
        verdict = verify_round(round_dir, allow_insecure_params=allow_insecure_params)
    else:
        with progress_bar() as bar:
            verdict = verify_round(round_dir, allow_insecure_params=allow_insecure_params,
                                   progress=RichProgress(bar))
    took = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps({
            "ok": verdict.ok, "reason": verdict.reason, "round_id": verdict.round_id,
            "batches_verified": verdict.batches_verified, "leaves": verdict.leaves, "leaf_root": verdict.leaf_root,
            "security_bits": {"profile": verdict.security_profile, "conjectured": verdict.security_bits,
                              "proven": verdict.proven_security_bits},
            "assets": [a.__dict__ for a in verdict.assets], "seconds": round(took, 3),
        }, indent=2))
    elif verdict.ok:
        from bastion.cli.output import print_tables, proven_totals_table

        print_tables(proven_totals_table(verdict, _round_prices(round_dir)))
        typer.echo(
            f"VERIFIED: {verdict.batches_verified} batch proofs and the aggregation proof, {verdict.leaves:,} leaves "
            f"under root {verdict.leaf_root}, totals exact ({took:.1f} s)\n"
            # the union of every soundness term (stark/uni/security.py), in under 80 columns
            f"soundness: {verdict.security_bits:.1f} bits conjectured, {verdict.proven_security_bits:.1f} proven "
            f"({verdict.security_profile} claimed)"
        )
    else:
        typer.echo(f"NOT VERIFIED: {verdict.reason}")
    if not verdict.ok:
        raise typer.Exit(EXIT_FAILED)


def _round_prices(round_dir: Path) -> dict[str, tuple[str, int]]:
    """asset -> (price_usd, decimals) from round.json, to show each total at the asset's precision."""
    from bastion.por.format.round import load_round_json

    try:
        doc = load_round_json(round_dir)
        return {a["asset"]: (str(a["price_usd"]), int(a["decimals"])) for a in doc["assets"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@app.command("user-proof")
def user_proof(
    round_dir: Path = typer.Argument(..., help="The round directory, with its private/ data."),
    uid: list[str] = typer.Option(..., "--uid", help="The user (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Output file (one uid) or directory (several)."),
) -> None:
    """Write users' inclusion proof files (give each user only their own)."""
    from bastion.por.format.round import RoundFormatError, write_json_atomic
    from bastion.por.liabilities.prover.plan import RoundError
    from bastion.por.liabilities.user_proofs import UserProofs

    try:
        maker = UserProofs(round_dir)
        for u in uid:
            proof = maker.make(u)
            target = out if len(uid) == 1 and out.suffix == ".json" else out / f"{u}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(target, proof)
            typer.echo(f"{u}: {len(proof['rows'])} row(s) -> {target}")
    except (RoundError, RoundFormatError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command("verify-user")
def verify_user(
    proof_file: Path = typer.Argument(..., help="Your inclusion proof file (bastion-user-proof/1)."),
    round_dir: Path = typer.Option(
        None, "--round", help="The published round directory to check it against (without it, less is checked)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON on stdout (exact balances)."),
) -> None:
    """Check your inclusion proof: your balances, your leaves, their path to the published root."""
    from bastion.por.format.round import RoundFileError, load_round_json
    from bastion.por.verify.user import verify_user_proof

    started = time.perf_counter()
    try:
        doc = json.loads(proof_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {proof_file}: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    round_doc = None
    if round_dir is not None:
        try:
            round_doc = load_round_json(round_dir)
        except RoundFileError as exc:
            typer.echo(f"error: cannot read {round_dir}/round.json: {exc.cause}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
    verdict = verify_user_proof(doc, round_doc)
    took_ms = (time.perf_counter() - started) * 1000
    not_checked: list[str] = (
        []
        if round_dir is not None
        else [
            "that the root in the file is the root the exchange published",
            "the asset names and decimals against the round's asset table",
        ]
    )
    if as_json:
        typer.echo(json.dumps({
            "ok": verdict.ok, "reason": verdict.reason, "uid": verdict.uid, "round_id": verdict.round_id,
            "leaf_root": verdict.leaf_root, "checked_against_round": round_dir is not None,
            "not_checked": not_checked,
            "rows": [{"asset": r.asset, "equity": r.equity, "debt": r.debt, "leaf_index": r.leaf_index}
                     for r in verdict.rows],
        }, indent=2))  # fmt: skip
        if not verdict.ok:
            raise typer.Exit(EXIT_FAILED)
        return
    if not verdict.ok:
        typer.echo(f"NOT VERIFIED: {verdict.reason}")
        raise typer.Exit(EXIT_FAILED)
    from bastion.cli.output import print_tables, user_rows_table

    print_tables(user_rows_table(verdict))
    if round_dir is not None:
        typer.echo(
            f"VERIFIED: {verdict.uid}'s {len(verdict.rows)} row(s) are included in round {verdict.round_id} "
            f"of {round_dir}, root {verdict.leaf_root} ({took_ms:.0f} ms)"
        )
        return
    typer.echo(
        f"INCLUDED UNDER THE FILE'S OWN ROOT ONLY: {verdict.uid}'s {len(verdict.rows)} row(s) lead to root "
        f"{verdict.leaf_root} ({took_ms:.0f} ms)"
    )
    typer.echo("not checked: " + "; ".join(not_checked) + ".")
    typer.echo(f"to check them: bastion por verify-user {proof_file} --round ROUND_DIR (the published round)")
