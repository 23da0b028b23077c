"""An org on Slurm in the TUI: each job's Slurm id and state on the queue screen and the cards,
the header's warning when Slurm does not answer, and ``.org/engine.json`` read safely whatever
is in its place (the file is the supervisor's; anyone can replace it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import DataTable

from orgtui.atomic import atomic_write_bytes, atomic_write_json
from orgtui.config import load_config
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import JobState, submit, transition
from orgtui.snapshot import ENGINE_STATUS_LIMIT, Feed, read_engine_status
from orgtui.tui.screens.queue import QueueScreen
from orgtui.tui.widgets.agent_card import AgentCard
from orgtui.views import EngineView
from tests.tui.conftest import NOW, SIZE, settle
from tests.tui.test_keys import shows
from tests.tui.test_queue import job, rows

SLURM = '\n[compute]\nengine = "slurm"\n\n[compute.slurm]\npartition = "debug"\nmax_jobs = 4\n'
DOWN = "`squeue` did not answer in 30 s: is slurmctld up?"


def on_slurm(root: Path) -> OrgPaths:
    """The org on Slurm: cy's job 12 runs, ada's 13 waits for resources, bo's 14 was submitted
    (its state not known yet), one of ada's is not submitted, one of bo's ended."""
    toml = root / "org.toml"
    toml.write_text(toml.read_text() + SLURM)
    paths = OrgPaths(root)
    submit(
        paths,
        [
            job("j1-cy", "deep", 0, "cy", NOW - 600),
            job("j2-ada", "deep", 1, "ada", NOW - 500),
            job("j3-bo", "wide", 2, "bo", NOW - 450),
            job("j4-ada", "deep", 3, "ada", NOW - 400),
            job("j5-bo", "wide", 4, "bo", NOW - 900),
        ],
    )
    for name, slot, slurm_id in (("j1-cy", 0, "12"), ("j2-ada", 1, "13"), ("j3-bo", 2, "14")):
        running = {"state": JobState.RUNNING, "started": NOW - 120, "slot": f"slurm{slot}"}
        transition(paths, name, (JobState.QUEUED,), engine_id=slurm_id, **running)
    ended = {"state": JobState.DONE, "started": NOW - 890, "ended": NOW - 700, "engine_id": "9"}
    transition(paths, "j5-bo", (JobState.QUEUED,), **ended)
    write_status(paths, reachable=True)
    return paths


def write_status(paths: OrgPaths, *, reachable: bool, error: str | None = None) -> None:
    """``.org/engine.json`` as the Slurm engine writes it."""
    jobs = {
        "j1-cy": {"slurm_id": "12", "state": "RUNNING", "reason": "None"},
        "j2-ada": {"slurm_id": "13", "state": "PENDING", "reason": "Resources"},
    }
    status = {"engine": "slurm", "reachable": reachable, "error": error, "jobs": jobs}
    atomic_write_json(paths.engine_status, status | {"checked": NOW})


def header(app: Any) -> str:
    return str(app.main_screen.query_one("#org-header").render())


async def test_queue_screen_shows_each_jobs_slurm_id_and_state(make_app, org_root) -> None:
    on_slurm(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("Q")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels[6:8] == ["slot", "slurm"]
        shown = {row[0]: row for row in rows(table)}
        assert shown["j1-cy"][1] == "running" and shown["j1-cy"][7] == "12 RUNNING"
        assert shown["j2-ada"][7] == "13 PENDING (Resources)"
        assert shown["j3-bo"][7] == "14 ?"  # submitted; Slurm's word on it not read yet
        assert shown["j4-ada"][1] == "queued" and shown["j4-ada"][7] == ""
        assert shown["j5-bo"][7] == "9 ?"
        title = str(app.screen.query_one("#queue-title").render())
        assert "4 slots · 3 running · 1 queued · on Slurm" in title
        slots = str(app.screen.query_one("#queue-slots").render()).splitlines()
        assert slots[0].split()[0] == "slurm0" and "cy · slurm 12 RUNNING · ran 2m" in slots[0]
        assert "ada · slurm 13 PENDING (Resources)" in slots[1]
        assert "1 of 4 slots free" in slots[-1] and len(slots) == 4  # free ones not listed


async def test_cards_show_the_agents_slurm_jobs(make_app, org_root) -> None:
    on_slurm(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cards = {c.agent: c for c in app.screen.query(AgentCard)}
        assert "1 running · slurm 12 RUNNING" in str(cards["cy"].render())
        assert [j.label for j in cards["ada"].view.cluster_jobs] == ["slurm 13 PENDING (Resources)"]
        assert [j.label for j in cards["bo"].view.cluster_jobs] == ["slurm 14 ?"]
        assert cards["chief"].view.cluster_jobs == ()
        assert "slurm" not in str(cards["chief"].render())


async def test_header_says_slurm_is_unreachable_only_while_it_is(make_app, org_root) -> None:
    paths = on_slurm(org_root)
    write_status(paths, reachable=False, error=DOWN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert f"Slurm unreachable: {DOWN}" in header(app)
        assert app.main_screen.query_one("#org-header").has_class("-engine-down")
        await pilot.press("Q")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        assert "Slurm unreachable" in str(app.screen.query_one("#queue-title").render())
        write_status(paths, reachable=True)  # the controller is back
        app.refresh_snapshot()
        await settle(pilot)
        assert "on Slurm" in str(app.screen.query_one("#queue-title").render())
        assert "unreachable" not in header(app)
        assert not app.main_screen.query_one("#org-header").has_class("-engine-down")


async def test_a_local_org_reads_no_engine_status(make_app, org_root) -> None:
    """Without ``engine = "slurm"`` the file is not even read: no warning, no column."""
    paths = OrgPaths(org_root)
    write_status(paths, reachable=False, error=DOWN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.engine is None
        assert "unreachable" not in header(app)
        await pilot.press("Q")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert "slurm" not in [str(column.label) for column in table.columns.values()]


def test_the_status_is_read_again_only_when_the_file_changed(org_root) -> None:
    paths = on_slurm(org_root)
    feed = Feed(org_root)
    config = load_config(org_root)
    first = feed.engine_status(config)
    assert first is not None and first.reachable is True
    assert feed.engine_status(config) is first  # unchanged: not parsed again
    write_status(paths, reachable=False, error=DOWN)
    second = feed.engine_status(config)
    assert second is not None and second.warning == f"Slurm unreachable: {DOWN}"
    paths.engine_status.unlink()
    assert feed.engine_status(config) == EngineView("slurm")  # gone: not known


# -- a hostile engine.json --------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value."""
ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), JSON)
STATUS_LIKE = st.fixed_dictionaries(
    {"engine": st.sampled_from(["slurm", "local", "", None]), "reachable": ANY, "error": ANY},
    optional={
        "checked": ANY,
        "jobs": ANY
        | st.dictionaries(
            st.text(),
            ANY
            | st.fixed_dictionaries({}, optional={"slurm_id": ANY, "state": ANY, "reason": ANY}),
            max_size=4,
        ),
    },
)
"""What the engine writes, with any value of any type in each field."""


def sound(view: EngineView) -> None:
    """What the TUI draws from a status: plain values, printable and short."""
    assert view.name == "slurm"
    assert view.reachable in (True, False, None)
    assert view.checked is None or isinstance(view.checked, float)
    texts = [view.warning or "", view.error or ""]
    texts += [job.label for job in view.jobs.values()]
    for text in texts:
        assert isinstance(text, str) and text.isprintable() and len(text) < 400


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=512) | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_read_as_a_status_or_as_not_known(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("engine") / "engine.json"
    atomic_write_bytes(path, data)
    sound(read_engine_status(path, "slurm"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=STATUS_LIKE)
def test_any_field_of_any_type_reads_soundly(tmp_path_factory, status: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("engine") / "engine.json"
    atomic_write_bytes(path, json.dumps(status).encode())
    view = read_engine_status(path, "slurm")
    sound(view)
    if status["engine"] != "slurm":
        assert view == EngineView("slurm")  # another engine's file says nothing of Slurm's
    elif isinstance(status["reachable"], bool):
        assert view.reachable is status["reachable"]


def test_what_cannot_be_read_is_not_known_and_never_blocks(org_root, tmp_path) -> None:
    """A FIFO (opening it would block), a link to /dev/zero (endless), a huge file, deep
    nesting, a directory: the snapshot carries on with the engine's state not known."""
    paths = on_slurm(org_root)
    status = paths.engine_status
    feed = Feed(org_root)
    hostile = {
        "fifo": lambda: os.mkfifo(status),
        "zero": lambda: status.symlink_to("/dev/zero"),
        "huge": lambda: status.write_bytes(b" " * (ENGINE_STATUS_LIMIT + 1) + b"{}"),
        "deep": lambda: status.write_text("[" * 100_000 + "]" * 100_000),
        "directory": lambda: status.mkdir(),
        "big number": lambda: status.write_text(
            '{"engine": "slurm", "checked": 1' + "0" * 400 + "}"
        ),
    }
    for name, make in hostile.items():
        if status.is_dir() and not status.is_symlink():
            status.rmdir()
        else:
            status.unlink(missing_ok=True)
        make()
        snapshot = feed.snapshot(now=NOW)
        assert snapshot.engine is not None, name
        assert snapshot.engine.reachable is None and snapshot.engine.jobs == {}, name
        jobs = {j.id: j for j in snapshot.queue.jobs}
        # the job files still say which Slurm job each is
        assert jobs["j1-cy"].cluster is not None and jobs["j1-cy"].cluster.label == "slurm 12 ?"
