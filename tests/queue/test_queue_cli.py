"""``orgtui queue`` and ``orgtui cancel``: what people and agents see, whatever the files hold."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.cli import main
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job, JobState, find_job, new_job_id, submit, transition


def make_job(**changes: object) -> Job:
    job = Job(
        id=new_job_id(),
        variant="wide",
        seed=0,
        command=("python", "-m", "nanochat.train"),
        run_id=f"wide-s0-20261203000000-{os.urandom(2).hex()}",
        commit="a" * 40,
        agent="bo",
    )
    return job.with_changes(**changes)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "org.toml").write_text('[org]\nname = "lab"\n')
    return tmp_path


def queue_json(root: Path, capsys: pytest.CaptureFixture[str], *more: str) -> list[dict]:
    assert main(["queue", "--root", str(root), "--json", *more]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_lists_jobs_with_the_documented_keys_and_malformed_files(root, capsys) -> None:
    paths = OrgPaths(root)
    queued, running = submit(paths, [make_job(), make_job(variant="deep", seed=2, agent=None)])
    transition(paths, running.id, (JobState.QUEUED,), state=JobState.RUNNING, slot="gpu3")
    (paths.queue_dir / "jbroken.json").write_text('{"id": "jbroken", "variant": 7')
    listed = queue_json(root, capsys)
    assert [entry["id"] for entry in listed] == [queued.id, running.id, "jbroken"]
    assert listed[0] == queued.summary()
    assert list(listed[0]) == [
        "id",
        "variant",
        "seed",
        "agent",
        "state",
        "slot",
        "priority",
        "engine_id",
    ]
    assert listed[1]["slot"] == "gpu3" and listed[1]["state"] == "running"
    assert listed[2]["state"] == "malformed" and "not a job" in listed[2]["problem"]


def test_the_table_shows_jobs_and_malformed_files(root, capsys) -> None:
    paths = OrgPaths(root)
    submit(paths, [make_job(variant="w-[bold]x")])  # not a valid name: a malformed file
    submit(paths, [make_job(agent="ada")])
    assert main(["queue", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "malformed" in out and "not a valid name" in out
    assert "ada" in out and "queued" in out and "wide" in out


def test_ended_jobs_older_than_an_hour_are_hidden_unless_all(root, capsys) -> None:
    paths = OrgPaths(root)
    old, recent, waiting = submit(paths, [make_job(), make_job(), make_job()])
    for job, ended in ((old, time.time() - 7200), (recent, time.time() - 60)):
        transition(paths, job.id, (JobState.QUEUED,), state=JobState.DONE, ended=ended)
    assert [e["id"] for e in queue_json(root, capsys)] == [recent.id, waiting.id]
    all_ids = [e["id"] for e in queue_json(root, capsys, "--all")]
    assert all_ids == [old.id, recent.id, waiting.id]


def test_an_empty_queue_says_how_to_fill_it(root, capsys) -> None:
    assert main(["queue", "--root", str(root)]) == 0
    assert "orgtui run" in capsys.readouterr().out
    assert queue_json(root, capsys) == []


def test_cancel_cancels_each_job_and_reports_the_unknown_ones(root, capsys) -> None:
    paths = OrgPaths(root)
    first, second, running = submit(paths, [make_job(), make_job(), make_job()])
    transition(paths, running.id, (JobState.QUEUED,), state=JobState.RUNNING, slot="cpu0")
    code = main(["cancel", "--root", str(root), first.id, "jnosuchjob", second.id, running.id])
    captured = capsys.readouterr()
    assert code == 1
    assert "no job 'jnosuchjob'" in captured.err and "orgtui queue" in captured.err
    assert find_job(paths, first.id).state == JobState.CANCELLED
    assert find_job(paths, second.id).state == JobState.CANCELLED
    marked = find_job(paths, running.id)  # its engine stops it, then it ends cancelled
    assert marked.state == JobState.RUNNING and marked.reason.startswith("cancel:")
    assert f"{running.id}: running on cpu0" in captured.out
    again = main(["cancel", "--root", str(root), first.id])
    assert again == 1 and "already ended" in capsys.readouterr().err


# --------------------------------------------------------------------------- hostile files

FIELDS = list(make_job().to_json())
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def _hostile(draw_job: dict, key: str, value: object) -> bytes:
    data = dict(draw_job)
    data[key] = value
    return json.dumps(data, allow_nan=True).encode()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["bytes", "field", "fifo", "dir", "symlink"]),
    blob=st.binary(max_size=200),
    key=st.sampled_from(FIELDS),
    value=values,
)
def test_no_queue_file_breaks_the_listing(root, capsys, kind, blob, key, value) -> None:
    paths = OrgPaths(root)
    paths.queue_dir.mkdir(parents=True, exist_ok=True)
    for old in paths.queue_dir.iterdir():
        if old.name != ".lock":
            old.rmdir() if old.is_dir() and not old.is_symlink() else old.unlink()
    job = make_job()
    path = paths.queue_dir / f"{job.id}.json"
    if kind == "bytes":
        path.write_bytes(blob)
    elif kind == "field":
        path.write_bytes(_hostile(job.to_json(), key, value))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    else:
        path.symlink_to(root / "org.toml")
    (entry,) = queue_json(root, capsys, "--all")
    assert entry["id"] == job.id
    assert entry["state"] in {"malformed", *map(str, JobState)}
    if entry["state"] == "malformed":
        assert entry["problem"]
    assert main(["queue", "--root", str(root), "--all"]) == 0  # the table too
    assert job.id[:15] in capsys.readouterr().out
    code = main(["cancel", "--root", str(root), job.id])
    assert code in (0, 1)
    capsys.readouterr()
