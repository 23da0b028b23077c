"""Registers the ``builtin`` and ``scripted`` backends: panes that run orgtui itself."""

from __future__ import annotations

import shlex

from orgtui.supervisor.backends import (
    BackendError,
    Launch,
    LaunchContext,
    base_env,
    orgtui_command,
    register_backend,
)


def _own(context: LaunchContext, verb: str) -> Launch:
    root = shlex.quote(str(context.config.root))
    name = shlex.quote(context.spec.name)
    return Launch(
        command=f"{orgtui_command()} {verb} {name} --root {root}",
        cwd=context.worktree,
        env=base_env(context),
    )


def builtin(context: LaunchContext) -> Launch:
    """``orgtui agent NAME``; the key stays in the supervisor's environment, never on disk."""
    return _own(context, "agent")


def scripted(context: LaunchContext) -> Launch:
    if not context.spec.playbook:
        raise BackendError(
            f"agent {context.spec.name!r}: backend 'scripted' needs playbook = \"FILE.toml\""
        )
    return _own(context, "play")


register_backend("builtin", builtin)
register_backend("scripted", scripted)
