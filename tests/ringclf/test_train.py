"""The spiral trainer end to end (CPU, about a second a run): records, seeds and budgets."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringclf import train

from .conftest import RunTrainer, of, read_metrics
from .schema import validate

ENV_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
NUMBERS = st.one_of(
    ENV_TEXT,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
)


def losses(lines: list[dict]) -> list[float]:
    return [r["loss"] for r in of(lines, "train")]


def test_metrics_follow_the_schema(run_trainer: RunTrainer):
    code, lines = run_trainer(
        "--steps", "60", "--eval-every", "20", "--variant", "wide", "--seed", "3", "--hidden", "8"
    )
    assert code == 0
    assert validate(lines) == []
    start, end = lines[0], lines[-1]
    assert (start["variant"], start["seed"], start["run_id"]) == ("wide", 3, "ringclf-s3")
    assert start["config"]["hidden"] == 8 and start["config"]["steps"] == 60
    assert start["threads"] == 1 and "threads" not in start["config"]
    assert [r["step"] for r in of(lines, "train")] == [10, 20, 30, 40, 50, 60]
    evals = of(lines, "eval")
    assert [e["step"] for e in evals] == [20, 40, 60]
    assert end["status"] == "ok" and end["final_val_acc"] == evals[-1]["val_acc"]
    assert all(start["time"] <= e["time"] for e in evals)


def test_validator_rejects_broken_lines():
    start = {"event": "run_start", "run_id": "r", "variant": "b", "seed": 0, "config": {}}
    good = [
        start | {"time": 1.0},
        {"event": "eval", "step": 1, "val_acc": 0.5, "val_loss": 0.7, "elapsed_s": 0.1, "time": 2},
        {"event": "run_end", "status": "ok", "wall_s": 1.0, "final_val_acc": 0.5},
    ]
    assert validate(good) == []
    assert validate(good[:2]) != []
    assert validate([good[0], {**good[1], "val_acc": 1.5}, good[2]]) != []
    assert validate([good[0], good[1], {**good[2], "status": "fine"}]) != []
    assert validate([start, *good[1:]]) != []
    assert validate([good[0], good[1], good[1], good[2]]) != []


def test_same_seed_is_deterministic_and_other_seeds_differ(run_trainer: RunTrainer):
    flags = ("--steps", "300", "--eval-every", "100")
    _, a = run_trainer(*flags, "--seed", "1", name="a")
    _, b = run_trainer(*flags, "--seed", "1", name="b")
    _, c = run_trainer(*flags, "--seed", "2", name="c")
    assert losses(a) == losses(b)
    assert [e["val_acc"] for e in of(a, "eval")] == [e["val_acc"] for e in of(b, "eval")]
    assert a[-1]["final_val_acc"] == b[-1]["final_val_acc"]
    assert losses(a) != losses(c)


def test_env_defaults_feed_run_id_dir_variant_seed(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ORGTUI_RUN_ID", "r-7")
    monkeypatch.setenv("ORGTUI_VARIANT", "wide")
    monkeypatch.setenv("ORGTUI_SEED", "3")
    monkeypatch.setenv("ORGTUI_RUN_DIR", str(tmp_path / "explicit"))
    args = train.parse_args([])
    assert (args.run_id, args.variant, args.seed) == ("r-7", "wide", 3)
    assert args.run_dir == str(tmp_path / "explicit")
    assert train.parse_args(["--seed", "5", "--variant", "x"]).seed == 5


def test_without_a_run_dir_it_prints_and_writes_nothing(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train.main(["--steps", "20", "--eval-every", "10"]) == 0
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    assert "step    10 | val_acc" in err and "done: 20 steps, val_acc" in err


def test_threads_come_from_omp_num_threads_else_one(monkeypatch):
    assert train.threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert train.threads() == 2


@given(text=ENV_TEXT)
def test_any_omp_num_threads_gives_a_sane_thread_count(text: str):
    with mock.patch.dict(os.environ, {"OMP_NUM_THREADS": text}):
        assert 1 <= train.threads() <= 1024


def test_seconds_budget_stops_once_train_time_reaches_it(run_trainer: RunTrainer):
    code, lines = run_trainer(
        "--steps", "100000000", "--max-seconds", "0.3", "--log-every", "1", "--eval-every", "0"
    )
    assert code == 0
    elapsed = [r["elapsed_s"] for r in of(lines, "train")]
    assert elapsed[-1] >= 0.3 > elapsed[-2]  # the first step at or past the budget is the last
    (final,) = of(lines, "eval")
    assert final["step"] == len(elapsed) and final["elapsed_s"] == elapsed[-1]
    assert lines[-1]["status"] == "ok" and lines[-1]["final_val_acc"] == final["val_acc"]


@pytest.mark.parametrize("unit", ["wall_seconds", "gpu_seconds"])
def test_matched_seconds_replace_the_command_line_budget(run_trainer, monkeypatch, unit: str):
    monkeypatch.setenv("ORGTUI_MAX_COST", "0.2")
    monkeypatch.setenv("ORGTUI_COST_UNIT", unit)
    code, lines = run_trainer("--steps", "3", "--log-every", "1")
    assert code == 0
    config = lines[0]["config"]
    assert config["steps"] is None and config["max_seconds"] == 0.2
    elapsed = [r["elapsed_s"] for r in of(lines, "train")]
    assert elapsed[-1] >= 0.2 > elapsed[-2]


@pytest.mark.parametrize("via", ["ORGTUI_MAX_COST", "ORGTUI_MAX_FLOPS"])
def test_matched_flops_stop_at_the_first_step_reaching_them(run_trainer, monkeypatch, via: str):
    _, probe = run_trainer("--steps", "1", name="probe")
    per_step = 6 * probe[0]["params"] * 64
    monkeypatch.setenv(via, str(per_step * 7 - 1))
    monkeypatch.setenv("ORGTUI_COST_UNIT", "flops")
    code, lines = run_trainer("--steps", "3", "--log-every", "1")
    assert code == 0
    assert of(lines, "train")[-1]["step"] == 7
    assert of(lines, "eval")[-1]["flops"] == per_step * 7


@given(cost=NUMBERS, unit=st.one_of(ENV_TEXT, st.sampled_from(["wall_seconds", "flops"])))
def test_any_matched_budget_env_is_used_or_refused_cleanly(cost: str, unit: str):
    ap = argparse.ArgumentParser()
    args = argparse.Namespace(steps=5, max_seconds=None, max_flops=None)
    env = {"ORGTUI_MAX_COST": cost, "ORGTUI_COST_UNIT": unit}
    try:
        train.matched_budget(ap, args, env)
    except SystemExit as e:
        assert e.code == 2
        return
    if not cost:  # no matched budget: the command line's stands
        assert (args.steps, args.max_seconds, args.max_flops) == (5, None, None)
        return
    assert args.steps is None
    budget = args.max_seconds if unit != "flops" else args.max_flops
    assert unit in ("wall_seconds", "gpu_seconds", "flops") and 0 < budget < float("inf")


@given(seed=NUMBERS)
def test_any_seed_env_is_used_or_refused_cleanly(seed: str):
    with mock.patch.dict(os.environ, {"ORGTUI_SEED": seed}):
        try:
            args = train.parse_args([])
        except SystemExit as e:
            assert e.code == 2
            return
    assert 0 <= args.seed < 2**63
    assert args.seed == (int(seed) if seed else 0)


def test_bad_env_names_the_variable_and_the_fix(tmp_path: Path):
    cases = {
        "ORGTUI_COST_UNIT": ({"ORGTUI_MAX_COST": "3", "ORGTUI_COST_UNIT": "hours"}, "wall_seconds"),
        "ORGTUI_MAX_COST": (
            {"ORGTUI_MAX_COST": "-1", "ORGTUI_COST_UNIT": "wall_seconds"},
            "positive",
        ),
        "ORGTUI_SEED": ({"ORGTUI_SEED": "one"}, "whole number"),
    }
    for var, (extra, fix) in cases.items():
        out = subprocess.run(
            [sys.executable, "-m", "ringclf.train"],
            env=os.environ | extra,
            cwd=Path(train.__file__).parents[1],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2 and var in out.stderr and fix in out.stderr, out.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_writes_run_end_killed(tmp_path: Path, sig: signal.Signals):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringclf.train", "--steps", "100000000", "--eval-every", "20"],
        cwd=Path(train.__file__).parents[1],
        env=os.environ | {"ORGTUI_RUN_DIR": str(run_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    metrics = run_dir / "metrics.jsonl"
    try:
        for _ in range(600):  # wait (up to a minute) for the first eval line
            if metrics.exists() and '"eval"' in metrics.read_text():
                break
            time.sleep(0.1)
        else:
            raise AssertionError("trainer never wrote an eval line")
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = read_metrics(run_dir)
    assert code == 128 + sig
    end = lines[-1]
    assert end["status"] == "killed" and end["error"] == sig.name
    assert end["final_val_acc"] is None
    assert validate(lines) == []
