"""Seat operations shared by the supervisor daemon and the CLI (when no supervisor runs).

Everything works on an ``Org``: the config, tmux, and the state dict that the caller
saves. Only one process mutates state at a time: the daemon, or a CLI verb holding the
org lock while the daemon is down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgtui import board
from orgtui.atomic import append_line, atomic_write_text
from orgtui.config import AgentSpec, OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.names import check_name
from orgtui.paths import OrgPaths
from orgtui.supervisor import worktrees
from orgtui.supervisor.backends import LaunchContext, launch_for
from orgtui.supervisor.state import (
    empty_state,
    load_state,
    new_agent,
    pid_alive,
    save_state,
    set_status,
    supervisor_alive,
)
from orgtui.supervisor.tmux import Pane, Tmux

SUPERVISOR_WINDOW = "supervisor"
GONE = ("parked", "failed")


class SeatError(OrgtuiError):
    """An operation on a seat that does not exist or cannot take it."""


@dataclass
class Org:
    config: OrgConfig
    tmux: Tmux
    state: dict[str, Any]

    @property
    def paths(self) -> OrgPaths:
        return self.config.paths

    @property
    def session(self) -> str:
        return self.config.org.session_name


def open_org(config: OrgConfig, socket_name: str | None) -> Org:
    state = load_state(config.paths)
    state.update(org=config.org.name, session=config.org.session_name, tmux_socket=socket_name)
    return Org(config=config, tmux=Tmux(socket_name), state=state)


@contextlib.contextmanager
def org_lock(paths: OrgPaths) -> Iterator[None]:
    """Serialises `up`s and direct CLI edits of state.json (released if the holder dies)."""
    paths.org_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.lock_file, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log(paths: OrgPaths, line: str) -> None:
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    append_line(paths.logs_dir / "supervisor.log", f"{stamp} {line}")


def post_system(paths: OrgPaths, subject: str, body: str, to: tuple[str, ...] = ("human",)) -> None:
    """A supervisor notice on the board; a board that cannot take it is logged, not fatal."""
    try:
        board.post(
            paths, sender="supervisor", to=list(to), subject=subject, body=body, kind="system"
        )
    except (OrgtuiError, OSError) as error:
        log(paths, f"board post failed: {error}")


# -- seats -----------------------------------------------------------------------------------
def seat_names(org: Org) -> list[str]:
    names = list(org.config.agent_names)
    names += [n for n, r in org.state["agents"].items() if r.get("runtime") and n not in names]
    return names


def seat_spec(org: Org, name: str) -> AgentSpec:
    """The seat's spec: from org.toml (or a runtime seat), with any backend handed over."""
    record = org.state["agents"].get(name)
    spec = next((a for a in org.config.agents if a.name == name), None)
    if spec is None:
        if not record or not record.get("runtime"):
            raise SeatError(
                f"no agent named {name!r} in {org.paths.config_file} (or spawned at runtime)"
            )
        spec = AgentSpec(
            name=name,
            role=record["role"],
            backend=record["backend"],
            gpu=record.get("gpu"),
            command=record.get("command"),
        )
    if record and record.get("backend") and record["backend"] != spec.backend:
        spec = dataclasses.replace(spec, backend=record["backend"])
    return spec


def record_of(org: Org, name: str) -> dict[str, Any]:
    record = org.state["agents"].get(name)
    if record is None:
        if name not in seat_names(org):
            seat_spec(org, name)  # raises the clear error
        spec = seat_spec(org, name)
        record = new_agent(
            name,
            spec.role,
            spec.backend,
            gpu=spec.gpu,
            worktree=str(org.paths.worktree(name)),
            branch=worktrees.feature_branch(org.config.org.program, name),
        )
        record["status"] = "dead"
        org.state["agents"][name] = record
    return record


def _prepare_worktree(org: Org, name: str) -> Path:
    path = org.paths.worktree(name)
    branch, created = worktrees.ensure_worktree(org.config.root, org.config.org.program, name, path)
    record_of(org, name)["branch"] = branch
    if created:
        for rel in org.config.worktree.copy:
            source = org.config.root / rel
            target = path / rel
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        if org.config.worktree.setup:
            proc = subprocess.run(
                org.config.worktree.setup,
                shell=True,
                cwd=path,
                capture_output=True,
                text=True,
                check=False,
            )
            log(org.paths, f"{name}: worktree setup exited {proc.returncode}")
    return path


def _launch_env(org: Org, env: dict[str, str]) -> dict[str, str]:
    env = dict(env)
    if org.tmux.socket_name:
        env["ORGTUI_TMUX_SOCKET"] = org.tmux.socket_name
    return env


def launch(
    org: Org, name: str, *, resume: bool = False, brief: str | None = None, pane: Pane | None = None
) -> dict[str, Any]:
    """Start the seat: a new window, or a respawn of its existing (dead) pane."""
    spec = seat_spec(org, name)
    record = record_of(org, name)
    worktree = _prepare_worktree(org, name)
    plan = launch_for(LaunchContext(org.config, spec, worktree, resume=resume, brief=brief))
    env = _launch_env(org, plan.env)
    if pane is None:
        pane = org.tmux.panes(org.session).get(name)
    command = wrap(org.paths, name, plan.command, env.get("PATH"))
    if pane is not None:
        org.tmux.respawn(pane.pane_id, command, plan.cwd, env)
    elif layout(org) == "grid":
        place_on_wall(org, name, command, plan.cwd, env)
    else:
        org.tmux.new_window(org.session, name, command, plan.cwd, env, agent=name)
    pane = org.tmux.panes(org.session)[name]
    now = time.time()
    record.update(
        role=spec.role,
        backend=spec.backend,
        worktree=str(worktree),
        gpu=spec.gpu,
        window_id=pane.window_id,
        pane_id=pane.pane_id,
        pane_pid=pane.pane_pid,
        started_at=now,
    )
    set_status(record, "starting", "")
    org.tmux.set_title(pane.pane_id, pane_title(record))
    paths = org.paths
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    launch_log = paths.logs_dir / f"{name}-{int(now * 1000)}.launch.json"
    atomic_write_text(
        launch_log,
        json.dumps(
            {
                "agent": name,
                "time": now,
                "backend": spec.backend,
                "command": plan.command,
                "cwd": str(plan.cwd),
                "env_keys": sorted(env),
                "pane_pid": pane.pane_pid,
                "resume": resume,
                "brief": brief is not None,
            },
            indent=1,
        ),
    )
    log(paths, f"{name}: launched ({spec.backend}) pane pid {pane.pane_pid}")
    return record


# -- layouts: a window per agent, or the grid of "wall" windows --------------------------------
def layout(org: Org) -> str:
    """The org's current layout: what ``orgtui grid`` last switched to, else org.toml's."""
    return str(org.state.get("layout") or org.config.org.layout)


def pane_title(record: dict[str, Any]) -> str:
    return f"{record.get('name')} · {record.get('role')} · {record.get('status')}"


def place_on_wall(org: Org, name: str, command: str, cwd: Path, env: dict[str, str]) -> None:
    """Put a new agent pane on the first wall with room, or on a new wall."""
    wall, has_room = _wall_for_one_more(org)
    if has_room:
        org.tmux.split_into(org.session, wall, name, command, cwd, env)
    else:
        org.tmux.new_wall(org.session, wall, name, command, cwd, env)


def _wall_for_one_more(org: Org) -> tuple[str, bool]:
    """The first wall with fewer than ``grid_max`` panes, or the name of the next new one."""
    sizes = org.tmux.wall_sizes(org.session)
    numbers = {w: int(n) if (n := w.removeprefix("wall-")).isdigit() else 0 for w in sizes}
    for wall in sorted(sizes, key=numbers.__getitem__):
        if sizes[wall] < org.config.org.grid_max:
            return wall, True
    return f"wall-{max(numbers.values(), default=0) + 1}", False


def switch_layout(org: Org, to: str) -> list[str]:
    """Move every live agent pane to the other layout; no process is restarted."""
    if to not in ("windows", "grid"):
        raise SeatError(f"unknown layout {to!r}: use windows or grid")
    moved = []
    panes = org.tmux.panes(org.session)
    for name in seat_names(org):
        pane = panes.get(name)
        if pane is None:
            continue
        on_wall = pane.window_name.startswith("wall-")
        if to == "grid" and not on_wall:
            wall, has_room = _wall_for_one_more(org)
            if has_room:
                org.tmux.join(pane.pane_id, org.session, wall)
            else:  # its own window becomes the next wall
                org.tmux.cmd("rename-window", "-t", pane.window_id, wall)
                org.tmux.style_wall(org.session, wall)
            moved.append(name)
        elif to == "windows" and on_wall:
            wall = pane.window_name
            org.tmux.break_out(pane.pane_id, org.session, name)
            if org.tmux.wall_sizes(org.session).get(wall):
                org.tmux.retile(org.session, wall)
            moved.append(name)
    org.state["layout"] = to
    for name, pane in org.tmux.panes(org.session).items():
        if name in org.state["agents"]:
            org.state["agents"][name]["window_id"] = pane.window_id
    return moved


def ensure_session(org: Org) -> None:
    """The org's session with window 0 running the supervisor (started or restarted)."""
    command = supervise_command(org)
    env = _launch_env(org, {"ORGTUI_ROOT": str(org.config.root)})
    if not org.tmux.has_session(org.session):
        org.tmux.new_session(org.session, SUPERVISOR_WINDOW, command, org.config.root, env)
        return
    pane = org.tmux.panes(org.session).get(SUPERVISOR_WINDOW)
    if pane is None:
        org.tmux.new_window(org.session, SUPERVISOR_WINDOW, command, org.config.root, env)
    elif pane.dead or not pid_alive(pane.pane_pid):
        org.tmux.respawn(pane.pane_id, command, org.config.root, env)


def supervise_command(org: Org) -> str:
    parts = [sys.executable, "-m", "orgtui", "supervise", "--root", str(org.config.root)]
    if org.tmux.socket_name:
        parts += ["--socket", org.tmux.socket_name]
    return shlex.join(parts)


def ensure_agents(org: Org) -> list[str]:
    """Adopt every live seat window, start the missing ones; parked/failed seats stay so."""
    panes = org.tmux.panes(org.session)
    started = []
    for name in seat_names(org):
        record = record_of(org, name)
        pane = panes.get(name)
        if pane is not None and not pane.dead and pid_alive(pane.pane_pid):
            adopt(record, pane)
            continue
        if record.get("status") in GONE:
            continue
        launch(org, name, pane=pane)
        started.append(name)
    return started


def adopt(record: dict[str, Any], pane: Pane) -> None:
    record.update(window_id=pane.window_id, pane_id=pane.pane_id, pane_pid=pane.pane_pid)
    if record.get("status") in ("dead", "failed", "parked", None):
        set_status(record, "starting")
    if _stopped(pane.pane_pid):
        set_status(record, "suspended")


# -- operations ------------------------------------------------------------------------------
def _live_pane(org: Org, name: str) -> Pane:
    pane = org.tmux.panes(org.session).get(name)
    if pane is None or pane.dead or pane.pane_pid is None:
        raise SeatError(
            f"agent {name!r} is not running (status: "
            f"{record_of(org, name).get('status')}); `orgtui up` or `orgtui resume`"
        )
    return pane


def signal_seat(pid: int, sig: int) -> None:
    """``sig`` to every process under the pane's wrapper shell, one by one.

    tmux answers a stop of a pane's own process with SIGCONT to its process group (and the
    kernel drops SIGTTOU/SIGTSTP there: the group is orphaned), so the pane runs a small
    ``sh`` wrapper (see ``wrap``) that stays running while everything below it stops.
    """
    import psutil

    targets: list[int] = []
    with contextlib.suppress(psutil.Error):
        targets = [child.pid for child in psutil.Process(pid).children(recursive=True)]
    for child in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, sig)


def wrap(paths: OrgPaths, name: str, command: str, path: str | None = None) -> str:
    """``command`` under ``/bin/sh`` that records its exit code in ``.org/agents/NAME/exit``.

    ``path`` is exported inside the wrapper: tmux starts the pane through the user's shell,
    whose startup files may reset PATH and lose this installation's ``orgtui`` and ``python``.
    """
    exit_file = paths.agent_dir(name) / "exit"
    exit_file.parent.mkdir(parents=True, exist_ok=True)
    script = f"(\n{command}\n)\necho $? > {shlex.quote(str(exit_file))}"
    if path:
        script = f"export PATH={shlex.quote(path)}\n{script}"
    return shlex.join(["/bin/sh", "-c", script])


def suspend(org: Org, name: str) -> dict[str, Any]:
    pane = _live_pane(org, name)
    assert pane.pane_pid is not None
    signal_seat(pane.pane_pid, signal.SIGSTOP)
    record = record_of(org, name)
    set_status(record, "suspended", "SIGSTOP")
    log(org.paths, f"{name}: suspended")
    return record


def resume(org: Org, name: str) -> dict[str, Any]:
    record = record_of(org, name)
    if record.get("status") in GONE or org.tmux.panes(org.session).get(name) is None:
        was = record.get("status")
        record["restarts"] = record.get("restarts") or 0
        for key in ("deaths", "next_restart"):
            record.pop(key, None)
        launch(org, name, resume=True)
        log(org.paths, f"{name}: resumed from {was}")
        return record
    pane = _live_pane(org, name)
    assert pane.pane_pid is not None
    signal_seat(pane.pane_pid, signal.SIGCONT)
    set_status(record, "starting", "")
    log(org.paths, f"{name}: resumed (SIGCONT)")
    return record


def wip(org: Org, name: str, label: str) -> str | None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = org.paths.worktree(name)
    sha = worktrees.wip_commit(path, f"wip({label}): {name} {stamp}") if path.exists() else None
    if sha:
        log(org.paths, f"{name}: wip({label}) commit {sha[:10]}")
    return sha


def stop_window(org: Org, name: str) -> None:
    pane = org.tmux.panes(org.session).get(name)
    if pane is not None:
        if pane.pane_pid and _stopped(pane.pane_pid):
            signal_seat(pane.pane_pid, signal.SIGCONT)
        if pane.window_name.startswith("wall-"):
            org.tmux.kill_pane(pane.pane_id)
            org.tmux.retile(org.session, pane.window_name)
        else:
            org.tmux.kill_window(pane.window_id)
    record = record_of(org, name)
    record.update(window_id=None, pane_id=None, pane_pid=None)


def park(org: Org, name: str) -> dict[str, Any]:
    record = record_of(org, name)
    sha = wip(org, name, "park")
    stop_window(org, name)
    set_status(record, "parked", f"wip {sha[:10]}" if sha else "clean")
    record["wip_commit"] = sha
    log(org.paths, f"{name}: parked")
    return record


def restart(org: Org, name: str) -> dict[str, Any]:
    record = record_of(org, name)
    record["restarts"] = int(record.get("restarts") or 0) + 1
    record.pop("deaths", None)
    record.pop("next_restart", None)
    launch(org, name, resume=True)
    return record


SEAT_OPS = {"suspend": suspend, "resume": resume, "park": park, "restart": restart}
"""The operations on one seat that take nothing but its name (CLI verbs and control verbs)."""


def brief_for(org: Org, name: str) -> str:
    """Recent commits, the last board messages to/from the seat, and its open questions."""
    record = record_of(org, name)
    lines = [
        f"# Handoff brief: {name}",
        "",
        f"Seat: role {record.get('role')}, branch {record.get('branch')}, "
        f"worktree {org.paths.worktree(name)}, GPU {record.get('gpu')}",
        "",
        "## Recent commits",
    ]
    lines += [f"- {c}" for c in worktrees.recent_commits(org.paths.worktree(name))] or ["- none"]
    messages: list[board.Message] = []
    with contextlib.suppress(OrgtuiError, OSError):
        messages = [
            m for m in board.messages(org.paths) if m.sender == name or m.addressed_to(name)
        ]
    lines += ["", "## Last messages"]
    lines += [
        f"- [{m.kind}] {m.sender} -> {', '.join(m.to)}: {m.subject} ({m.id})"
        for m in messages[-10:]
    ] or ["- none"]
    answered = {m.reply_to for m in messages if m.reply_to}
    questions = [m for m in messages if m.kind == "question" and m.id not in answered]
    lines += ["", "## Open questions"]
    lines += [f"- {m.sender}: {m.subject} ({m.id})" for m in questions] or ["- none"]
    return "\n".join(lines) + "\n"


def handoff(
    org: Org, name: str, *, backend: str | None = None, to: str | None = None
) -> dict[str, Any]:
    if bool(backend) == bool(to):
        raise SeatError("handoff needs exactly one of --backend B or --to OTHER")
    record = record_of(org, name)
    sha = wip(org, name, "handoff")
    brief = brief_for(org, name)
    (org.paths.agent_dir(name)).mkdir(parents=True, exist_ok=True)
    atomic_write_text(org.paths.agent_dir(name) / "handoff.md", brief)
    if backend:
        previous = record.get("backend")
        record["backend"] = backend
        try:
            launch(org, name, resume=False, brief=brief)
        except OrgtuiError:
            record["backend"] = previous
            raise
        log(org.paths, f"{name}: handed over to backend {backend}")
        return {**record, "wip_commit": sha}
    assert to is not None
    if to not in seat_names(org):
        raise SeatError(f"handoff --to {to!r}: no such agent")
    branch = record.get("branch") or worktrees.feature_branch(org.config.org.program, name)
    body = f"Take over {name}'s work: merge branch `{branch}`.\n\n{brief}"
    board.post(
        org.paths,
        sender="supervisor",
        to=[to],
        subject=f"handoff: {name}",
        body=body,
        kind="handoff",
        refs=(),
    )
    log(org.paths, f"{name}: handed off to {to} (branch {branch})")
    return {**record, "wip_commit": sha, "to": to}


def spawn(
    org: Org, name: str, role: str, backend: str, gpu: int | None = None, command: str | None = None
) -> dict[str, Any]:
    check_name(name, "agent name")
    if name in seat_names(org) and org.tmux.panes(org.session).get(name) is not None:
        raise SeatError(f"agent {name!r} already exists")
    record = new_agent(
        name,
        role,
        backend,
        gpu=gpu,
        runtime=True,
        command=command,
        worktree=str(org.paths.worktree(name)),
        branch=worktrees.feature_branch(org.config.org.program, name),
    )
    org.state["agents"][name] = record
    launch(org, name)
    return record


def stop_supervisor(org: Org, timeout: float = 5.0) -> None:
    """End a supervisor that does not answer (still starting, or its socket gone).

    Seats stopped behind its back would look like deaths to it, and it would restart them.
    """
    import psutil

    pane = org.tmux.panes(org.session).get(SUPERVISOR_WINDOW)
    if pane is None or pane.dead or not pid_alive(pane.pane_pid):
        return
    procs: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        top = psutil.Process(pane.pane_pid)
        procs = [top, *top.children(recursive=True)]
    org.tmux.kill_pane(pane.pane_id)  # SIGHUP: the supervisor's stop signal
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def down(org: Org, *, park_first: bool = False) -> list[str]:
    stopped = []
    for name in seat_names(org):
        record = record_of(org, name)
        if park_first:
            park(org, name)
        else:
            stop_window(org, name)
            if record.get("status") not in GONE:
                set_status(record, "dead", "stopped by down")
        stopped.append(name)
    return stopped


def status_json(org_name: str, state: dict[str, Any]) -> dict[str, Any]:
    """The ``orgtui status --json`` shape."""
    sup = state.get("supervisor") or {}
    return {
        "org": org_name,
        "supervisor": {"pid": sup.get("pid"), "alive": supervisor_alive(state)},
        "agents": [
            {
                key: record.get(key)
                for key in (
                    "name",
                    "role",
                    "backend",
                    "status",
                    "branch",
                    "worktree",
                    "gpu",
                    "pane_pid",
                    "restarts",
                )
            }
            for record in state.get("agents", {}).values()
        ],
    }


def save(org: Org) -> None:
    save_state(org.paths, org.state)


def fresh_state(org: Org) -> None:
    org.state = empty_state(org.config.org.name, org.session, org.tmux.socket_name)


def _stopped(pid: int | None) -> bool:
    """True when a process under the pane's wrapper is stopped (state T)."""
    if not pid:
        return False
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
        return any(child.status() == psutil.STATUS_STOPPED for child in children)
    except psutil.Error:
        return False
