"""Must-show: the real supervisor in real tmux (a private -L server) schedules real tiny
nanochat runs from a real git repo on 2 CPU slots: three agents' jobs, never more than two at
once, results posted; a supervisor killed with SIGKILL mid-job loses and repeats nothing; a
single-seed claim gets its replicates and baseline seeds, and the verdict, on its thread."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from orgtui import board
from orgtui.paths import OrgPaths
from orgtui.procs import pid_alive
from orgtui.queue.jobs import Job, JobKind, JobState, jobs
from tests.conftest import REPO_ROOT, git, run_orgtui, wait_for
from tests.supervisor.helpers import agent_states, orgtui, state, supervisor_up, write_org

pytestmark = pytest.mark.timeout(240)

TRAIN = [sys.executable, "-m", "nanochat.train", "--preset", "tiny", "--eval-every", "5"]
TRAIN += ["--eval-tokens", "1024", "--max-steps", "10"]  # seconds on a core; a later one wins
AGENTS = {name: "sleep 1000" for name in ("a1", "a2", "a3")}


def make_org(repo: Path, socket: str, extra: str) -> OrgPaths:
    """An org of three agents around a copy of nanochat, committed, and its supervisor up."""
    shutil.copytree(
        REPO_ROOT / "nanochat", repo / "nanochat", ignore=shutil.ignore_patterns("__pycache__")
    )
    write_org(repo, AGENTS, extra="[compute]\nslots = 2\n" + extra)
    (repo / ".gitignore").write_text(".org/\nworktrees/\n__pycache__/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "nanochat")
    orgtui(repo, socket, "up")
    wait_for(lambda: supervisor_up(repo), "the supervisor", 60)
    return OrgPaths(repo)


def enqueue(repo: Path, agent: str, variant: str, seeds: int, *flags: str) -> list[str]:
    """``orgtui run --no-wait`` as the agent runs it, in its own worktree; the job ids."""
    command = ["run", "--no-wait", "--variant", variant, "--seeds", str(seeds), "--", *TRAIN]
    proc = run_orgtui(
        *command,
        *flags,
        root=repo,
        cwd=repo / "worktrees" / agent,
        env=os.environ | {"ORGTUI_AGENT": agent},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


class Watch:
    """Samples the queue: the most jobs running at once, and each job's start as first seen."""

    def __init__(self, paths: OrgPaths) -> None:
        self.paths = paths
        self.most = 0
        self.starts: dict[str, tuple[float | None, str | None]] = {}

    def look(self) -> list[Job]:
        now = jobs(self.paths)
        self.most = max(self.most, sum(job.state == JobState.RUNNING for job in now))
        for job in now:  # a claim sets started once, the launch its worker's id once
            if job.started is not None:
                started, worker = self.starts.setdefault(job.id, (job.started, job.engine_id))
                worker = worker or job.engine_id
                assert (started, worker) == (job.started, job.engine_id or worker), job.id
                self.starts[job.id] = (started, worker)
        return now

    def until(self, check, what: str, timeout: float = 150.0):
        return wait_for(lambda: check(self.look()), what, timeout)


def run_starts(paths: OrgPaths, job: Job) -> int:
    metrics = paths.run_dir(job.run_id) / "metrics.jsonl"
    return sum('"run_start"' in line for line in metrics.read_text().splitlines())


def all_done(expected: int):
    """A check for :meth:`Watch.until`: the jobs once ``expected`` of them have all ended."""
    return lambda now: now if len(now) == expected and all(j.state.finished for j in now) else []


def test_three_agents_seven_jobs_two_slots_results_posted(git_repo: Path, tmux_socket: str) -> None:
    paths = make_org(git_repo, tmux_socket, "[discipline]\nauto = false\n")
    watch = Watch(paths)
    asked = {
        "a1": enqueue(git_repo, "a1", "wide", 3),
        "a2": enqueue(git_repo, "a2", "deep", 2, "--depth", "3"),
        "a3": enqueue(git_repo, "a3", "lr", 2, "--matrix-lr", "0.03"),
    }
    final = watch.until(all_done(7), "seven jobs to end")
    assert watch.most == 2  # both slots used, never a third job at once
    assert all(job.state == JobState.DONE for job in final), [j.reason for j in final]
    by_agent = {agent: sorted(j.id for j in final if j.agent == agent) for agent in asked}
    assert by_agent == {agent: sorted(ids) for agent, ids in asked.items()}
    assert all(run_starts(paths, job) == 1 for job in final)
    assert {job.slot for job in final} == {"cpu0", "cpu1"}
    for agent, variant in (("a1", "wide"), ("a2", "deep"), ("a3", "lr")):
        results = wait_for(
            lambda v=variant: [m for m in board.thread_of(paths, v) if m.kind == "result"],
            f"the result of {variant}",
        )
        assert len(results) == 1 and results[0].sender == agent
        runs = sorted(j.run_id for j in final if j.variant == variant)
        assert sorted(results[0].refs) == runs


def test_kill9_of_the_supervisor_mid_job_loses_and_repeats_nothing(
    git_repo: Path, tmux_socket: str
) -> None:
    paths = make_org(git_repo, tmux_socket, "[discipline]\nauto = false\n")
    watch = Watch(paths)
    enqueue(git_repo, "a1", "long", 2, "--max-steps", "50")
    enqueue(git_repo, "a2", "long2", 2, "--max-steps", "50")

    def two_trainers(now: list[Job]) -> list[Job]:
        running = [j for j in now if j.state == JobState.RUNNING]
        metas = [paths.run_dir(j.run_id) / "run.json" for j in running]
        ready = len(running) == 2 and all(m.exists() and "pid" in m.read_text() for m in metas)
        return running if ready else []

    mid = watch.until(two_trainers, "two jobs mid-run")
    old = state(git_repo)["supervisor"]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old), "the supervisor to die")
    assert all(psutil.pid_exists(int(j.engine_id or 0)) for j in mid)  # workers live on
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: state(git_repo)["supervisor"].get("pid") not in (None, old), "a new one")
    final = watch.until(all_done(4), "four jobs to end")
    assert watch.most == 2
    assert [job.state for job in final] == [JobState.DONE] * 4, [j.reason for j in final]
    assert all(run_starts(paths, job) == 1 for job in final)
    assert len(list(paths.runs_dir.iterdir())) == 4  # one run directory a job, none again
    for job in mid:  # adopted: the same worker finished it, no second start
        after = next(j for j in final if j.id == job.id)
        assert (after.started, after.engine_id) == (job.started, job.engine_id)
    log = paths.supervisor_log.read_text()
    assert all(f"job {j.id} (run {j.run_id}) runs on {j.slot}: adopted" in log for j in mid)


def test_a_single_seed_claim_gets_replicates_baseline_and_a_verdict(
    git_repo: Path, tmux_socket: str
) -> None:
    baseline = " ".join(TRAIN)
    extra = (
        '[ledger]\nbaseline = "base"\n'
        f"[discipline]\nmin_seeds = 2\nbaseline_command = {json.dumps(baseline)}\n"
    )
    paths = make_org(git_repo, tmux_socket, extra)
    watch = Watch(paths)
    (claim_id,) = enqueue(git_repo, "a1", "wide", 1, "--width", "192")

    def on_thread() -> list[board.Message]:
        return sorted(board.thread_of(paths, "wide"), key=lambda m: m.id)

    final = watch.until(
        lambda now: all_done(4)(now) if len(on_thread()) >= 3 else [],
        "the controls and the verdict",
    )
    controls = [j for j in final if j.kind == JobKind.CONTROL]
    assert sorted((j.variant, j.seed, j.reason) for j in controls) == [
        ("base", 0, "baseline"),
        ("base", 1, "baseline"),
        ("wide", 1, "replicate"),
    ]
    assert all(j.state == JobState.DONE for j in final), [j.reason for j in final]
    result, announced, verdict = on_thread()
    assert (result.sender, result.kind) == ("a1", "result")
    assert (announced.sender, announced.kind, announced.to) == ("supervisor", "system", ("a1",))
    assert "the ledger scheduled 2 baseline seeds (base) and 1 replicate of wide" in announced.body
    assert (verdict.sender, verdict.kind) == ("supervisor", "result")
    claim = next(j for j in final if j.id == claim_id)
    assert sorted(verdict.refs) == sorted([claim.run_id, *(j.run_id for j in controls)])
    assert "controls the ledger scheduled" in verdict.body
    time.sleep(1.0)  # a few more ticks: nothing planned or posted twice
    assert len(jobs(paths)) == 4 and len(on_thread()) == 3


def done_jobs(paths: OrgPaths) -> int:
    return sum(job.state == JobState.DONE for job in jobs(paths))


def test_a_failing_scheduler_is_logged_and_supervision_goes_on(
    git_repo: Path, tmux_socket: str
) -> None:
    paths = OrgPaths(git_repo)
    paths.queue_batches.mkdir(parents=True)  # its record cannot be written: every look fails
    paths = make_org(git_repo, tmux_socket, "[discipline]\nauto = false\n")
    for n in (1, 2):  # the second after quiet ticks: the same failure is not said again
        proc = run_orgtui(
            *("run", "--no-wait", "--variant", f"quick{n}", "--", sys.executable, "-c", "pass"),
            root=git_repo,
            cwd=git_repo / "worktrees" / "a1",
            env=os.environ | {"ORGTUI_AGENT": "a1"},
        )
        assert proc.returncode == 0, proc.stderr
        wait_for(lambda n=n: done_jobs(paths) == n, f"job {n} to run", 60)
        time.sleep(1.5)
    log = paths.supervisor_log.read_text()
    assert f"{paths.queue_batches}: cannot be written" in log
    assert log.count("(time 1;") == 1 and log.count("scheduler failed") <= 2, log  # 1st, 10th
    assert supervisor_up(git_repo)
    wait_for(lambda: set(agent_states(git_repo).values()) == {"working"}, "agents supervised")
