"""``orgtui run`` through the queue: inline without a supervisor, followed with one, --no-wait."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from orgtui.board import messages
from orgtui.ledger import load_run
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import JobKind, JobState, jobs
from tests.conftest import git, wait_for
from tests.queue.orgs import StandIn, org, orgtui, popen_orgtui, train

__all__ = ["org"]


def meta(paths: OrgPaths, run_id: str) -> dict:
    return json.loads((paths.run_dir(run_id) / "run.json").read_text())


def test_without_a_supervisor_the_seeds_run_here_as_queued_jobs(org: Path) -> None:
    head = git(org, "rev-parse", "HEAD")
    env = os.environ | {"ORGTUI_AGENT": "ada"}
    out = orgtui(org, "run", "--variant", "v", "--seeds", "2", *train(), env=env)
    assert out.returncode == 0, out.stderr
    paths = OrgPaths(org)
    done = jobs(paths)
    assert [(j.seed, j.state, j.slot, j.exit_code) for j in done] == [
        (0, JobState.DONE, "inline", 0),
        (1, JobState.DONE, "inline", 0),
    ]
    assert {j.batch for j in done} == {done[0].batch} and done[0].kind == JobKind.REQUEST
    assert all(j.commit == head and j.agent == "ada" and j.thread == "v" for j in done)
    for job in done:  # streamed here, in this work tree, as `orgtui run` always did
        assert f"ready seed {job.seed} in {org}\n" in out.stdout
        assert f"run {job.run_id} (variant v, seed {job.seed})" in out.stderr
        record = meta(paths, job.run_id)
        assert record["job"] == job.id and record["commit"] == head and record["exit_code"] == 0
        assert load_run(paths.run_dir(job.run_id)).status == "ok"
    (result,) = [m for m in messages(paths) if m.kind == "result"]
    assert result.thread == "v" and set(result.refs) == {j.run_id for j in done}


def test_a_failing_seed_fails_its_job_and_the_call(org: Path) -> None:
    out = orgtui(org, "run", "--variant", "v", "--no-post", *train(0, 3))
    assert out.returncode == 1
    (job,) = jobs(OrgPaths(org))
    assert job.state == JobState.FAILED and job.exit_code == 3 and job.reason == "exit code 3"


def test_no_wait_returns_the_job_ids_and_leaves_them_queued(org: Path) -> None:
    out = orgtui(org, "run", "--variant", "v", "--seeds", "3", "--no-wait", *train())
    assert out.returncode == 0, out.stderr
    queued = jobs(OrgPaths(org))
    assert out.stdout.split() == [job.id for job in queued]
    assert all(j.state == JobState.QUEUED and j.post_result for j in queued)
    assert "no supervisor is running" in out.stderr and "orgtui up" in out.stderr
    assert not OrgPaths(org).runs_dir.exists()  # nothing ran
    as_json = orgtui(org, "run", "-v", "w", "--no-wait", "--no-post", "--json", *train())
    (entry,) = json.loads(as_json.stdout)
    (job,) = [j for j in jobs(OrgPaths(org)) if j.variant == "w"]
    assert entry == job.summary() | {"run_id": job.run_id} and not job.post_result


def test_a_dirty_tree_is_snapshotted_without_touching_the_worktree(org: Path) -> None:
    (org / "trainer.py").write_text((org / "trainer.py").read_text() + "# tuned\n")
    (org / "notes.txt").write_text("untracked\n")
    status = git(org, "status", "--porcelain")
    head = git(org, "rev-parse", "HEAD")
    refused = orgtui(org, "run", "--variant", "v", "--no-wait", *train())
    assert refused.returncode == 2 and "uncommitted changes" in refused.stderr
    out = orgtui(org, "run", "-v", "v", "--seeds", "2", "--allow-dirty", "--no-wait", *train())
    assert out.returncode == 0, out.stderr
    assert git(org, "status", "--porcelain") == status and git(org, "rev-parse", "HEAD") == head
    queued = jobs(OrgPaths(org))
    snapshot = queued[0].commit
    assert snapshot != head and all(j.commit == snapshot and j.dirty for j in queued)
    for job in queued:
        assert job.snapshot_ref == f"refs/orgtui/runs/{job.run_id}"
        assert git(org, "rev-parse", job.snapshot_ref) == snapshot
    assert git(org, "show", f"{snapshot}:trainer.py").endswith("# tuned")
    assert git(org, "rev-parse", f"{snapshot}^") == head


def test_with_a_supervisor_the_call_follows_its_jobs_and_streams_their_output(org: Path) -> None:
    (org / "exp").mkdir()
    (org / "exp" / "trainer.py").write_text((org / "trainer.py").read_text())
    git(org, "add", "-A")
    git(org, "commit", "-qm", "exp")
    with StandIn(org, slots=2):
        argv = ["run", "--variant", "v", "--seeds", "2", "--", "python", "trainer.py", "0.3"]
        out = orgtui(org, *argv, cwd=org / "exp")
    assert out.returncode == 0, out.stderr
    paths = OrgPaths(org)
    ran = jobs(paths)
    assert {j.slot for j in ran} <= {"cpu0", "cpu1"} and all(j.state == JobState.DONE for j in ran)
    for job in ran:  # in a checkout of its commit, in the same directory, with the copies
        where = paths.checkouts_dir / job.id / "exp"
        assert f"[{job.seed + 1}/2] run {job.run_id} (variant v, seed {job.seed}) on " in out.stderr
        assert job.workdir == "exp" and meta(paths, job.run_id)["slot"] == job.slot
        assert not (paths.checkouts_dir / job.id).exists()  # removed afterwards
        log = (paths.run_dir(job.run_id) / "output.log").read_text()
        assert log.startswith(f"ready seed {job.seed} in {where}\n") and log in out.stdout
    first, second = (out.stdout.index(f"ready seed {s}") for s in (0, 1))
    assert first < second  # each job's output whole, in order
    assert "verdict" in out.stdout or "no baseline" in out.stdout


def test_ctrl_c_while_following_cancels_the_calls_jobs(org: Path) -> None:
    paths = OrgPaths(org)
    with (
        StandIn(org, slots=1),
        popen_orgtui(org, "run", "-v", "v", "--seeds", "3", *train(60)) as p,
    ):
        wait_for(lambda: [j for j in jobs(paths) if j.state == JobState.RUNNING], "a running job")
        first = next(j for j in jobs(paths) if j.state == JobState.RUNNING)
        log = paths.run_dir(first.run_id) / "output.log"
        wait_for(lambda: log.exists() and "ready" in log.read_text(), "the trainer to start")
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    ended = jobs(paths)
    assert all(j.state == JobState.CANCELLED for j in ended), [(j.state, j.reason) for j in ended]
    assert load_run(paths.run_dir(first.run_id)).status == "killed"
    assert [p.name for p in paths.runs_dir.iterdir()] == [first.run_id]


def test_a_command_that_cannot_start_fails_its_job_and_cancels_the_rest(org: Path) -> None:
    out = orgtui(org, "run", "-v", "v", "--seeds", "2", "--", "no-such-trainer-here")
    assert out.returncode == 2 and "cannot start 'no-such-trainer-here'" in out.stderr
    first, second = jobs(OrgPaths(org))
    assert first.state == JobState.FAILED and "cannot start" in first.reason
    assert second.state == JobState.CANCELLED and second.started is None


def test_orgtui_cancel_reaches_a_seed_running_inline(org: Path) -> None:
    paths = OrgPaths(org)
    with popen_orgtui(org, "run", "-v", "v", "--seeds", "2", "--no-post", *train(60)) as p:
        running = wait_for(
            lambda: [j for j in jobs(paths) if j.state == JobState.RUNNING], "a running job"
        )[0]
        log = paths.run_dir(running.run_id) / "output.log"
        wait_for(lambda: log.exists() and "ready" in log.read_text(), "the trainer to start")
        out = orgtui(org, "cancel", *(j.id for j in jobs(paths)))
        assert out.returncode == 0, out.stderr
        _out, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    assert f"run {running.run_id} cancelled" in err
    assert [j.state for j in jobs(paths)] == [JobState.CANCELLED, JobState.CANCELLED]
    assert load_run(paths.run_dir(running.run_id)).status == "killed"
    assert jobs(paths)[0].slot == "inline" and jobs(paths)[0].engine_id == str(p.pid)
