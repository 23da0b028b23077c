"""Backends: how each kind of seat is launched in its pane, as one explicit table.

A backend turns a seat (``AgentSpec``) into a ``Launch``: the command line, environment and
directory of the pane. ``LAUNCHERS`` names them all; the supervisor only ever calls
``launch_for(context)``. Nothing here imports the supervisor: it imports this package.
"""

from __future__ import annotations

from collections.abc import Callable

from orgtui.backends.base import BackendError, Launch, LaunchContext
from orgtui.backends.builtin import builtin, scripted
from orgtui.backends.claude import claude
from orgtui.backends.codex import codex
from orgtui.backends.plain import command, shell

LAUNCHERS: dict[str, Callable[[LaunchContext], Launch]] = {
    "claude": claude,
    "codex": codex,
    "builtin": builtin,
    "scripted": scripted,
    "shell": shell,
    "command": command,
}

__all__ = ["LAUNCHERS", "BackendError", "Launch", "LaunchContext", "launch_for"]


def launch_for(context: LaunchContext) -> Launch:
    """The pane command for ``context.spec``."""
    name = context.spec.backend
    try:
        launcher = LAUNCHERS[name]
    except KeyError:
        raise BackendError(
            f"agent {context.spec.name!r}: unknown backend {name!r} "
            f"(known: {', '.join(sorted(LAUNCHERS))})"
        ) from None
    return launcher(context)
