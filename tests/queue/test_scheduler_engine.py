"""The scheduler with the real local engine, real workers and a real git repo (no tmux): jobs
started once on free slots, a restart adopting or closing what ran, batches finished with
once (results, controls, verdicts)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orgtui import board
from orgtui.config import load_config
from orgtui.ledger.runner import RunPlan
from orgtui.paths import OrgPaths
from orgtui.procs import pid_alive
from orgtui.queue import scheduler as scheduler_module
from orgtui.queue.client import plan_jobs
from orgtui.queue.jobs import Job, JobKind, JobState, cancel, find_job, jobs, submit, transition
from orgtui.queue.scheduler import KILLED, Scheduler
from orgtui.supervisor.state import OrgState
from tests.conftest import git
from tests.queue.orgs import ORG_TOML, TRAINER

pytestmark = pytest.mark.timeout(180)

QUIET = "[compute]\nslots = 2\n[discipline]\nauto = false\n"
CONTROLS = (
    '[ledger]\nbaseline = "base"\n[compute]\nslots = 2\n'
    f'[discipline]\nmin_seeds = 2\nbaseline_command = "{sys.executable} trainer.py 0"\n'
)


def make_org(repo: Path, extra: str) -> Path:
    (repo / "org.toml").write_text(ORG_TOML + extra)
    (repo / "roles").mkdir()
    for role in ("chief_scientist", "researcher"):
        (repo / "roles" / f"{role}.md").write_text(f"You are the {role}.\n")
    (repo / ".gitignore").write_text(".org/\ndata.txt\n")
    (repo / "trainer.py").write_text(TRAINER)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "org")
    git(repo, "branch", "prog/lab")
    return repo


@pytest.fixture
def quiet(git_repo: Path) -> Path:
    return make_org(git_repo, QUIET)


def ask(
    root: Path,
    variant: str = "v",
    *,
    seconds: float = 0.0,
    seeds: int = 1,
    agent: str | None = "ada",
    post: bool = False,
) -> list[Job]:
    paths = OrgPaths(root)
    command = [sys.executable, "trainer.py", str(seconds)]
    plan = RunPlan(command=command, variant=variant, seeds=seeds, agent=agent)
    return submit(paths, plan_jobs(paths, plan, root, post_result=post))


def drive(
    scheduler: Scheduler, until: Callable[[], Any], what: str, timeout: float = 60.0
) -> tuple[Any, list[str]]:
    """Tick as the supervisor does until ``until()`` holds; its value and the log lines."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines += scheduler.tick(time.time(), OrgState(), 0)
        value = until()
        if value:
            return value, lines
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; log: {lines}")


def states(paths: OrgPaths) -> list[JobState]:
    return [job.state for job in jobs(paths)]


def run_starts(paths: OrgPaths, job: Job) -> int:
    metrics = paths.run_dir(job.run_id) / "metrics.jsonl"
    return sum('"run_start"' in line for line in metrics.read_text().splitlines())


def test_each_job_runs_once_and_never_more_than_the_slots(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    asked = ask(quiet, "v", seconds=0.4, seeds=3) + ask(quiet, "w", seconds=0.4, agent="chief")
    scheduler = Scheduler(load_config(quiet))
    most = 0

    def over() -> bool:
        nonlocal most
        most = max(most, states(paths).count(JobState.RUNNING))
        return all(state == JobState.DONE for state in states(paths))

    _, lines = drive(scheduler, over, "every job done")
    assert most == 2  # both slots used, never a third job
    assert len(jobs(paths)) == 4
    assert all(run_starts(paths, job) == 1 for job in asked)
    assert sorted(find_job(paths, j.id).slot for j in asked).count("cpu0") >= 1
    started = [line for line in lines if " started on cpu" in line]
    assert len(started) == 4 and len({line.split()[1] for line in started}) == 4


def test_a_gone_worker_is_closed_as_killed_once(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    (job,) = ask(quiet, seconds=60)
    scheduler = Scheduler(load_config(quiet))
    meta, log = (paths.run_dir(job.run_id) / name for name in ("run.json", "output.log"))
    drive(scheduler, lambda: log.exists() and "ready" in log.read_text(), "a trainer mid-run")
    worker = int(find_job(paths, job.id).engine_id or 0)
    trainer = json.loads(meta.read_text())["pid"]
    os.kill(worker, signal.SIGKILL)
    _, lines = drive(scheduler, lambda: find_job(paths, job.id).state.finished, "the close")
    closed = find_job(paths, job.id)
    assert closed.state == JobState.FAILED and closed.reason == KILLED
    assert any("its worker is gone" in line for line in lines)
    last = (paths.run_dir(job.run_id) / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["status"] == "killed"
    assert not pid_alive(trainer)  # the orphaned trainer was stopped with its run
    # a restarted scheduler neither starts it again nor closes it twice
    again = Scheduler(load_config(quiet))
    for _ in range(5):
        assert again.tick(time.time(), OrgState(), 0) == []
    assert find_job(paths, job.id) == closed
    assert run_starts(paths, job) == 1


def test_a_restarted_scheduler_adopts_a_live_worker(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    (job,) = ask(quiet, seconds=1.5)
    first = Scheduler(load_config(quiet))
    running, _ = drive(
        first, lambda: (j := find_job(paths, job.id)).engine_id and j, "the job to start"
    )
    second = Scheduler(load_config(quiet))  # the supervisor was killed and started again
    lines = second.tick(time.time(), OrgState(), 0)
    assert lines == [f"job {job.id} (run {job.run_id}) runs on cpu0: adopted"]
    _, more = drive(second, lambda: find_job(paths, job.id).state.finished, "the end")
    final = find_job(paths, job.id)
    assert final.state == JobState.DONE  # finished by the worker it had, not a new one
    assert (final.started, final.engine_id) == (running.started, running.engine_id)
    assert not any("started on" in line for line in more)
    assert run_starts(paths, job) == 1
    drive(first, lambda: not first.engine.alive(final), "the first worker reaped")


def test_a_cancel_the_worker_does_not_act_on_is_stopped_by_the_engine(
    quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "CANCEL_GRACE_S", 0.0)
    paths = OrgPaths(quiet)
    (job,) = ask(quiet, seconds=60)
    scheduler = Scheduler(load_config(quiet))
    log = paths.run_dir(job.run_id) / "output.log"
    drive(scheduler, lambda: log.exists() and "ready" in log.read_text(), "the trainer")
    cancel(paths, job.id, "not needed")
    _, lines = drive(scheduler, lambda: find_job(paths, job.id).state.finished, "the stop", 60)
    assert find_job(paths, job.id).state == JobState.CANCELLED
    assert any("stopping it" in line for line in lines)


def results(paths: OrgPaths, thread: str) -> list[board.Message]:
    return [m for m in board.thread_of(paths, thread) if m.kind == "result"]


def test_the_result_of_a_no_wait_batch_is_posted_once(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    asked = ask(quiet, "quick", seeds=2, post=True)
    scheduler = Scheduler(load_config(quiet))
    drive(scheduler, lambda: results(paths, "quick"), "the result")
    (message,) = results(paths, "quick")
    assert message.sender == "ada" and message.to == ("chief",)
    assert sorted(message.refs) == sorted(j.run_id for j in asked)
    book = json.loads(paths.queue_batches.read_text())
    assert book["done"] == [asked[0].batch]
    # a crash after the post, before the book was written: the board is looked at first
    paths.queue_batches.write_text(json.dumps({"version": 1, "done": [], "owed": {}}))
    again = Scheduler(load_config(quiet))
    for _ in range(3):
        again.tick(time.time(), OrgState(), 0)
    assert len(results(paths, "quick")) == 1
    assert json.loads(paths.queue_batches.read_text())["done"] == [asked[0].batch]


def test_batches_that_ended_before_the_first_look_are_history(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    (job,) = ask(quiet, "old", post=True)
    transition(paths, job.id, (JobState.QUEUED,), state=JobState.DONE, started=1.0, ended=2.0)
    scheduler = Scheduler(load_config(quiet))
    assert scheduler.tick(time.time(), OrgState(), 0) == []
    assert results(paths, "old") == []
    assert json.loads(paths.queue_batches.read_text())["done"] == [job.batch]


def test_a_malformed_queue_file_is_said_once_and_the_rest_runs(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    (job,) = ask(quiet)
    (paths.queue_dir / "jbroken.json").write_text("{not json")
    scheduler = Scheduler(load_config(quiet))
    _, lines = drive(scheduler, lambda: find_job(paths, job.id).state.finished, "the job")
    assert find_job(paths, job.id).state == JobState.DONE
    assert sum("jbroken.json: malformed" in line for line in lines) == 1


def test_a_quiet_queue_is_not_read_at_every_tick(quiet: Path) -> None:
    paths = OrgPaths(quiet)
    paths.queue_dir.mkdir(parents=True)
    old = time.time() - 30
    os.utime(paths.queue_dir, (old, old))
    scheduler = Scheduler(load_config(quiet))
    for _ in range(20):
        scheduler.tick(time.time(), OrgState(), 0)
    assert scheduler.looks == 1
    (job,) = ask(quiet)  # the directory changed: read again, and the job runs
    drive(scheduler, lambda: find_job(paths, job.id).state.finished, "the job")
    drive(scheduler, lambda: not scheduler.running, "its worker gone")
    assert scheduler.looks > 1
    ahead = time.time() + 3600  # a clock gone wrong (or a hostile touch) costs one look
    os.utime(paths.queue_dir, (ahead, ahead))
    looks = scheduler.looks
    for _ in range(20):
        scheduler.tick(time.time(), OrgState(), 0)
    assert scheduler.looks == looks + 1


# ------------------------------------------------------------------------------ controls


def thread(paths: OrgPaths, name: str) -> list[board.Message]:
    return sorted(board.thread_of(paths, name), key=lambda m: m.id)


def test_a_single_seed_claim_gets_its_controls_and_a_verdict_once(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_org(git_repo, CONTROLS)
    paths = OrgPaths(root)
    (claim,) = ask(root, "wide")
    scheduler = Scheduler(load_config(root))
    # the board refuses the first announcement: the controls stay queued once, the post waits
    real_post, refused = board.post, []

    def flaky(*args: Any, **kwargs: Any) -> board.Message:
        if not refused:
            refused.append(kwargs["subject"])
            raise board.BoardError("board full")
        return real_post(*args, **kwargs)

    monkeypatch.setattr(board, "post", flaky)
    monkeypatch.setattr(scheduler_module, "RETRY_S", 0.0)
    controls = lambda: [j for j in jobs(paths) if j.kind == JobKind.CONTROL]  # noqa: E731
    _, lines = drive(scheduler, lambda: len(thread(paths, "wide")) >= 2, "announcement, verdict")
    assert refused and any("board full" in line for line in lines)
    made = controls()
    assert sorted((j.variant, j.seed, j.reason) for j in made) == [
        ("base", 0, "baseline"),
        ("base", 1, "baseline"),
        ("wide", 1, "replicate"),
    ]
    assert all(j.state == JobState.DONE and j.thread == "wide" for j in made)
    announced, verdict = thread(paths, "wide")
    assert announced.sender == "supervisor" and announced.kind == "system"
    assert announced.subject.startswith("ledger: the ledger scheduled 2 baseline seeds")
    assert announced.to == ("ada", "chief")
    assert "the ledger scheduled 2 baseline seeds (base) and 1 replicate of wide" in announced.body
    assert sorted(announced.refs) == sorted(j.run_id for j in made)
    assert verdict.sender == "supervisor" and verdict.kind == "result"
    assert sorted(verdict.refs) == sorted([claim.run_id, *(j.run_id for j in made)])
    assert verdict.subject.startswith("wide: ")
    # a restarted supervisor plans and posts nothing again
    again = Scheduler(load_config(root))
    for _ in range(5):
        again.tick(time.time(), OrgState(), 0)
        time.sleep(0.05)
    assert len(controls()) == 3 and len(thread(paths, "wide")) == 2


def test_controls_of_a_claim_by_an_unknown_agent_go_to_the_chiefs(git_repo: Path) -> None:
    root = make_org(git_repo, CONTROLS.replace("min_seeds = 2", "min_seeds = 1"))
    paths = OrgPaths(root)
    ask(root, "solo", agent="ghost")  # not in org.toml: the board would refuse it
    scheduler = Scheduler(load_config(root))
    drive(scheduler, lambda: len(thread(paths, "solo")) >= 2, "announcement and verdict")
    announced, verdict = thread(paths, "solo")
    assert announced.to == ("chief",) and verdict.to == ("chief",)
    assert "1 baseline seed (base)" in announced.subject
