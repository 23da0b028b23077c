"""The ``builtin`` and ``scripted`` backends: panes that run orgtui itself."""

from __future__ import annotations

import shlex

from orgtui.backends.base import BackendError, Launch, LaunchContext, base_env
from orgtui.invocation import orgtui_command


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
