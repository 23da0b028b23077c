"""nanochat on CPU: tokens/s of the tiny preset and seconds for 200 steps of the demo config.

The demo runs several variants x 3 seeds of `--preset tiny`, so the whole process (imports,
tokenizer load, training, evals) is what is timed. Goal: 200 steps < 30 s on 2 cores.
`--switches` also runs the demo config with each GPU speed switch turned on, to show what it
does on a CPU (the tiny preset keeps a switch off where it costs time here).
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(steps: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "nanochat.train",
            "--preset",
            "tiny",
            "--max-steps",
            str(steps),
            "--run-dir",
            tmp,
            *extra,
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL, cwd=tmp)
        wall = time.perf_counter() - t0
        lines = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["event"] == "train"]
    return {
        "steps": steps,
        "process_s": round(wall, 2),
        "run_wall_s": round(lines[-1]["wall_s"], 2),
        "tok_per_sec_median": round(statistics.median(r["tok_per_sec"] for r in train[1:])),
        "first_loss": round(train[0]["loss"], 3),
        "last_loss": round(train[-1]["loss"], 3),
        "final_val_bpb": round(lines[-1]["final_val_bpb"], 4),
        "params": lines[0]["params"],
        "config": {
            k: lines[0]["config"][k] for k in ("depth", "seq_len", "batch_size", "vocab_size")
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--switches", action="store_true", help="the demo with each switch on")
    args = ap.parse_args()
    demo = run(100, [])  # the demo config as the demo runs it
    long = run(args.steps, [])
    out: dict[str, object] = {
        "benchmark": "nanochat_cpu",
        "demo_run_100_steps": demo,
        f"steps_{args.steps}": long,
        "goal_200_steps_s": 30,
    }
    if args.switches:
        out["demo_with_switch_on"] = {
            s: run(100, [f"--{s}"]) for s in ("fused-qkv", "fused-adamw", "lazy-sync")
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
