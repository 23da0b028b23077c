"""The local engine and its worker: detached, claimed once, stopped cleanly, never lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orgtui.ledger import load_run
from orgtui.ledger.runner import RunPlan
from orgtui.paths import OrgPaths
from orgtui.procs import pid_alive
from orgtui.queue import engine as engine_module
from orgtui.queue.client import plan_jobs
from orgtui.queue.engine import INLINE, EngineError, LocalEngine, Slot
from orgtui.queue.jobs import Job, JobState, cancel, find_job, submit, transition
from tests.conftest import wait_for
from tests.queue.orgs import org

__all__ = ["org"]


def queued(root: Path, seconds: float = 0.0, code: int = 0, seeds: int = 1) -> list[Job]:
    paths = OrgPaths(root)
    command = ["python", "trainer.py", str(seconds), str(code)]
    plan = RunPlan(command=command, variant="v", seeds=seeds, agent="ada")
    return submit(paths, plan_jobs(paths, plan, root, post_result=False))


def ended(paths: OrgPaths, job: Job, timeout: float = 60.0) -> Job:
    return wait_for(
        lambda: (j := find_job(paths, job.id)).state.finished and j, f"{job.id} to end", timeout
    )


def ready(paths: OrgPaths, job: Job) -> None:
    log = paths.run_dir(job.run_id) / "output.log"
    wait_for(lambda: log.exists() and "ready" in log.read_text(), "the trainer to start", 60)


def test_a_job_runs_detached_in_a_checkout_with_the_copies(org: Path) -> None:
    paths = OrgPaths(org)
    engine = LocalEngine(paths)
    (job,) = queued(org, code=4)
    started = engine.start(job, Slot("gpu1", gpu=1))
    assert started is not None and started.state == JobState.RUNNING
    assert started.slot == "gpu1" and started.engine_id and started.started
    worker = int(started.engine_id)
    assert os.getsid(worker) == worker  # its own session: no terminal, no SIGHUP from ours
    done = ended(paths, job)
    assert done.state == JobState.FAILED and done.exit_code == 4 and done.reason == "exit code 4"
    log = (paths.run_dir(job.run_id) / "output.log").read_text()
    assert f"in {paths.checkouts_dir / job.id}\n" in log and "data from the root\n" in log
    assert not (paths.checkouts_dir / job.id).exists()
    wait_for(lambda: not engine.alive(done), "the worker to be reaped")


def test_a_job_is_claimed_once(org: Path) -> None:
    paths = OrgPaths(org)
    engine = LocalEngine(paths)
    (job,) = queued(org)
    first = engine.start(job, Slot("cpu0"))
    assert first is not None
    assert engine.start(job, Slot("cpu1")) is None
    assert LocalEngine(paths).start(job, Slot("cpu1")) is None
    assert ended(paths, job).state == JobState.DONE


def test_a_cancelled_running_job_stops_and_its_run_is_closed_killed(org: Path) -> None:
    paths = OrgPaths(org)
    (job,) = queued(org, seconds=60)
    running = LocalEngine(paths).start(job, Slot("cpu0"))
    assert running is not None
    ready(paths, job)
    cancel(paths, job.id, "not needed")  # the worker watches its own job
    done = ended(paths, job)
    assert done.state == JobState.CANCELLED and done.reason == "cancel: not needed"
    assert load_run(paths.run_dir(job.run_id)).status == "killed"
    assert not (paths.checkouts_dir / job.id).exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_worker_closes_its_run_killed_and_fails_its_job(org: Path, sig: int) -> None:
    paths = OrgPaths(org)
    (job,) = queued(org, seconds=60)
    running = LocalEngine(paths).start(job, Slot("cpu0"))
    assert running is not None and running.engine_id
    ready(paths, job)
    os.kill(int(running.engine_id), sig)
    done = ended(paths, job)
    assert done.state == JobState.FAILED
    assert done.reason == f"stopped by {signal.Signals(sig).name}: run killed"
    run = load_run(paths.run_dir(job.run_id))
    assert run.status == "killed" and not run.usable


def test_stop_ends_the_worker_and_its_trainer(org: Path) -> None:
    paths = OrgPaths(org)
    engine = LocalEngine(paths)
    (job,) = queued(org, seconds=60)
    running = engine.start(job, Slot("cpu0"))
    assert running is not None
    ready(paths, job)
    trainer = _trainer_pid(paths, job)
    cancel(paths, job.id, "by the scheduler")
    engine.stop(find_job(paths, job.id))
    done = find_job(paths, job.id)
    assert done.state == JobState.CANCELLED and not engine.alive(done)
    assert not pid_alive(trainer)
    assert load_run(paths.run_dir(job.run_id)).status == "killed"


def _trainer_pid(paths: OrgPaths, job: Job) -> int:
    import json

    return json.loads((paths.run_dir(job.run_id) / "run.json").read_text())["pid"]


def test_a_worker_killed_hard_leaves_its_job_running_but_dead(org: Path) -> None:
    """The scheduler tells it by ``alive``; ``stop`` then records the end, never lost."""
    paths = OrgPaths(org)
    engine = LocalEngine(paths)
    (job,) = queued(org, seconds=60)
    running = engine.start(job, Slot("cpu0"))
    assert running is not None and running.engine_id
    ready(paths, job)
    trainer = _trainer_pid(paths, job)
    try:
        os.kill(int(running.engine_id), signal.SIGKILL)
        wait_for(lambda: not engine.alive(running), "the worker to be gone")
        orphan = find_job(paths, job.id)
        assert orphan.state == JobState.RUNNING and not LocalEngine(paths).alive(orphan)
        assert pid_alive(trainer)  # outlived its worker: it still holds the slot
        engine.stop(orphan)
        done = find_job(paths, job.id)
        assert done.state == JobState.FAILED and "without recording the end" in done.reason
        assert not pid_alive(trainer)
        assert load_run(paths.run_dir(job.run_id)).status == "killed"
    finally:
        if pid_alive(trainer):
            os.kill(trainer, signal.SIGKILL)


def test_alive_is_not_fooled_by_a_reused_pid(org: Path) -> None:
    paths = OrgPaths(org)
    engine = LocalEngine(paths)
    (job,) = queued(org)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        now = time.time()
        as_worker = job.with_changes(
            state=JobState.RUNNING, slot="cpu0", started=now, engine_id=str(other.pid)
        )
        assert not engine.alive(as_worker)  # started just now, but not a worker of this job
        inline = as_worker.with_changes(slot=INLINE, started=now - 3600)
        assert not engine.alive(inline)  # born after the job started: not its `orgtui run`
        assert engine.alive(inline.with_changes(started=now))
        for bad in (None, "", "-1", "0", "abc", "9" * 30, str(2**31)):
            assert not engine.alive(as_worker.with_changes(engine_id=bad))
    finally:
        other.kill()
        other.wait()


def test_a_launch_failure_fails_the_job_with_the_reason(org: Path, monkeypatch) -> None:
    paths = OrgPaths(org)
    (job,) = queued(org)
    monkeypatch.setattr(engine_module.sys, "executable", str(org / "no-such-python"))
    with pytest.raises(EngineError, match="cannot start the worker"):
        LocalEngine(paths).start(job, Slot("cpu0"))
    failed = find_job(paths, job.id)
    assert failed.state == JobState.FAILED and "cannot start the worker" in failed.reason


def test_a_worker_runs_only_a_job_claimed_for_it(org: Path) -> None:
    paths = OrgPaths(org)
    (job,) = queued(org)
    argv = [sys.executable, "-m", "orgtui.queue.worker", "--root", str(org)]
    out = subprocess.run([*argv, job.id], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "queued" in out.stderr
    assert find_job(paths, job.id).state == JobState.QUEUED and not paths.runs_dir.exists()
    missing = subprocess.run([*argv, "jnope"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no job 'jnope'" in missing.stderr


def test_an_unknown_commit_fails_the_job_clearly(org: Path) -> None:
    paths = OrgPaths(org)
    (job,) = queued(org)
    transition(paths, job.id, (JobState.QUEUED,), commit="f" * 40)
    assert LocalEngine(paths).start(job, Slot("cpu0")) is not None
    done = ended(paths, job)
    assert done.state == JobState.FAILED and f"no commit {'f' * 40!r}" in done.reason
