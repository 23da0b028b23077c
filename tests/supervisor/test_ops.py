"""Handoff, spawn, adoption from a lost state.json, concurrent ups, clean, nudges."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import ORGTUI, git, wait_for
from tests.supervisor.helpers import (
    agent_states,
    orgtui,
    pane_pid,
    state,
    supervisor_up,
    tmux,
    windows,
    write_org,
)

pytestmark = pytest.mark.timeout(120)


def test_lost_state_and_concurrent_ups(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000", "a2": "sleep 1000"})
    ups = [
        subprocess.Popen(
            [*ORGTUI, "up", "--root", str(git_repo), "--socket", tmux_socket],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    assert [p.wait(60) for p in ups] == [0, 0, 0]
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    assert windows(tmux_socket) == ["supervisor", "a1", "a2"]
    pids = {n: pane_pid(tmux_socket, n) for n in ("a1", "a2")}
    # the supervisor dies and state.json is garbage: tmux is the truth
    sup = state(git_repo)["supervisor"]["pid"]
    subprocess.run(["kill", "-9", str(sup)], check=True)
    wait_for(lambda: not supervisor_up(git_repo), "the supervisor gone")
    (git_repo / ".org" / "state.json").write_text("{not json")
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor again")
    wait_for(lambda: set(agent_states(git_repo).values()) == {"working"}, "adopted agents")
    agents = state(git_repo)["agents"]
    assert {n: agents[n]["pane_pid"] for n in pids} == pids
    assert all(agents[n]["restarts"] == 0 for n in pids)
    assert windows(tmux_socket) == ["supervisor", "a1", "a2"]


def test_handoff_and_spawn(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000", "a2": "sleep 1000"})
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    worktree = git_repo / "worktrees" / "a1"
    (worktree / "idea.py").write_text("x = 1\n")
    orgtui(git_repo, tmux_socket, "handoff", "a1", "--backend", "shell")
    assert git(worktree, "log", "-1", "--format=%s").startswith("wip(handoff): a1 ")
    brief = (git_repo / ".org" / "agents" / "a1" / "handoff.md").read_text()
    assert "wip(handoff): a1" in brief and "feat/p1/a1" in brief
    record = state(git_repo)["agents"]["a1"]
    assert record["backend"] == "shell"
    # restarts keep the handed-over backend: kill the pane's shell
    old = record["pane_pid"]
    subprocess.run(["kill", "-9", str(old)], check=True)
    wait_for(
        lambda: (
            (state(git_repo)["agents"]["a1"]["pane_pid"] not in (None, old))
            and state(git_repo)["agents"]["a1"]["restarts"] == 1
        ),
        "a restart",
    )
    launches = sorted((git_repo / ".org" / "logs").glob("a1-*.launch.json"))
    assert json.loads(launches[-1].read_text())["backend"] == "shell"

    (git_repo / "worktrees" / "a2" / "more.txt").write_text("wip\n")
    orgtui(git_repo, tmux_socket, "handoff", "a2", "--to", "a1")
    messages = list((git_repo / ".org" / "board").glob("*.md"))
    handoffs = [m.read_text() for m in messages if "feat/p1/a2" in m.read_text()]
    assert handoffs, "a handoff message naming the branch to merge"

    orgtui(
        git_repo,
        tmux_socket,
        "spawn",
        "extra",
        "--role",
        "researcher",
        "--backend",
        "command",
        "--command",
        "sleep 1000",
    )
    assert "extra" in windows(tmux_socket)
    assert git(git_repo / "worktrees" / "extra", "branch", "--show-current") == "feat/p1/extra"
    wait_for(lambda: agent_states(git_repo).get("extra") == "working", "extra working")
    status = json.loads(orgtui(git_repo, tmux_socket, "status", "--json").stdout)
    assert set(status) == {"org", "supervisor", "agents"}
    assert set(status["supervisor"]) == {"pid", "alive"}
    assert {a["name"] for a in status["agents"]} == {"a1", "a2", "extra"}
    assert set(status["agents"][0]) == {
        "name",
        "role",
        "backend",
        "status",
        "branch",
        "worktree",
        "gpu",
        "pane_pid",
        "restarts",
    }


def test_down_park_and_clean(git_repo: Path, tmux_socket: str) -> None:
    (git_repo / "data.txt").write_text("shared data\n")
    extra = '[worktree]\ncopy = ["data.txt"]\nsetup = "echo ran >> setup.log"\n'
    write_org(git_repo, {"a1": "sleep 1000", "gone": "sleep 1000"}, extra=extra)
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    a1 = git_repo / "worktrees" / "a1"
    assert (a1 / "data.txt").read_text() == "shared data\n"
    assert (a1 / "setup.log").read_text() == "ran\n"
    orgtui(git_repo, tmux_socket, "restart", "a1")
    assert (a1 / "setup.log").read_text() == "ran\n"  # once per new worktree
    (a1 / "data.txt").unlink()
    (a1 / "setup.log").unlink()
    (git_repo / "worktrees" / "a1" / "a.txt").write_text("a\n")
    orgtui(git_repo, tmux_socket, "down", "--park")
    assert tmux(tmux_socket, "list-sessions").strip() == ""
    assert git(git_repo, "log", "-1", "--format=%s", "feat/p1/a1").startswith("wip(park): a1")
    assert set(agent_states(git_repo).values()) == {"parked"}
    assert state(git_repo)["supervisor"]["pid"] is None
    write_org(git_repo, {"a1": "sleep 1000"})
    (git_repo / "worktrees" / "gone" / "g.txt").write_text("g\n")
    out = orgtui(git_repo, tmux_socket, "clean").stdout
    assert "removed gone" in out and "keep    a1" in out
    assert not (git_repo / "worktrees" / "gone").exists()
    assert git(git_repo, "log", "-1", "--format=%s", "feat/p1/gone") == "wip(clean): gone"


def test_nudge_idle_agent(git_repo: Path, tmux_socket: str) -> None:
    pytest.importorskip("orgtui.board")
    from orgtui import board
    from orgtui.paths import OrgPaths

    write_org(git_repo, {"a1": "exec /bin/sh"}, extra="")
    toml = (git_repo / "org.toml").read_text().replace("nudge = false", "nudge = true")
    (git_repo / "org.toml").write_text(toml)
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: agent_states(git_repo).get("a1") == "idle", "an idle shell")
    board.post(OrgPaths(git_repo), sender="human", to=["a1"], subject="hi", body="hello")
    screen = lambda: tmux(tmux_socket, "capture-pane", "-p", "-t", "=orgtui-t:=a1")  # noqa: E731
    wait_for(lambda: "1 new message" in screen(), "the nudge line")
    time.sleep(0.5)
    assert screen().count("new message") == 1  # recorded: not nudged twice
    assert board.nudge_due(OrgPaths(git_repo), "a1") == []


def test_down_past_a_supervisor_that_does_not_answer(git_repo: Path, tmux_socket: str) -> None:
    """A supervisor still starting (no socket yet) must not take `down`'s stops for deaths."""
    from orgtui import board
    from orgtui.paths import OrgPaths

    names = [f"a{i}" for i in range(6)]
    write_org(git_repo, dict.fromkeys(names, "sleep 1000"))
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    supervisor = state(git_repo)["supervisor"]["pid"]
    paths = OrgPaths(git_repo)
    paths.control_socket.unlink()  # alive, ticking, and unreachable
    orgtui(git_repo, tmux_socket, "down")
    assert tmux(tmux_socket, "list-sessions").strip() == ""
    wait_for(lambda: not psutil.pid_exists(supervisor), "the supervisor gone")
    assert [m.subject for m in board.messages(paths)] == []
    assert set(agent_states(git_repo).values()) == {"dead"}
