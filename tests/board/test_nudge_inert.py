"""The nudge typed into a pane runs nothing in a shell, yet tells an agent what to do.

A seat may be a plain shell. Here ``orgtui`` on the pane's PATH is a trap that records being
run and then really runs ``orgtui inbox`` (which would mark the mail read and lose it): the
nudge typed with ``send-keys`` + Enter must leave no mark and the mail unread, in bash and
in dash, and a control line proves the trap fires when something does run it.
"""

from __future__ import annotations

import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui import board
from orgtui.board.delivery import NUDGE_PREFIX
from orgtui.paths import OrgPaths
from tests.conftest import wait_for

SHELL_SYNTAX = set("$`;|&><()!*?[]{}~\\'\"#\n\r\t")
SHELLS = [s for s in ("bash", "dash") if shutil.which(s)]


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], check=True, capture_output=True, text=True
    ).stdout


def trap_dir(tmp_path: Path, org: OrgPaths) -> Path:
    """A PATH entry whose ``orgtui`` leaves a mark, then runs the real one on this org."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mark = tmp_path / "ran"
    script = bin_dir / "orgtui"
    script.write_text(
        f"#!/bin/sh\necho ran >> {shlex.quote(str(mark))}\n"
        f'exec {shlex.quote(sys.executable)} -m orgtui "$@" --root {shlex.quote(str(org.root))}\n'
    )
    script.chmod(0o755)
    return bin_dir


def type_line(socket: str, pane: str, line: str) -> None:
    tmux(socket, "send-keys", "-t", pane, "-l", line)
    tmux(socket, "send-keys", "-t", pane, "Enter")


def ran_after(socket: str, pane: str, marker: str) -> None:
    """Type ``echo marker`` and wait for its output line: everything typed before has run."""
    type_line(socket, pane, f"echo {marker}-$((6*7))")
    wait_for(
        lambda: f"{marker}-42" in tmux(socket, "capture-pane", "-p", "-t", pane),
        f"{marker} in the pane",
        timeout=15,
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_nudge_typed_into_a_shell_pane_runs_nothing(
    org: OrgPaths, tmux_socket: str, tmp_path: Path, shell: str
) -> None:
    sent = board.post(org, sender="ada", to=["bob"], subject="keep me unread", body="")
    bin_dir = trap_dir(tmp_path, org)
    tmux(
        tmux_socket,
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "200",
        "-y",
        "40",
        "-e",
        "ORGTUI_AGENT=bob",
        # tmux keeps the client's PATH whatever -e says: set it in the pane's command.
        f"env PATH={bin_dir}:/usr/bin:/bin {'bash --norc --noprofile' if shell == 'bash' else shell} -i",
    )
    pane = tmux(tmux_socket, "display-message", "-p", "-t", "t", "#{pane_id}").strip()
    due = board.nudge_due(org, "bob")
    for count, agent in ((len(due), None), (len(due), "bob"), (12, "ada")):
        type_line(tmux_socket, pane, board.nudge_line(count, agent))
    ran_after(tmux_socket, pane, "after-nudge")
    assert not (tmp_path / "ran").exists()
    assert board.unread(org, "bob") == [sent]
    screen = tmux(tmux_socket, "capture-pane", "-p", "-J", "-t", pane)
    assert "1 new message" in screen and "not found" not in screen

    type_line(tmux_socket, pane, "orgtui inbox")  # the control: the trap does fire
    wait_for(lambda: board.unread(org, "bob") == [], "the trap to read the inbox", timeout=20)
    assert (tmp_path / "ran").read_text() == "ran\n"


AGENTS = st.one_of(
    st.none(),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    st.text(max_size=40),
    st.sampled_from(["$(reboot)", "`id`", "a;b", "x|y", "../../x", "a\nb", "-rf", "*", "~"]),
)


@settings(max_examples=300, deadline=None)
@given(count=st.integers(), agent=AGENTS)
def test_nudge_line_is_inert_for_any_agent_and_count(count: int, agent: str | None) -> None:
    line = board.nudge_line(count, agent)
    assert line.startswith(NUDGE_PREFIX) and line.isprintable() and line.isascii()
    assert not SHELL_SYNTAX & set(line), line
    assert "orgtui inbox" in line and f" {count} new message" in line


def test_nudge_lines_do_nothing_in_real_shells(tmp_path: Path) -> None:
    """A seeded sample of lines through ``sh -c``: no output, no command run, exit 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mark = tmp_path / "ran"
    for name in ("orgtui", "inbox", "Run", "board", "to", "read"):
        (bin_dir / name).write_text(f"#!/bin/sh\necho {name} >> {mark}\n")
        (bin_dir / name).chmod(0o755)
    rng = random.Random(20261124)
    lines = [
        board.nudge_line(rng.choice([0, 1, 2, 99, -5, 10**12]), rng.choice([None, "ada", "w-3_x"]))
        for _ in range(20)
    ]
    for shell in SHELLS:
        for line in lines:
            done = subprocess.run(
                [shell, "-c", line],
                env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), (shell, line)
    assert not mark.exists()
