"""Must-show behaviour of the supervisor with real tmux (private -L servers) and real git."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import git, wait_for
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

SHOW_ENV = 'echo "ENV $ORGTUI_AGENT $CUDA_VISIBLE_DEVICES $ORGTUI_ROOT"; sleep 1000'


def _up3(repo: Path, socket: str) -> None:
    write_org(repo, {"a1": SHOW_ENV, "a2": SHOW_ENV, "a3": SHOW_ENV}, gpus="auto")
    orgtui(repo, socket, "up")
    wait_for(lambda: supervisor_up(repo), "the supervisor")
    wait_for(lambda: set(agent_states(repo).values()) == {"working"}, "3 working agents")


def test_three_agents_up(git_repo: Path, tmux_socket: str) -> None:
    _up3(git_repo, tmux_socket)
    assert windows(tmux_socket) == ["supervisor", "a1", "a2", "a3"]
    listing = git(git_repo, "worktree", "list", "--porcelain")
    for gpu, name in enumerate(("a1", "a2", "a3")):
        worktree = git_repo / "worktrees" / name
        assert f"worktree {worktree}" in listing
        assert git(worktree, "branch", "--show-current") == f"feat/p1/{name}"
        screen = tmux(tmux_socket, "capture-pane", "-p", "-t", f"=orgtui-t:={name}")
        assert f"ENV {name} {gpu} {git_repo}" in screen
    assert git(git_repo, "rev-parse", "prog/p1") == git(git_repo, "rev-parse", "main")
    # a second `up` changes nothing healthy
    pids = {n: pane_pid(tmux_socket, n) for n in ("a1", "a2", "a3")}
    out = orgtui(git_repo, tmux_socket, "up").stdout
    assert "started 0 agent(s)" in out
    assert {n: pane_pid(tmux_socket, n) for n in pids} == pids
    assert windows(tmux_socket) == ["supervisor", "a1", "a2", "a3"]
    # control socket is private
    assert (git_repo / ".org" / "control.sock").stat().st_mode & 0o777 == 0o600
    orgtui(git_repo, tmux_socket, "down")
    assert windows(tmux_socket) == []
    assert set(agent_states(git_repo).values()) == {"dead"}


def test_kill9_supervisor_adopt(git_repo: Path, tmux_socket: str) -> None:
    _up3(git_repo, tmux_socket)
    pids = {n: pane_pid(tmux_socket, n) for n in ("a1", "a2", "a3")}
    old = state(git_repo)["supervisor"]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(old) or psutil.Process(old).status() == "zombie", "kill")
    time.sleep(0.3)
    assert all(psutil.pid_exists(pid) for pid in pids.values())
    assert {n: pane_pid(tmux_socket, n) for n in pids} == pids
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the new supervisor")
    new = state(git_repo)["supervisor"]["pid"]
    assert new != old
    time.sleep(0.5)  # a few ticks
    data = orgtui(git_repo, tmux_socket, "status", "--json").stdout
    import json

    status = json.loads(data)
    assert status["supervisor"]["alive"] is True
    agents = {a["name"]: a for a in status["agents"]}
    assert {n: agents[n]["pane_pid"] for n in pids} == pids
    assert all(agents[n]["restarts"] == 0 for n in pids)
    assert all(agents[n]["status"] == "working" for n in pids)
    log = (git_repo / ".org" / "logs" / "supervisor.log").read_text()
    assert log.count("adopted") >= 6  # 3 at the first start, 3 after the kill


def test_failing_agent_backoff(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"ok": "sleep 1000", "bad": "echo oops; exit 3"})
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: agent_states(git_repo).get("bad") == "failed", "bad to fail", 30)
    record = state(git_repo)["agents"]["bad"]
    assert record["restarts"] == 3  # deaths 1-3 restarted, the 4th (limit) is left alone
    log = (git_repo / ".org" / "logs" / "supervisor.log").read_text().splitlines()
    delays = [
        float(line.split("restarting in ")[1].split("s")[0])
        for line in log
        if line.split(" ", 1)[1].startswith("bad: died")
    ]
    assert delays == [0.2, 0.4, 0.8]
    assert (git_repo / ".org" / "agents" / "bad" / "exit").read_text().strip() == "3"
    wait_for(lambda: agent_states(git_repo)["ok"] == "working", "ok unharmed")
    notices = [m.read_text() for m in (git_repo / ".org" / "board").glob("*.md")]
    assert sum("bad's pane ended" in m for m in notices) == 3
    assert any("bad failed" in m for m in notices)
    # failed is left alone: no new launch after a few more ticks
    launches = len(list((git_repo / ".org" / "logs").glob("bad-*.launch.json")))
    time.sleep(1.0)
    assert len(list((git_repo / ".org" / "logs").glob("bad-*.launch.json"))) == launches == 4
    # a manual restart brings it back
    orgtui(git_repo, tmux_socket, "restart", "bad")
    assert agent_states(git_repo)["bad"] in ("starting", "dead", "working")


def _agent_proc(socket: str, name: str) -> psutil.Process:
    """The agent's own process (below the pane's sh wrapper)."""
    wrapper = psutil.Process(pane_pid(socket, name))
    return wait_for(
        lambda: [c for c in wrapper.children(recursive=True) if c.name() == "sleep"],
        "the agent process",
    )[0]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_suspend_park_resume(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000", "a2": "sleep 1000"})
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    proc = _agent_proc(tmux_socket, "a1")
    orgtui(git_repo, tmux_socket, "suspend", "a1")
    wait_for(lambda: proc.status() == psutil.STATUS_STOPPED, "state T")
    time.sleep(0.5)  # the supervisor must not take a stopped agent for dead
    assert proc.status() == psutil.STATUS_STOPPED
    assert agent_states(git_repo)["a1"] == "suspended"
    orgtui(git_repo, tmux_socket, "resume", "a1")
    wait_for(lambda: proc.status() in ("sleeping", "running"), "running again")
    assert state(git_repo)["agents"]["a1"]["restarts"] == 0

    worktree = git_repo / "worktrees" / "a1"
    (worktree / "notes.txt").write_text("half done\n")
    orgtui(git_repo, tmux_socket, "park", "a1")
    assert git(worktree, "log", "-1", "--format=%s").startswith("wip(park): a1 ")
    assert git(worktree, "status", "--porcelain") == ""
    assert "a1" not in windows(tmux_socket)
    wait_for(lambda: not _alive(proc), "the agent process to end")
    time.sleep(0.5)  # parked stays parked
    assert agent_states(git_repo)["a1"] == "parked"
    assert "a1" not in windows(tmux_socket)

    orgtui(git_repo, tmux_socket, "resume", "a1")
    assert "a1" in windows(tmux_socket)
    cwd = tmux(tmux_socket, "display", "-p", "-t", "=orgtui-t:=a1", "#{pane_current_path}")
    assert Path(cwd.strip()).resolve() == worktree.resolve()
    assert git(worktree, "branch", "--show-current") == "feat/p1/a1"
    wait_for(lambda: agent_states(git_repo)["a1"] == "working", "a1 working again")


def test_direct_ops_no_supervisor(git_repo: Path, tmux_socket: str) -> None:
    """suspend/resume/park work on tmux + state.json when no supervisor runs."""
    write_org(git_repo, {"a1": "sleep 1000"})
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    sup = state(git_repo)["supervisor"]["pid"]
    os.kill(sup, signal.SIGTERM)
    wait_for(lambda: not supervisor_up(git_repo), "the supervisor to stop")
    proc = _agent_proc(tmux_socket, "a1")
    orgtui(git_repo, tmux_socket, "suspend", "a1")
    wait_for(lambda: proc.status() == psutil.STATUS_STOPPED, "state T")
    assert agent_states(git_repo)["a1"] == "suspended"
    orgtui(git_repo, tmux_socket, "park", "a1")
    assert "a1" not in windows(tmux_socket)
    assert agent_states(git_repo)["a1"] == "parked"


def test_client_drop_keeps_agents(git_repo: Path, tmux_socket: str) -> None:
    """A tmux client killed like a dropped SSH session leaves every agent running."""
    write_org(git_repo, {"a1": "sleep 1000", "a2": "sleep 1000"})
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    pids = {n: pane_pid(tmux_socket, n) for n in ("a1", "a2")}
    client = subprocess.Popen(
        ["script", "-qfc", f"tmux -L {tmux_socket} attach -t =orgtui-t", "/dev/null"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "TERM": "xterm"},
    )
    try:
        wait_for(lambda: tmux(tmux_socket, "list-clients").strip(), "a client")
        os.killpg(client.pid, signal.SIGHUP)
        os.killpg(client.pid, signal.SIGKILL)
        client.wait(10)
        wait_for(lambda: not tmux(tmux_socket, "list-clients").strip(), "the client gone")
    finally:
        if client.poll() is None:
            client.kill()
    time.sleep(0.5)
    assert {n: pane_pid(tmux_socket, n) for n in pids} == pids
    assert all(psutil.pid_exists(p) for p in pids.values())
    assert supervisor_up(git_repo)
    wait_for(lambda: set(agent_states(git_repo).values()) == {"working"}, "agents working")


def test_attach_from_shell(git_repo: Path, tmux_socket: str) -> None:
    """`orgtui attach NAME` from a plain terminal becomes a tmux client on that window."""
    write_org(git_repo, {"a1": "sleep 1000", "a2": "sleep 1000"})
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    cmd = f"{sys.executable} -m orgtui attach a2 --root {git_repo} --socket {tmux_socket}"
    client = subprocess.Popen(
        ["script", "-qfc", cmd, "/dev/null"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "TERM": "xterm"},
    )
    try:
        seen = wait_for(
            lambda: tmux(tmux_socket, "list-clients", "-F", "#{window_name}").strip(), "a client"
        )
        assert seen == "a2"
    finally:
        os.killpg(client.pid, signal.SIGKILL)
        client.wait(10)
    assert "a2" in windows(tmux_socket)
