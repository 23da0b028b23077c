"""The trainer end to end on the committed sample corpus (CPU, seconds)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .conftest import read_metrics
from .schema import validate


def of(lines: list[dict], event: str) -> list[dict]:
    return [r for r in lines if r["event"] == event]


def test_depth2_trains_50_steps_and_loss_falls(run_trainer):
    code, lines = run_trainer("--depth", "2", "--max-steps", "50", "--eval-every", "25")
    assert code == 0
    losses = [r["loss"] for r in of(lines, "train")]
    assert len(losses) == 50
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 1.0, (first, last)
    evals = of(lines, "eval")
    assert [e["step"] for e in evals] == [25, 50]
    assert lines[-1]["status"] == "ok"
    assert lines[-1]["final_val_bpb"] == evals[-1]["val_bpb"]


def test_metrics_validate_against_schema(run_trainer, monkeypatch):
    monkeypatch.setenv("ORGTUI_AGENT", "alice")
    code, lines = run_trainer("--max-steps", "6", "--eval-every", "3", "--variant", "wide")
    assert code == 0
    assert validate(lines) == []
    start = lines[0]
    assert start["agent"] == "alice" and start["variant"] == "wide"
    assert start["config"]["model"]["depth"] == 2
    fpt = start["flops_per_token"]
    for rec in of(lines, "train") + of(lines, "eval"):
        assert rec["flops"] == rec["tokens"] * fpt
        assert rec["tokens"] == rec["step"] * 4 * 32
    assert all(r["mfu"] is None for r in of(lines, "train"))  # CPU: no invented MFU


def test_validator_rejects_broken_lines():
    good = [
        {
            "event": "run_start",
            "run_id": "r",
            "agent": None,
            "branch": None,
            "commit": None,
            "dirty": None,
            "variant": "b",
            "seed": 0,
            "config": {},
            "params": 1,
            "flops_per_token": 6,
            "time": 0.0,
        },
        {"event": "run_end", "status": "ok", "wall_s": 1.0, "final_val_bpb": 2.0},
    ]
    assert validate(good) == []
    assert validate(good[:1]) != []
    assert validate([good[0], {**good[1], "status": "fine"}]) != []
    assert validate([{**good[0], "seed": "0"}, good[1]]) != []


def test_softcap_0_and_15_both_run_and_differ(run_trainer):
    _, off = run_trainer("--max-steps", "8", "--softcap", "0", name="off")
    _, on = run_trainer("--max-steps", "8", "--softcap", "15", name="on")
    assert off[-1]["status"] == on[-1]["status"] == "ok"
    assert off[0]["config"]["softcap"] == 0 and on[0]["config"]["softcap"] == 15
    assert [r["loss"] for r in of(off, "train")] != [r["loss"] for r in of(on, "train")]


def test_same_seed_is_deterministic_and_other_seed_differs(run_trainer):
    _, a = run_trainer("--max-steps", "5", "--seed", "1", name="a")
    _, b = run_trainer("--max-steps", "5", "--seed", "1", name="b")
    _, c = run_trainer("--max-steps", "5", "--seed", "2", name="c")
    loss = lambda lines: [r["loss"] for r in of(lines, "train")]  # noqa: E731
    assert loss(a) == loss(b)
    assert loss(a) != loss(c)
    assert a[-1]["final_val_bpb"] == b[-1]["final_val_bpb"]


def test_token_budget_stops_at_its_limit(run_trainer):
    per_step = 4 * 32
    code, lines = run_trainer("--max-steps", "1000", "--max-tokens", str(per_step * 7 + 1))
    assert code == 0
    train = of(lines, "train")
    assert train[-1]["step"] == 8  # first step at or past the limit
    assert train[-2]["tokens"] < per_step * 7 + 1 <= train[-1]["tokens"]
    assert of(lines, "eval")[-1]["step"] == 8  # eval at the end always


def test_flops_budget_stops_at_its_limit(run_trainer):
    _, probe = run_trainer("--max-steps", "1", name="probe")
    limit = probe[0]["flops_per_token"] * 4 * 32 * 3
    _, lines = run_trainer("--max-steps", "1000", "--max-flops", str(limit))
    assert of(lines, "train")[-1]["step"] == 3
    assert of(lines, "train")[-1]["flops"] == limit


def test_crash_writes_run_end_crash(run_trainer):
    code, lines = run_trainer("--max-steps", "10", "--fail-at-step", "3")
    assert code == 1
    assert len(of(lines, "train")) == 3
    end = lines[-1]
    assert end["event"] == "run_end" and end["status"] == "crash"
    assert "injected failure" in end["error"]
    assert end["final_val_bpb"] is None


def test_env_defaults_feed_run_id_dir_variant_seed(tmp_path, monkeypatch):
    from nanochat.train import parse_args

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORGTUI_RUN_ID", "r-7")
    monkeypatch.setenv("ORGTUI_VARIANT", "softcap0")
    monkeypatch.setenv("ORGTUI_SEED", "3")
    monkeypatch.setenv("ORGTUI_ROOT", str(tmp_path / "org"))
    args = parse_args([])
    assert (args.run_id, args.variant, args.seed) == ("r-7", "softcap0", 3)
    assert args.run_dir == str(tmp_path / "org" / ".org" / "runs" / "r-7")
    monkeypatch.setenv("ORGTUI_RUN_DIR", str(tmp_path / "explicit"))
    assert parse_args([]).run_dir == str(tmp_path / "explicit")
    assert parse_args(["--seed", "5", "--variant", "x"]).seed == 5
    monkeypatch.delenv("ORGTUI_ROOT")
    monkeypatch.delenv("ORGTUI_RUN_DIR")
    assert parse_args([]).run_dir == os.path.join("runs", "r-7")


def test_sigterm_writes_run_end_killed(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nanochat.train",
            "--preset",
            "tiny",
            "--seq-len",
            "32",
            "--batch-size",
            "4",
            "--max-steps",
            "100000",
            "--run-dir",
            str(run_dir),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    metrics = run_dir / "metrics.jsonl"
    try:
        for _ in range(600):  # wait (up to a minute) for the first train line
            if metrics.exists() and '"train"' in metrics.read_text():
                break
            time.sleep(0.1)
        else:
            raise AssertionError("trainer never wrote a train line")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = read_metrics(run_dir)
    assert code == 128 + signal.SIGTERM
    assert lines[-1]["event"] == "run_end" and lines[-1]["status"] == "killed"
    assert validate(lines) == []


def test_seconds_budget_stops_once_train_time_reaches_it(run_trainer):
    code, lines = run_trainer("--max-steps", "100000", "--max-seconds", "0.3")
    assert code == 0
    dts = [r["dt"] for r in of(lines, "train")]
    assert sum(dts) >= 0.3 > sum(dts[:-1])
    assert lines[-1]["status"] == "ok" and lines[-1]["final_val_bpb"] is not None


def test_run_start_records_git_state_of_the_working_directory(git_repo, monkeypatch):
    from tests.conftest import git

    monkeypatch.chdir(git_repo)
    from nanochat.train import git_info

    info = git_info()
    assert info == {"branch": "main", "commit": git(git_repo, "rev-parse", "HEAD"), "dirty": False}
    (git_repo / "README.md").write_text("changed\n")
    assert git_info()["dirty"] is True
    monkeypatch.chdir(git_repo.parent)
    assert git_info() == {"branch": None, "commit": None, "dirty": None}


def test_wider_model_via_width_flag(run_trainer):
    code, lines = run_trainer("--max-steps", "2", "--width", "192", "--head-dim", "64")
    assert code == 0
    model = lines[0]["config"]["model"]
    assert (model["dim"], model["n_head"]) == (192, 3)
