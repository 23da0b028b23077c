"""``orgtui`` with no verb (or ``orgtui tui``): open the TUI on the org."""

from __future__ import annotations

import argparse
from pathlib import Path

from orgtui.commands import add_parser, org_root, socket_name


def register(subparsers: argparse._SubParsersAction) -> None:
    tui = add_parser(subparsers, "tui", "open the TUI (the same as `orgtui` with no verb)")
    tui.set_defaults(func=open_tui)


def launch_tui(root: Path, socket: str | None) -> int:
    """Run the app until the person quits; agents keep running whatever happens here."""
    from orgtui.config import load_config
    from orgtui.errors import OrgtuiError
    from orgtui.tui.app import OrgApp

    try:
        keys = dict(load_config(root).keys)
    except OrgtuiError:
        keys = {}  # the header shows the config error; the TUI still opens
    OrgApp(root, socket, keys=keys).run()
    where = f" --root {root}" + (f" --socket {socket}" if socket else "")
    print(
        f"orgtui: TUI closed; the agents keep running. Back: `orgtui{where}`; "
        f"stop them: `orgtui down{where}`"
    )
    return 0


def open_tui(args: argparse.Namespace) -> int:
    return launch_tui(org_root(args), socket_name(args))
