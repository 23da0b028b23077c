"""``orgtui`` with no verb (or ``orgtui tui``): open the TUI on the org.

The TUI starts no process itself; the two command lines it may need (``orgtui attach`` for a
take-over, ``orgtui up`` to start a supervisor) are run by the runners given to it here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orgtui.commands import add_parser, org_root, socket_name
from orgtui.errors import OrgtuiError

if TYPE_CHECKING:
    from textual.app import App

    from orgtui.snapshot import Narrator

CLI_TIMEOUT_S = 120


class CommandFailed(OrgtuiError):
    """An orgtui command line run for the TUI ended with an error."""


def register(subparsers: argparse._SubParsersAction) -> None:
    tui = add_parser(subparsers, "tui", "open the TUI (the same as `orgtui` with no verb)")
    tui.set_defaults(func=open_tui)


def environment_without_tmux() -> dict[str, str]:
    """The env for a child that attaches to another tmux server (tmux refuses to nest)."""
    return {k: v for k, v in os.environ.items() if k != "TMUX"}


def run_suspended(app: App[Any], argv: list[str]) -> None:
    """Take over: hand the terminal to ``argv`` (tmux attach) and come back when it returns."""
    with app.suspend():
        subprocess.run(argv, env=environment_without_tmux(), check=False)


def run_cli(argv: list[str]) -> str:
    """Run an orgtui command line to its end (from a worker thread); its output, or raise."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise CommandFailed(f"`{' '.join(argv[2:])}` took over {CLI_TIMEOUT_S}s") from error
    if result.returncode != 0:
        raise CommandFailed((result.stderr or result.stdout).strip() or f"exit {result.returncode}")
    return result.stdout.strip()


def load_tmux_library(socket: str | None) -> None:
    """Import libtmux (on the event loop, after the first frame: it reads the terminal's own
    stdout while it is imported), so that a worker's pane capture or verb finds it loaded."""
    from orgtui.supervisor.tmux import Tmux

    with contextlib.suppress(OrgtuiError):  # no tmux installed: previews stay empty
        Tmux(socket)


def launch_tui(root: Path, socket: str | None, *, narrator: Narrator | None = None) -> int:
    """Run the app until the person quits; agents keep running whatever happens here.

    ``narrator`` tells a story over the org as it plays (``orgtui demo``). Nothing is read or
    imported here that the first frame does not need: org.toml (its ``[keys]`` too) comes with
    the app's first full read, libtmux once the first frame is drawn."""
    from orgtui.tui.app import OrgApp

    app = OrgApp(
        root,
        socket,
        takeover_runner=run_suspended,
        cli_runner=run_cli,
        narrator=narrator,
        warm_up=lambda: load_tmux_library(socket),
    )
    app.run()
    where = f" --root {root}" + (f" --socket {socket}" if socket else "")
    print(
        f"orgtui: TUI closed; the agents keep running. Back: `orgtui{where}`; "
        f"stop them: `orgtui down{where}`"
    )
    return 0


def open_tui(args: argparse.Namespace) -> int:
    return launch_tui(org_root(args), socket_name(args))
