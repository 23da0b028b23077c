"""How a child process (a pane, a hook, a tool call) calls this very orgtui installation."""

from __future__ import annotations

import shlex
import sys


def orgtui_command() -> str:
    """How a pane calls orgtui: the same interpreter that runs this process."""
    return f"{shlex.quote(sys.executable)} -m orgtui"
