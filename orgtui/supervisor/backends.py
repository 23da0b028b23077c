"""How each agent kind is launched in its pane, and how its state is read.

A backend turns a seat (``AgentSpec``) into a ``Launch``: the command line, environment and
directory of the pane. Backends register themselves in ``BACKENDS`` by name; the supervisor
only ever calls ``backend_for(spec).launch(context)``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orgtui.config import AgentSpec, OrgConfig
from orgtui.errors import OrgtuiError
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


def orgtui_command() -> str:
    """How a pane calls orgtui: the same interpreter that runs this process."""
    return f"{shlex.quote(sys.executable)} -m orgtui"


def base_env(context: LaunchContext) -> dict[str, str]:
    """The environment every agent pane gets: who it is, where the org is, which GPU."""
    spec = context.spec
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {
        "ORGTUI_AGENT": spec.name,
        "ORGTUI_ROOT": str(context.config.root),
        "ORGTUI_ROLE": spec.role,
        "CUDA_VISIBLE_DEVICES": "" if spec.gpu is None else str(spec.gpu),
        # `orgtui` must resolve to this installation inside the pane.
        "PATH": path if path.startswith(bin_dir + os.pathsep) else f"{bin_dir}{os.pathsep}{path}",
    }
    env.update(spec.env)
    return env


def _shell(context: LaunchContext) -> Launch:
    shell = os.environ.get("SHELL") or "/bin/bash"
    return Launch(command=f"{shlex.quote(shell)} -l", cwd=context.worktree, env=base_env(context))


def _command(context: LaunchContext) -> Launch:
    if not context.spec.command:
        raise BackendError(
            f"agent {context.spec.name!r}: backend 'command' needs command = \"...\""
        )
    return Launch(command=context.spec.command, cwd=context.worktree, env=base_env(context))


BACKENDS: dict[str, Callable[[LaunchContext], Launch]] = {
    "shell": _shell,
    "command": _command,
}


def register_backend(name: str, launcher: Callable[[LaunchContext], Launch]) -> None:
    BACKENDS[name] = launcher


def launch_for(context: LaunchContext) -> Launch:
    """The pane command for ``context.spec``; backends in other modules load on demand."""
    name = context.spec.backend
    if name not in BACKENDS:
        _load_backends()
    try:
        return BACKENDS[name](context)
    except KeyError:
        raise BackendError(
            f"agent {context.spec.name!r}: unknown backend {name!r} "
            f"(known: {', '.join(sorted(BACKENDS))})"
        ) from None


def _load_backends() -> None:
    """Import the modules that register claude, codex, builtin and scripted; they import this
    one, so they load on first use rather than at the top."""
    import orgtui.agent.launch
    import orgtui.supervisor.clients  # noqa: F401
