"""The job store: atomic files, compare-and-set transitions, hostile files read as malformed."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.paths import OrgPaths
from orgtui.queue.jobs import (
    Job,
    JobKind,
    JobState,
    MalformedJob,
    QueueError,
    cancel,
    cancel_requested,
    find_job,
    jobs,
    load_job,
    new_job_id,
    parse_job,
    read_queue,
    submit,
    transition,
)


def make_job(**changes: object) -> Job:
    job = Job(
        id=new_job_id(),
        variant="wide",
        seed=0,
        command=("python", "-m", "nanochat.train"),
        run_id="wide-s0-20261203000000-abcd",
        commit="a" * 40,
        agent="bo",
    )
    return job.with_changes(**changes)


def test_submitted_job_reads_back_equal_and_file_is_private(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    [written] = submit(paths, [make_job(kind=JobKind.CONTROL, priority=10, max_flops=1e12)])
    assert written.created > 0 and written.state == JobState.QUEUED
    assert read_queue(paths) == [written]
    mode = os.stat(paths.job_file(written.id)).st_mode & 0o777
    assert mode == 0o600


def test_unknown_keys_survive_a_rewrite(tmp_path: Path) -> None:
    """A newer orgtui's fields are kept when this version moves the job along."""
    paths = OrgPaths(tmp_path)
    [job] = submit(paths, [make_job()])
    data = json.loads(paths.job_file(job.id).read_text())
    data["slurm_array"] = [1, 2]
    paths.job_file(job.id).write_text(json.dumps(data))
    transition(paths, job.id, (JobState.QUEUED,), state=JobState.RUNNING, slot="cpu0")
    assert json.loads(paths.job_file(job.id).read_text())["slurm_array"] == [1, 2]


def test_transition_is_compare_and_set(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    [job] = submit(paths, [make_job()])
    claimed = transition(paths, job.id, (JobState.QUEUED,), state=JobState.RUNNING, slot="gpu1")
    assert claimed is not None and claimed.slot == "gpu1"
    again = transition(paths, job.id, (JobState.QUEUED,), state=JobState.RUNNING, slot="gpu2")
    assert again is None
    assert find_job(paths, job.id).slot == "gpu1"


def test_concurrent_claims_give_the_job_to_exactly_one(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    [job] = submit(paths, [make_job()])
    winners: list[str] = []

    def claim(slot: str) -> None:
        if transition(paths, job.id, (JobState.QUEUED,), state=JobState.RUNNING, slot=slot):
            winners.append(slot)

    threads = [threading.Thread(target=claim, args=(f"cpu{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert find_job(paths, job.id).slot == winners[0]


def test_cancel_queued_running_and_finished(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    queued, running, done = submit(paths, [make_job(), make_job(), make_job()])
    transition(paths, running.id, (JobState.QUEUED,), state=JobState.RUNNING)
    transition(paths, done.id, (JobState.QUEUED,), state=JobState.DONE, exit_code=0)

    assert cancel(paths, queued.id).state == JobState.CANCELLED
    marked = cancel(paths, running.id, "not needed")
    assert marked.state == JobState.RUNNING and cancel_requested(marked)
    with pytest.raises(QueueError, match="already ended"):
        cancel(paths, done.id)
    with pytest.raises(QueueError, match="no job"):
        cancel(paths, "j-nope")


def test_find_job_by_unique_prefix_and_ambiguity(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    first, _second = submit(paths, [make_job(id="jab-1"), make_job(id="jab-2")])
    assert find_job(paths, "jab-1") == first
    with pytest.raises(QueueError, match="matches 2 jobs"):
        find_job(paths, "jab")


def test_special_files_and_directories_are_malformed_not_opened(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    [job] = submit(paths, [make_job()])
    os.mkfifo(paths.queue_dir / "jfifo.json")  # opening it for reading would hang
    (paths.queue_dir / "jdir.json").mkdir()
    (paths.queue_dir / "jlink.json").symlink_to("/dev/zero")
    entries = read_queue(paths)
    malformed = {e.id: e.problem for e in entries if isinstance(e, MalformedJob)}
    assert set(malformed) == {"jfifo", "jdir", "jlink"}
    assert jobs(paths) == [job]
    with pytest.raises(QueueError, match="malformed"):
        find_job(paths, "jfifo")


def test_a_file_holding_another_jobs_id_is_malformed(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    [job] = submit(paths, [make_job()])
    paths.job_file("jcopy").write_text(paths.job_file(job.id).read_text())
    entry = load_job(paths.job_file("jcopy"))
    assert isinstance(entry, MalformedJob) and job.id in entry.problem


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=12,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(set(Job.__dataclass_fields__) - {"extra"})), value=JSON_VALUES)
def test_any_value_in_any_field_reads_as_a_job_or_as_malformed(
    tmp_path: Path, key: str, value: object
) -> None:
    paths = OrgPaths(tmp_path)
    job = make_job(id="jfuzz")
    data = job.to_json() | {key: value}
    paths.queue_dir.mkdir(parents=True, exist_ok=True)
    paths.job_file("jfuzz").write_text(json.dumps(data))
    entry = load_job(paths.job_file("jfuzz"))
    if isinstance(entry, Job):  # whatever was accepted is usable and writes back the same
        assert parse_job(json.loads(json.dumps(entry.to_json(), allow_nan=False))) == entry
        assert isinstance(entry.seed, int) and entry.seed >= 0 and entry.command
        assert entry.max_flops is None or math.isfinite(entry.max_flops)
        assert isinstance(entry.state, JobState) and isinstance(entry.kind, JobKind)
    else:
        assert entry.problem


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_are_malformed(tmp_path: Path, raw: bytes) -> None:
    paths = OrgPaths(tmp_path)
    paths.queue_dir.mkdir(parents=True, exist_ok=True)
    paths.job_file("jbytes").write_bytes(raw)
    entry = load_job(paths.job_file("jbytes"))
    assert isinstance(entry, MalformedJob) or entry.id == "jbytes"
