"""One trial: an org design on a task, in its own repo, tmux server and ``.org/``, stopped when
its budget is spent (or when it has gone quiet), then its best claim re-verified on fresh seeds.

The org's record (its runs, its adoptions) is read when it stops; the held-out runs come after
and are kept apart by run id, so they never count as the org's spending.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from orgtui.agentstatus import failed_playbooks
from orgtui.config import OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.ledger import Ledger, Run, load_runs
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job
from orgtui.tasks import Task
from orgtui.trial.budget import Budget
from orgtui.trial.setup import TrialError, build_trial_repo, design_name

Say = Callable[[str], object]
POLL_S = 1.0
QUIET_S = 3.0
"""Every agent idle, nothing queued or running and nothing posted or submitted this long: the
org has stopped working (an idle agent is nudged about a new message within a supervisor
tick, and a new message or job starts the wait again)."""
STOP_WAIT_S = 60.0
HELD_OUT_SEED = 1000
"""Held-out seeds start here (or above every seed the org used)."""
CLAIM, BASELINE = "heldout-claim", "heldout-baseline"


@dataclass(frozen=True)
class HeldOut:
    """The held-out rerun of one claim: the verdict of the claim against the baseline, both
    run from their exact commits on fresh seeds."""

    variant: str
    seeds: tuple[int, ...]
    verdict: str
    delta: float | None
    """Claim minus baseline in the metric's units (sign as the metric goes)."""
    run_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrialRun:
    """What one trial of one org design left: the org's runs, timings and the held-out check."""

    design: str
    repeat: int
    root: Path
    started: float
    stopped: float
    stop_reason: str
    runs: tuple[Run, ...]
    agents: tuple[str, ...]
    claim: str | None
    held_out: HeldOut | None
    tokens: int | None = None
    money: float | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def root_paths(self) -> OrgPaths:
        return OrgPaths(self.root)


def socket_for(design: str, repeat: int) -> str:
    return f"trial-{os.getpid()}-{design}-{repeat}"[:60]


def run_trial(
    config: OrgConfig,
    task: Task,
    budget: Budget,
    target: Path,
    repeat: int,
    say: Say = print,
) -> TrialRun:
    """Build, start, watch, stop and re-verify one trial of ``config`` on ``task``."""
    from orgtui.demo import orgtui_cli

    design = design_name(config)
    base = build_trial_repo(target, config, task)
    socket = socket_for(design, repeat)
    paths = OrgPaths(target)
    started = time.time()
    up = orgtui_cli(target, socket, "up")
    if up.returncode != 0:
        orgtui_cli(target, socket, "down")
        raise TrialError(f"{target}: orgtui up failed: {(up.stderr or up.stdout).strip()}")
    say(f"{design} #{repeat}: org up in {target} (tmux -L {socket}), budget {budget.text}")
    try:
        reason = watch(paths, config, budget, started)
    finally:
        orgtui_cli(target, socket, "down")
        end_jobs(paths)
    stopped = time.time()
    runs = tuple(load_runs(paths))
    say(f"{design} #{repeat}: stopped ({reason}) after {stopped - started:.0f}s, {len(runs)} runs")
    claim = best_claim(paths, task, list(runs))
    held = held_out(paths, task, base, claim, list(runs), say) if claim else None
    tokens, money = spend_of(config, paths)
    return TrialRun(
        design=design,
        repeat=repeat,
        root=target,
        started=started,
        stopped=stopped,
        stop_reason=reason,
        runs=runs,
        agents=config.agent_names,
        claim=claim,
        held_out=held,
        tokens=tokens,
        money=money,
        problems=tuple(
            f"{name}: {detail}"
            for name, detail in failed_playbooks(paths, config.agent_names).items()
        ),
    )


# ------------------------------------------------------------------------------ the org's life


Quiet = tuple[frozenset[str], int]
"""What a quiet org has: the board's message ids and how many jobs the queue holds."""


def watch(paths: OrgPaths, config: OrgConfig, budget: Budget, started: float) -> str:
    """Wait until the budget is spent or the org has gone quiet; returns which."""
    quiet_since: float | None = None
    last: Quiet | None = None
    while True:
        time.sleep(POLL_S)
        now = time.time()
        runs = load_runs(paths)
        hours = sum(run.gpu_hours for run in runs)
        money = spend_of(config, paths)[1] if budget.unit == "money" else None
        if budget.spent(now - started, hours, money):
            return f"budget {budget.text} spent"
        state = quiet(paths, config)
        if state is None or state != last:
            quiet_since = None if state is None else now
        elif quiet_since is not None and now - quiet_since >= QUIET_S:
            return "the org went quiet: every agent idle, nothing queued"
        last = state


def quiet(paths: OrgPaths, config: OrgConfig) -> Quiet | None:
    """None while an agent is not idle or a job is queued or running; else the board and the
    queue as they stand (a change means the org is still at work)."""
    from orgtui.agentstatus import read_status
    from orgtui.board.store import message_ids
    from orgtui.queue.jobs import jobs

    for name in config.agent_names:
        status = read_status(paths, name)
        if status is None or status.state != "idle":
            return None
    queue = jobs(paths)
    if not all(job.state.finished for job in queue):
        return None
    return frozenset(message_ids(paths) or ()), len(queue)


def end_jobs(paths: OrgPaths) -> None:
    """Jobs outlive the supervisor: cancel what is left and wait until each has ended."""
    from orgtui.queue.jobs import QueueError, cancel, jobs

    for job in jobs(paths):
        if not job.state.finished:
            with contextlib.suppress(QueueError):
                cancel(paths, job.id, "the trial's budget is spent")
    deadline = time.monotonic() + STOP_WAIT_S
    while any(not job.state.finished for job in jobs(paths)):
        if time.monotonic() > deadline:
            raise TrialError(f"{paths.queue_dir}: jobs still running {STOP_WAIT_S:.0f}s after stop")
        time.sleep(0.2)


def spend_of(config: OrgConfig, paths: OrgPaths) -> tuple[int | None, float | None]:
    """Tokens and money the org's seats spent, as ``orgtui spend`` counts them; None when the
    seats keep no usage records (scripted agents) or they cannot be read."""
    try:
        from orgtui.spend.prices import price_table
        from orgtui.spend.report import collect, total
        from orgtui.spend.usage import UsageCollector

        UsageCollector(paths, lambda _line: None).collect(config.agent_names)
        spent = total(collect(paths, price_table(config.prices), [], config.agent_names))
    except (OrgtuiError, OSError, ValueError):
        return None, None
    tokens = spent.tokens.total
    return (tokens, spent.money.total) if tokens else (None, None)


# ------------------------------------------------------------------------------ the best claim


def comparison_gain(task: Task, ledger: Ledger, a: str, b: str) -> tuple[str, float | None]:
    """The verdict on ``b`` against ``a`` and how much ``b`` gains in the task's direction."""
    if a not in ledger.variants or b not in ledger.variants:
        return "not_comparable", None
    comparison = ledger.compare(a, b)
    delta = metric_delta(comparison)
    return comparison.verdict, None if delta is None else task.better(0.0, delta)


def metric_delta(comparison: object) -> float | None:
    """b - a in the metric's own units (``delta``, or ``delta_bpb`` before the ledger knew
    other metrics)."""
    for key in ("delta", "delta_bpb"):
        value = getattr(comparison, key, None)
        if isinstance(value, float | int):
            return float(value)
    return None


def best_claim(paths: OrgPaths, task: Task, runs: list[Run]) -> str | None:
    """The variant the org adopted last (if it ran it), else its best ``improvement``."""
    from orgtui.ledger.verdicts import ledger_state

    ran = {run.variant for run in runs if run.usable}
    adopted = ledger_state(paths).get("adopted")
    for entry in reversed(adopted if isinstance(adopted, list) else []):
        variant = entry.get("variant") if isinstance(entry, dict) else None
        if variant in ran and variant != task.baseline:
            return str(variant)
    ledger = Ledger.load(paths, baseline=task.baseline, runs=runs)
    gains = {}
    for variant in ledger.variants:
        if variant == task.baseline:
            continue
        verdict, gain = comparison_gain(task, ledger, task.baseline, variant)
        if verdict == "improvement" and gain is not None:
            gains[variant] = gain
    return max(gains, key=gains.__getitem__) if gains else None


# ------------------------------------------------------------------------------ held out


def held_out(
    paths: OrgPaths, task: Task, base: str, claim: str, runs: list[Run], say: Say
) -> HeldOut:
    """Rerun the claim from its exact commit and the task's baseline from the base commit, on
    ``task.seeds`` fresh seeds each, and judge the claim against the baseline on those alone."""
    from orgtui.queue.client import rerun_job
    from orgtui.queue.jobs import submit

    source = max((r for r in runs if r.variant == claim and r.usable), key=lambda r: r.started)
    first = max([HELD_OUT_SEED, *(run.seed + 1 for run in runs)])
    seeds = tuple(range(first, first + task.seeds))
    jobs = []
    for seed in seeds:
        mine = rerun_job(paths, source.run_id, seed=seed, variant=CLAIM, agent="trial")
        theirs = rerun_job(paths, source.run_id, seed=seed, variant=BASELINE, agent="trial")
        theirs = theirs.with_changes(
            command=task.command, commit=base, snapshot_ref=None, workdir="", reason="baseline"
        )
        jobs += [theirs, mine]
    say(f"held-out: {claim} (from run {source.run_id}) and {task.baseline}, seeds {seeds}")
    run_sides(paths, submit(paths, jobs))
    ids = {job.run_id for job in jobs}
    fresh = [run for run in load_runs(paths) if run.run_id in ids]
    ledger = Ledger.load(paths, baseline=BASELINE, runs=fresh)
    verdict, gain = comparison_gain(task, ledger, BASELINE, CLAIM)
    delta = None if gain is None else (-gain if task.direction == "min" else gain)
    say(f"held-out: {claim} vs {task.baseline}: {verdict}" + _gain_text(gain))
    return HeldOut(claim, seeds, verdict, delta, tuple(sorted(ids)))


def run_sides(paths: OrgPaths, jobs: list[Job]) -> None:
    """The baseline's seeds and the claim's, each side in one checkout of its commit, the two
    sides at once (checkouts are made one after the other: git is not asked twice at once)."""
    from orgtui.queue.client import run_inline
    from orgtui.queue.worker import checked_out

    sides = [[j for j in jobs if j.variant == name] for name in (BASELINE, CLAIM)]
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(sides)) as pool:
        places = [stack.enter_context(checked_out(paths, side[0])) for side in sides]
        done = [
            pool.submit(run_inline, paths, side, lambda _line: None, place, echo=False)
            for side, place in zip(sides, places, strict=True)
        ]
        for future in done:
            future.result()


def _gain_text(gain: float | None) -> str:
    return "" if gain is None else f", gain {gain:+.4g}"
