"""Jobs on a Slurm cluster: the org's queue submits each job with ``sbatch`` and follows it.

The only module that runs Slurm's tools (``sbatch``, ``squeue``, ``scancel``, ``sinfo``).
Each queued job becomes one Slurm job named ``orgtui-<job id>`` that runs the same worker a
local slot runs (``python -m orgtui.queue.worker``), so the run lands in ``.org/runs/`` on the
shared file system exactly as it does locally; Slurm sets ``CUDA_VISIBLE_DEVICES``.

``squeue`` is read in its text form with ``--me``: its ``--json`` form ignores job filters and
changed shape between Slurm releases (a job's state is a string in 22.05, a list from 23.02),
while ``--format`` fields have been stable for a decade. One ``squeue`` call serves every job
for :data:`POLL_S`; when the controller does not answer, jobs are assumed to live on (a
controller restart must not close running jobs) and it is asked again after
:data:`UNREACHABLE_RETRY_S`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orgtui.atomic import atomic_write_json, ensure_private_dir
from orgtui.config import SlurmSpec
from orgtui.paths import OrgPaths
from orgtui.queue.engine import (
    WORKER_GRACE_S,
    Ending,
    EngineUnavailable,
    Slot,
    cancel_asked,
    claim,
    close_run,
)
from orgtui.queue.jobs import Job, JobState, load_job, transition

COMMAND_TIMEOUT_S = 30.0
"""How long one Slurm command may take (a down controller answers after ~10 s of retries)."""
POLL_S = 2.0
"""One ``squeue`` serves every question about the org's jobs for this long."""
UNREACHABLE_RETRY_S = 15.0
"""After a failed ``squeue``, how long before the controller is asked again."""
NAME_PREFIX = "orgtui-"
LIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "STOPPED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "SPECIAL_EXIT",
    }
)
KILLED_STATES = frozenset({"CANCELLED", "TIMEOUT", "PREEMPTED", "DEADLINE"})
"""Slurm ended the job from outside: its run is ``killed``."""
CRASH_STATES = frozenset({"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"})
"""The job or its node failed: its run is a ``crash``."""
WHY = {
    "CANCELLED": "cancelled (scancel)",
    "TIMEOUT": "its time limit was reached",
    "PREEMPTED": "preempted",
    "DEADLINE": "its deadline passed",
    "FAILED": "failed",
    "NODE_FAIL": "its node failed",
    "OUT_OF_MEMORY": "out of memory",
    "BOOT_FAIL": "its node failed to boot",
}
_FORMAT = "%i|%j|%T|%r|%S|%e"


class SlurmError(EngineUnavailable):
    """A Slurm command failed or could not be run; the message says which and why."""


@dataclass(frozen=True)
class SlurmJob:
    """One line of ``squeue``: what Slurm says about one of the org's jobs."""

    id: str
    name: str
    state: str
    reason: str = ""
    start: float | None = None
    end: float | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def job_id(self) -> str | None:
        """The org's job this Slurm job runs (from its name)."""
        return self.name[len(NAME_PREFIX) :] if self.name.startswith(NAME_PREFIX) else None

    @property
    def ending(self) -> Ending | None:
        """How Slurm ended it from outside, or how it failed there; None otherwise."""
        if self.state not in KILLED_STATES and self.state not in CRASH_STATES:
            return None
        return Ending(
            status="killed" if self.state in KILLED_STATES else "crash",
            reason=f"Slurm job {self.id} {WHY[self.state]} ({self.state})",
            preempted=self.state == "PREEMPTED",
        )


# --------------------------------------------------------------------------- the tools


def _slurm(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run one Slurm command; its stdout.

    Raises:
        SlurmError: not installed, no answer in time, or a non-zero exit (with its message).
    """
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT_S,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SlurmError(
            f"`{argv[0]}` is not on PATH: install Slurm's client tools on this host, or set "
            '[compute] engine = "local" in org.toml'
        ) from None
    except subprocess.TimeoutExpired:
        raise SlurmError(
            f"`{argv[0]}` did not answer in {COMMAND_TIMEOUT_S:g} s: is slurmctld up?"
        ) from None
    except OSError as error:
        raise SlurmError(f"`{argv[0]}` cannot be run: {error.strerror or error}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise SlurmError(f"`{argv[0]}` failed: {detail}")
    return done.stdout


def sbatch_argv(spec: SlurmSpec, paths: OrgPaths, job: Job, python: str) -> list[str]:
    """The ``sbatch`` command line that runs ``job``'s worker on the cluster."""
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={NAME_PREFIX}{job.id}",
        f"--output={paths.worker_log(job.id)}",
        "--open-mode=append",
        f"--chdir={paths.root}",
        "--no-requeue",  # a preempted job is resubmitted by the org, as a new run
    ]
    if spec.partition:
        argv.append(f"--partition={spec.partition}")
    if spec.account:
        argv.append(f"--account={spec.account}")
    if spec.time:
        argv.append(f"--time={spec.time}")
    if spec.gpus:
        argv.append(f"--gres=gpu:{spec.gpus}")
    if spec.cpus:
        argv.append(f"--cpus-per-task={spec.cpus}")
    worker = [python, "-m", "orgtui.queue.worker", "--root", str(paths.root), job.id]
    return [*argv, *spec.extra, f"--wrap=exec {shlex.join(worker)}"]


def submit(spec: SlurmSpec, paths: OrgPaths, job: Job, python: str = sys.executable) -> str:
    """Submit ``job``'s worker; its Slurm job id. With ``cpus`` set, the job gets
    ``OMP_NUM_THREADS`` = cpus unless the environment already says.

    Raises:
        SlurmError: sbatch is missing, the controller is down, or it refused the job.
    """
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env |= {"ORGTUI_ROOT": str(paths.root), "ORGTUI_SLOT": job.slot or "slurm"}
    if spec.cpus:  # its own CPUs, not a thread per core of the node for every job on it
        env.setdefault("OMP_NUM_THREADS", str(spec.cpus))
    ensure_private_dir(paths.logs_dir)
    out = _slurm(sbatch_argv(spec, paths, job, python), env).strip()
    slurm_id = out.split(";", 1)[0].strip()
    if not slurm_id.isdigit():
        raise SlurmError(f"`sbatch` answered {out[:200]!r}, not a job id")
    return slurm_id


def own_jobs() -> dict[str, SlurmJob]:
    """The org's jobs Slurm still knows (ended ones for a few minutes), by Slurm job id.

    Raises:
        SlurmError: squeue is missing or the controller does not answer.
    """
    out = _slurm(["squeue", "--noheader", "--me", "--states=all", f"--format={_FORMAT}"])
    jobs: dict[str, SlurmJob] = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 6 or not parts[1].startswith(NAME_PREFIX):
            continue
        slurm_id, name, state, reason, start, end = parts
        job = SlurmJob(slurm_id, name, state.split()[0] if state else "", reason)
        jobs[slurm_id] = SlurmJob(
            **{**job.__dict__, "start": _when(start), "end": _when(end) if not job.live else None}
        )
    return jobs


def _when(text: str) -> float | None:
    """A time as squeue prints it (local ISO time), or None for N/A, Unknown, None."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        return None


def scancel(slurm_id: str) -> None:
    """Cancel one Slurm job (Slurm signals it: SIGTERM, then SIGKILL after KillWait).

    Raises:
        SlurmError: scancel is missing or the controller does not answer.
    """
    _slurm(["scancel", slurm_id])


def partitions() -> dict[str, str]:
    """``sinfo``'s partitions as it names them (the default one ends in ``*``: ``debug*``)
    and the GRES of each (``gpu:4``, or ``(null)``).

    Raises:
        SlurmError: sinfo is missing or the controller does not answer.
    """
    found: dict[str, str] = {}
    for line in _slurm(["sinfo", "--noheader", "--format=%P|%G"]).splitlines():
        name, _, gres = line.strip().partition("|")
        if name:
            found.setdefault(name, gres)
    return found


def default_partition(names: Sequence[str]) -> str | None:
    """Which of sinfo's raw partition names is the default (``debug*``)."""
    return next((name.rstrip("*") for name in names if name.endswith("*")), None)


# --------------------------------------------------------------------------- the engine


@dataclass
class _Poll:
    """The last ``squeue`` answer, or why there was none."""

    jobs: dict[str, SlurmJob] = field(default_factory=dict)
    at: float | None = None
    """time.monotonic() of the last answer."""
    error: str | None = None
    failed_at: float | None = None


class SlurmEngine:
    """Jobs as Slurm jobs; ``engine_id`` is the Slurm job id."""

    name = "slurm"

    def __init__(self, paths: OrgPaths, spec: SlurmSpec, python: str = sys.executable) -> None:
        self.paths = paths
        self.spec = spec
        self.python = python
        self.poll = _Poll()
        self._written: dict[str, Any] | None = None

    # -- the Engine interface ------------------------------------------------------------
    def start(self, job: Job, slot: Slot) -> Job | None:
        claimed = claim(self.paths, job, slot)
        if claimed is None:
            return None
        try:
            slurm_id = submit(self.spec, self.paths, claimed, self.python)
        except SlurmError as error:
            transition(  # not submitted: back in the queue, as it was
                self.paths,
                job.id,
                (JobState.RUNNING,),
                state=JobState.QUEUED,
                slot=None,
                started=None,
            )
            self._unreachable(str(error))
            raise SlurmError(f"job {job.id} stays queued: {error}") from None
        self.poll.jobs[slurm_id] = SlurmJob(slurm_id, f"{NAME_PREFIX}{job.id}", "PENDING")
        self._reachable()
        recorded = transition(self.paths, job.id, (JobState.RUNNING,), engine_id=slurm_id)
        return recorded or claimed.with_changes(engine_id=slurm_id)

    def alive(self, job: Job) -> bool:
        if job.started is None:
            return False
        jobs = self._jobs()
        if jobs is None:  # the controller does not answer: nothing is known to have ended
            return True
        found = self._locate(job, jobs)
        return found is not None and found.live

    def stop(self, job: Job) -> None:
        jobs = self._jobs()
        if jobs is None:  # cannot reach the controller: the job is left running, as it is
            return
        found = self._locate(job, jobs)
        if found is not None and found.live:
            scancel(found.id)
            deadline = time.monotonic() + WORKER_GRACE_S
            while time.monotonic() < deadline and self._still_running(job):
                time.sleep(0.5)
                self.poll.at = None  # ask again
        if self.alive(job):
            return
        ending = self.ending(job)
        close_run(self.paths, job, ending)
        asked = cancel_asked(self.paths, job)
        transition(
            self.paths,
            job.id,
            (JobState.RUNNING,),
            state=JobState.CANCELLED if asked else JobState.FAILED,
            ended=time.time(),
            reason=job.reason if asked else (ending.reason if ending else "stopped (scancel)"),
        )

    def ending(self, job: Job) -> Ending | None:
        found = self._locate(job, self.poll.jobs)
        if found is None or found.live:  # asked as it ends: what squeue says now
            self.poll.at = None
            found = self._locate(job, self._jobs() or {})
        return found.ending if found is not None else None

    # -- following -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What ``.org/engine.json`` holds: reachable or not, and each job's Slurm state."""
        return {
            "engine": self.name,
            "reachable": self.poll.error is None,
            "error": self.poll.error,
            "jobs": {
                job.job_id: {"slurm_id": job.id, "state": job.state, "reason": job.reason}
                for job in self.poll.jobs.values()
                if job.job_id
            },
        }

    def _locate(self, job: Job, jobs: Mapping[str, SlurmJob]) -> SlurmJob | None:
        if job.engine_id is not None:
            return jobs.get(job.engine_id)
        # submitted by a supervisor that died before it could record the Slurm job id
        name = f"{NAME_PREFIX}{job.id}"
        found = next((each for each in jobs.values() if each.name == name), None)
        if found is not None:
            transition(self.paths, job.id, (JobState.RUNNING,), engine_id=found.id)
        return found

    def _still_running(self, job: Job) -> bool:
        current = load_job(self.paths.job_file(job.id))
        return isinstance(current, Job) and current.state == JobState.RUNNING and self.alive(job)

    def _jobs(self) -> dict[str, SlurmJob] | None:
        """The org's Slurm jobs, at most :data:`POLL_S` old; None when squeue fails."""
        now = time.monotonic()
        poll = self.poll
        if poll.failed_at is not None and now - poll.failed_at < UNREACHABLE_RETRY_S:
            return None
        if poll.at is not None and now - poll.at < POLL_S and poll.error is None:
            return poll.jobs
        try:
            jobs = own_jobs()
        except SlurmError as error:
            self._unreachable(str(error))
            return None
        poll.jobs, poll.at = jobs, now
        self._reachable()
        return poll.jobs

    def _unreachable(self, error: str) -> None:
        self.poll.error = error
        self.poll.failed_at = time.monotonic()
        self._write_status()

    def _reachable(self) -> None:
        self.poll.error = None
        self.poll.failed_at = None
        self._write_status()

    def _write_status(self) -> None:
        status = self.status()
        if status != self._written:
            with contextlib.suppress(OSError):
                atomic_write_json(self.paths.engine_status, status | {"checked": time.time()})
                self._written = status
