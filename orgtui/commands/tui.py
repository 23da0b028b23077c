"""``orgtui`` with no verb: open the TUI on the org."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def launch_tui(root: Path, socket: str | None) -> int:
    print("orgtui: the TUI is not built yet; see `orgtui --help` for the verbs", file=sys.stderr)
    return 2


def open_tui(args: argparse.Namespace) -> int:
    from orgtui.commands import org_root, socket_name

    return launch_tui(org_root(args), socket_name(args))
