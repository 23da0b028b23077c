"""The second task through the ledger: `orgtui run` / `compare` / `report` with a metric where
higher is better (val_acc) and wall-clock seconds as the cost axis, from real CPU runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orgtui.paths import OrgPaths
from ringclf import train
from tests.conftest import git, run_orgtui

SOURCE = Path(train.__file__).resolve().parent
ORG_TOML = """\
[org]
name = "lab"
task = "classify the spirals"

[[agent]]
name = "chief"
role = "chief_scientist"
backend = "shell"

[[agent]]
name = "ada"
role = "researcher"
backend = "shell"

[ledger]
baseline = "small"
metric = "val_acc"
direction = "max"
cost = "wall_seconds"
"""
TRAIN = [sys.executable, "-m", "ringclf.train", "--steps", "100000", "--max-seconds", "0.5"]
TRAIN += ["--eval-every", "50"]
# Both variants train for the same half second (the cost axis is seconds: each does as many
# steps as the machine's load lets it), so the comparison is at about half a second whatever
# the load. A two-unit net plateaus near 0.67 (its seeds a few thousandths apart); a 64-unit
# one passes 0.9 within a few hundred steps (over 500 in half a second on one core).
VARIANTS = {"small": ["--hidden", "2", "--depth", "1"], "wide": ["--hidden", "64", "--lr", "0.01"]}


def orgtui(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"ORGTUI_AGENT": "ada"}
    return run_orgtui(*args, root=root, cwd=root, env=env, timeout=300)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An org whose ledger reads val_acc (max) on seconds, with three seeds of each variant."""
    root = tmp_path_factory.mktemp("lab")
    git(root, "init", "-q", "-b", "main")
    (root / "org.toml").write_text(ORG_TOML)
    (root / "roles").mkdir()
    for role in ("chief_scientist", "researcher"):
        (root / "roles" / f"{role}.md").write_text(f"You are the {role}.\n")
    (root / ".gitignore").write_text(".org/\n__pycache__/\n")
    shutil.copytree(SOURCE, root / "ringclf", ignore=shutil.ignore_patterns("__pycache__"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "org and task")
    for variant, flags in VARIANTS.items():
        out = orgtui(root, "run", "--variant", variant, "--seeds", "3", "--", *TRAIN, *flags)
        assert out.returncode == 0, out.stdout + out.stderr
    return root


def test_runs_record_accuracy_and_seconds(org: Path):
    runs = sorted(OrgPaths(org).runs_dir.iterdir())
    assert len(runs) == 6
    for run_dir in runs:
        lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert lines[-1]["status"] == "ok"
        assert all("val_acc" in r and "elapsed_s" in r for r in lines if r["event"] == "eval")


def test_compare_calls_the_higher_accuracy_an_improvement(org: Path):
    out = orgtui(org, "compare", "small", "wide", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["metric"], result["direction"], result["cost_unit"]) == (
        "val_acc",
        "max",
        "wall_seconds",
    )
    assert result["verdict"] == "improvement", result
    assert result["delta"] > 0.1 and result["n_a"] == result["n_b"] == 3
    assert result["matched_cost"] > 0
    assert "delta_bpb" not in result and "matched_flops" not in result


def test_compare_the_other_way_is_a_regression(org: Path):
    result = json.loads(orgtui(org, "compare", "wide", "small", "--json").stdout)
    assert result["verdict"] == "regression" and result["delta"] < -0.1


def test_compare_text_speaks_of_accuracy_and_seconds(org: Path):
    out = orgtui(org, "compare", "small", "wide")
    assert out.returncode == 0, out.stderr
    assert "improvement" in out.stdout and "val_acc" in out.stdout
    assert "bpb" not in out.stdout and "FLOPs" not in out.stdout


def test_report_counts_the_wider_model_as_verified_progress(org: Path):
    out = orgtui(org, "report", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["best_variant"] == "wide"
    assert report["best_gain"] > 0.1
    assert report["progress"][-1][2] == pytest.approx(report["best_gain"])
    assert report["progress"][0][2] == 0.0  # one run of one variant is no verified gain yet
