"""What the supervisor makes of a seat's exit code and of its pane, with stand-in programs.

A stand-in `codex` on PATH draws Codex's screens (working, an approval dialog, the idle
prompt) and never reports through notify: the supervisor can only read them from the pane.
A builtin agent whose key the model API refuses exits with code 3 and is failed at once.
"""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

import pytest

from orgtui.supervisor import detectors
from tests.agent.fakes import FakeModelServer, error
from tests.clients.conftest import PLANTED, Org, files_containing, make_org

WORKING = "◦ Working (3s • esc to interrupt)"
DIALOG = """
  Would you like to run the following command?
  $ orgtui post --to human --subject hi
› 1. Yes, proceed (y)
  3. No, and tell Codex what to do differently (esc)
  Press enter to confirm or esc to cancel
"""
IDLE = """
• Done.
› Ask Codex to do anything
  gpt-fake default · ~/worktrees/ada
  ? for shortcuts
"""

STAND_IN = f"""#!{sys.executable}
import os, sys, time
def show(text):
    sys.stdout.write("\\x1b[2J\\x1b[H" + text + "\\n")
    sys.stdout.flush()
def until(name):
    while not os.path.exists(name):
        time.sleep(0.05)
show({WORKING!r})
until("go-1")
show({DIALOG!r})
sys.stdin.readline()
show({WORKING!r})
until("go-2")
show({IDLE!r})
time.sleep(600)
"""


def _stand_in(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "codex"
    exe.write_text(STAND_IN)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_codex_seat_state_comes_from_its_pane_when_no_hook_reports(
    git_repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    org: Org = make_org(git_repo, tmux_socket, _stand_in(tmp_path), "codex")
    org.orgtui("up")
    try:
        worktree = git_repo / "worktrees" / "ada"
        org.wait_state("working")
        (worktree / "go-1").touch()
        org.wait_state("waiting")
        org.keys("y", "Enter")
        org.wait_state("working")
        (worktree / "go-2").touch()
        org.wait_state("idle")
        assert not (git_repo / ".org" / "agents" / "ada" / "status.json").exists()
    finally:
        org.orgtui("down", check=False)


def test_builtin_agent_whose_key_is_refused_fails_without_restarts(
    git_repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    org = make_org(
        git_repo,
        tmux_socket,
        tmp_path,
        "builtin",
        'provider = "anthropic"\nmodel = "claude-fake"',
    )
    server = FakeModelServer([error(401, "invalid x-api-key")] * 20)
    org.env["ANTHROPIC_API_KEY"] = PLANTED["ANTHROPIC_API_KEY"]
    with server.running():
        org.env["ANTHROPIC_BASE_URL"] = server.url
        org.orgtui("up")
        try:
            org.wait_state("failed", timeout=30)
            agent = org.status()
            assert agent["restarts"] == 0
            exit_file = git_repo / ".org" / "agents" / "ada" / "exit"
            assert exit_file.read_text().strip() == "3"
            board = json.loads(org.orgtui("board", "--json").stdout)
            notices = [m["subject"] for m in board if m["from"] == "supervisor"]
            assert notices == ["ada failed"]
            launches = list((git_repo / ".org" / "logs").glob("ada-*.launch.json"))
            assert len(launches) == 1
        finally:
            org.orgtui("down", check=False)
    assert files_containing(git_repo / ".org", PLANTED["ANTHROPIC_API_KEY"][-12:]) == []


def test_detectors_fill_only_the_states_a_cli_cannot_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    working, waiting, idle = WORKING, DIALOG, IDLE
    # Hooks that cover every state win while fresh: the pane is not even read.
    assert not detectors.wants_pane("codex", "idle")
    # A CLI that reports only finished turns: the pane says when it works or waits.
    monkeypatch.setitem(detectors.HOOK_STATES, "codex", frozenset({"idle"}))
    assert detectors.wants_pane("codex", "idle")
    assert detectors.resolve("codex", "idle", working) == "working"
    assert detectors.resolve("codex", "idle", waiting) == "waiting"
    assert detectors.resolve("codex", "idle", idle) == "idle"
    assert detectors.resolve("codex", "idle", "garbage") == "idle"
    # Claude's hooks cover every state: a fresh report wins.
    assert not detectors.wants_pane("claude", "idle")
    assert detectors.resolve("claude", "idle", "esc to interrupt") == "idle"
    # A stale or absent report: the pane stands in.
    assert detectors.wants_pane("claude", None)
    assert detectors.resolve("claude", None, "Do you want to proceed?\n❯ 1. Yes") == "waiting"
    assert detectors.resolve("codex", None, "nothing known") is None
    assert not detectors.wants_pane("builtin", None)


def test_a_hook_that_finishes_late_does_not_undo_a_later_event(tmp_path: Path) -> None:
    """Hooks run as separate processes: SessionStart may land after UserPromptSubmit."""
    from orgtui.agentstatus import read_status
    from orgtui.backends.hooks import record_event
    from orgtui.paths import OrgPaths

    def hook(name: str, spawned: float) -> str | None:
        event = json.dumps({"hook_event_name": name})
        return record_event(tmp_path, "ada", "codex", event, spawned=spawned)

    now = time.time()
    assert hook("UserPromptSubmit", now) == "working"
    assert hook("SessionStart", now - 0.5) is None  # spawned before the prompt's write
    assert read_status(OrgPaths(tmp_path), "ada").state == "working"
    assert hook("Stop", time.time() + 0.01) == "idle"
