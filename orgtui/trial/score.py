"""The score of a trial, and of an org design over its repeats (docs/trials.md defines each
figure): verified gain (held out), cost, gain per GPU-hour, time to first verified gain, claims
and false claims, wasted compute."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orgtui.ledger import Ledger, Run
from orgtui.tasks import Task
from orgtui.trial.budget import Budget
from orgtui.trial.run import TrialRun, comparison_gain


@dataclass(frozen=True)
class TrialScore:
    """One trial's figures."""

    verified_gain: float
    gpu_hours: float
    wall_s: float
    tokens: int | None
    money: float | None
    time_to_first_verified_s: float | None
    claims: int
    false_claims: int
    wasted_gpu_hours: float
    claim: str | None
    held_out_verdict: str | None


def score_trial(trial: TrialRun, task: Task) -> TrialScore:
    """The figures of one trial, from its runs and its held-out rerun."""
    runs = list(trial.runs)
    ledger = Ledger.load(trial.root_paths, baseline=task.baseline, runs=runs)
    verdicts = {
        variant: comparison_gain(task, ledger, task.baseline, variant)[0]
        for variant in ledger.variants
        if variant != task.baseline
    }
    held = trial.held_out
    survived = held is not None and held.verdict == "improvement" and held.delta is not None
    gain = task.better(0.0, held.delta) if survived and held and held.delta is not None else 0.0
    claims = sorted(
        {r.variant for r in runs if r.agent in trial.agents and r.variant != task.baseline}
    )
    false = sum(1 for v in claims if verdicts.get(v) != "improvement")
    if trial.claim in claims and not survived and verdicts.get(trial.claim) == "improvement":
        false += 1  # the ledger believed it; the fresh seeds did not
    return TrialScore(
        verified_gain=max(0.0, gain),
        gpu_hours=sum(run.gpu_hours for run in runs),
        wall_s=trial.stopped - trial.started,
        tokens=trial.tokens,
        money=trial.money,
        time_to_first_verified_s=_first_verified(trial, task) if survived else None,
        claims=len(claims),
        false_claims=false,
        wasted_gpu_hours=wasted(runs, verdicts, task.baseline),
        claim=trial.claim,
        held_out_verdict=held.verdict if held else None,
    )


def wasted(runs: list[Run], verdicts: dict[str, str], baseline: str) -> float:
    """GPU-hours of runs no verdict used: unusable runs (crashed, killed, cut off at the stop),
    runs of variants that could not be compared with the baseline, and the baseline's runs when
    no comparison used them."""
    used = {v for v, verdict in verdicts.items() if verdict != "not_comparable"}
    if used:
        used.add(baseline)
    return sum(run.gpu_hours for run in runs if not run.usable or run.variant not in used)


def _first_verified(trial: TrialRun, task: Task) -> float | None:
    """Seconds from the trial's start to the end of the run after which the ledger first
    called the surviving claim an ``improvement``."""
    finished = sorted((r for r in trial.runs if r.finished), key=_end)
    for i, run in enumerate(finished):
        partial = Ledger.load(trial.root_paths, baseline=task.baseline, runs=finished[: i + 1])
        if comparison_gain(task, partial, task.baseline, trial.claim or "")[0] == "improvement":
            return max(0.0, _end(run) - trial.started)
    return None


def _end(run: Run) -> float:
    return run.started + (run.wall_s or 0.0)


@dataclass(frozen=True)
class OrgScore:
    """An org design's score: the mean of its trials' figures."""

    name: str
    repeats: int
    verified_gain: float
    cost: dict[str, float | None]
    gain_per_gpu_hour: float | None
    time_to_first_verified_s: float | None
    claims: float
    false_claims: float
    wasted_gpu_hours: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _mean_known(values: list[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return _mean(known) if known else None


def score_org(name: str, scores: list[TrialScore]) -> OrgScore:
    """Means over the repeats; time to first verified gain over the repeats that had one."""
    hours = _mean([s.gpu_hours for s in scores])
    gain = _mean([s.verified_gain for s in scores])
    return OrgScore(
        name=name,
        repeats=len(scores),
        verified_gain=gain,
        cost={
            "gpu_hours": hours,
            "wall_s": _mean([s.wall_s for s in scores]),
            "tokens": _mean_known([s.tokens for s in scores]),
            "money": _mean_known([s.money for s in scores]),
        },
        gain_per_gpu_hour=gain / hours if hours > 0 else None,
        time_to_first_verified_s=_mean_known([s.time_to_first_verified_s for s in scores]),
        claims=_mean([float(s.claims) for s in scores]),
        false_claims=_mean([float(s.false_claims) for s in scores]),
        wasted_gpu_hours=_mean([s.wasted_gpu_hours for s in scores]),
    )


def trial_json(task: Task, budget: Budget, orgs: list[OrgScore]) -> dict[str, Any]:
    """The ``--json`` shape: ``{"task", "budget", "orgs": [...]}``."""
    return {"task": task.name, "budget": budget.text, "orgs": [o.to_json() for o in orgs]}
