"""The TUI's verb keys against a real supervisor on a private tmux socket.

Each test presses one key in the app (run in-process through Pilot) and checks what happened
to the agent: its processes, its window, its seat in state.json, the board.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select

from orgtui import board, procs
from orgtui.commands.tui import run_cli
from orgtui.paths import OrgPaths
from orgtui.tui.app import OrgApp
from orgtui.tui.screens.dialogs import HandoffDialog, NewAgentDialog
from tests.conftest import wait_for
from tests.supervisor.helpers import orgtui, pane_pid, state, supervisor_up, windows, write_org
from tests.tui.conftest import SIZE, settle
from tests.tui.test_keys import shows

AGENTS = {"a1": "sleep 1000", "a2": "sleep 1000"}


@pytest.fixture
def running_org(git_repo: Path, tmux_socket: str) -> Iterator[Path]:
    """Two `command` agents under a supervisor that answers; everything down afterwards."""
    write_org(git_repo, AGENTS)
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor")
        wait_for(
            lambda: all(state(git_repo)["agents"].get(n, {}).get("pane_pid") for n in AGENTS),
            "both agents",
        )
        yield git_repo
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


def tui(root: Path, socket: str) -> OrgApp:
    return OrgApp(root, socket, live=False, cli_runner=run_cli)


def seat(root: Path, name: str) -> dict:
    return state(root)["agents"].get(name, {})


async def test_s_stops_the_agents_processes(running_org: Path, tmux_socket: str) -> None:
    app = tui(running_org, tmux_socket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")  # a1, the first card
        await settle(pilot)
    wait_for(lambda: procs.any_stopped(seat(running_org, "a1")["pane_pid"]), "a1 in state T")
    assert seat(running_org, "a1")["status"] == "suspended"
    assert not procs.any_stopped(seat(running_org, "a2")["pane_pid"])


async def test_p_parks_the_agent(running_org: Path, tmux_socket: str) -> None:
    app = tui(running_org, tmux_socket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "p")  # a2
        await settle(pilot)
    wait_for(lambda: seat(running_org, "a2")["status"] == "parked", "a2 parked")
    assert "a2" not in windows(tmux_socket) and "a1" in windows(tmux_socket)


async def test_r_restarts_the_agent_in_a_new_process(running_org: Path, tmux_socket: str) -> None:
    before = pane_pid(tmux_socket, "a1")
    app = tui(running_org, tmux_socket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
    after = wait_for(
        lambda: (pid := pane_pid(tmux_socket, "a1")) != before and pid, "a new pane process"
    )
    assert procs.pid_alive(after) and not procs.pid_alive(before)
    wait_for(lambda: seat(running_org, "a1")["pane_pid"] == after, "state.json follows")


async def test_h_hands_the_work_to_another_agent(running_org: Path, tmux_socket: str) -> None:
    app = tui(running_org, tmux_socket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        assert await shows(pilot, HandoffDialog)
        app.screen.query_one("#agent", Select).value = "a2"
        app.screen.query_one("#ok", Button).press()
        await settle(pilot)
    paths = OrgPaths(running_org)
    handoffs = wait_for(
        lambda: [m for m in board.messages(paths) if m.kind == "handoff"], "the handoff message"
    )
    (message,) = handoffs
    assert message.to == ("a2",) and message.subject == "handoff: a1"
    assert "feat/p1/a1" in message.body
    assert (paths.handoff_brief("a1")).is_file()


async def test_n_spawns_a_new_seat_with_its_window(running_org: Path, tmux_socket: str) -> None:
    app = tui(running_org, tmux_socket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert await shows(pilot, NewAgentDialog)
        app.screen.query_one("#name", Input).value = "extra"
        app.screen.query_one("#ok", Button).press()
        await settle(pilot)
        wait_for(lambda: "extra" in windows(tmux_socket), "the new window")
    record = seat(running_org, "extra")
    assert record["backend"] == "shell" and record["runtime"] is True
    assert record["pane_pid"] == pane_pid(tmux_socket, "extra")
    assert (running_org / "worktrees" / "extra").is_dir()


async def test_capital_u_starts_a_supervisor_that_answers(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, AGENTS)
    app = tui(git_repo, tmux_socket)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert not app.snapshot.supervisor_alive
            await pilot.press("U")
            await settle(pilot)
            wait_for(lambda: supervisor_up(git_repo), "a supervisor answering ping")
            for _ in range(200):  # the app reads the org again once `orgtui up` returned
                if app.snapshot.supervisor_alive:
                    break
                await pilot.pause(0.05)
            assert app.snapshot.supervisor_alive
        assert set(json.loads((git_repo / ".org" / "state.json").read_text())["agents"]) == {
            "a1",
            "a2",
        }
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)
