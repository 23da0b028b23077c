"""``python -m orgtui.queue.worker --root ROOT JOB_ID``: run one claimed job to its end.

Started detached by :class:`~orgtui.queue.engine.LocalEngine` once the job is running on a
slot, or as a Slurm job by :class:`~orgtui.queue.slurm.SlurmEngine`. It checks out the job's exact commit under ``.org/checkouts/<job id>`` (a detached
worktree, plus org.toml's ``[worktree] copy`` files), runs the seed there
(:func:`~orgtui.ledger.runner.run_job`), records the end on the job and removes the checkout.
SIGINT or SIGTERM stops the trainer and closes the run as killed; the job then ends cancelled
when someone asked to cancel it, failed otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from orgtui.atomic import exclusive_lock
from orgtui.errors import OrgtuiError
from orgtui.ledger.runner import end_job, record_allocation, run_job
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job, JobState, QueueError, cancel_requested, find_job, load_job


@contextlib.contextmanager
def checked_out(paths: OrgPaths, job: Job) -> Iterator[Path]:
    """The directory the job's command runs in: its workdir in a checkout of its commit.

    Raises:
        QueueError: the workdir is not a directory of the commit (or, without a commit, not
            an existing absolute directory).
        GitError: the commit cannot be checked out.
    """
    if job.commit is None:  # asked for outside git: nothing to check out
        where = Path(job.workdir)
        if not where.is_absolute() or not where.is_dir():
            raise QueueError(
                f"job {job.id}: no commit, and workdir {job.workdir!r} is not a directory"
            )
        yield where
        return
    from orgtui.supervisor.worktrees import add_checkout, remove_checkout

    dest = paths.checkouts_dir / job.id
    lock = paths.checkouts_lock
    with exclusive_lock(lock):
        remove_checkout(paths.root, dest)  # a killed worker's leftover
        add_checkout(paths.root, job.commit, dest)
    try:
        _copy_extras(paths, dest)
        cwd = (dest / job.workdir).resolve()
        if not cwd.is_relative_to(dest.resolve()) or not cwd.is_dir():
            raise QueueError(
                f"job {job.id}: workdir {job.workdir!r} is not a directory of commit "
                f"{job.commit[:12]}"
            )
        yield cwd
    finally:
        with contextlib.suppress(OrgtuiError), exclusive_lock(lock):
            remove_checkout(paths.root, dest)


def _copy_extras(paths: OrgPaths, dest: Path) -> None:
    """org.toml's ``[worktree] copy`` files (data, caches git does not hold), as agents get."""
    from orgtui.config import load_config

    try:
        copies = load_config(paths.root).worktree.copy
    except OrgtuiError:  # an org.toml being edited: the code itself is all the run needs
        return
    for rel in copies:
        source, target = paths.root / rel, dest / rel
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_claimed(paths: OrgPaths, job: Job) -> int:
    """Run a job this process owns and record its end; the worker's exit code.

    In a Slurm job the run's allocation (its GPUs, and how long this worker held them) goes
    into ``run.json``: GPU-hours on a cluster are what the allocation cost, not what NVML saw.
    """
    began = time.time()
    try:
        return _run_claimed(paths, job)
    finally:
        slurm_job = os.environ.get("SLURM_JOB_ID")
        if slurm_job:
            record_allocation(paths, job, slurm_job, _allocated_gpus(), time.time() - began)


def _allocated_gpus() -> int:
    """The GPUs Slurm gave this job: the devices it made visible."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return len([device for device in visible.split(",") if device.strip()])


def _run_claimed(paths: OrgPaths, job: Job) -> int:
    try:
        with checked_out(paths, job) as cwd:
            result = run_job(paths, job, cwd, echo=False)
    except KeyboardInterrupt as stop:
        current = load_job(paths.job_file(job.id))
        asked = isinstance(current, Job) and cancel_requested(current)
        why = f"stopped by {getattr(stop, 'signal_name', 'a signal')}: run killed"
        end_job(paths, job, None, cancelled=asked, reason="" if asked else why)
        return 130
    except (OrgtuiError, OSError) as error:
        end_job(paths, job, None, reason=str(error))
        print(f"orgtui worker: job {job.id}: {error}", file=sys.stderr)
        return 1
    end_job(paths, job, result.exit_code, cancelled=result.cancelled)
    return 0 if result.exit_code == 0 and not result.cancelled else 1


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the worker is so the run is closed as Ctrl-C closes it."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def _on_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orgtui.queue.worker", description="run one claimed job (engine use)"
    )
    parser.add_argument("--root", required=True, help="the org root")
    parser.add_argument("job", help="the job id")
    args = parser.parse_args(argv)
    paths = OrgPaths(Path(args.root).resolve())
    # Installed before anything else: a parent that ignored SIGINT must not make us deaf to it.
    signal.signal(signal.SIGINT, _on_stop)
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        job = find_job(paths, args.job)
    except QueueError as error:
        print(f"orgtui worker: {error}", file=sys.stderr)
        return 2
    if job.id != args.job or job.state != JobState.RUNNING:
        print(
            f"orgtui worker: job {job.id} is {job.state}: a worker runs only a job claimed "
            "for it (running)",
            file=sys.stderr,
        )
        return 2
    return run_claimed(paths, job)


if __name__ == "__main__":
    sys.exit(main())
