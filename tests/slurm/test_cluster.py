"""The test Slurm itself: GPUs scheduled for real, the node's limit kept, preemption, a
stopped controller, and two clusters side by side as two pytest-xdist workers run them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

from tests.slurm.cluster import Cluster, running_cluster

FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "PREEMPTED", "TIMEOUT", "NODE_FAIL"}


def submit(cluster: Cluster, out: Path, command: str, *options: str) -> int:
    """``sbatch --parsable`` one 1-CPU job whose output goes to ``out/JOBID.out``."""
    proc = cluster.run(
        "sbatch", "--parsable", "--cpus-per-task=1", "-o", str(out / "%j.out"),
        *options, "--wrap", command,
    )  # fmt: skip
    return int(proc.stdout.strip().split(";")[0])


def wait_jobs(
    cluster: Cluster, ids: list[int], done: Callable[[dict[int, dict[str, Any]]], bool]
) -> list[dict[int, dict[str, Any]]]:
    """Every ``squeue --json`` snapshot of ``ids`` taken until ``done`` holds (at most 20 s)."""
    snapshots = []
    deadline = time.monotonic() + 20
    while True:
        jobs = {job["job_id"]: job for job in cluster.squeue() if job["job_id"] in ids}
        snapshots.append(jobs)
        if done(jobs):
            return snapshots
        assert time.monotonic() < deadline, f"jobs {ids} stuck: {jobs}"
        time.sleep(0.2)


def states(jobs: dict[int, dict[str, Any]]) -> list[str]:
    return sorted(job["job_state"] for job in jobs.values())


def all_finished(ids: list[int]) -> Callable[[dict[int, dict[str, Any]]], bool]:
    return lambda jobs: len(jobs) == len(ids) and set(states(jobs)) <= FINISHED


def test_gpu_jobs_get_their_own_device_and_the_node_limit_holds(
    slurm_cluster: Cluster, tmp_path: Path
) -> None:
    n_jobs = slurm_cluster.max_concurrent + 1
    ids = [
        submit(slurm_cluster, tmp_path, "echo $CUDA_VISIBLE_DEVICES; sleep 2",
               "--gres=gpu:1", f"--job-name=seed{i}")
        for i in range(n_jobs)
    ]  # fmt: skip
    snapshots = wait_jobs(slurm_cluster, ids, all_finished(ids))

    # squeue --json listed every job with its state; the one that did not fit waited.
    running = max(states(jobs).count("RUNNING") for jobs in snapshots)
    assert running == slurm_cluster.max_concurrent
    assert any(
        job["job_state"] == "PENDING" and job["state_reason"] == "Resources"
        for jobs in snapshots
        for job in jobs.values()
    )
    final = snapshots[-1]
    assert states(final) == ["COMPLETED"] * n_jobs
    assert sorted(job["name"] for job in final.values()) == [f"seed{i}" for i in range(n_jobs)]
    assert all(job["exit_code"] == 0 and job["end_time"] >= job["start_time"] > 0
               for job in final.values())  # fmt: skip

    devices = {job: (tmp_path / f"{job}.out").read_text().strip() for job in ids}
    assert set(devices.values()) <= {str(i) for i in range(slurm_cluster.gpus)}, devices
    done = {row["JobId"]: row for row in slurm_cluster.jobcomp() if row["JobId"] in ids}
    assert sorted(done) == sorted(ids)
    assert all(row["JobState"] == "COMPLETED" for row in done.values())
    overlapping = [
        (a, b)
        for a, b in combinations(ids, 2)
        if done[a]["StartTime"] < done[b]["EndTime"] and done[b]["StartTime"] < done[a]["EndTime"]
    ]
    assert overlapping, "no two jobs ran at once"
    assert all(devices[a] != devices[b] for a, b in overlapping), (devices, overlapping)
    for job in ids:  # no instant had more jobs running than the node allows
        start = done[job]["StartTime"]
        at_once = [j for j in ids if done[j]["StartTime"] <= start < done[j]["EndTime"]]
        assert len(at_once) <= slurm_cluster.max_concurrent


def test_an_urgent_job_preempts_one_running_job(slurm_cluster: Cluster, tmp_path: Path) -> None:
    ids = [
        submit(slurm_cluster, tmp_path, "sleep 60", "--gres=gpu:1")
        for _ in range(slurm_cluster.max_concurrent)
    ]
    wait_jobs(slurm_cluster, ids, lambda jobs: states(jobs) == ["RUNNING"] * len(ids))

    urgent = slurm_cluster.preempt(1)
    snapshots = wait_jobs(slurm_cluster, [*ids, urgent], lambda jobs: "PREEMPTED" in states(jobs))

    jobs = snapshots[-1]
    victims = [job for job in ids if jobs[job]["job_state"] == "PREEMPTED"]
    assert len(victims) == 1
    assert jobs[victims[0]]["preempt_time"] > 0
    assert [jobs[job]["job_state"] for job in ids if job not in victims] == ["RUNNING"]
    assert jobs[urgent]["partition"] == slurm_cluster.urgent
    wait_jobs(slurm_cluster, [urgent], all_finished([urgent]))
    rows = {row["JobId"]: row["JobState"] for row in slurm_cluster.jobcomp()}
    assert rows[victims[0]] == "PREEMPTED"
    assert rows[urgent] == "COMPLETED"


def test_a_stopped_controller_refuses_clients_and_keeps_its_jobs(
    slurm_cluster: Cluster, tmp_path: Path
) -> None:
    job = submit(slurm_cluster, tmp_path, "sleep 60", "--gres=gpu:1")
    wait_jobs(slurm_cluster, [job], lambda jobs: states(jobs) == ["RUNNING"])

    slurm_cluster.stop_controller()
    refused = subprocess.run(
        ["sbatch", "--parsable", "--wrap", "true"], capture_output=True, text=True, timeout=60
    )  # the client environment is the fixture's, set in os.environ
    assert refused.returncode != 0
    assert "Unable to contact slurm controller" in refused.stderr

    slurm_cluster.start_controller()
    assert states(wait_jobs(slurm_cluster, [job], lambda jobs: bool(jobs))[-1]) == ["RUNNING"]


def test_a_second_cluster_runs_beside_the_first(slurm_cluster: Cluster, tmp_path: Path) -> None:
    with running_cluster(tmp_path / "second") as second:
        assert (second.node, second.env) != (slurm_cluster.node, slurm_cluster.env)
        jobs = {}  # both number their jobs from 1: one output directory each
        for cluster in (slurm_cluster, second):
            out = tmp_path / cluster.node
            out.mkdir()
            jobs[cluster.node] = (cluster, submit(cluster, out, "hostname", "--gres=gpu:1"))
        for cluster, job in jobs.values():
            final = wait_jobs(cluster, [job], all_finished([job]))[-1]
            assert states(final) == ["COMPLETED"]
            assert final[job]["nodes"] == cluster.node
