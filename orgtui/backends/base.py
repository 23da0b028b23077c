"""What every backend shares: the seat it launches, the pane command it returns, the pane's
environment and the hook table the CLIs call back through."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from orgtui.config import AgentSpec, OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.invocation import orgtui_command
from orgtui.paths import OrgPaths


class BackendError(OrgtuiError):
    """A seat that cannot be launched (unknown backend, missing executable ...)."""


@dataclass(frozen=True)
class LaunchContext:
    """Everything a backend may need to build its pane's command."""

    config: OrgConfig
    spec: AgentSpec
    worktree: Path
    resume: bool = False
    """True when restarting a seat that ran before (a CLI may resume its session)."""
    brief: str | None = None
    """A handoff brief to start from, when the seat changed hands."""

    @property
    def paths(self) -> OrgPaths:
        return self.config.paths


@dataclass(frozen=True)
class Launch:
    """What tmux runs in the agent's pane."""

    command: str
    """A shell command line (run by the pane's shell)."""
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


def pane_path(path: str) -> str:
    """``path`` with this installation's bin directory first, so ``orgtui`` resolves to it."""
    bin_dir = str(Path(sys.executable).parent)
    return path if path.startswith(bin_dir + os.pathsep) else f"{bin_dir}{os.pathsep}{path}"


def base_env(context: LaunchContext) -> dict[str, str]:
    """The environment every agent pane gets: who it is, where the org is, which GPU."""
    spec = context.spec
    env = {
        "ORGTUI_AGENT": spec.name,
        "ORGTUI_ROOT": str(context.config.root),
        "ORGTUI_ROLE": spec.role,
        "CUDA_VISIBLE_DEVICES": "" if spec.gpu is None else str(spec.gpu),
        # `orgtui` must resolve to this installation inside the pane.
        "PATH": pane_path(os.environ.get("PATH", "")),
    }
    env.update(spec.env)
    return env


def hook_command(source: str) -> str:
    """The program a CLI hook runs; the pane's env (ORGTUI_AGENT/ROOT) says who is speaking."""
    return f"{orgtui_command()} status-hook --source {source}"


def hook_table(source: str, events: tuple[str, ...]) -> dict[str, object]:
    """``{"EVENT": [{"matcher": "*", "hooks": [command]}]}`` for each event."""
    entry = [{"matcher": "*", "hooks": [{"type": "command", "command": hook_command(source)}]}]
    return {event: entry for event in events}


MCP_SERVER = "orgtui"
"""The name both CLIs know the org's MCP server by: its tools reach the model as
``mcp__orgtui__<tool>``."""


def mcp_server(context: LaunchContext) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of the seat's ``orgtui mcp``: this installation, speaking as the seat.

    Only who and where: a CLI starts its MCP servers with an environment of its own making,
    so identity is spelled out; no key is ever part of it.
    """
    argv = [*shlex.split(orgtui_command()), "mcp"]
    return argv, {"ORGTUI_AGENT": context.spec.name, "ORGTUI_ROOT": str(context.config.root)}
