"""The ledger verbs as a person or an agent runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orgtui.board import messages
from orgtui.paths import OrgPaths
from tests.conftest import git, run_orgtui
from tests.ledger.synth import power_law, write_variant

ROOT = Path(__file__).resolve().parents[2]
ORG_TOML = """\
[org]
name = "lab"
task = "remove the softcap"

[[agent]]
name = "chief"
role = "chief_scientist"
backend = "shell"

[[agent]]
name = "ada"
role = "researcher"
backend = "shell"

[ledger]
baseline = "base"
"""


@pytest.fixture
def org(git_repo: Path) -> Path:
    (git_repo / "org.toml").write_text(ORG_TOML)
    (git_repo / "roles").mkdir()
    for role in ("chief_scientist", "researcher"):
        (git_repo / "roles" / f"{role}.md").write_text(f"You are the {role}.\n")
    (git_repo / ".gitignore").write_text(".org/\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "org")
    return git_repo


def orgtui(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return run_orgtui(*args, root=root, cwd=root, env=os.environ | (env or {}), timeout=300)


def test_compare_json_has_exactly_the_documented_keys(org):
    write_variant(OrgPaths(org).runs_dir, "base", 3, curve=power_law())
    write_variant(OrgPaths(org).runs_dir, "nocap", 3, curve=power_law(offset=-0.1))
    out = orgtui(org, "compare", "base", "nocap", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert list(result) == [
        "a",
        "b",
        "verdict",
        "delta_bpb",
        "noise_bpb",
        "p_value",
        "matched_flops",
        "flops_ratio",
        "n_a",
        "n_b",
        "flags",
    ]
    assert result["verdict"] == "improvement" and result["delta_bpb"] < 0


def test_compare_unknown_variant_is_a_clear_error(org):
    write_variant(OrgPaths(org).runs_dir, "base", 1, curve=power_law())
    out = orgtui(org, "compare", "base", "ghost")
    assert out.returncode == 2
    assert "no runs of variant 'ghost' (variants: base)" in out.stderr
    assert "Traceback" not in out.stderr


def test_ledger_json_and_table(org):
    write_variant(OrgPaths(org).runs_dir, "base", 3, curve=power_law())
    write_variant(OrgPaths(org).runs_dir, "wide", 2, curve=power_law(), flops_per_token=3e6)
    data = json.loads(orgtui(org, "ledger", "--json").stdout)
    assert data["baseline"] == "base"
    rows = {row["variant"]: row for row in data["variants"]}
    assert rows["base"]["n_seeds"] == 3 and rows["base"]["verdict"] is None
    assert "compute_mismatch x3.0" in rows["wide"]["flags"]
    table = orgtui(org, "ledger").stdout
    assert "baseline: base" in table and "wide" in table


def test_baseline_verb_overrides_org_toml(org):
    assert orgtui(org, "baseline").stdout.strip() == "base"
    assert orgtui(org, "baseline", "nocap").returncode == 0
    assert orgtui(org, "baseline").stdout.strip() == "nocap"
    bad = orgtui(org, "baseline", "../etc")
    assert bad.returncode == 2 and "bad variant name" in bad.stderr


def test_report_json(org):
    write_variant(OrgPaths(org).runs_dir, "base", 3, curve=power_law())
    write_variant(OrgPaths(org).runs_dir, "good", 3, curve=power_law(offset=-0.05))
    report = json.loads(orgtui(org, "report", "--json").stdout)
    assert report["best_variant"] == "good"
    assert report["best_improvement_bpb"] == pytest.approx(0.05)
    assert report["progress"][-1][2] == pytest.approx(0.05)


def test_run_refuses_a_dirty_tree_unless_allowed(org):
    (org / "org.toml").write_text(ORG_TOML + "\n# edited\n")
    script = [sys.executable, "-c", "print('trained')"]
    refused = orgtui(org, "run", "--variant", "hack", "--", *script)
    assert refused.returncode == 2 and "uncommitted changes" in refused.stderr
    assert not OrgPaths(org).runs_dir.exists()
    allowed = orgtui(org, "run", "--variant", "hack", "--allow-dirty", "--no-post", "--", *script)
    assert "trained" in allowed.stdout
    (run_dir,) = OrgPaths(org).runs_dir.iterdir()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["dirty"] is True and meta["exit_code"] == 0
    assert (run_dir / "output.log").read_text() == "trained\n"


def test_run_output_log_holds_no_key(org):
    key = "sk-ant-api03-PLANTEDplantedPLANTED0123456789"
    leak = (
        "import os, sys\n"
        "for part in ('loss 3.1\\rkey=' + os.environ['ANTHROPIC_API_KEY'][:9],"
        " os.environ['ANTHROPIC_API_KEY'][9:] + '\\n', 'hf=' + os.environ['HF_TOKEN'] + '\\n'):\n"
        "    sys.stdout.write(part); sys.stdout.flush()\n"
    )
    secrets = {"ANTHROPIC_API_KEY": key, "HF_TOKEN": "hf_PLANTEDplanted0123"}
    out = orgtui(
        org, "run", "--variant", "leak", "--no-post", "--", sys.executable, "-c", leak, env=secrets
    )
    assert out.returncode == 0, out.stderr
    (run_dir,) = OrgPaths(org).runs_dir.iterdir()
    log = (run_dir / "output.log").read_bytes().decode()
    assert log == "loss 3.1\rkey=[redacted]\nhf=[redacted]\n"
    assert not [s for s in secrets.values() if s in out.stdout]


def test_run_gives_the_trainer_its_env_and_records_failure(org):
    probe = "import os; print(os.environ['ORGTUI_RUN_ID'], os.environ['ORGTUI_SEED']); raise SystemExit(3)"
    out = orgtui(
        org,
        "run",
        "--variant",
        "probe",
        "--seeds",
        "2",
        "--seed-start",
        "5",
        "--no-post",
        "--",
        sys.executable,
        "-c",
        probe,
    )
    assert out.returncode == 1
    ids = sorted(p.name for p in OrgPaths(org).runs_dir.iterdir())
    assert [i.split("-")[1] for i in ids] == ["s5", "s6"]
    for run_id in ids:
        assert run_id in out.stdout
        assert (
            json.loads((OrgPaths(org).run_dir(run_id) / "run.json").read_text())["exit_code"] == 3
        )


def test_end_to_end_real_nanochat_runs_then_compare(org):
    """Two variants x 2 seeds of the tiny model on the CPU, through `orgtui run`."""
    shutil.copytree(ROOT / "nanochat", org / "nanochat")
    git(org, "add", "-A")
    git(org, "commit", "-qm", "nanochat")
    train = [
        sys.executable,
        "-m",
        "nanochat.train",
        "--preset",
        "tiny",
        "--max-steps",
        "30",
        "--eval-every",
        "10",
        "--eval-batches",
        "2",
    ]
    env = {"ORGTUI_AGENT": "ada"}
    for variant, extra in (("base", []), ("nocap", ["--softcap", "0"])):
        out = orgtui(
            org, "run", "--variant", variant, "--seeds", "2", "--", *train, *extra, env=env
        )
        assert out.returncode == 0, out.stdout + out.stderr
    compare = json.loads(orgtui(org, "compare", "base", "nocap", "--json").stdout)
    assert compare["n_a"] == 2 and compare["n_b"] == 2
    assert compare["verdict"] in ("improvement", "regression", "within_noise")
    assert compare["flops_ratio"] == pytest.approx(1.0)
    assert compare["noise_bpb"] > 0 and 0 <= compare["p_value"] <= 1
    results = [m for m in messages(OrgPaths(org)) if m.kind == "result"]
    assert [m.sender for m in results] == ["ada", "ada"]
    assert results[-1].to == ("chief",)
    assert results[-1].subject == f"nocap: {compare['verdict']}"
    assert len(results[-1].refs) == 2
