"""Role prompts and kickoff messages, shared by every backend that talks to a model.

A role file (``roles/<role>.md``) uses ``{org}``, ``{task}``, ``{agent}``, ``{role}``,
``{program}`` and ``{chief}`` placeholders; the research protocol (``roles/protocol.md``) is
appended so every agent follows the same rules. Unknown braces are left as they are, so a
prompt may show code with ``{}`` in it.
"""

from __future__ import annotations

import re
from pathlib import Path

from orgtui.atomic import atomic_write_text
from orgtui.config import AgentSpec, OrgConfig, role_file
from orgtui.process import chiefs

_PLACEHOLDER = re.compile(r"\{(org|task|agent|role|program|chief)\}")

VERBS = (
    "orgtui inbox",
    "orgtui post",
    "orgtui run",
    "orgtui compare",
    "orgtui propose",
    "orgtui standup",
)


def _chief(config: OrgConfig) -> str:
    """Who ``{chief}`` names: the standup's and review's first chief, else the person."""
    return next(iter(chiefs(config)), "human")


def fill(text: str, config: OrgConfig, spec: AgentSpec) -> str:
    """Replace the known placeholders in ``text`` (and nothing else)."""
    values = {
        "org": config.org.name,
        "task": config.org.task,
        "agent": spec.name,
        "role": spec.role,
        "program": config.org.program,
        "chief": _chief(config),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render_role(config: OrgConfig, spec: AgentSpec) -> str:
    """The full system-prompt addition of ``spec``: its role, then the protocol."""
    parts = []
    role = role_file(config.root, spec.role)
    if role is not None:
        parts.append(fill(role.read_text(encoding="utf-8"), config, spec))
    else:
        parts.append(f"You are {spec.name}, a {spec.role} in {config.org.name}.")
    protocol = role_file(config.root, "protocol")
    if protocol is not None:
        parts.append(fill(protocol.read_text(encoding="utf-8"), config, spec))
    return "\n\n".join(p.rstrip() for p in parts) + "\n"


def write_role(config: OrgConfig, spec: AgentSpec) -> Path:
    """Render the role prompt into ``.org/agents/<name>/role.md`` and return the path."""
    path = config.paths.agent_dir(spec.name) / "role.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_role(config, spec))
    return path


def kickoff(config: OrgConfig, spec: AgentSpec, brief: str | None = None) -> str:
    """The first user message: who you are, the task, and the tools and verbs to use (one line)."""
    from orgtui.mcp.tools import TOOLS

    text = (
        f"You are {spec.name} ({spec.role}) in the research org {config.org.name}. "
        f"Task: {config.org.task} "
        "Start by reading your mail with the `inbox` tool (or `orgtui inbox`). "
        f"Your org tools ({', '.join(t.name for t in TOOLS)}) talk to the org and run and "
        f"compare experiments; where they are not offered, use {', '.join(VERBS)} "
        "(see `orgtui --help`)."
    )
    if brief:
        text += f" Handoff brief: {brief}"
    return " ".join(text.split())
