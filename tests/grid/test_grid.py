"""The grid layout with real tmux: agents as titled panes of tiled walls, switched live."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.supervisor.helpers import orgtui, state, supervisor_up, tmux, write_org

SESSION = "=orgtui-t"


def grid_org(repo: Path, count: int, grid_max: int = 8) -> list[str]:
    names = [f"a{i:02d}" for i in range(count)]
    write_org(repo, {name: "exec sleep 600" for name in names})
    text = (repo / "org.toml").read_text()
    (repo / "org.toml").write_text(
        text.replace('task = "test"', f'task = "test"\nlayout = "grid"\ngrid_max = {grid_max}')
    )
    return names


def panes_by_window(socket: str) -> dict[str, list[tuple[str, str, str]]]:
    """window name -> [(agent option, pane title, pane pid)]."""
    out = tmux(
        socket,
        "list-panes",
        "-s",
        "-t",
        SESSION,
        "-F",
        "#{window_name}\t#{@orgtui_agent}\t#{pane_title}\t#{pane_pid}",
    )
    walls: dict[str, list[tuple[str, str, str]]] = {}
    for line in out.splitlines():
        window, agent, title, pid = line.split("\t")
        walls.setdefault(window, []).append((agent, title, pid))
    return walls


def pids(socket: str) -> dict[str, str]:
    return {a: pid for panes in panes_by_window(socket).values() for a, _, pid in panes if a}


def test_walls_titles_switching_and_adoption(git_repo: Path, tmux_socket: str) -> None:
    names = grid_org(git_repo, 10)
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor", timeout=30)
        walls = wait_for(
            lambda: (w := panes_by_window(tmux_socket)) and len(w.get("wall-2", [])) == 2 and w,
            "two walls",
            timeout=30,
        )
        assert len(walls["wall-1"]) == 8 and "supervisor" in walls
        # In org.toml's order, wall by wall.
        assert [a for a, _, _ in walls["wall-1"] + walls["wall-2"]] == names
        # Titles name the agent, its role and its state, kept up to date by the supervisor.
        wait_for(
            lambda: all(
                t.startswith(f"{a} · researcher · ") and not t.endswith("starting")
                for a, t, _ in panes_by_window(tmux_socket)["wall-1"]
            ),
            "titles with live states",
            timeout=30,
        )
        layout = tmux(
            tmux_socket, "display", "-p", "-t", f"{SESSION}:=wall-1", "#{pane-border-status}"
        )
        assert layout.strip() in ("top", "")  # tmux 3.3 does not expand options in formats
        before = pids(tmux_socket)
        assert len(before) == 10

        orgtui(git_repo, tmux_socket, "grid", "--to", "windows")
        windows = panes_by_window(tmux_socket)
        assert sorted(w for w in windows if w != "supervisor") == names
        assert pids(tmux_socket) == before
        assert state(git_repo)["layout"] == "windows"

        orgtui(git_repo, tmux_socket, "grid")  # back to the other layout
        walls = panes_by_window(tmux_socket)
        assert sorted(walls) == ["supervisor", "wall-1", "wall-2"]
        assert pids(tmux_socket) == before

        # Park removes a pane and re-tiles; a spawn fills the hole.
        orgtui(git_repo, tmux_socket, "park", "a03")
        assert len(panes_by_window(tmux_socket)["wall-1"]) == 7
        orgtui(
            git_repo,
            tmux_socket,
            "spawn",
            "zed",
            "--role",
            "researcher",
            "--backend",
            "command",
            "--command",
            "exec sleep 600",
        )
        assert "zed" in [a for a, _, _ in panes_by_window(tmux_socket)["wall-1"]]

        # kill -9 the supervisor: a new one adopts every pane, no restarts.
        os.kill(state(git_repo)["supervisor"]["pid"], signal.SIGKILL)
        orgtui(git_repo, tmux_socket, "up")
        wait_for(lambda: supervisor_up(git_repo), "a new supervisor", timeout=30)
        after = pids(tmux_socket)
        assert {k: v for k, v in after.items() if k != "zed"} == {
            k: v for k, v in before.items() if k != "a03"
        }
        assert all(r["restarts"] == 0 for r in state(git_repo)["agents"].values())
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


@pytest.fixture
def three_on_a_wall(git_repo: Path, tmux_socket: str) -> Iterator[str]:
    """A grid org of three running agents; yields the pane id of a01."""
    grid_org(git_repo, 3)
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: len(pids(tmux_socket)) == 3, "three panes", timeout=30)
        yield state(git_repo)["agents"]["a01"]["pane_id"]
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


@contextlib.contextmanager
def terminal(command: str) -> Iterator[str]:
    """A person's 120x40 terminal (a private outer tmux) running ``command``; yields its socket."""
    outer = f"orgtui-outer-{uuid.uuid4().hex[:8]}"
    new = ["tmux", "-L", outer, "new-session", "-d", "-s", "term", "-x", "120", "-y", "40"]
    subprocess.run([*new, command], check=True)
    try:
        yield outer
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True)


def clients(socket: str) -> list[str]:
    """The names of the tmux clients attached to the org's server."""
    return tmux(socket, "list-clients", "-F", "#{client_name}").split()


def zoom_state(socket: str, pane_id: str) -> str:
    """Two flags: the pane's window is zoomed, the pane is the active one."""
    return tmux(
        socket, "display", "-p", "-t", pane_id, "#{window_zoomed_flag}#{pane_active}"
    ).strip()


def test_take_over_zooms_the_agent_pane(
    git_repo: Path, tmux_socket: str, three_on_a_wall: str
) -> None:
    attach = f"{sys.executable} -m orgtui attach a01 --root {git_repo} --socket {tmux_socket}"
    with terminal(attach) as outer:
        wait_for(
            lambda: zoom_state(tmux_socket, three_on_a_wall) == "11",
            "a01 zoomed and active while taken over",
            timeout=30,
        )
        # The zoom comes a moment before the client: keys typed earlier never reach tmux.
        wait_for(lambda: clients(tmux_socket), "the person's client attached", timeout=30)
        tmux(outer, "send-keys", "-t", "term", "C-b", "d")  # the person detaches
        wait_for(
            lambda: zoom_state(tmux_socket, three_on_a_wall) == "01",
            "the wall unzoomed after the take-over",
            timeout=30,
        )


def test_take_over_from_inside_tmux_unzooms_when_the_person_moves_on(
    git_repo: Path, tmux_socket: str, three_on_a_wall: str
) -> None:
    """Inside the org's own tmux the take-over is a switch-client, with no detach to see."""
    # The person's terminal shows the org's session, on the supervisor's window.
    with terminal(f"tmux -L {tmux_socket} attach-session -t {SESSION}:0"):
        wait_for(lambda: clients(tmux_socket), "the person's client", timeout=30)
        # `orgtui attach` typed in a shell of that session: TMUX names the org's server.
        attach = f"{sys.executable} -m orgtui attach a01 --root {git_repo} --socket {tmux_socket}"
        tmux(tmux_socket, "new-window", "-d", "-t", f"{SESSION}:", "-n", "shell", attach)
        wait_for(
            lambda: zoom_state(tmux_socket, three_on_a_wall) == "11",
            "a01 zoomed and shown by switch-client",
            timeout=30,
        )
        time.sleep(3)  # some ticks while the person looks at it
        assert zoom_state(tmux_socket, three_on_a_wall) == "11", "a watched take-over stays zoomed"
        tmux(tmux_socket, "select-window", "-t", f"{SESSION}:0")  # the person moves on
        wait_for(
            lambda: zoom_state(tmux_socket, three_on_a_wall).startswith("0"),
            "the wall tiled again",
            timeout=30,
        )
