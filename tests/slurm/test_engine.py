"""Must-show of the Slurm engine, on a real single-node Slurm with four GRES GPUs: the real
supervisor in real tmux submits real tiny nanochat runs with ``sbatch``; each job sees its own
``CUDA_VISIBLE_DEVICES`` and as many threads as it has CPUs; no more run at once than the node
allows; GPU-hours come from the allocation; an outside ``scancel`` leaves a killed run the
verdicts leave out and the board tells; a supervisor killed mid-job finds its jobs again by
Slurm job id; preempted jobs are resubmitted once; and an unknown partition, a missing
``sbatch`` or a down controller leave the job queued with a clear error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from orgtui import board
from orgtui.config import SlurmSpec, load_config
from orgtui.ledger.runs import load_run
from orgtui.ledger.verdicts import Ledger
from orgtui.paths import OrgPaths
from orgtui.procs import pid_alive
from orgtui.queue.jobs import Job, JobState, jobs
from orgtui.queue.scheduler import Scheduler
from orgtui.queue.slurm import submit
from orgtui.supervisor.state import OrgState
from tests.conftest import REPO_ROOT, git, run_orgtui, wait_for
from tests.slurm.cluster import Cluster
from tests.supervisor.helpers import orgtui, state, supervisor_up, write_org

pytestmark = pytest.mark.timeout(300)

TRAIN = [sys.executable, "-m", "nanochat.train", "--preset", "tiny", "--eval-every", "2"]
TRAIN += ["--eval-tokens", "1024", "--max-steps", "4"]  # an eval curve, in about a second
LONG = ["--max-steps", "100000"]  # runs until something stops it
AGENTS = {name: "sleep 1000" for name in ("a1", "a2")}


def slurm_org(repo: Path, *, partition: str = "debug", requeue: bool = False) -> OrgPaths:
    """An org of two agents around a copy of nanochat, committed, its jobs on Slurm."""
    shutil.copytree(
        REPO_ROOT / "nanochat", repo / "nanochat", ignore=shutil.ignore_patterns("__pycache__")
    )
    compute = (
        '[compute]\nengine = "slurm"\n[compute.slurm]\n'
        f'partition = "{partition}"\ngpus = 1\ncpus = 1\nrequeue = {str(requeue).lower()}\n'
        "[discipline]\nauto = false\n"
    )
    write_org(repo, AGENTS, extra=compute)
    (repo / ".gitignore").write_text(".org/\nworktrees/\n__pycache__/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "nanochat")
    return OrgPaths(repo)


def start(repo: Path, socket: str) -> None:
    orgtui(repo, socket, "up")
    wait_for(lambda: supervisor_up(repo), "the supervisor", 60)


def enqueue(repo: Path, agent: str, variant: str, seeds: int, *flags: str) -> list[str]:
    """``orgtui run --no-wait`` as the agent runs it, in its own worktree; the job ids."""
    cwd = repo / "worktrees" / agent
    command = ["run", "--no-wait", "--variant", variant, "--seeds", str(seeds), "--", *TRAIN]
    proc = run_orgtui(
        *command,
        *flags,
        root=repo,
        cwd=cwd if cwd.is_dir() else repo,
        env=os.environ | {"ORGTUI_AGENT": agent},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def ended(expected: int, paths: OrgPaths):
    def check() -> list[Job]:
        now = jobs(paths)
        return now if len(now) == expected and all(j.state.finished for j in now) else []

    return check


def submitted(cluster: Cluster, paths: OrgPaths) -> list[dict]:
    """Every job Slurm knows that this org submitted (named ``orgtui-<job id>``); the
    cluster outlives the test, so other tests' jobs are in its list too."""
    names = {f"orgtui-{job.id}" for job in jobs(paths)}
    return [j for j in cluster.squeue() if j.get("name") in names]


def slurm_running(paths: OrgPaths, cluster: Cluster, count: int) -> list[Job]:
    """``count`` jobs whose Slurm jobs run and whose trainers have started."""
    mine = submitted(cluster, paths)
    running = {str(j["job_id"]) for j in mine if j["job_state"] == "RUNNING"}
    now = [j for j in jobs(paths) if j.state == JobState.RUNNING and j.engine_id in running]
    metas = [paths.run_dir(j.run_id) / "run.json" for j in now]
    ready = len(now) == count and all(m.exists() and "pid" in m.read_text() for m in metas)
    return now if ready else []


def most_at_once(records: list[dict]) -> int:
    """The most jobs Slurm's records show running at one instant (an end before a start
    at the same second: Slurm's times are whole seconds)."""
    events = sorted([(r["StartTime"], 1) for r in records] + [(r["EndTime"], -1) for r in records])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def overlap(a: dict, b: dict) -> bool:
    return a["StartTime"] < b["EndTime"] and b["StartTime"] < a["EndTime"]


def test_two_agents_six_seeds_each_job_its_own_gpu_billed_by_allocation(
    git_repo: Path, tmux_socket: str, slurm_cluster: Cluster
) -> None:
    paths = slurm_org(git_repo)
    start(git_repo, tmux_socket)
    asked = enqueue(git_repo, "a1", "wide", 3) + enqueue(git_repo, "a2", "deep", 3, "--depth", "3")
    final = wait_for(ended(6, paths), "six Slurm jobs to end", 240)
    assert sorted(j.id for j in final) == sorted(asked)
    assert all(job.state == JobState.DONE for job in final), [j.reason for j in final]
    assert all(job.slot and job.slot.startswith("slurm") for job in final)

    def accounted() -> dict[str, dict]:  # Slurm writes its record as the job completes
        by_id = {str(c["JobId"]): c for c in slurm_cluster.jobcomp()}
        return by_id if {job.engine_id for job in final} <= set(by_id) else {}

    by_slurm_id = wait_for(accounted, "Slurm's record of every job")  # each one a Slurm job
    records = []
    for job in final:
        meta = json.loads((paths.run_dir(job.run_id) / "run.json").read_text())
        slurm = by_slurm_id[job.engine_id]
        assert slurm["JobState"] == "COMPLETED"
        records.append((meta["cuda_visible_devices"], slurm))
        run = load_run(paths.run_dir(job.run_id))
        assert run.status == "ok" and run.usable
        # GPU-hours from the allocation: its one GPU for as long as Slurm held it
        assert meta["allocation"]["gpus"] == 1 and meta["allocation"]["slurm_job"] == job.engine_id
        elapsed = slurm["EndTime"] - slurm["StartTime"]  # whole seconds
        assert abs(meta["allocation"]["seconds"] - elapsed) <= 2.0
        assert run.gpu_hours == pytest.approx(meta["allocation"]["seconds"] / 3600.0)
    assert {device for device, _ in records} <= {"0", "1", "2", "3"}
    assert most_at_once([slurm for _, slurm in records]) == slurm_cluster.max_concurrent
    for device_a, slurm_a in records:
        for device_b, slurm_b in records:
            if slurm_b is not slurm_a and overlap(slurm_a, slurm_b):
                assert device_a != device_b  # jobs at the same time never share a GPU

    ledger = Ledger.load(paths)
    assert sorted(r.run_id for r in ledger.runs if r.usable) == sorted(j.run_id for j in final)
    for agent, variant in (("a1", "wide"), ("a2", "deep")):
        results = wait_for(
            lambda v=variant: [m for m in board.thread_of(paths, v) if m.kind == "result"],
            f"the result of {variant}",
        )
        assert len(results) == 1 and results[0].sender == agent
    queue = run_orgtui("queue", "--json", "--all", root=git_repo, timeout=60)
    listed = {entry["id"]: entry for entry in json.loads(queue.stdout)}
    assert all(listed[job.id]["engine_id"] == job.engine_id for job in final)


def test_a_job_runs_as_many_threads_as_it_has_cpus(
    tmp_path: Path, slurm_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cpus = N``: the job's OMP_NUM_THREADS is N, not torch's default of a thread per core
    of the node in every job on it (two such jobs on two cores ran five times slower)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    paths = OrgPaths(tmp_path)
    python = tmp_path / "python"  # stands in for the worker: says what Slurm gave it
    python.write_text('#!/bin/sh\necho "threads=$OMP_NUM_THREADS on $CUDA_VISIBLE_DEVICES"\n')
    python.chmod(0o755)
    job = Job(id="threads", variant="v", seed=0, command=("true",), run_id="r", commit=None)
    spec = SlurmSpec(partition=slurm_cluster.partition, gpus=1, cpus=1)
    submit(spec, paths, job, str(python))
    log = paths.worker_log(job.id)
    said = wait_for(lambda: log.exists() and log.read_text().strip(), "the job's output", 60)
    assert said.split()[0] == "threads=1" and said.split()[-1] in {"0", "1", "2", "3"}


def test_an_outside_scancel_leaves_a_killed_run_out_of_verdicts_and_says_so(
    git_repo: Path, tmux_socket: str, slurm_cluster: Cluster
) -> None:
    paths = slurm_org(git_repo)
    start(git_repo, tmux_socket)
    (job_id,) = enqueue(git_repo, "a1", "wide", 1, *LONG)
    (job,) = wait_for(lambda: slurm_running(paths, slurm_cluster, 1), "the job to run", 120)
    slurm_cluster.run("scancel", job.engine_id)  # someone on the cluster, not the org

    (final,) = wait_for(ended(1, paths), "the job to end", 120)
    assert final.id == job_id and final.state == JobState.FAILED
    run = load_run(paths.run_dir(final.run_id))
    assert run.status == "killed" and not run.usable
    assert all(r.run_id != final.run_id for r in Ledger.load(paths).runs if r.usable)
    (notice,) = wait_for(
        lambda: [
            m
            for m in board.thread_of(paths, "wide")
            if m.kind == "system" and m.refs == (final.run_id,)
        ],
        "the board to say so",
    )
    assert "CANCELLED" in notice.body and "leaves it out of verdicts" in notice.body
    assert notice.to == ("a1",) or "a1" in notice.to


def test_a_killed_supervisor_finds_its_slurm_jobs_again_and_submits_none_twice(
    git_repo: Path, tmux_socket: str, slurm_cluster: Cluster
) -> None:
    paths = slurm_org(git_repo)
    start(git_repo, tmux_socket)
    asked = enqueue(git_repo, "a1", "long", 2, "--max-steps", "40")  # outlives a restart
    mid = wait_for(lambda: slurm_running(paths, slurm_cluster, 2), "two jobs mid-run", 120)
    old = state(git_repo)["supervisor"]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old), "the supervisor to die")
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: state(git_repo)["supervisor"].get("pid") not in (None, old), "a new one")

    final = wait_for(ended(2, paths), "both jobs to end", 240)
    assert sorted(j.id for j in final) == sorted(asked)
    assert all(job.state == JobState.DONE for job in final), [j.reason for j in final]
    assert {j.id: j.engine_id for j in final} == {j.id: j.engine_id for j in mid}
    assert len(submitted(slurm_cluster, paths)) == 2  # nothing submitted a second time
    for job in final:
        metrics = (paths.run_dir(job.run_id) / "metrics.jsonl").read_text()
        assert metrics.count('"run_start"') == 1
    log = paths.supervisor_log.read_text()
    assert all(f"job {job.id} (run {job.run_id}) runs on" in log for job in mid)  # adopted


def test_a_preempted_job_is_resubmitted_once(
    git_repo: Path, tmux_socket: str, slurm_cluster: Cluster
) -> None:
    paths = slurm_org(git_repo, requeue=True)
    start(git_repo, tmux_socket)
    steps = ("--max-steps", "30")  # still running when the urgent job lands
    enqueue(git_repo, "a1", "wide", slurm_cluster.max_concurrent, *steps)
    wait_for(
        lambda: slurm_running(paths, slurm_cluster, slurm_cluster.max_concurrent),
        "the node full of the org's jobs",
        120,
    )
    slurm_cluster.preempt(1, "sleep 1")

    def settled() -> list[Job]:
        now = jobs(paths)
        done = [j for j in now if j.state == JobState.DONE]
        return now if len(done) == slurm_cluster.max_concurrent else []

    final = wait_for(settled, "the preempted job's copy to finish", 240)
    (victim,) = [j for j in final if j.state == JobState.FAILED]
    (copy,) = [j for j in final if j.reason.startswith("requeued:")]
    assert f"resubmitted as job {copy.id}" in victim.reason and "PREEMPTED" in victim.reason
    assert copy.run_id != victim.run_id and copy.seed == victim.seed
    assert load_run(paths.run_dir(victim.run_id)).status == "killed"
    assert load_run(paths.run_dir(copy.run_id)).usable
    assert len(final) == slurm_cluster.max_concurrent + 1  # one copy, never a second
    notices = [m for m in board.thread_of(paths, "wide") if victim.run_id in m.refs]
    assert any("Resubmitted once" in m.body for m in notices)


# -- bad input: the job stays queued and the error names what is wrong ---------------------


def tick_until_said(scheduler: Scheduler, what: str, timeout: float = 60.0) -> str:
    said: list[str] = []

    def check() -> bool:
        said.extend(scheduler.tick(time.time(), OrgState(), None))
        return any(what in line for line in said)

    wait_for(check, what, timeout)
    return "\n".join(said)


def one_queued(repo: Path) -> tuple[OrgPaths, Scheduler, str]:
    paths = OrgPaths(repo)
    (job_id,) = enqueue(repo, "a1", "wide", 1)
    return paths, Scheduler(load_config(repo)), job_id


def engine_status(paths: OrgPaths) -> dict:
    return json.loads(paths.engine_status.read_text())


def test_an_unknown_partition_keeps_the_job_queued_with_a_clear_error(
    git_repo: Path, slurm_cluster: Cluster
) -> None:
    paths, scheduler, job_id = one_queued(slurm_org(git_repo, partition="nope").root)
    said = tick_until_said(scheduler, "stays queued")
    assert "Invalid partition" in said
    (job,) = jobs(paths)
    assert job.id == job_id and job.state == JobState.QUEUED and job.engine_id is None
    status = engine_status(paths)
    assert status["reachable"] is False and "Invalid partition" in status["error"]
    assert not submitted(slurm_cluster, paths)


def test_no_sbatch_on_path_keeps_the_job_queued(
    git_repo: Path, slurm_cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths, scheduler, job_id = one_queued(slurm_org(git_repo).root)
    empty = tmp_path / "bin-without-slurm"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    said = tick_until_said(scheduler, "stays queued")
    assert "`sbatch` is not on PATH" in said
    assert [(j.id, j.state) for j in jobs(paths)] == [(job_id, JobState.QUEUED)]
    assert "not on PATH" in engine_status(paths)["error"]


def test_a_down_controller_keeps_the_job_queued_until_it_is_back(
    git_repo: Path, slurm_cluster: Cluster
) -> None:
    paths, scheduler, job_id = one_queued(slurm_org(git_repo).root)
    slurm_cluster.stop_controller()
    said = tick_until_said(scheduler, "stays queued", 90)
    assert "Unable to contact slurm controller" in said
    assert [(j.id, j.state) for j in jobs(paths)] == [(job_id, JobState.QUEUED)]
    assert engine_status(paths)["reachable"] is False

    slurm_cluster.start_controller()
    wait_for(  # retried every RETRY_S
        lambda: (
            scheduler.tick(time.time(), OrgState(), None) is not None
            and jobs(paths)[0].engine_id is not None
        ),
        "the job to be submitted once the controller is back",
        90,
    )
    final = wait_for(ended(1, paths), "the job to end", 120)
    assert final[0].state == JobState.DONE
    assert engine_status(paths)["reachable"] is True
    assert len(submitted(slurm_cluster, paths)) == 1
