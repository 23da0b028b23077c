"""``orgtui status-hook``: one CLI hook or notify payload -> the seat's ``status.json``."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from orgtui.agentstatus import read_status, write_status
from orgtui.atomic import exclusive_lock
from orgtui.backends.claude import claude_state
from orgtui.backends.codex import codex_state
from orgtui.paths import OrgPaths


def _spawned_at() -> float:
    """When this hook process started (the moment of its event, near enough), wall clock.

    Computed from the process's age on the kernel's boot clock (10 ms ticks): psutil's
    create_time adds a whole-second boot time and can be off by up to a second.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        return time.time() - (up - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time()


def record_event(
    root: str | Path, agent: str, source: str, payload: str, *, spawned: float | None = None
) -> str | None:
    """Turn one hook/notify payload into status.json; returns the state written, if any.

    The CLIs start one hook process per event and do not wait for them in order: a slow
    SessionStart hook may finish after the UserPromptSubmit hook spawned just after it. A
    status written after the event (``spawned``; default: when this process started, as
    each hook is a process of its own) comes from a later event, so it stays.
    """
    from orgtui.names import is_valid_name
    from orgtui.redact import redact

    if not is_valid_name(agent):
        return None
    try:
        event = json.loads(payload or "{}")
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    paths = OrgPaths(Path(root))
    if source == "claude" and "transcript_path" in event:
        _note_transcript(paths, agent, event["transcript_path"])
    if "hook_event_name" in event or source != "codex":
        result = claude_state(event)  # both CLIs' hooks speak this vocabulary
    else:
        result = codex_state(paths, agent, event)
    if result is None:
        return None
    state, detail = result
    spawned = _spawned_at() if spawned is None else spawned
    with exclusive_lock(paths.agent_dir(agent) / "status.lock"):
        current = read_status(paths, agent)
        if current is not None and current.time > spawned:
            return None
        write_status(paths, agent, state, source=source, detail=redact(detail)[0])
    return state


def _note_transcript(paths: OrgPaths, agent: str, transcript: object) -> None:
    """Where the seat's usage is recorded (the collector reads it); never breaks the hook."""
    from orgtui.spend.claude import remember_transcript

    with contextlib.suppress(OSError, ValueError):
        remember_transcript(paths, agent, transcript)
