"""Synthetic run directories written through the real metrics.jsonl schema."""

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
) -> Path:
    """One run; ``status=None`` leaves it without ``run_end`` (still running or died)."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
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
        lines.append(
            {
                "event": "train",
                "step": step,
                "tokens": tokens,
                "flops": flops,
                "loss": 2 * curve(flops),
                "lr": 1.0,
                "dt": 0.01,
                "tok_per_sec": 5e4,
                "mfu": None,
            }
        )
        if step % eval_every == 0:
            bpb = curve(flops) + noise
            lines.append(
                {"event": "eval", "step": step, "tokens": tokens, "flops": flops, "val_bpb": bpb}
            )
    if status is not None:
        lines.append(
            {"event": "run_end", "status": status, "wall_s": steps * 0.01, "final_val_bpb": bpb}
        )
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
