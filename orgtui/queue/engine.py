"""Where a job runs: an engine starts it on a slot, tells whether it still runs, and stops it.

The scheduler knows jobs and slots; only the engine knows processes. :class:`LocalEngine` runs
each job in a detached worker process on this machine (``python -m orgtui.queue.worker``), in
its own session with no terminal, so the run survives the supervisor being killed and the
SSH connection dropping; the Slurm engine (:mod:`orgtui.queue.slurm`) runs the same worker
through ``sbatch``.

A job claimed by ``orgtui run`` itself (no supervisor) runs in that process, on the
:data:`INLINE` slot: its ``engine_id`` is that process's pid, and the same engine can tell
whether it lives and stop its trainer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Protocol

from orgtui.atomic import ensure_private_dir
from orgtui.errors import OrgtuiError
from orgtui.ledger.runner import CLOCK_SLACK_S, STOP_GRACE_S, close_abandoned
from orgtui.paths import OrgPaths
from orgtui.procs import end_tree, identity, signal_tree
from orgtui.queue.jobs import Job, JobState, load_job, transition

INLINE = "inline"
"""The slot of a job that ``orgtui run`` runs in its own process."""
WORKER_GRACE_S = STOP_GRACE_S + 5.0
"""How long a stopped worker has to stop its trainer and record the end, before it is killed."""


class EngineError(OrgtuiError):
    """A job the engine could not start; the job is recorded failed with the reason."""


@dataclass(frozen=True)
class Ending:
    """How something outside the org ended a job (a cluster's time limit, preemption,
    ``scancel``, a node failure): its run's status (``killed`` or ``crash``) and why."""

    status: str
    reason: str
    preempted: bool = False


def close_run(paths: OrgPaths, job: Job, ending: Ending | None) -> None:
    """Close the run of a job whose worker is gone: as ``ending`` says, else ``killed``."""
    if ending is None:
        close_abandoned(paths, job)
    else:
        close_abandoned(paths, job, ending.status, ending.reason)


class EngineUnavailable(EngineError):
    """The engine cannot take jobs now (its cluster does not answer); the job stays queued."""


@dataclass(frozen=True)
class Slot:
    """A place one job runs: ``gpu3`` (that GPU only), ``cpu0``, or ``inline``."""

    name: str
    gpu: int | None = None


class Engine(Protocol):
    """What the scheduler needs from wherever jobs run."""

    name: str

    def start(self, job: Job, slot: Slot) -> Job | None:
        """Claim a queued job for ``slot`` and launch it; the job as running, or None when it
        was no longer queued (someone else claimed or cancelled it first).

        Raises:
            EngineError: the launch failed; the job is then recorded failed with the reason.
        """
        ...

    def alive(self, job: Job) -> bool:
        """Whether what runs the job still runs (False for a job not started by an engine)."""
        ...

    def stop(self, job: Job) -> None:
        """Stop a running job and wait until it has; afterwards the job is no longer running."""
        ...

    def ending(self, job: Job) -> Ending | None:
        """How something outside the org ended the job; None when nothing did."""
        ...


def claim(paths: OrgPaths, job: Job, slot: Slot, engine_id: str | None = None) -> Job | None:
    """queued -> running on ``slot``; None when the job was no longer queued."""
    return transition(
        paths,
        job.id,
        (JobState.QUEUED,),
        state=JobState.RUNNING,
        slot=slot.name,
        started=time.time(),
        engine_id=engine_id,
    )


class LocalEngine:
    """Jobs as detached worker processes on this machine; ``engine_id`` is the worker's pid."""

    name = "local"

    def __init__(self, paths: OrgPaths, cpu_slots: int = 1) -> None:
        self.paths = paths
        self.cpu_slots = max(1, cpu_slots)
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        """Workers this engine started, polled so that an ended one is reaped."""

    def start(self, job: Job, slot: Slot) -> Job | None:
        claimed = claim(self.paths, job, slot)
        if claimed is None:
            return None
        try:
            process = self._launch(claimed, slot)
        except OSError as error:
            reason = f"cannot start the worker: {error.strerror or error}"
            transition(
                self.paths,
                job.id,
                (JobState.RUNNING,),
                state=JobState.FAILED,
                ended=time.time(),
                reason=reason,
            )
            raise EngineError(f"job {job.id}: {reason}") from None
        self._children[process.pid] = process
        engine_id = str(process.pid)
        # The worker may have ended already; then its own record stands.
        recorded = transition(self.paths, job.id, (JobState.RUNNING,), engine_id=engine_id)
        return recorded or claimed.with_changes(engine_id=engine_id)

    def _launch(self, job: Job, slot: Slot) -> subprocess.Popen[bytes]:
        env = os.environ | {"ORGTUI_SLOT": slot.name, "ORGTUI_ROOT": str(self.paths.root)}
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
        else:  # a CPU slot: no GPU, and its share of the cores rather than all of them each
            env["CUDA_VISIBLE_DEVICES"] = ""
            threads = max(1, (os.cpu_count() or 1) // self.cpu_slots)
            env.setdefault("OMP_NUM_THREADS", str(threads))
        ensure_private_dir(self.paths.logs_dir)
        argv = [sys.executable, "-m", "orgtui.queue.worker", "--root", str(self.paths.root)]
        with open(self.paths.worker_log(job.id), "ab") as log:
            return subprocess.Popen(
                [*argv, job.id],
                cwd=self.paths.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # no terminal, no SIGHUP, not in the supervisor's group
                close_fds=True,
            )

    def alive(self, job: Job) -> bool:
        pid = _pid(job.engine_id)
        if pid is None or job.started is None:
            return False
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            del self._children[pid]  # reaped: a zombie of ours is not alive
            return False
        facts = identity(pid)
        if facts is None:
            return False
        born, cmdline = facts
        if job.slot == INLINE:  # `orgtui run` existed before it claimed the job
            return born <= job.started + CLOCK_SLACK_S
        # A worker starts just after the claim, and names its job on its command line; a
        # later process given the same pid does neither.
        return born >= job.started - CLOCK_SLACK_S and job.id in cmdline

    def stop(self, job: Job) -> None:
        pid = _pid(job.engine_id)
        if pid is not None and self.alive(job):
            if job.slot == INLINE:  # `orgtui run` stops its own trainer on a cancel request
                self._ask_cancel(job)
                self._wait_ended(job, WORKER_GRACE_S)
            else:
                end_tree(pid, lambda: _interrupt_tree(pid), WORKER_GRACE_S)
                child = self._children.pop(pid, None)
                if child is not None:
                    child.poll()
        if self.alive(job):
            return
        close_abandoned(self.paths, job)  # its trainer may have outlived it
        transition(  # gone without recording its end (killed hard, or never started)
            self.paths,
            job.id,
            (JobState.RUNNING,),
            state=JobState.CANCELLED if cancel_asked(self.paths, job) else JobState.FAILED,
            ended=time.time(),
            reason=job.reason or "stopped: its process ended without recording the end",
        )

    def ending(self, job: Job) -> Ending | None:
        return None  # nothing but the org itself stops a local worker

    def _ask_cancel(self, job: Job) -> None:
        if not cancel_asked(self.paths, job):
            transition(self.paths, job.id, (JobState.RUNNING,), reason="cancel: stopped")

    def _wait_ended(self, job: Job, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive(job):
            current = load_job(self.paths.job_file(job.id))
            if not isinstance(current, Job) or current.state != JobState.RUNNING:
                return
            time.sleep(0.1)


def _pid(engine_id: str | None) -> int | None:
    if engine_id is None or not engine_id.isdigit() or len(engine_id) > 10:
        return None
    pid = int(engine_id)
    return pid if 0 < pid < 2**31 else None


def _interrupt_tree(pid: int) -> None:
    """SIGINT to the worker and everything below it, as a terminal's Ctrl-C would."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)
    signal_tree(pid, signal.SIGINT)


def cancel_asked(paths: OrgPaths, job: Job) -> bool:
    """Whether the job's file says someone asked to cancel it (read now, not from ``job``)."""
    current = load_job(paths.job_file(job.id))
    return isinstance(current, Job) and current.reason.startswith("cancel:")
