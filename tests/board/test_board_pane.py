"""Nudge and read tracking through a real tmux pane (private server).

The supervisor types the nudge; here the test plays the supervisor with the tmux CLI so the
board's side (nudge_due, record_nudge, the inbox the agent runs, delivery states) is proven
against a real shell with ``ORGTUI_AGENT`` set.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from orgtui import board
from orgtui.paths import OrgPaths
from tests.conftest import wait_for


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], check=True, capture_output=True, text=True
    ).stdout


def test_nudge_then_inbox_in_a_real_pane_marks_read(org: OrgPaths, tmux_socket: str) -> None:
    first = board.post(org, sender="ada", to=["bob"], subject="first", body="")
    second = board.post(org, sender="carol", to=["all"], subject="second", body="")
    tmux(
        tmux_socket,
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "160",
        "-y",
        "40",
        "-e",
        "ORGTUI_AGENT=bob",
        "-e",
        f"ORGTUI_ROOT={org.root}",
        "-e",
        "PS1=$ ",
        "bash --norc --noprofile",
    )
    pane = tmux(tmux_socket, "display-message", "-p", "-t", "t", "#{pane_id}").strip()

    due = board.nudge_due(org, "bob")
    assert due == [first.id, second.id]
    tmux(tmux_socket, "send-keys", "-t", pane, "-l", board.nudge_line(len(due)))
    tmux(tmux_socket, "send-keys", "-t", pane, "Enter")
    board.record_nudge(org, "bob", due)
    wait_for(
        lambda: "2 new messages" in tmux(tmux_socket, "capture-pane", "-p", "-t", pane),
        "the nudge line in the pane",
        timeout=15,
    )
    assert board.nudge_due(org, "bob") == []  # at most once per message
    assert board.delivery(org, first, ["ada", "bob", "carol"]) == {"bob": "nudged"}

    inbox = f"{shlex.quote(sys.executable)} -m orgtui inbox"
    tmux(tmux_socket, "send-keys", "-t", pane, "-l", inbox)
    tmux(tmux_socket, "send-keys", "-t", pane, "Enter")
    wait_for(
        lambda: board.unread(org, "bob") == [], "the agent's inbox to mark mail read", timeout=15
    )
    screen = tmux(tmux_socket, "capture-pane", "-p", "-J", "-t", pane)
    assert "subject: first" in screen and "subject: second" in screen
    assert board.delivery(org, first, ["ada", "bob", "carol"]) == {"bob": "read"}
    assert board.delivery(org, second, ["ada", "bob", "carol"]) == {
        "bob": "read",
        "ada": "delivered",
        "human": "delivered",
    }
    third = board.post(org, sender="ada", to=["bob"], subject="third", body="")
    assert board.nudge_due(org, "bob") == [third.id]
