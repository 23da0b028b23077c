"""Paired seeds on real tiny runs: does pairing resolve the softcap effect the unpaired test misses?

Trains `--preset tiny` with softcap 15 (`baseline`) and softcap 0 (`nocap`) for seeds
0..N-1, one run at a time, then asks the ledger for its verdict on 3, 4, 5 and N seeds, next
to the unpaired (Welch) test on the same values, and says whether the issue's goal is met:
pairing resolves the effect with 3-5 seeds where the unpaired test misses it. Slow (about
10 s a run on 2 cores): not a test.
`--runs DIR` reads run directories already trained (`<variant>-s<seed>`) instead.
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from orgtui.ledger import stats
from orgtui.ledger.runs import Run, load_run
from orgtui.ledger.verdicts import Ledger

VARIANTS = {"baseline": [], "nocap": ["--softcap", "0"]}


def train(runs: Path, variant: str, seed: int, steps: int, eval_every: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "nanochat.train",
        "--preset",
        "tiny",
        "--max-steps",
        str(steps),
        "--eval-every",
        str(eval_every),
        "--seed",
        str(seed),
        "--variant",
        variant,
        "--run-dir",
        str(runs / f"{variant}-s{seed}"),
        *VARIANTS[variant],
    ]
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def figures(runs: list[Run], seeds: int) -> dict[str, object]:
    """The ledger's (paired) verdict on the first ``seeds`` seeds, and the unpaired test."""
    chosen = [r for r in runs if r.seed < seeds]
    comparison = Ledger(chosen, baseline="baseline").compare("baseline", "nocap")
    at = comparison.matched_flops
    values = {
        v: [
            stats.interpolate([(f, b) for _, f, b in r.evals], at) for r in chosen if r.variant == v
        ]
        for v in VARIANTS
    }
    welch = stats.welch(values["baseline"], values["nocap"], 0.05)  # type: ignore[arg-type]
    unpaired = "within_noise"
    if welch is not None and welch.p_value < 0.05:
        unpaired = "improvement" if welch.delta < 0 else "regression"
    return {
        "seeds": seeds,
        "paired": {
            "verdict": comparison.verdict,
            "test": comparison.test,
            "delta_bpb": comparison.delta_bpb,
            "noise_bpb": comparison.noise_bpb,
            "p_value": comparison.p_value,
        },
        "unpaired": {
            "verdict": unpaired,
            "delta_bpb": welch.delta if welch else None,
            "noise_bpb": welch.half_width if welch else None,
            "p_value": welch.p_value if welch else None,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--runs", type=Path, help="run directories already trained")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.runs or Path(tmp)
        if args.runs is None:
            for seed in range(args.seeds):
                for variant in VARIANTS:
                    train(root, variant, seed, args.steps, args.eval_every)
        runs = [load_run(root / f"{v}-s{s}") for s in range(args.seeds) for v in VARIANTS]
    final = {(r.variant, r.seed): r.evals[-1][2] for r in runs if r.usable}
    table = [
        {
            "seed": seed,
            "baseline": final.get(("baseline", seed)),
            "nocap": final.get(("nocap", seed)),
            "diff": final[("nocap", seed)] - final[("baseline", seed)]
            if ("nocap", seed) in final and ("baseline", seed) in final
            else None,
        }
        for seed in range(args.seeds)
    ]
    counts = sorted({*range(min(3, args.seeds), min(5, args.seeds) + 1), args.seeds})
    verdicts = [figures(runs, n) for n in counts]
    # The goal: pairing resolves an effect of this size with 3-5 seeds, where the
    # unpaired test on the same values calls it noise.
    resolved = [
        v["seeds"]
        for v in verdicts
        if 3 <= v["seeds"] <= 5
        and v["paired"]["verdict"] != "within_noise"  # type: ignore[index]
        and v["unpaired"]["verdict"] == "within_noise"  # type: ignore[index]
    ]
    result = {
        "preset": "tiny",
        "steps": args.steps,
        "per_seed": table,
        "verdicts": verdicts,
        "goals_met": {"paired_resolves_what_unpaired_misses_with_3_to_5_seeds": bool(resolved)},
        "resolved_at_seeds": resolved,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
