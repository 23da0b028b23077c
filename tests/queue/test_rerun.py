"""``orgtui rerun``: any run again from its exact code, a dirty tree's snapshot included."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from orgtui.ledger import load_run
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import JobKind, JobState, jobs
from tests.conftest import REPO_ROOT, git
from tests.queue.orgs import org, orgtui

__all__ = ["org"]

TINY = ["python", "-m", "nanochat.train", "--preset", "tiny", "--seq-len", "32"]
TINY += ["--batch-size", "4", "--eval-batches", "2", "--max-steps", "20", "--eval-every", "10"]


def final_bpb(root: Path, run_id: str) -> float:
    bpb = load_run(OrgPaths(root).run_dir(run_id)).final_val_bpb
    assert bpb is not None
    return bpb


def only_new_run(root: Path, before: set[str]) -> str:
    (run_id,) = {p.name for p in OrgPaths(root).runs_dir.iterdir()} - before
    return run_id


def test_a_dirty_tree_run_is_reproduced_exactly_from_its_snapshot(org: Path) -> None:
    shutil.copytree(
        REPO_ROOT / "nanochat", org / "nanochat", ignore=shutil.ignore_patterns("__pycache__")
    )
    git(org, "add", "-A")
    git(org, "commit", "-qm", "nanochat")
    train = org / "nanochat" / "train.py"
    clean = train.read_text()
    assert "matrix_lr=0.02," in clean
    train.write_text(clean.replace("matrix_lr=0.02,", "matrix_lr=0.035,", 1))  # uncommitted
    out = orgtui(org, "run", "--variant", "hot", "--allow-dirty", "--no-post", "--", *TINY)
    assert out.returncode == 0, out.stderr
    original = only_new_run(org, set())
    record = json.loads((OrgPaths(org).run_dir(original) / "run.json").read_text())
    assert record["dirty"] is True and record["snapshot_ref"] == f"refs/orgtui/runs/{original}"
    train.write_text(clean)  # the tree moves on; the snapshot keeps the code that ran

    runs = {original}
    again = orgtui(org, "rerun", original, "--no-post")
    assert again.returncode == 0, again.stderr
    rerun = only_new_run(org, runs)
    runs.add(rerun)
    assert final_bpb(org, rerun) == final_bpb(org, original)
    assert re.search(
        rf"rerun {rerun}: final_val_bpb [0-9.]+ vs [0-9.]+ of {original}: identical", again.stdout
    )
    job = next(j for j in jobs(OrgPaths(org)) if j.kind == JobKind.RERUN)
    assert (job.variant, job.seed, job.state) == ("hot-rerun", 0, JobState.DONE)
    assert job.commit == record["commit"] and job.reason == f"rerun of {original}"

    # The same command on the committed code trains differently: the snapshot mattered.
    control = orgtui(org, "run", "--variant", "clean", "--no-post", "--", *TINY)
    assert control.returncode == 0, control.stderr
    assert final_bpb(org, only_new_run(org, runs)) != final_bpb(org, original)


def test_rerun_of_an_unknown_or_unrecorded_run_is_a_clear_error(org: Path) -> None:
    missing = orgtui(org, "rerun", "ghost-s0-20261203000000-abcd")
    assert missing.returncode == 2 and "no run 'ghost-s0-20261203000000-abcd'" in missing.stderr
    bad = orgtui(org, "rerun", "../etc")
    assert bad.returncode == 2 and "is not a run id" in bad.stderr
    old = OrgPaths(org).run_dir("old-s0-1")
    old.mkdir(parents=True)
    (old / "run.json").write_text(json.dumps({"variant": "old", "seed": 0, "command": ["true"]}))
    unrecorded = orgtui(org, "rerun", "old-s0-1")
    assert unrecorded.returncode == 2 and "recorded no commit" in unrecorded.stderr
    assert "Traceback" not in missing.stderr + bad.stderr + unrecorded.stderr
    assert not jobs(OrgPaths(org))
