"""``.org/agents/<name>/status.json``: what an agent says it is doing, in its own words.

Written by the agent side (Claude Code hooks, the Codex notify program, the builtin and
scripted agents); read by the supervisor and the TUI. ``state`` is one of ``working``,
``waiting`` (needs the person: a permission prompt or a question) or ``idle``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from orgtui.atomic import atomic_write_json
from orgtui.paths import OrgPaths

AGENT_STATES = ("starting", "working", "waiting", "idle")
PLAYBOOK_FAILED = "playbook failed"
"""How a scripted agent's detail begins when its playbook stopped on an error."""


@dataclass(frozen=True)
class AgentStatus:
    state: str
    time: float
    source: str
    detail: str = ""

    def age(self, now: float | None = None) -> float:
        return (now if now is not None else time.time()) - self.time


def write_status(
    paths: OrgPaths, agent: str, state: str, *, source: str, detail: str = ""
) -> AgentStatus:
    """Record ``state`` for ``agent`` atomically; ``detail`` is a short human line, never a secret."""
    if state not in AGENT_STATES:
        raise ValueError(f"unknown agent state {state!r}; expected one of {AGENT_STATES}")
    status = AgentStatus(state=state, time=time.time(), source=source, detail=detail[:200])
    atomic_write_json(paths.agent_dir(agent) / "status.json", status.__dict__)
    return status


def read_status(paths: OrgPaths, agent: str) -> AgentStatus | None:
    """The last status an agent reported, or None when absent or unreadable."""
    try:
        data = json.loads((paths.agent_dir(agent) / "status.json").read_text(encoding="utf-8"))
        return AgentStatus(
            state=str(data["state"]),
            time=float(data["time"]),
            source=str(data.get("source", "")),
            detail=str(data.get("detail", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def failed_playbooks(paths: OrgPaths, agents: Iterable[str]) -> dict[str, str]:
    """Agent -> what it said, for each of ``agents`` whose playbook stopped on an error."""
    failed = {}
    for name in agents:
        status = read_status(paths, name)
        if status is not None and status.detail.startswith(PLAYBOOK_FAILED):
            failed[name] = status.detail
    return failed
