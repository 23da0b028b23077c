"""``.org/state.json``: what the supervisor knows about every seat, written atomically.

Readers (the TUI, ``orgtui status``) use ``load_state``, which never raises: a missing or
corrupt file reads as an empty org, and the supervisor rebuilds it from tmux.
"""

from __future__ import annotations

import json
import time
from typing import Any

from orgtui.atomic import atomic_write_json
from orgtui.paths import OrgPaths

VERSION = 1
STATUSES = ("starting", "working", "waiting", "idle", "suspended", "parked", "dead", "failed")
AGENT_KEYS = (
    "name",
    "role",
    "backend",
    "status",
    "branch",
    "worktree",
    "gpu",
    "window_id",
    "pane_id",
    "pane_pid",
    "restarts",
    "started_at",
    "last_change",
    "detail",
)


def empty_state(org: str = "", session: str = "", socket: str | None = None) -> dict[str, Any]:
    return {
        "version": VERSION,
        "org": org,
        "session": session,
        "tmux_socket": socket,
        "supervisor": {"pid": None, "started": None, "heartbeat": None},
        "layout": None,  # set by `orgtui grid`; None: org.toml's [org] layout
        "agents": {},
    }


def new_agent(name: str, role: str, backend: str, **fields: Any) -> dict[str, Any]:
    """A seat record with every contract key present."""
    record: dict[str, Any] = {key: None for key in AGENT_KEYS}
    record.update(
        name=name,
        role=role,
        backend=backend,
        status="starting",
        restarts=0,
        last_change=time.time(),
        detail="",
    )
    record.update(fields)
    return record


def load_state(paths: OrgPaths) -> dict[str, Any]:
    """The last state written, normalised; an empty state when missing or unreadable."""
    try:
        data = json.loads(paths.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty_state()
    if not isinstance(data, dict) or not isinstance(data.get("agents"), dict):
        return empty_state()
    state = empty_state()
    state.update({k: v for k, v in data.items() if k in state})
    if not isinstance(state["supervisor"], dict):
        state["supervisor"] = empty_state()["supervisor"]
    agents: dict[str, Any] = {}
    for name, record in data["agents"].items():
        if isinstance(record, dict):
            full = {key: None for key in AGENT_KEYS}
            full.update(record)
            full["name"] = name
            agents[name] = full
    state["agents"] = agents
    return state


def save_state(paths: OrgPaths, state: dict[str, Any]) -> None:
    atomic_write_json(paths.state_file, state)


def set_status(record: dict[str, Any], status: str, detail: str | None = None) -> bool:
    """Change a seat's status; returns True when something changed."""
    changed = record.get("status") != status or (
        detail is not None and record.get("detail") != detail
    )
    if changed:
        record["status"] = status
        if detail is not None:
            record["detail"] = detail
        record["last_change"] = time.time()
    return changed


def pid_alive(pid: Any) -> bool:
    """A process with this pid exists (possibly another user's: it is still not free)."""
    import psutil

    return isinstance(pid, int) and pid > 0 and psutil.pid_exists(pid)


def supervisor_alive(state: dict[str, Any]) -> bool:
    pid = (state.get("supervisor") or {}).get("pid")
    if not isinstance(pid, int):
        return False
    try:
        import os

        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
