"""Shared helpers: an org in a real git repo, the CLI as a subprocess, polling state.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import run_orgtui

FAST = """
[supervisor]
tick = "0.1s"
backoff_initial = "0.2s"
backoff_max = "0.8s"
restart_limit = 4
restart_window = "10m"
nudge = false
"""


def write_org(repo: Path, agents: dict[str, str], *, gpus: str = "none", extra: str = "") -> Path:
    """org.toml with one `command` agent per entry (name -> command line)."""
    lines = [
        "[org]",
        'name = "t"',
        'program = "p1"',
        'task = "test"',
        "[defaults]",
        f'gpus = "{gpus}"',
        FAST,
        extra,
    ]
    for name, command in agents.items():
        lines += [
            "[[agent]]",
            f'name = "{name}"',
            'role = "researcher"',
            'backend = "command"',
            f"command = {json.dumps(command)}",
        ]
    (repo / "org.toml").write_text("\n".join(lines) + "\n")
    return repo


def orgtui(
    repo: Path, socket: str | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``orgtui ARGS`` on the org in ``repo``; ``socket`` None: no ``--socket`` given."""
    proc = run_orgtui(*args, root=repo, socket=socket, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"orgtui {args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def state(repo: Path) -> dict[str, Any]:
    try:
        return json.loads((repo / ".org" / "state.json").read_text())
    except (OSError, ValueError):
        return {"agents": {}, "supervisor": {}}


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, check=False
    ).stdout


def windows(socket: str) -> list[str]:
    return tmux(socket, "list-windows", "-t", "=orgtui-t", "-F", "#{window_name}").split()


def pane_pid(socket: str, window: str) -> int:
    return int(tmux(socket, "display", "-p", "-t", f"=orgtui-t:={window}", "#{pane_pid}").strip())


def supervisor_up(repo: Path) -> bool:
    """The supervisor answers on its control socket."""
    from orgtui.paths import OrgPaths
    from orgtui.supervisor.control import ControlError, request

    try:
        return bool(request(OrgPaths(repo), {"verb": "ping"}, timeout=1.0).get("ok"))
    except ControlError:
        return False


def agent_states(repo: Path) -> dict[str, str]:
    return {n: r.get("status") for n, r in state(repo)["agents"].items()}
