"""What a hostile pass broke in supervision: a forgotten --socket, bad spawns, an unwritable
state file, a zombie supervisor. Real tmux, a real supervisor, real git."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import string
from pathlib import Path

import pytest

from orgtui import procs
from orgtui.names import is_valid_name
from orgtui.supervisor.state import OrgState, SupervisorInfo
from tests.conftest import wait_for
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

pytestmark = pytest.mark.timeout(180)


def test_forgotten_socket_uses_the_recorded_one_and_never_starts_twice(
    git_repo: Path, tmux_socket: str
) -> None:
    write_org(git_repo, {"ada": "exec sleep 600", "bo": "exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor")
        pids = {n: pane_pid(tmux_socket, n) for n in ("ada", "bo")}
        os.kill(state(git_repo)["supervisor"]["pid"], signal.SIGKILL)  # a supervisor crash
        other = f"{tmux_socket}-other"
        # `up` without --socket: the org's recorded socket wins, nothing starts twice
        out = orgtui(git_repo, None, "up").stdout
        assert "started 0 agent(s)" in out
        wait_for(lambda: supervisor_up(git_repo), "the supervisor again")
        assert {n: pane_pid(tmux_socket, n) for n in pids} == pids
        assert state(git_repo)["tmux_socket"] == tmux_socket
        # another socket while the org runs on its own: refused, naming the fix
        for verb in (
            ("up",),
            ("restart", "ada"),
            ("spawn", "cy", "--role", "r", "--backend", "shell"),
        ):
            proc = orgtui(git_repo, other, *verb, check=False)
            assert proc.returncode == 2, (verb, proc.stderr)
            assert f"pass --socket {tmux_socket}" in proc.stderr
        assert tmux(other, "list-sessions") == ""  # nothing was started on the other server
        assert state(git_repo)["tmux_socket"] == tmux_socket
        assert {n: pane_pid(tmux_socket, n) for n in pids} == pids
        # `status` and `down` without --socket reach the org too
        assert "ada" in orgtui(git_repo, None, "status").stdout
        orgtui(git_repo, None, "down")
        assert windows(tmux_socket) == []
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


def _bad_spawns(seed: int) -> list[tuple[str, ...]]:
    """Spawn arguments that must be refused: reserved and malformed names, roles, GPUs,
    backends; a seeded generator adds random members of each class."""
    rng = random.Random(seed)
    ok = ("--role", "researcher", "--backend", "command", "--command", "sleep 600")
    cases: list[tuple[str, ...]] = [
        ("supervisor", *ok),
        ("all", *ok),
        ("human", *ok),
        ("wall-1", *ok),
        ("ada", *ok),  # exists
        ("../x", *ok),
        ("Ada", *ok),
        ("nova", "--role", "../../../etc/passwd", "--backend", "command", "--command", "x"),
        ("nova", "--role", "researcher", "--backend", "bogus"),
        ("nova", "--role", "researcher", "--backend", "command"),  # no command
        ("nova", "--role", "researcher", "--backend", "shell", "--gpu", "-4"),
        ("nova", "--role", "researcher", "--backend", "shell", "--gpu", "100000"),
    ]
    junk = string.ascii_letters + string.digits + "./-_ \t$`;|&\\\"'"
    for _ in range(6):
        name = "".join(rng.choice(junk) for _ in range(rng.randint(1, 12)))
        if is_valid_name(name):
            name = "X" + name  # stay malformed
        cases.append((name, *ok))
        role = "../" + "".join(rng.choice(string.ascii_lowercase) for _ in range(5))
        cases.append(("nova", "--role", role, "--backend", "shell"))
        cases.append(("nova", "--role", "r", "--backend", rng.choice(["", "Shell", "sh", "x y"])))
    return cases


def test_spawn_refuses_reserved_and_bad_input_and_leaves_no_ghost(
    git_repo: Path, tmux_socket: str
) -> None:
    write_org(git_repo, {"ada": "exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor")
        sup_pid = state(git_repo)["supervisor"]["pid"]
        for case in _bad_spawns(seed=26):
            proc = orgtui(git_repo, tmux_socket, "spawn", *case, check=False)
            assert proc.returncode == 2, (case, proc.stdout, proc.stderr)
            assert "Traceback" not in proc.stderr, case
            assert len(proc.stderr.strip().splitlines()) == 1, (case, proc.stderr)
        assert set(state(git_repo)["agents"]) == {"ada"}
        assert windows(tmux_socket) == ["supervisor", "ada"]
        assert state(git_repo)["supervisor"]["pid"] == sup_pid and supervisor_up(git_repo)
        # the same refusals without a supervisor, on the direct path
        orgtui(git_repo, tmux_socket, "down")
        for case in _bad_spawns(seed=27)[:6]:
            assert orgtui(git_repo, tmux_socket, "spawn", *case, check=False).returncode == 2
        assert set(state(git_repo)["agents"]) == {"ada"}
        # and the org comes up again cleanly
        orgtui(git_repo, tmux_socket, "up")
        wait_for(lambda: agent_states(git_repo).get("ada") == "working", "ada working")
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


def test_unwritable_state_file_does_not_stop_supervision(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"ada": "exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: agent_states(git_repo).get("ada") == "working", "ada working")
        sup_pid = state(git_repo)["supervisor"]["pid"]
        state_file = git_repo / ".org" / "state.json"
        saved = json.loads(state_file.read_text())
        state_file.unlink()
        state_file.mkdir()  # rename onto a directory fails: every write now fails
        (state_file / "keep").write_text("x")
        first = pane_pid(tmux_socket, "ada")
        os.kill(first, signal.SIGKILL)  # an agent dies while state cannot be written
        wait_for(
            lambda: pane_pid(tmux_socket, "ada") not in (first, 0),
            "ada restarted without a state file",
            timeout=30,
        )
        assert procs.pid_alive(sup_pid)
        log = (git_repo / ".org" / "logs" / "supervisor.log").read_text()
        assert "still supervising" in log
        shutil.rmtree(state_file)
        restarted = wait_for(
            lambda: json.loads(state_file.read_text()) if state_file.is_file() else None,
            "state.json written again",
        )
        assert restarted["agents"]["ada"]["restarts"] >= 1
        assert restarted["supervisor"]["pid"] == saved["supervisor"]["pid"]
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


def test_a_zombie_supervisor_is_not_running() -> None:
    pid = os.fork()
    if pid == 0:  # the child exits at once and stays a zombie until reaped
        os._exit(0)
    try:
        wait_for(lambda: not procs.pid_alive(pid), "the child to become a zombie")
        assert os.path.exists(f"/proc/{pid}")  # still in the process table
        assert not OrgState(supervisor=SupervisorInfo(pid=pid)).supervisor_alive()
        assert OrgState(supervisor=SupervisorInfo(pid=os.getpid())).supervisor_alive()
    finally:
        os.waitpid(pid, 0)
