"""The experiment queue in the TUI: the queue screen, cancelling from it, agents' job counts on
their cards, and the header's idle GPU count from a replayed trace."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable

from orgtui.gpu import GpuSampler, ReplaySource
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job, JobKind, JobState, load_job, submit, transition
from orgtui.tui.screens.dialogs import ConfirmDialog
from orgtui.tui.screens.queue import QueueScreen
from orgtui.tui.widgets.agent_card import AgentCard
from tests.ledger.synth import power_law, write_run
from tests.tui.conftest import FIXTURES, NOW, SIZE, settle
from tests.tui.test_keys import shows


def job(name: str, variant: str, seed: int, agent: str, created: float, **changes) -> Job:
    return Job(
        id=name,
        variant=variant,
        seed=seed,
        command=("python", "-m", "nanochat.train"),
        run_id=f"{variant}-s{seed}-{name}",
        commit="a" * 40,
        agent=agent,
        created=created,
    ).with_changes(**changes)


def fill_queue(root: Path) -> OrgPaths:
    """ada: one ``deep`` seed running on gpu1 for 2 minutes and one queued; bo: a control
    queued (it runs first); one job done; one file broken by hand. Finished ``deep`` runs took
    5 minutes each."""
    paths = OrgPaths(root)
    for seed in range(2):
        run_dir = write_run(
            paths.runs_dir, f"deep-done-s{seed}", variant="deep", seed=seed, curve=power_law()
        )
        metrics = run_dir / "metrics.jsonl"
        metrics.write_text(metrics.read_text().replace('"wall_s": 1.0', '"wall_s": 300.0'))
    submit(
        paths,
        [
            job("j1-run", "deep", 0, "ada", NOW - 600),
            job("j2-ada", "deep", 1, "ada", NOW - 500),
            job("j3-ctl", "baseline", 3, "bo", NOW - 400, kind=JobKind.CONTROL, priority=10),
            job("j0-old", "nocap", 9, "ada", NOW - 900),
        ],
    )
    running = {"state": JobState.RUNNING, "started": NOW - 120, "slot": "gpu1"}
    transition(paths, "j1-run", (JobState.QUEUED,), **running)
    finished = {"state": JobState.DONE, "started": NOW - 890, "ended": NOW - 700}
    transition(paths, "j0-old", (JobState.QUEUED,), **finished)
    (paths.queue_dir / "j9-broken.json").write_text('{"id": "j9-broken", "variant": ')
    return paths


def rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_queue_screen_shows_slots_jobs_in_order_and_malformed_files(
    make_app, org_root
) -> None:
    fill_queue(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("Q")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        title = str(app.screen.query_one("#queue-title").render())
        assert "4 slots · 1 running · 2 queued · 1 malformed" in title
        slots = str(app.screen.query_one("#queue-slots").render()).splitlines()
        assert [line.split()[0] for line in slots] == ["gpu0", "gpu1", "gpu2", "gpu3"]
        assert "free" in slots[0]
        assert "deep seed 0 · ada · ran 2m · ~3m left" in slots[1]
        shown = rows(app.screen.query_one(DataTable))
        # running, then queued with the control first, then finished, then the broken file
        assert [(r[0], r[1]) for r in shown] == [
            ("j1-run", "running"),
            ("j3-ctl", "queued"),
            ("j2-ada", "queued"),
            ("j0-old", "done"),
            ("j9-broken", "malformed"),
        ]
        assert shown[0][8] == "~3m left" and shown[0][7] == "2m"
        assert shown[2][8] == "in ~5m"  # a free GPU takes it at once; deep runs take 5m
        assert shown[3][7] == "3m"  # how long the finished one ran
        assert shown[4][9].startswith("malformed: not a job")


async def test_cancel_asks_first_then_cancels_the_selected_job(make_app, org_root) -> None:
    paths = fill_queue(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("Q")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("j2-ada"))
        await pilot.press("c")
        assert await shows(pilot, ConfirmDialog)
        await pilot.press("escape")  # keep it
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        assert load_job(paths.job_file("j2-ada")).state == JobState.QUEUED
        await pilot.press("c")
        assert await shows(pilot, ConfirmDialog)
        await pilot.click("#ok")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        assert load_job(paths.job_file("j2-ada")).state == JobState.CANCELLED
        states = {r[0]: r[1] for r in rows(app.screen.query_one(DataTable))}
        assert states["j2-ada"] == "cancelled"  # the screen followed the new snapshot
        # a running job is asked to stop: the engine stops it, the row says so
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("j1-run"))
        await pilot.press("c")
        assert await shows(pilot, ConfirmDialog)
        await pilot.click("#ok")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        running = load_job(paths.job_file("j1-run"))
        assert running.state == JobState.RUNNING and running.reason.startswith("cancel:")
        assert rows(app.screen.query_one(DataTable))[0][1] == "running (stopping)"
        # nothing to cancel on a finished job or a broken file: no dialog
        for finished in ("j0-old", "j9-broken"):
            table.move_cursor(row=table.get_row_index(finished))
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, QueueScreen)
    assert load_job(paths.job_file("j0-old")).state == JobState.DONE


async def test_cancel_key_is_remappable_and_in_help(make_app, org_root) -> None:
    paths = fill_queue(org_root)
    app = make_app(keys={"queue": "o", "queue.cancel": "x"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o")
        assert await shows(pilot, QueueScreen)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("j3-ctl"))
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("x")
        assert await shows(pilot, ConfirmDialog)
        await pilot.click("#ok")
        await settle(pilot)
        assert "x" in str(app.screen.query_one("KeyBar").render())
    assert load_job(paths.job_file("j3-ctl")).state == JobState.CANCELLED
    help_rows = {text: key for key, text in app.help_rows()}
    assert help_rows["the experiment queue: slots, jobs, estimated finish; cancel a job"] == "o"
    assert help_rows["on the queue screen: cancel the selected job (asks first)"] == "x"
    assert "adopt the selected variant" in " ".join(help_rows)


async def test_cards_count_each_agents_queued_and_running_jobs(make_app, org_root) -> None:
    fill_queue(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cards = {c.agent: c for c in app.screen.query(AgentCard)}
        assert (cards["ada"].view.jobs_queued, cards["ada"].view.jobs_running) == (1, 1)
        assert "1 queued · 1 running" in str(cards["ada"].render())
        assert "1 queued" in str(cards["bo"].render())
        assert "queued" not in str(cards["cy"].render())
        assert app.snapshot.queue.malformed == 1


def replay_into_ring(paths: OrgPaths, tmp_path: Path, frames: int) -> None:
    """The committed H100 trace replayed through the supervisor's sampler, two GPUs a frame
    (GPU 1 runs 50 frames ahead of GPU 0), the last sample taken at ``NOW``."""
    rows = [json.loads(line) for line in (FIXTURES / "nvml_h100_trace.jsonl").open()]
    trace = tmp_path / "two_gpus.jsonl"
    with trace.open("w") as out:
        for i in range(frames):
            out.write(json.dumps(rows[i]) + "\n")
            out.write(json.dumps(rows[i + 50] | {"index": 1, "t": rows[i]["t"]}) + "\n")
    paths.gpu_samples.unlink()
    sampler = GpuSampler(paths, ReplaySource(trace, by_call=True), every_s=0.1)
    end = rows[frames - 1]["t"]
    for row in rows[:frames]:
        assert sampler.tick(NOW - (end - row["t"]), {}, {}) is not None


async def test_header_counts_gpus_idle_for_the_configured_window(
    make_app, org_root, tmp_path
) -> None:
    """At frame 580 of the trace GPU 0 has been idle for about 58 s, GPU 1 for under 1 s."""
    paths = OrgPaths(org_root)
    toml = org_root / "org.toml"
    toml.write_text(toml.read_text() + "\n[discipline]\nidle_minutes = 0.5\n")
    replay_into_ring(paths, tmp_path, 580)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.idle_gpus == (0,)
        assert "1 idle GPU" in str(app.screen.query_one("#org-header").render())
    toml.write_text(toml.read_text().replace("idle_minutes = 0.5", "idle_minutes = 1.5"))
    async with make_app().run_test(size=SIZE) as pilot:  # not idle for 90 s yet
        await settle(pilot)
        assert pilot.app.snapshot.idle_gpus == ()
        assert "idle GPU" not in str(pilot.app.screen.query_one("#org-header").render())
    toml.write_text(toml.read_text().replace('gpus = "auto"', 'gpus = "none"'))
    toml.write_text(toml.read_text().replace("idle_minutes = 1.5", "idle_minutes = 0.5"))
    async with make_app().run_test(size=SIZE) as pilot:  # no GPUs in this org: no GPU line
        await settle(pilot)
        assert pilot.app.snapshot.idle_gpus == ()


def test_the_idle_window_is_read_once_then_only_new_samples(org_root, tmp_path) -> None:
    """Each refresh reads the samples added since the last one, and the count follows them."""
    from orgtui.snapshot import Feed

    paths = OrgPaths(org_root)
    toml = org_root / "org.toml"
    toml.write_text(toml.read_text() + "\n[discipline]\nidle_minutes = 0.5\n")
    replay_into_ring(paths, tmp_path, 560)
    feed = Feed(org_root)
    rows = [json.loads(line) for line in (FIXTURES / "nvml_h100_trace.jsonl").open()]
    assert feed.snapshot(now=NOW).idle_gpus == (0,)
    window = list(feed._window)
    assert window[0].time <= NOW - 30 < window[1].time  # the window and one sample before it
    # the trace goes on: GPU 0 gets busy at frame 580
    with paths.gpu_samples.open("a") as ring:
        for i in range(560, 600):
            t = NOW + rows[i]["t"] - rows[559]["t"]
            gpus = [rows[i] | {"index": 0}, rows[i + 50] | {"index": 1}]
            line = {"t": t, "source": "replay", "gpus": gpus, "owners": []}
            ring.write(json.dumps(line) + "\n")
            ring.flush()
            if i in (575, 599):
                idle = feed.snapshot(now=t).idle_gpus
                assert idle == ((0,) if i == 575 else ())
    assert feed._window[-1].time == t and feed._window[0].time <= t - 30


def test_queued_jobs_are_listed_in_the_schedulers_order(org_root) -> None:
    """Fair turns: bo's one job comes second, not after all of ada's older ones."""
    from orgtui.snapshot import Feed

    paths = OrgPaths(org_root)
    older = [job(f"a{i}", "deep", i, "ada", NOW - 100 + i) for i in range(3)]
    submit(paths, [*older, job("b0", "wide", 0, "bo", NOW - 50)])
    queue = Feed(org_root).snapshot(now=NOW).queue
    assert [j.id for j in queue.in_state("queued")] == ["a0", "b0", "a1", "a2"]
    assert queue.slots == ("gpu0", "gpu1", "gpu2", "gpu3")  # the GPUs the samples show
