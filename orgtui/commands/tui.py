"""``orgtui`` with no verb: open the TUI on the org."""

from __future__ import annotations

import argparse
import sys


def open_tui(args: argparse.Namespace) -> int:
    print("orgtui: the TUI is not built yet; see `orgtui --help` for the verbs", file=sys.stderr)
    return 2
