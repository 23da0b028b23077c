"""The TUI for real: in a tmux pane, driven by send-keys, read by capture-pane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orgtui import procs
from tests.conftest import wait_for
from tests.supervisor.helpers import orgtui, state, tmux, write_org


@pytest.fixture
def outer_socket() -> Iterator[str]:
    """The person's terminal: a second private tmux server the TUI runs in."""
    name = f"orgtui-outer-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


def screen(socket: str) -> str:
    return tmux(socket, "capture-pane", "-p", "-t", "tui")


def start_tui(outer_socket: str, repo: Path, socket: str) -> None:
    tui = f"{sys.executable} -m orgtui --root {repo} --socket {socket}"
    subprocess.run(
        [
            "tmux",
            "-L",
            outer_socket,
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "120",
            "-y",
            "36",
            tui,
        ],
        check=True,
    )


def test_a_verb_key_in_a_terminal_reaches_the_agent(
    git_repo: Path, tmux_socket: str, outer_socket: str
) -> None:
    """In a real terminal the app captures stdout: a verb's worker must still reach tmux."""
    write_org(git_repo, {"worker": "echo hello-from-worker; exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: state(git_repo)["agents"]["worker"].get("pane_pid"), "worker")
        start_tui(outer_socket, git_repo, tmux_socket)
        wait_for(lambda: "hello-from-worker" in screen(outer_socket), "the pane preview", 30)
        tmux(outer_socket, "send-keys", "-t", "tui", "s")
        wait_for(
            lambda: procs.any_stopped(state(git_repo)["agents"]["worker"]["pane_pid"]),
            "the worker stopped (state T)",
            timeout=30,
        )
        wait_for(lambda: " suspended " in screen(outer_socket), "the badge", timeout=30)
    finally:
        orgtui(git_repo, tmux_socket, "down")


def test_take_over_an_agent_and_come_back(
    git_repo: Path, tmux_socket: str, outer_socket: str
) -> None:
    write_org(git_repo, {"worker": "echo hello-from-worker; exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        worker_pid = wait_for(lambda: state(git_repo)["agents"]["worker"].get("pane_pid"), "worker")
        start_tui(outer_socket, git_repo, tmux_socket)
        wait_for(
            lambda: "Take over" in screen(outer_socket) and "worker" in screen(outer_socket),
            "the TUI's first frame",
            timeout=30,
        )
        wait_for(
            lambda: "hello-from-worker" in screen(outer_socket), "the pane preview", timeout=30
        )

        tmux(outer_socket, "send-keys", "-t", "tui", "Enter")  # take over
        wait_for(
            lambda: (
                "Take over" not in screen(outer_socket)
                and "hello-from-worker" in screen(outer_socket)
            ),
            "the agent's window",
            timeout=30,
        )
        tmux(outer_socket, "send-keys", "-t", "tui", "C-b", "d")  # detach the nested client
        wait_for(lambda: "Take over" in screen(outer_socket), "the TUI back", timeout=30)

        tui_pid = int(tmux(outer_socket, "display", "-p", "-t", "tui", "#{pane_pid}").strip())
        os.kill(tui_pid, signal.SIGKILL)  # the TUI dies hard; the agent must not notice
        wait_for(lambda: tmux(outer_socket, "list-sessions") == "", "the TUI gone", timeout=15)
        os.kill(worker_pid, 0)
        assert state(git_repo)["agents"]["worker"]["status"] != "dead"
    finally:
        orgtui(git_repo, tmux_socket, "down")
