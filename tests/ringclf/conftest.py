"""Helpers for ringclf tests: run the trainer in-process in a temporary directory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from ringclf import train

RUN_ENV = (
    "ORGTUI_RUN_ID",
    "ORGTUI_RUN_DIR",
    "ORGTUI_VARIANT",
    "ORGTUI_SEED",
    "ORGTUI_MAX_COST",
    "ORGTUI_COST_UNIT",
    "ORGTUI_MAX_FLOPS",
    "OMP_NUM_THREADS",
)

RunTrainer = Callable[..., tuple[int, list[dict]]]


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def of(lines: list[dict], event: str) -> list[dict]:
    return [r for r in lines if r["event"] == event]


@pytest.fixture(autouse=True)
def _no_run_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The trainer reads these; the test runner's own values must not leak in. The trainer
    also sets torch's thread count, which is put back after each test."""
    for var in RUN_ENV:
        monkeypatch.delenv(var, raising=False)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunTrainer:
    """Run `python -m ringclf.train` in-process; returns (exit code, metrics lines)."""
    monkeypatch.chdir(tmp_path)

    def run(*flags: str, name: str = "run") -> tuple[int, list[dict]]:
        run_dir = tmp_path / name
        code = train.main(["--run-dir", str(run_dir), *flags])
        return code, read_metrics(run_dir)

    return run
