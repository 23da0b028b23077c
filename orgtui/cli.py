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
    "orgtui.commands.doctor",
    "orgtui.commands.board",
    "orgtui.commands.ledger",
    "orgtui.commands.spend",
    "orgtui.commands.queue",
    "orgtui.commands.trial",
    "orgtui.commands.adopt",
    "orgtui.commands.gpu",
    "orgtui.commands.agent",
    "orgtui.commands.mcp",
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


def tui_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """``orgtui [--root DIR] [--socket NAME]`` (the TUI), parsed without importing every
    verb's module first (about 40 ms of the TUI's cold start); None for anything else (a verb,
    ``--help``, a mistake), which the whole parser reads."""
    quick = argparse.ArgumentParser(
        prog="orgtui", parents=[common], add_help=False, exit_on_error=False
    )
    try:
        args, rest = quick.parse_known_args(list(argv))
    except argparse.ArgumentError:
        return None
    return None if rest else args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = tui_args(argv) or build_parser().parse_args(argv)
    handler = getattr(args, "func", None)
    try:
        if handler is None:
            from orgtui.commands.tui import open_tui

            return open_tui(args)
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except OrgtuiError as error:
        print(f"orgtui: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # the disk, not the person: a clear line, not a traceback
        if isinstance(error, BrokenPipeError) and _stdout_closed():
            return _quiet_exit()  # `orgtui board | head -1`: the reader has what it wanted
        where = f"{error.filename}: " if error.filename else ""
        print(f"orgtui: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has gone (`orgtui board | head -1`)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real descriptor (captured output)
        return False


def _quiet_exit() -> int:
    """Point stdout at /dev/null so the exit flush cannot complain, and exit 0 quietly."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
