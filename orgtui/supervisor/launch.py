"""Starting things in tmux: an agent's pane (worktree, backend command, wrapper) and the
supervisor's own window 0."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from orgtui import procs
from orgtui.atomic import atomic_write_text
from orgtui.backends import LaunchContext, launch_for
from orgtui.supervisor import layout, worktrees
from orgtui.supervisor.seats import Org, log, seat, seat_spec
from orgtui.supervisor.state import Seat, SeatStatus
from orgtui.supervisor.tmux import Pane

SUPERVISOR_WINDOW = "supervisor"


def prepare_worktree(org: Org, name: str) -> Path:
    """The seat's worktree on its feature branch; a new one gets org.toml's copies and setup."""
    path = org.paths.worktree(name)
    branch, created = worktrees.ensure_worktree(org.config.root, org.config.org.program, name, path)
    seat(org, name).branch = branch
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


def pane_env(org: Org, env: dict[str, str]) -> dict[str, str]:
    """``env`` plus the tmux server, so verbs typed in the pane reach this org's server."""
    env = dict(env)
    if org.tmux.socket_name:
        env["ORGTUI_TMUX_SOCKET"] = org.tmux.socket_name
    return env


def wrap(org: Org, name: str, command: str, path: str | None = None) -> str:
    """``command`` under ``/bin/sh`` that records its exit code in ``.org/agents/NAME/exit``.

    ``path`` is exported inside the wrapper: tmux starts the pane through the user's shell,
    whose startup files may reset PATH and lose this installation's ``orgtui`` and ``python``.
    The wrapper also lets a suspend stop everything below it (see ``procs.signal_tree``).
    """
    exit_file = org.paths.exit_file(name)
    exit_file.parent.mkdir(parents=True, exist_ok=True)
    script = f"(\n{command}\n)\necho $? > {shlex.quote(str(exit_file))}"
    if path:
        script = f"export PATH={shlex.quote(path)}\n{script}"
    return shlex.join(["/bin/sh", "-c", script])


def launch(
    org: Org, name: str, *, resume: bool = False, brief: str | None = None, pane: Pane | None = None
) -> Seat:
    """Start the seat: a new window (or wall pane), or a respawn of its existing dead pane."""
    spec = seat_spec(org, name)
    record = seat(org, name)
    worktree = prepare_worktree(org, name)
    plan = launch_for(LaunchContext(org.config, spec, worktree, resume=resume, brief=brief))
    env = pane_env(org, plan.env)
    if pane is None:
        pane = org.tmux.panes(org.session).get(name)
    command = wrap(org, name, plan.command, env.get("PATH"))
    if pane is not None:
        org.tmux.respawn(pane.pane_id, command, plan.cwd, env)
    elif layout.current(org) == "grid":
        layout.place_on_wall(org, name, command, plan.cwd, env)
    else:
        org.tmux.new_window(org.session, name, command, plan.cwd, env, agent=name)
    pane = org.tmux.panes(org.session)[name]
    now = time.time()
    record.role, record.backend, record.gpu = spec.role, spec.backend, spec.gpu
    record.worktree = str(worktree)
    record.attach(pane.window_id, pane.pane_id, pane.pane_pid)
    record.started_at = now
    record.set_status(SeatStatus.STARTING, "")
    org.tmux.set_title(pane.pane_id, layout.pane_title(record))
    launch_record = {
        "agent": name,
        "time": now,
        "backend": spec.backend,
        "command": plan.command,
        "cwd": str(plan.cwd),
        "env_keys": sorted(env),
        "pane_pid": pane.pane_pid,
        "resume": resume,
        "brief": brief is not None,
    }
    atomic_write_text(
        org.paths.launch_log(name, int(now * 1000)), json.dumps(launch_record, indent=1)
    )
    log(org.paths, f"{name}: launched ({spec.backend}) pane pid {pane.pane_pid}")
    return record


def supervise_command(org: Org) -> str:
    parts = [sys.executable, "-m", "orgtui", "supervise", "--root", str(org.config.root)]
    if org.tmux.socket_name:
        parts += ["--socket", org.tmux.socket_name]
    return shlex.join(parts)


def ensure_session(org: Org) -> None:
    """The org's session with window 0 running the supervisor (started or restarted)."""
    command = supervise_command(org)
    env = pane_env(org, {"ORGTUI_ROOT": str(org.config.root)})
    if not org.tmux.has_session(org.session):
        org.tmux.new_session(org.session, SUPERVISOR_WINDOW, command, org.config.root, env)
        return
    pane = org.tmux.panes(org.session).get(SUPERVISOR_WINDOW)
    if pane is None:
        org.tmux.new_window(org.session, SUPERVISOR_WINDOW, command, org.config.root, env)
    elif pane.dead or not procs.pid_alive(pane.pane_pid):
        org.tmux.respawn(pane.pane_id, command, org.config.root, env)
