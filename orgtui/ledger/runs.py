"""Read run directories: ``metrics.jsonl`` written by the trainer, ``run.json`` by ``orgtui run``.

Reading is forgiving on purpose: a run still being written has no ``run_end`` and maybe a
half-written last line, a crashed trainer may stop anywhere, and a person may drop a file in
by hand. None of that may break the ledger, the TUI or the supervisor, so every problem
becomes a field of the :class:`Run` instead of an exception.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgtui.paths import OrgPaths
from orgtui.procs import pid_alive

METRICS_FILE = "metrics.jsonl"
META_FILE = "run.json"
STALE_AFTER_S = 900.0
# Keys of a run's config that do not change what is measured (where or how it ran).
IGNORED_CONFIG_KEYS = frozenset(
    {"seed", "run_id", "run_dir", "variant", "device", "compile", "log_every", "data_dir"}
)


@dataclass(frozen=True)
class Run:
    """One training run, as far as its files tell."""

    run_id: str
    variant: str
    seed: int
    agent: str | None = None
    commit: str | None = None
    dirty: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "running"  # running | ok | crash | killed
    started: float = 0.0
    wall_s: float | None = None
    tokens: int = 0
    flops: float = 0.0
    train: tuple[tuple[int, float, float], ...] = ()
    evals: tuple[tuple[int, float, float], ...] = ()
    final_val_bpb: float | None = None
    proposal: str | None = None
    malformed: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def usable(self) -> bool:
        """A finished, healthy run with an eval curve: the only kind a verdict rests on."""
        return self.status == "ok" and bool(self.evals) and self.malformed is None

    @property
    def gpu_hours(self) -> float:
        """One GPU for the run's wall time (a running run counts up to now)."""
        wall = self.wall_s if self.wall_s is not None else max(0.0, time.time() - self.started)
        return wall / 3600.0

    def experiment_config(self) -> dict[str, Any]:
        return {k: v for k, v in self.config.items() if k not in IGNORED_CONFIG_KEYS}


def _read_json_lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every parsable object of a JSONL file, and how many lines were not (a torn tail)."""
    records: list[dict[str, Any]] = []
    bad = 0
    with path.open("rb") as f:
        for raw in f:
            line = raw.strip()
            if not line:
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad += 1
                continue
            if isinstance(value, dict):
                records.append(value)
            else:
                bad += 1
    return records, bad


def _read_meta(run_dir: Path) -> dict[str, Any]:
    try:
        value = json.loads((run_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: Any, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _open_status(meta: dict[str, Any], newest: Path) -> str:
    """The status of a run with no ``run_end``: still running, or died without a word.

    ``orgtui run`` records the trainer's pid, then its exit code; a run started some other way
    counts as running while ``newest`` (its metrics, or its directory) keeps changing.
    """
    if "exit_code" in meta:
        return "crash"
    if "pid" in meta:
        return "running" if pid_alive(meta["pid"]) else "crash"
    try:
        age = time.time() - newest.stat().st_mtime
    except OSError:
        return "crash"
    return "running" if age < STALE_AFTER_S else "crash"


def load_run(run_dir: Path) -> Run:
    """The :class:`Run` recorded in ``run_dir``; never raises for bad content."""
    meta = _read_meta(run_dir)
    metrics = run_dir / METRICS_FILE
    base = {
        "run_id": run_dir.name,
        "variant": str(meta.get("variant") or "unknown"),
        "seed": int(_number(meta.get("seed"))),
        "agent": meta.get("agent"),
        "commit": meta.get("commit"),
        "dirty": bool(meta.get("dirty", False)),
        "proposal": meta.get("proposal"),
        "started": _number(meta.get("started")),
    }
    try:
        records, bad = _read_json_lines(metrics)
    except FileNotFoundError:
        if "exit_code" in meta:  # a command that keeps no metrics: its exit code tells
            status = "ok" if meta["exit_code"] == 0 else "crash"
        else:
            status = _open_status(meta, run_dir)
        wall = meta.get("wall_s")
        return Run(**base, status=status, wall_s=_number(wall) if wall is not None else None)
    except OSError as error:
        return Run(**base, status="crash", malformed=f"{metrics}: {error.strerror}")
    start = next((r for r in records if r.get("event") == "run_start"), None)
    if start is None:
        reason = f"{metrics}: no run_start line" + (f" ({bad} unreadable lines)" if bad else "")
        return Run(**base, status="crash", malformed=reason)
    end = next((r for r in records if r.get("event") == "run_end"), None)
    train = tuple(
        (int(_number(r.get("step"))), _number(r.get("flops")), _number(r.get("loss")))
        for r in records
        if r.get("event") == "train" and isinstance(r.get("loss"), int | float)
    )
    evals = tuple(
        sorted(
            (int(_number(r.get("step"))), _number(r.get("flops")), _number(r.get("val_bpb")))
            for r in records
            if r.get("event") == "eval" and isinstance(r.get("val_bpb"), int | float)
        )
    )
    progress = [r for r in records if r.get("event") in ("train", "eval")]
    if end is not None:
        status = str(end.get("status") or "crash")
        status = status if status in ("ok", "crash", "killed") else "crash"
        wall = _number(end.get("wall_s"), 0.0)
        final = end.get("final_val_bpb")
    else:
        status, wall, final = _open_status(meta, metrics), None, None
        if status == "crash" and meta.get("wall_s") is not None:
            wall = _number(meta.get("wall_s"))
    config = start.get("config")
    return Run(
        run_id=str(start.get("run_id") or run_dir.name),
        variant=str(start.get("variant") or base["variant"]),
        seed=int(_number(start.get("seed"), base["seed"])),
        agent=start.get("agent") or base["agent"],
        commit=start.get("commit") or base["commit"],
        dirty=bool(start.get("dirty", False)) or base["dirty"],
        config=config if isinstance(config, dict) else {},
        status=status,
        started=_number(start.get("time"), base["started"]),
        wall_s=wall,
        tokens=int(max((_number(r.get("tokens")) for r in progress), default=0)),
        flops=max((_number(r.get("flops")) for r in progress), default=0.0),
        train=train,
        evals=evals,
        final_val_bpb=_number(final) if isinstance(final, int | float) else None,
        proposal=base["proposal"],
    )


def load_runs(paths: OrgPaths) -> list[Run]:
    """Every run under ``.org/runs/``, oldest first."""
    try:
        dirs = [d for d in paths.runs_dir.iterdir() if d.is_dir()]
    except FileNotFoundError:
        return []
    return sorted((load_run(d) for d in dirs), key=lambda run: (run.started, run.run_id))
