"""Jobs asked for from the command line (``orgtui run``, ``orgtui rerun``): made, submitted,
and waited for.

Every seed becomes a job in the queue, with the exact code it runs: the commit of the work tree
it was asked from, or a snapshot of that tree (``refs/orgtui/runs/<run id>``) when it had
uncommitted changes. With a supervisor listening, its scheduler runs the jobs and the caller
only follows them: their states, and each run's ``output.log`` as it grows. Without one,
waiting means running them here, one after another, on the ``inline`` slot, as ``orgtui run``
always did; Ctrl-C then kills the seed at hand and cancels the rest.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orgtui.errors import OrgtuiError
from orgtui.ledger.runner import (
    RunPlan,
    SeedResult,
    check_plan,
    end_job,
    new_run_id,
    run_job,
)
from orgtui.ledger.verdicts import LedgerError
from orgtui.paths import OrgPaths
from orgtui.queue.engine import INLINE, Slot, claim
from orgtui.queue.jobs import (
    PRIORITY,
    Job,
    JobKind,
    JobState,
    QueueError,
    cancel,
    load_job,
    new_batch_id,
    new_job_id,
    transition,
)

Say = Callable[[str], object]
POLL_S = 0.2
"""How often a waiting ``orgtui run`` looks at its jobs and their output."""
HINT_AFTER_S = 10.0
"""Queued this long with no supervisor answering: say that the jobs wait for one."""
SNAPSHOT_REFS = "refs/orgtui/runs/"


def supervisor_listening(paths: OrgPaths) -> bool:
    """Whether a supervisor answers on the control socket (one slow to answer counts)."""
    from orgtui.supervisor.control import ControlError, NotRunning, request

    try:
        request(paths, {"verb": "status"}, timeout=5.0)
    except NotRunning:
        return False
    except ControlError:
        return True
    return True


def _work_tree_top(path: Path) -> Path | None:
    """The top of the git work tree holding ``path`` (where its ``.git`` is)."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def plan_jobs(paths: OrgPaths, plan: RunPlan, cwd: Path, *, post_result: bool) -> list[Job]:
    """One job per seed of ``plan``, at the exact code of the work tree at ``cwd``.

    Raises:
        LedgerError: a bad plan, or a dirty tree without ``allow_dirty``.
        GitError: the dirty tree cannot be snapshotted.
    """
    from orgtui.supervisor.worktrees import snapshot_tree, tree_state

    check_plan(plan)
    branch, commit, dirty = tree_state(cwd)
    if dirty and not plan.allow_dirty:
        raise LedgerError(
            "the work tree has uncommitted changes, so the run could not be repeated from its "
            "commit: commit them first, or pass --allow-dirty (the tree is then snapshotted "
            "and the run flagged dirty_tree)"
        )
    seeds = range(plan.seed_start, plan.seed_start + plan.seeds)
    run_ids = [new_run_id(plan.variant, seed) for seed in seeds]
    top = _work_tree_top(cwd) if commit else None
    workdir = os.path.relpath(cwd, top) if top else str(cwd)
    refs: dict[str, str | None] = dict.fromkeys(run_ids)
    if dirty and top is not None:
        refs = {run_id: f"{SNAPSHOT_REFS}{run_id}" for run_id in run_ids}
        message = f"orgtui: {plan.variant} on a dirty tree (runs {', '.join(run_ids)})"
        commit = snapshot_tree(top, [ref for ref in refs.values() if ref], message)
    batch = new_batch_id()
    return [
        Job(
            id=new_job_id(),
            variant=plan.variant,
            seed=seed,
            command=tuple(plan.command),
            run_id=run_id,
            commit=commit,
            agent=plan.agent,
            branch=branch,
            dirty=dirty,
            snapshot_ref=refs[run_id],
            kind=JobKind.REQUEST,
            priority=PRIORITY[JobKind.REQUEST],
            batch=batch,
            thread=plan.thread or plan.variant,
            proposal=plan.proposal,
            post_result=post_result,
            workdir="" if workdir == "." else workdir,
        )
        for seed, run_id in zip(seeds, run_ids, strict=True)
    ]


# ------------------------------------------------------------------------------ running here


def run_inline(
    paths: OrgPaths, batch: Sequence[Job], say: Say, here: Path | None, *, echo: bool = True
) -> list[Job]:
    """Claim and run the jobs in this process, one after another; returns them as they ended.

    ``here`` is where the commands run (the caller's own work tree); None runs each in a
    checkout of its commit. A job someone else claimed first (a supervisor started meanwhile)
    is followed instead. ``echo``: the commands' output on our stdout too (else only in each
    run's output.log).

    Raises:
        KeyboardInterrupt: after Ctrl-C killed the seed at hand and cancelled the rest.
        LedgerError: a command that cannot start (the remaining jobs are cancelled).
    """
    n = len(batch)
    try:
        for k, job in enumerate(batch, 1):
            _run_one(paths, job, k, n, say, here, echo)
    except BaseException:
        _cancel_queued(paths, batch, "not run: its batch stopped at an earlier seed")
        raise
    return [_current(paths, job) for job in batch]


def _run_one(
    paths: OrgPaths, job: Job, k: int, n: int, say: Say, here: Path | None, echo: bool
) -> None:
    mine = claim(paths, job, Slot(INLINE), engine_id=str(os.getpid()))
    if mine is None:
        follow(paths, [job], say, first=k, total=n)
        return
    say(f"[{k}/{n}] run {job.run_id} (variant {job.variant}, seed {job.seed})")
    try:
        result = _run_here(paths, mine, here, echo)
    except KeyboardInterrupt:
        end_job(paths, mine, None, cancelled=True, reason="interrupted (Ctrl-C): run killed")
        left = n - k
        say(f"interrupted: run {job.run_id} killed" + (f", {left} seed(s) not run" if left else ""))
        raise
    except (OrgtuiError, OSError) as error:
        end_job(paths, mine, None, reason=str(error))
        raise
    end_job(paths, mine, result.exit_code, cancelled=result.cancelled)
    if result.cancelled:
        say(f"run {job.run_id} cancelled")
    elif result.exit_code != 0:
        say(f"run {job.run_id} exited with code {result.exit_code}")


def _run_here(paths: OrgPaths, job: Job, here: Path | None, echo: bool) -> SeedResult:
    if here is not None:
        return run_job(paths, job, here, echo=echo)
    from orgtui.queue.worker import checked_out

    with checked_out(paths, job) as cwd:
        return run_job(paths, job, cwd, echo=echo)


def _cancel_queued(paths: OrgPaths, batch: Sequence[Job], reason: str) -> int:
    """Cancel the jobs of ``batch`` still queued; how many were."""
    cancelled = 0
    for job in batch:
        done = transition(
            paths,
            job.id,
            (JobState.QUEUED,),
            state=JobState.CANCELLED,
            ended=time.time(),
            reason=reason,
        )
        cancelled += done is not None
    return cancelled


# --------------------------------------------------------------------------- following


def _current(paths: OrgPaths, job: Job) -> Job:
    """The job as its file has it now; a file gone or broken ends the wait for it."""
    found = load_job(paths.job_file(job.id))
    if isinstance(found, Job):
        return found
    problem = "its queue file is gone" if not paths.job_file(job.id).exists() else found.problem
    return job.with_changes(state=JobState.FAILED, reason=f"lost: {problem}")


class _Follower:
    """Streams the jobs' output logs in order, each one whole, and announces each start."""

    def __init__(self, paths: OrgPaths, batch: Sequence[Job], say: Say, first: int, total: int):
        self.paths, self.batch, self.say = paths, list(batch), say
        self.first, self.total = first, total
        self.announced: set[str] = set()
        self.offset = 0
        self.at = 0
        """Index of the job whose output streams now."""

    def step(self, now: list[Job]) -> bool:
        """Announce, stream, move on; True when every job has ended and been streamed."""
        for k, job in enumerate(now):
            if job.started is not None and job.id not in self.announced:
                self.announced.add(job.id)
                self.say(
                    f"[{self.first + k}/{self.total}] run {job.run_id} "
                    f"(variant {job.variant}, seed {job.seed}) on {job.slot}"
                )
        while self.at < len(now):
            job = now[self.at]
            self._pump(job)
            if not job.state.finished:
                return False
            if job.state != JobState.DONE:
                self.say(f"job {job.id} (run {job.run_id}) {job.state}: {job.reason or '-'}")
            self.at += 1
            self.offset = 0
        return True

    def _pump(self, job: Job) -> None:
        from orgtui.ledger.runner import OUTPUT_FILE

        try:
            with open(self.paths.run_dir(job.run_id) / OUTPUT_FILE, "rb") as log:
                log.seek(self.offset)
                data = log.read()
        except OSError:
            return
        if data:
            self.offset += len(data)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()


def follow(
    paths: OrgPaths, batch: Sequence[Job], say: Say, *, first: int = 1, total: int | None = None
) -> list[Job]:
    """Wait for jobs someone else runs, streaming their output; returns them as they ended.

    Ctrl-C cancels the jobs (a running one is stopped by whoever runs it), waits until they
    have ended, and is raised again; a second Ctrl-C stops waiting.
    """
    follower = _Follower(paths, batch, say, first, total or len(batch))
    since = time.monotonic()
    hinted = False
    try:
        while True:
            now = [_current(paths, job) for job in batch]
            if follower.step(now):
                return now
            waiting = all(job.state == JobState.QUEUED for job in now)
            if waiting and not hinted and time.monotonic() - since > HINT_AFTER_S:
                hinted = True
                if not supervisor_listening(paths):
                    say("no supervisor is running: the jobs wait until it is up (`orgtui up`)")
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        say("interrupted: cancelling " + ", ".join(job.id for job in batch))
        for job in batch:
            with contextlib.suppress(QueueError):  # already ended
                cancel(paths, job.id, "interrupted (Ctrl-C)")
        while not all(_current(paths, job).state.finished for job in batch):
            time.sleep(POLL_S)
        raise


def wait_for(paths: OrgPaths, batch: Sequence[Job], say: Say, here: Path | None) -> list[Job]:
    """Follow the jobs when a supervisor runs them, else run them here."""
    if supervisor_listening(paths):
        return follow(paths, batch, say)
    return run_inline(paths, batch, say, here)


# ------------------------------------------------------------------------------ reruns


def rerun_job(
    paths: OrgPaths,
    run_id: str,
    *,
    seed: int | None = None,
    variant: str | None = None,
    agent: str | None = None,
    post_result: bool = False,
) -> Job:
    """A job that runs ``run_id``'s command again at its exact commit.

    Raises:
        QueueError: no such run, or one that recorded no commit or a usable command.
    """
    from orgtui.ledger.runner import MAX_SEED
    from orgtui.names import check_name

    meta = _run_record(paths, run_id)
    commit = meta.get("commit")
    if not isinstance(commit, str) or not commit.strip():
        raise QueueError(
            f"run {run_id} recorded no commit (it ran outside git, or before orgtui recorded "
            "commits): there is no exact code to rerun it from"
        )
    command = meta.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise QueueError(f"{paths.run_dir(run_id)}/run.json: no command recorded to rerun")
    if "[redacted]" in " ".join(command):
        raise QueueError(
            f"run {run_id}'s command had a secret in its arguments (stored redacted): pass "
            "secrets through the environment, then rerun it by hand with `orgtui run`"
        )
    original = meta.get("variant")
    name = check_name(variant or f"{original}-rerun", "variant")
    recorded_seed = meta.get("seed")
    chosen = seed if seed is not None else recorded_seed
    if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen <= MAX_SEED:
        raise QueueError(f"seed {chosen!r} is not a whole number in 0..{MAX_SEED}: give --seed N")
    workdir = meta.get("workdir")
    new_run = new_run_id(name, chosen)
    return Job(
        id=new_job_id(),
        variant=name,
        seed=chosen,
        command=tuple(command),
        run_id=new_run,
        commit=commit,
        agent=agent,
        snapshot_ref=meta.get("snapshot_ref")
        if isinstance(meta.get("snapshot_ref"), str)
        else None,
        kind=JobKind.RERUN,
        priority=PRIORITY[JobKind.RERUN],
        batch=new_batch_id(),
        thread=name,
        post_result=post_result,
        reason=f"rerun of {run_id}",
        workdir=workdir if isinstance(workdir, str) and not os.path.isabs(workdir) else "",
    )


def _run_record(paths: OrgPaths, run_id: str) -> dict:
    import json

    from orgtui.atomic import NotRegularFile, read_regular
    from orgtui.ledger.runs import MAX_META_BYTES, META_FILE

    try:
        path = paths.run_dir(run_id) / META_FILE
    except OrgtuiError:
        raise QueueError(
            f"{run_id!r} is not a run id (run ids are the names in {paths.runs_dir})"
        ) from None
    try:
        data = json.loads(read_regular(path, MAX_META_BYTES))
    except FileNotFoundError:
        raise QueueError(
            f"no run {run_id!r} in {paths.runs_dir}: `ls {paths.runs_dir}` lists the run ids"
        ) from None
    except (OSError, NotRegularFile, ValueError, RecursionError) as error:
        raise QueueError(f"{path}: unreadable ({error})") from None
    if not isinstance(data, dict):
        raise QueueError(f"{path}: not a JSON object")
    return data
