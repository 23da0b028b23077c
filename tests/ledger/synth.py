"""Synthetic run directories written through the real metrics.jsonl schema.

By default a nanochat-like run: val bpb falling with FLOPs. Any metric and cost axis too:
``metric="val_acc"`` with ``cost="wall_seconds"`` writes each line's ``elapsed_s`` (or its
``time``, ``clock="time"``) and reads the curve at those seconds; ``cost="gpu_seconds"`` also
records the run's GPUs as its allocation in ``run.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG = {"depth": 2, "softcap": 15.0, "seq_len": 64, "batch_size": 8, "max_steps": 100}


def power_law(scale: float = 1.0, offset: float = 0.0) -> Callable[[float], float]:
    """bpb falling with compute, the shape real curves have: offset + scale * a / flops^b."""
    return lambda flops: 1.0 + offset + scale * 40.0 / math.pow(flops, 0.12)


def accuracy(offset: float = 0.0, tau: float = 0.3) -> Callable[[float], float]:
    """Accuracy rising with seconds of training and levelling off: 0.5 -> 0.9 (+ offset)."""
    return lambda seconds: 0.5 + 0.4 * (1.0 - math.exp(-seconds / tau)) + offset


def write_run(
    runs_dir: Path,
    run_id: str,
    *,
    variant: str,
    seed: int,
    curve: Callable[[float], float],
    steps: int = 100,
    flops_per_token: float = 1e6,
    tokens_per_step: int = 512,
    eval_every: int = 20,
    noise: float = 0.0,
    status: str | None = "ok",
    dirty: bool = False,
    config: dict[str, Any] | None = None,
    started: float = 1_700_000_000.0,
    truncate_tail: bool = False,
    metric: str = "val_bpb",
    cost: str = "flops",
    seconds_per_step: float = 0.01,
    clock: str = "elapsed_s",
    gpus: float | None = None,
) -> Path:
    """One run; ``status=None`` leaves it without ``run_end`` (still running or died).
    ``curve`` is read at the run's cost: its FLOPs, or its seconds on a seconds axis."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    if gpus is not None:
        allocation = {"gpus": gpus, "seconds": steps * seconds_per_step}
        (run_dir / "run.json").write_text(json.dumps({"allocation": allocation}))
    seconds_axis = cost != "flops"
    lines: list[dict[str, Any]] = [
        {
            "event": "run_start",
            "run_id": run_id,
            "agent": "ada",
            "branch": "feat/p/ada",
            "commit": "abc123",
            "dirty": dirty,
            "variant": variant,
            "seed": seed,
            "config": (config or CONFIG) | {"seed": seed},
            "params": 1000,
            "flops_per_token": flops_per_token,
            "time": started,
        }
    ]
    bpb = None
    for step in range(1, steps + 1):
        tokens = step * tokens_per_step
        flops = tokens * flops_per_token
        elapsed = step * seconds_per_step
        at = elapsed if seconds_axis else flops
        times = {}
        if seconds_axis:
            times = {"elapsed_s": elapsed} if clock == "elapsed_s" else {"time": started + elapsed}
        lines.append(
            {
                "event": "train",
                "step": step,
                "tokens": tokens,
                "flops": flops,
                "loss": 2 * curve(at),
                "lr": 1.0,
                "dt": 0.01,
                "tok_per_sec": 5e4,
                "mfu": None,
            }
            | times
        )
        if step % eval_every == 0:
            bpb = curve(at) + noise
            lines.append(
                {"event": "eval", "step": step, "tokens": tokens, "flops": flops, metric: bpb}
                | times
            )
    if status is not None:
        wall = steps * (seconds_per_step if seconds_axis else 0.01)
        lines.append({"event": "run_end", "status": status, "wall_s": wall, f"final_{metric}": bpb})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    if truncate_tail:
        text += '{"event": "train", "step": 10'
    (run_dir / "metrics.jsonl").write_text(text)
    return run_dir


def write_variant(
    runs_dir: Path, variant: str, seeds: int, *, noises: tuple[float, ...] = (), **kwargs: Any
) -> list[Path]:
    """``seeds`` runs of one variant; ``noises`` gives each seed's offset (default spread)."""
    noises = noises or (0.0, 0.01, -0.01, 0.005, -0.005)[:seeds]
    return [
        write_run(
            runs_dir, f"{variant}-s{seed}", variant=variant, seed=seed, noise=noises[seed], **kwargs
        )
        for seed in range(seeds)
    ]
