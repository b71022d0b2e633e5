"""A proof-of-reserves round: snapshot in, round directory out (``docs/spec/round-format.md``).

Stages, each checkpointed in ``ROUND_DIR/private`` so a killed run resumes where it stopped:

1. **plan** (``plan``): fresh secrets, users' ids (SHA-256 of uid and a per-user salt), shuffle (by id), batches of
   whole users padded to one size (padding rows interleaved with the users in a secret order, ``batch_order``),
   row salts, all leaves (``leaves.bin``);
2. **prove** (``batches``): each batch's STARK (the hidden-totals circuit, ``liabilities.circuit.hidden``) in a
   process pool (or on a Ray cluster); a batch is done when its proof, its totals commitment and (privately)
   its limb totals are on disk, written atomically;
3. **publish** (``publish``): the aggregation proof (the committed batch totals add up to the published
   per-asset totals, ``liabilities.circuit.aggregate``; checkpointed too), the SHA-256 tree over the leaves and
   ``round.json``.

Secrets. ``private/secret.bin`` (32 random bytes per round, never published: ``private/`` is the one folder
of a round directory that is never served nor listed in round.json) keys every per-round random value: users'
salts, row salts, padding (and its places in each batch), and each batch's 4-word totals salt
(``batch_totals_salt``). The totals salts and the batches' limb totals are never written to a public file;
the limb totals sit in the private batch checkpoints, the salts are derived again when needed.

Users' inclusion proofs are made later, on request, from the private data
(``bastion.por.liabilities.user_proofs``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bastion.por.format.round import (
    PRIVATE_DIR,
    params_to_json,
    round_path,
)
from bastion.por.liabilities.circuit.trace import BatchError
from bastion.por.liabilities.prover.batches import batch_is_done, run_batches
from bastion.por.liabilities.prover.plan import (
    PLAN_FILE,
    RoundConfig,
    RoundError,
    RoundSummary,
    make_plan,
    snapshot_digest,
    table_of,
)
from bastion.por.liabilities.prover.publish import check_security, publish
from bastion.por.liabilities.snapshot import load_snapshot
from bastion.por.progress import Progress, SilentProgress

# --------------------------------------------------------------------------------------------------
# the whole round


def prove_round(snapshot_dir: Path, round_dir: Path, config: RoundConfig | None = None,
                progress: Progress | None = None) -> RoundSummary:
    config = config or RoundConfig()
    prog = progress or SilentProgress()
    round_dir = Path(round_dir)
    snapshot = load_snapshot(Path(snapshot_dir))
    if snapshot.n_rows == 0:
        raise RoundError(f"{snapshot.balances_file}: no rows under the header: a round needs at least one balance")
    if snapshot.insolvent_users:
        lines = "\n".join(
            f"  {u.uid}: collateral {u.collateral_usd} USD < debt {u.debt_usd} USD"
            for u in snapshot.insolvent_users[:20]
        )
        raise RoundError(
            f"{len(snapshot.insolvent_users)} user(s) owe more than their collateral is worth; a solvency proof "
            f"cannot include them and will not leave them out silently:\n{lines}"
        )
    table = table_of(snapshot)
    plan_path = round_dir / PRIVATE_DIR / PLAN_FILE
    resumed = 0
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        if plan["snapshot_sha256"] != snapshot_digest(snapshot):
            raise RoundError(f"{round_dir} holds a round of another snapshot: use a new --out directory")
        if plan["stark_params"] != params_to_json(config.params):
            raise RoundError(f"{round_dir} was started with other STARK parameters: use a new --out directory")
    else:
        if round_path(round_dir).exists() or (round_dir.exists() and any(round_dir.iterdir())):
            raise RoundError(f"{round_dir} is not empty and holds no plan to resume: use a new --out directory")
        created = not round_dir.exists()
        round_dir.mkdir(parents=True, exist_ok=True)
        try:
            plan = make_plan(snapshot, round_dir, config, prog)
        except BaseException:
            if created:  # a half-made directory without a plan would refuse the rerun
                shutil.rmtree(round_dir, ignore_errors=True)
            raise

    # the batches and the publication read the private files, not the snapshot: keep only its asset list and
    # exact totals, so the rows' memory (O(rows)) is free while batches are proven
    assets, totals = snapshot.assets, snapshot.totals
    del snapshot

    check_security(table, plan, config)
    n_batches = len(plan["batches"])
    todo = [i for i in range(n_batches) if not batch_is_done(round_dir, i)]
    resumed = n_batches - len(todo)
    prog.start("batches", n_batches)
    if resumed:
        prog.advance("batches", resumed)
    try:
        run_batches(round_dir, todo, table, config, prog)
    except BatchError as exc:
        raise RoundError(f"a batch cannot be proven: {exc}") from exc
    return publish(round_dir, assets, totals, plan, table, prog, resumed)


