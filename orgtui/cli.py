"""``orgtui``: argument parsing only; every verb calls into the modules that own the work.

``orgtui`` with no verb opens the TUI. Errors the user can act on (``OrgtuiError``) are
printed without a traceback and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from orgtui import __version__
from orgtui.commands import common
from orgtui.errors import OrgtuiError

# Areas in the order their verbs appear in --help.
COMMAND_MODULES = (
    "orgtui.commands.org",
    "orgtui.commands.supervisor",
    "orgtui.commands.board",
    "orgtui.commands.ledger",
    "orgtui.commands.gpu",
    "orgtui.commands.agent",
    "orgtui.commands.process",
    "orgtui.commands.tui",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="orgtui",
        description="Program and run a research organisation of AI agents. "
        "Run `orgtui` with no verb to open the TUI.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"orgtui {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    try:
        if handler is None:
            from orgtui.commands.tui import open_tui

            return open_tui(args)
        return int(handler(args) or 0)
    except OrgtuiError as error:
        print(f"orgtui: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # the disk, not the person: a clear line, not a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"orgtui: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
