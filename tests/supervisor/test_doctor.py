"""``orgtui doctor`` tells the truth: a down org, dead seats, a hung or zombie supervisor, an
unwritable ``.org/``, a shell pane without ``orgtui``, a forgotten ``--socket``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orgtui.commands import doctor
from orgtui.paths import OrgPaths
from tests.conftest import ORGTUI, run_orgtui, wait_for
from tests.supervisor.helpers import agent_states, state, supervisor_up, tmux, write_org

BIN_DIR = Path(sys.executable).parent
FIXED_PROFILE = f'PATH=/usr/bin:/bin\nexport PATH="{BIN_DIR}:$PATH"\n'
RESET_PROFILE = "PATH=/usr/bin:/bin\nexport PATH\n"
"""What Debian's /etc/profile does to a login shell's PATH, in the seat's own profile."""


def make_home(where: Path, profile: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / ".bash_profile").write_text(profile)
    return where


@pytest.fixture(autouse=True)
def _login_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """bash as the login shell, with a HOME whose profile keeps this installation on PATH."""
    home = make_home(tmp_path / "home", FIXED_PROFILE)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/bash")
    return home


def run_doctor(
    repo: Path, socket_name: str | None, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Exit code and the checks by name, from ``orgtui doctor --json``."""
    kwargs: dict[str, Any] = {} if env is None else {"env": env}
    proc = run_orgtui("doctor", "--json", *extra, root=repo, socket=socket_name, **kwargs)
    report = json.loads(proc.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert proc.returncode == (0 if report["ok"] else 1), proc.stdout + proc.stderr
    assert report["ok"] == all(check["ok"] for check in checks.values())
    return proc.returncode, checks


def up(repo: Path, socket_name: str, **kwargs: Any) -> None:
    proc = run_orgtui("up", root=repo, socket=socket_name, timeout=60, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def down(repo: Path, socket_name: str) -> None:
    run_orgtui("down", root=repo, socket=socket_name, timeout=60)


def org_toml(repo: Path, agents: dict[str, str], **supervisor: str) -> None:
    """``write_org``'s org with some ``[supervisor]`` values changed."""
    write_org(repo, agents)
    text = (repo / "org.toml").read_text()
    for key, value in supervisor.items():
        start = text.index(f"{key} = ")
        end = text.index("\n", start)
        text = text[:start] + f"{key} = {value}" + text[end:]
    (repo / "org.toml").write_text(text)


# -- the org -----------------------------------------------------------------------------------
def test_tools_and_org_are_named(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000"})
    proc = run_orgtui("doctor", root=git_repo, socket=tmux_socket)
    assert "ok   tmux: tmux 3" in proc.stdout and "ok   git: 2" in proc.stdout
    assert "ok   org t: 1 agent(s)" in proc.stdout


def test_a_down_org_is_reported_down_with_the_fix(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000"})
    code, checks = run_doctor(git_repo, tmux_socket)
    assert code == 1
    assert not checks["session"]["ok"] and "down" in checks["session"]["line"]
    assert checks["session"]["fix"] == f"`orgtui up --socket {tmux_socket}`"
    assert "supervisor" not in checks and "agents" not in checks  # one line says it all
    text = run_orgtui("doctor", root=git_repo, socket=tmux_socket).stdout
    assert "FAIL org t: down" in text and f"fix: `orgtui up --socket {tmux_socket}`" in text
    assert not [line for line in text.splitlines() if line.startswith("ok") and "session" in line]


def test_a_running_org_passes_and_the_exit_code_follows_the_checks(
    git_repo: Path, tmux_socket: str
) -> None:
    write_org(git_repo, {"a1": "sleep 1000", "a2": "sleep 1000"})
    up(git_repo, tmux_socket)
    try:
        wait_for(lambda: set(agent_states(git_repo).values()) <= {"idle", "working"}, "agents up")
        code, checks = run_doctor(git_repo, tmux_socket)
        host_only = {"logout"}  # the host's logind, not the org
        assert all(check["ok"] for name, check in checks.items() if name not in host_only), checks
        assert code == (0 if checks["logout"]["ok"] else 1)
        pid = state(git_repo)["supervisor"]["pid"]
        assert checks["supervisor"]["line"] == f"supervisor: pid {pid} answers"
        assert checks["agents"]["line"] == "agents: 2 seat(s), none dead or failed"
    finally:
        down(git_repo, tmux_socket)


def test_a_dead_agent_is_listed_with_its_exit_and_the_fix(git_repo: Path, tmux_socket: str) -> None:
    org_toml(
        git_repo,
        {"ok1": "sleep 1000", "boom": "echo boom >&2; exit 3"},
        backoff_initial='"10m"',
        backoff_max='"10m"',
    )
    up(git_repo, tmux_socket)
    try:
        wait_for(lambda: agent_states(git_repo).get("boom") == "dead", "boom dead")
        code, checks = run_doctor(git_repo, tmux_socket)
        assert code == 1
        assert checks["agent:boom"]["line"] == "agent boom: dead (exit 3; restart in 600s)"
        assert "`orgtui restart boom`" in checks["agent:boom"]["fix"]
        assert "agent:ok1" not in checks and "agents" not in checks
    finally:
        down(git_repo, tmux_socket)


def test_a_failed_agent_is_listed_with_its_detail_and_the_fix(
    git_repo: Path, tmux_socket: str
) -> None:
    org_toml(git_repo, {"ok1": "sleep 1000", "boom": "exit 7"}, restart_limit="1")
    up(git_repo, tmux_socket)
    try:
        wait_for(lambda: agent_states(git_repo).get("boom") == "failed", "boom failed")
        code, checks = run_doctor(git_repo, tmux_socket)
        assert code == 1
        line = checks["agent:boom"]["line"]
        assert line.startswith("agent boom: failed (exit 7; 1 deaths in 600s")
        assert checks["agent:boom"]["fix"].endswith("then `orgtui restart boom`")
    finally:
        down(git_repo, tmux_socket)


# -- the supervisor ----------------------------------------------------------------------------
def test_a_stopped_supervisor_is_reported_hung(git_repo: Path, tmux_socket: str) -> None:
    """tmux continues a stopped pane process at once, so the supervisor that gets stopped here
    runs outside tmux (as `orgtui supervise` may): alive, listening, never answering."""
    from orgtui import procs

    write_org(git_repo, {"a1": "sleep 1000"})
    up(git_repo, tmux_socket)
    first = wait_for(lambda: state(git_repo)["supervisor"].get("pid"), "the supervisor's pid")
    os.kill(first, signal.SIGTERM)
    wait_for(lambda: not procs.pid_alive(first), "the first supervisor gone")
    argv = [*ORGTUI, "supervise", "--root", str(git_repo), "--socket", tmux_socket]
    sup = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor outside tmux")
        assert state(git_repo)["supervisor"]["pid"] == sup.pid
        os.kill(sup.pid, signal.SIGSTOP)
        code, checks = run_doctor(git_repo, tmux_socket)
        assert code == 1
        line, fix = checks["supervisor"]["line"], checks["supervisor"]["fix"]
        assert f"pid {sup.pid} is alive but does not answer" in line
        assert fix.startswith(f"`kill -CONT {sup.pid}`")
        assert checks["session"]["ok"]
        os.kill(sup.pid, signal.SIGCONT)
        _, checks = run_doctor(git_repo, tmux_socket)
        assert checks["supervisor"]["ok"]
    finally:
        os.kill(sup.pid, signal.SIGCONT)
        down(git_repo, tmux_socket)
        sup.wait(timeout=30)


def _zombie() -> subprocess.Popen[bytes]:
    """A child that has exited and is not reaped yet: its pid still answers ``kill -0``."""
    child = subprocess.Popen(["true"])

    def state_letter() -> str:
        return Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    wait_for(lambda: state_letter() == "Z", "the child to become a zombie")
    return child


def test_a_zombie_supervisor_is_not_running_not_hung(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000"})
    tmux(tmux_socket, "new-session", "-d", "-s", "orgtui-t", "sleep 1000")
    paths = OrgPaths(git_repo)
    paths.org_dir.mkdir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(paths.control_socket))  # bound, never listening: connect is refused
    stale.close()
    child = _zombie()
    try:
        os.kill(child.pid, 0)  # a naive liveness test would call it alive
        record = {
            "version": 1,
            "org": "t",
            "session": "orgtui-t",
            "tmux_socket": tmux_socket,
            "supervisor": {"pid": child.pid},
            "agents": {},
        }
        paths.state_file.write_text(json.dumps(record))
        code, checks = run_doctor(git_repo, tmux_socket)
        assert code == 1
        sup = checks["supervisor"]
        assert sup["line"] == f"supervisor: not running (pid {child.pid} in state.json has exited)"
        assert sup["fix"] == "`orgtui up` restarts it"
    finally:
        child.wait()


# -- the socket --------------------------------------------------------------------------------
def test_a_forgotten_socket_finds_the_org_and_says_where(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000"})
    up(git_repo, tmux_socket)
    try:
        proc = run_orgtui("doctor", root=git_repo)  # no --socket, no ORGTUI_TMUX_SOCKET
        lines = proc.stdout.splitlines()
        assert (
            f"ok   the org runs on tmux socket {tmux_socket} (recorded in state.json): "
            f"pass --socket {tmux_socket}" in lines
        )
        assert f"ok   org t: up (tmux session orgtui-t on tmux socket {tmux_socket})" in lines
        assert not [line for line in lines if "down" in line or "not running" in line]
        code, checks = run_doctor(git_repo, "elsewhere")
        assert (
            not checks["socket"]["ok"] and checks["socket"]["fix"] == f"pass --socket {tmux_socket}"
        )
        assert checks["session"]["ok"] and checks["supervisor"]["ok"] and code == 1
    finally:
        down(git_repo, tmux_socket)


# -- the disk ----------------------------------------------------------------------------------
def test_org_dir_check_writes_for_real_and_leaves_nothing(tmp_path: Path) -> None:
    org_dir = tmp_path / ".org"
    org_dir.mkdir()
    check = doctor.check_org_dir(org_dir)
    assert check.ok and "writable" in check.line
    assert list(org_dir.iterdir()) == []


def test_org_dir_that_is_a_file_cannot_be_written(tmp_path: Path) -> None:
    org_dir = tmp_path / ".org"
    org_dir.write_text("not a directory")
    check = doctor.check_org_dir(org_dir)
    assert not check.ok and "cannot write" in check.line
    assert "is not a directory" in check.fix
    assert org_dir.read_text() == "not a directory"


def test_a_full_disk_fails(tmp_path: Path) -> None:
    total = os.statvfs(tmp_path).f_blocks * os.statvfs(tmp_path).f_frsize
    check = doctor.check_org_dir(tmp_path / ".org", min_free=total + 1)
    assert not check.ok and "full" in check.line and "free space" in check.fix


def test_an_unwritable_org_dir_fails_the_command(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"a1": "sleep 1000"})
    (git_repo / ".org").write_text("a file where the directory belongs")
    code, checks = run_doctor(git_repo, tmux_socket)
    assert code == 1 and not checks["org_dir"]["ok"]


# -- shell panes -------------------------------------------------------------------------------
def _shell_pane_finds_orgtui(repo: Path, socket_name: str, out: Path) -> bool:
    """Type ``command -v orgtui`` into the real shell seat and read what it printed."""
    out.unlink(missing_ok=True)
    tmux(
        socket_name,
        "send-keys",
        "-t",
        "=orgtui-t:=sh",
        f"command -v orgtui > {out}; echo . >> {out}",
        "Enter",
    )
    lines = wait_for(lambda: out.exists() and out.read_text().splitlines(), "the shell's answer")
    return lines[0] != "."


def test_shell_panes_without_orgtui_fail_as_a_real_shell_seat_does(
    git_repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    write_org(git_repo, {"a1": "sleep 1000"})
    with (git_repo / "org.toml").open("a") as toml:
        toml.write('[[agent]]\nname = "sh"\nrole = "researcher"\nbackend = "shell"\n')
    server_home = make_home(tmp_path / "server-home", RESET_PROFILE)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env |= {"HOME": str(server_home), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    up(git_repo, tmux_socket, env=env)
    out = tmp_path / "which.txt"
    try:
        wait_for(lambda: agent_states(git_repo).get("sh") == "idle", "the shell seat")
        assert not _shell_pane_finds_orgtui(git_repo, tmux_socket, out)
        # doctor's own HOME has a good profile: it must look at the org's server's panes.
        _, checks = run_doctor(git_repo, tmux_socket)
        shell = checks["shell_path"]
        assert not shell["ok"] and "`orgtui` not found" in shell["line"]
        assert f'export PATH="{BIN_DIR}:$PATH"' in shell["fix"]

        make_home(server_home, FIXED_PROFILE)
        run_orgtui("restart", "sh", root=git_repo, socket=tmux_socket, check=True)
        wait_for(lambda: agent_states(git_repo).get("sh") == "idle", "the shell seat again")
        assert _shell_pane_finds_orgtui(git_repo, tmux_socket, out)
        _, checks = run_doctor(git_repo, tmux_socket)
        assert checks["shell_path"]["ok"]
        assert (
            checks["shell_path"]["line"]
            == f"shell panes: `orgtui` resolves to {BIN_DIR / 'orgtui'}"
        )
    finally:
        down(git_repo, tmux_socket)


def test_a_login_shell_that_hangs_is_reported(tmp_path: Path) -> None:
    home = make_home(tmp_path / "h", "sleep 30\n")
    env = {"HOME": str(home), "SHELL": "/bin/bash", "PATH": os.environ["PATH"]}
    check = doctor.check_shell_path(env, timeout=1.0)
    assert not check.ok and "did not get through its startup files" in check.line


# -- output ------------------------------------------------------------------------------------
@pytest.mark.parametrize("failing", [0, 1, 2])
def test_exit_code_is_zero_only_when_every_check_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failing: int
) -> None:
    checks = [doctor.Check(f"c{i}", i >= failing, f"line {i}", "do it") for i in range(3)]
    monkeypatch.setattr(doctor, "run_checks", lambda args: checks)
    assert doctor.cmd_doctor(argparse.Namespace(json=True)) == (1 if failing else 0)
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is (failing == 0)
    assert [c["ok"] for c in report["checks"]] == [i >= failing for i in range(3)]
    doctor.cmd_doctor(argparse.Namespace(json=False))
    text = capsys.readouterr().out
    assert text.count("FAIL") == failing and text.count("fix: do it") == failing


def test_logind_check(tmp_path: Path) -> None:
    conf = tmp_path / "logind.conf"
    conf.write_text("[Login]\n#KillUserProcesses=no\n")
    assert not doctor.logind_kills_user_processes(conf)
    assert doctor.check_logout(conf).ok
    conf.write_text("[Login]\nKillUserProcesses=yes\n")
    assert doctor.logind_kills_user_processes(conf)
    assert "enable-linger" in doctor.check_logout(conf).fix
