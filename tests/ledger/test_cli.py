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
        "metric",
        "direction",
        "cost_unit",
        "delta",
        "noise",
        "p_value",
        "matched_cost",
        "cost_ratio",
        "n_a",
        "n_b",
        "flags",
        "test",
        "n_pairs",
        "paired_seeds",
        # val bpb at matched FLOPs keeps the original keys beside the generic ones
        "delta_bpb",
        "noise_bpb",
        "matched_flops",
        "flops_ratio",
    ]
    assert result["verdict"] == "improvement" and result["delta_bpb"] < 0
    assert [result[k] for k in ("metric", "direction", "cost_unit")] == ["val_bpb", "min", "flops"]
    assert result["delta"] == result["delta_bpb"] and result["noise"] == result["noise_bpb"]
    assert result["matched_cost"] == result["matched_flops"]


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
    # one thread a trainer: torch's default of one per core spins against the other test
    # worker on a small machine (several times the CPU time for the same 30 steps)
    env = {"ORGTUI_AGENT": "ada", "OMP_NUM_THREADS": "1"}
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


@pytest.mark.parametrize(
    ("seeds", "words"),
    [
        ("0", "at least 1 and at most 64"),
        ("-1", "at least 1 and at most 64"),
        ("65", "at least 1 and at most 64"),
        ("100000", "at least 1 and at most 64"),
        (str(10**20), "at least 1 and at most 64"),
        ("1e20", "invalid int value"),
        ("10^20", "invalid int value"),
    ],
)
def test_run_refuses_absurd_seed_counts_before_any_run_dir(
    org, monkeypatch, capsys, seeds: str, words: str
):
    from orgtui.cli import main

    monkeypatch.chdir(org)
    try:
        code = main(["run", "--root", str(org), "--variant", "v", "--seeds", seeds, "--", "true"])
    except SystemExit as exit_:  # argparse refuses what is not a whole number
        code = exit_.code
    assert code == 2 and words in capsys.readouterr().err
    assert not OrgPaths(org).runs_dir.exists()


@pytest.mark.parametrize("start", ["-1", str(2**32)])
def test_run_refuses_seed_starts_no_trainer_accepts(org, monkeypatch, capsys, start: str):
    from orgtui.cli import main

    monkeypatch.chdir(org)
    argv = ["run", "--root", str(org), "--variant", "v", "--seed-start", start, "--", "true"]
    assert main(argv) == 2 and "--seed-start must be" in capsys.readouterr().err
    assert not OrgPaths(org).runs_dir.exists()


# A trainer that starts its metrics, says so, and waits; how it meets SIGINT varies.
TRAINER = """\
import json, os, signal, sys, time
mode = sys.argv[1]
metrics = open(os.path.join(os.environ["ORGTUI_RUN_DIR"], "metrics.jsonl"), "a")
def line(**fields):
    metrics.write(json.dumps(fields) + "\\n"); metrics.flush()
def own_end(signum, frame):
    line(event="run_end", status="killed", wall_s=1.0, final_val_bpb=None, by="trainer")
    sys.exit(130)
if mode == "handles":
    signal.signal(signal.SIGINT, own_end)
elif mode == "ignores":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
line(event="run_start", run_id=os.environ["ORGTUI_RUN_ID"], variant="v", seed=0, time=time.time())
if mode != "handles":
    metrics.write('{"event": "train", "step": 1')  # torn: it will die mid-line
    metrics.flush()
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize(
    ("mode", "to_group"),
    [("dies", True), ("handles", False), ("handles", True), ("ignores", False)],
)
def test_ctrl_c_stops_the_whole_run_and_closes_it_killed(org, mode: str, to_group: bool):
    import signal
    import time

    from orgtui.ledger import load_run

    argv = [sys.executable, "-m", "orgtui", "run", "--root", str(org), "--variant", "v"]
    argv += ["--seeds", "5", "--no-post", "--", sys.executable, "-c", TRAINER, mode]
    process = subprocess.Popen(
        argv,
        cwd=org,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        runs = OrgPaths(org).runs_dir

        def ready() -> bool:
            logs = list(runs.glob("*/output.log")) if runs.exists() else []
            return bool(logs) and "ready" in logs[0].read_text()

        deadline = time.monotonic() + 60
        while not ready() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert ready(), process.communicate()
        if to_group:  # what a terminal's Ctrl-C does: the whole foreground group
            os.killpg(process.pid, signal.SIGINT)
        else:  # `kill -INT` to orgtui alone
            process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, err
    (run_dir,) = runs.iterdir()  # no seed after the interrupted one started
    assert "interrupted" in err and "4 seed(s) not run" in err
    ends = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if '"run_end"' in line
    ]
    assert len(ends) == 1 and ends[0]["status"] == "killed"
    assert ("by" in ends[0]) == (mode == "handles")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and "exit_code" in meta
    run = load_run(run_dir)
    assert run.status == "killed" and run.finished and not run.usable


LEAKY = """\
import json, os, sys
with open(os.path.join(os.environ["ORGTUI_RUN_DIR"], "metrics.jsonl"), "a") as f:
    f.write(json.dumps({"event": "run_start", "variant": "v", "argv": sys.argv}) + "\\n")
print("args:", " ".join(sys.argv[1:]))
"""


def test_a_key_passed_as_an_argument_is_stored_nowhere(org):
    planted = ["PLAINsecretVALUE1234", "hf_PLANTEDtoken5678", "xyzPLANTED999000", "sk-s"]
    out = orgtui(
        org,
        "run",
        "--variant",
        "v",
        "--no-post",
        "--",
        sys.executable,
        "-c",
        LEAKY,
        "--api-key",
        planted[0],
        f"HF_TOKEN={planted[1]}",
        f"--hf_token={planted[2]}",
        planted[3],
    )
    assert out.returncode == 0, out.stderr
    (run_dir,) = OrgPaths(org).runs_dir.iterdir()
    stored = {p.name: p.read_text() for p in run_dir.iterdir()}
    assert set(stored) == {"run.json", "metrics.jsonl", "output.log"}
    for secret in planted:
        for name, text in stored.items():
            assert secret not in text, (secret, name)
        assert secret not in out.stdout
    (job_file,) = OrgPaths(org).queue_dir.glob("*.json")  # its job, now ended, neither
    for secret in planted:
        assert secret not in job_file.read_text()
    command = json.loads(stored["run.json"])["command"]
    assert command[-5:] == [
        "--api-key",
        "[redacted]",
        "HF_TOKEN=[redacted]",
        "--hf_token=[redacted]",
        "[redacted]",
    ]
