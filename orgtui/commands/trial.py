"""``orgtui trial``: org designs on one task under one budget, scored by held-out progress."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orgtui.commands import add_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    trial = add_parser(
        subparsers,
        "trial",
        "run org designs on a task under a budget and score their verified progress",
    )
    trial.add_argument("designs", nargs="+", metavar="ORG", help="org designs (org.toml files)")
    trial.add_argument(
        "--task", required=True, metavar="T", help="a task name (tasks/T.toml) or a task file"
    )
    trial.add_argument(
        "--budget",
        required=True,
        metavar="B",
        help="per trial: wall time (90s, 4m), GPU-hours (0.5gpuh; CPU-hours without GPUs) "
        "or money ('$2')",
    )
    trial.add_argument("--repeats", type=int, default=1, metavar="N", help="trials per design")
    trial.add_argument(
        "--dir",
        type=Path,
        default=Path("orgtui-trials"),
        help="where each trial's research repo is built (default ./orgtui-trials)",
    )
    trial.add_argument("--json", action="store_true", help="print the score as JSON")
    trial.set_defaults(func=cmd_trial)


def cmd_trial(args: argparse.Namespace) -> int:
    from rich.console import Console

    from orgtui.trial import plan_trial, run_plan, trial_json
    from orgtui.trial.render import score_plot, score_table

    plan = plan_trial(args.designs, args.task, args.budget, args.repeats, args.dir)
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else print
    scores = run_plan(plan, say)
    if args.json:
        print(json.dumps(trial_json(plan.task, plan.budget, scores)))
        return 0
    console = Console()
    console.print(score_table(plan.task, plan.budget, scores))
    print(score_plot(plan.task, scores))
    return 0
