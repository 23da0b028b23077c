"""A two-org trial on 2 CPU cores: the scripted sloppy and disciplined orgs on ringclf.

`python benchmarks/trial.py [--budget 3m]` prints the wall time of the whole trial (both orgs,
their held-out reruns) and the score as `orgtui trial --json` gives it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from orgtui.trial import plan_trial, run_plan, trial_json

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "trials"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default="3m")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        designs = [EXAMPLES / "sloppy.toml", EXAMPLES / "disciplined.toml"]
        plan = plan_trial(designs, "ringclf", args.budget, 1, Path(scratch) / "t")
        started = time.monotonic()
        scores = run_plan(plan, say=lambda line: print(line, flush=True))
        wall = time.monotonic() - started
    print(
        json.dumps(
            {"wall_s": round(wall, 1), "score": trial_json(plan.task, plan.budget, scores)},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
