"""Org trials (``orgtui trial``): org designs run on the same task under the same budget, each
scored by the progress that survives a held-out rerun (docs/trials.md).

``budget`` parses budgets, ``setup`` checks designs and builds each trial's repo, ``run`` runs
one trial and its held-out rerun, ``score`` computes the figures, ``render`` shows them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orgtui.config import OrgConfig
from orgtui.tasks import Task, load_task
from orgtui.trial.budget import Budget, BudgetError, parse_budget
from orgtui.trial.score import OrgScore, TrialScore, score_org, score_trial, trial_json
from orgtui.trial.setup import TrialError, check_design, design_name

MAX_REPEATS = 100

__all__ = [
    "Budget",
    "BudgetError",
    "OrgScore",
    "TrialError",
    "TrialPlan",
    "plan_trial",
    "run_plan",
    "trial_json",
]


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial needs, checked before anything starts."""

    task: Task
    budget: Budget
    designs: tuple[OrgConfig, ...]
    repeats: int
    workdir: Path


def plan_trial(
    designs: Sequence[str | Path], task: str, budget: str, repeats: int, workdir: Path
) -> TrialPlan:
    """Check the task, the budget, every design and the repeats; raise before anything runs."""
    if not designs:
        raise TrialError("name at least one org design (an org.toml, e.g. examples/trials/)")
    if not 1 <= repeats <= MAX_REPEATS:
        raise TrialError(f"--repeats {repeats}: expected a whole number in 1..{MAX_REPEATS}")
    loaded_task = load_task(task)
    parsed = parse_budget(budget)
    configs = tuple(check_design(Path(d).expanduser().resolve()) for d in designs)
    names = [design_name(c) for c in configs]
    for name in names:
        if names.count(name) > 1:
            raise TrialError(f"two org designs are named {name!r}: give their files other names")
    return TrialPlan(loaded_task, parsed, configs, repeats, workdir.resolve())


def run_plan(plan: TrialPlan, say: Callable[[str], object] = print) -> list[OrgScore]:
    """Every design, every repeat, one after another; the designs' scores."""
    from orgtui.trial.run import run_trial

    stamp = time.strftime("%Y%m%d-%H%M%S")
    scores = []
    for config in plan.designs:
        name = design_name(config)
        trials: list[TrialScore] = []
        for repeat in range(1, plan.repeats + 1):
            target = plan.workdir / f"{plan.task.name}-{name}-{repeat}-{stamp}"
            trial = run_trial(config, plan.task, plan.budget, target, repeat, say)
            for problem in trial.problems:
                say(f"{name} #{repeat}: {problem}")
            trials.append(score_trial(trial, plan.task))
        scores.append(score_org(name, trials))
    return scores
