"""The ``shell`` and ``command`` backends: a person's login shell, or any command line."""

from __future__ import annotations

import os
import shlex

from orgtui.backends.base import BackendError, Launch, LaunchContext, base_env


def shell(context: LaunchContext) -> Launch:
    program = os.environ.get("SHELL") or "/bin/bash"
    return Launch(command=f"{shlex.quote(program)} -l", cwd=context.worktree, env=base_env(context))


def command(context: LaunchContext) -> Launch:
    if not context.spec.command:
        raise BackendError(
            f"agent {context.spec.name!r}: backend 'command' needs command = \"...\""
        )
    return Launch(command=context.spec.command, cwd=context.worktree, env=base_env(context))
