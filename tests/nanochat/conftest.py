"""Helpers for nanochat tests: run the trainer in-process on the committed sample corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanochat import train

# Smaller than the tiny preset so each run takes about a second on 2 cores.
FAST = ["--preset", "tiny", "--seq-len", "32", "--batch-size", "4", "--eval-batches", "2"]


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _no_run_env(monkeypatch):
    """The trainer reads these as defaults; the test runner's own values must not leak in."""
    for var in ("ORGTUI_RUN_ID", "ORGTUI_RUN_DIR", "ORGTUI_VARIANT", "ORGTUI_SEED"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def run_trainer(tmp_path, monkeypatch):
    """Run `python -m nanochat.train` in-process; returns (exit code, metrics lines)."""
    monkeypatch.chdir(tmp_path)

    def run(*flags: str, name: str = "run") -> tuple[int, list[dict]]:
        run_dir = tmp_path / name
        code = train.main([*FAST, "--run-dir", str(run_dir), *flags])
        return code, read_metrics(run_dir)

    return run
