"""CLI verbs, one module per area; each exposes ``register(subparsers)``.

Modules here import only the standard library and light orgtui modules at the top: the
agent-side verbs (``post``, ``inbox``, ``status``) must start fast, so torch, the model SDKs
and Textual are imported inside the handler that needs them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orgtui.config import OrgConfig

common = argparse.ArgumentParser(add_help=False)
common.add_argument(
    "--root",
    metavar="DIR",
    default=argparse.SUPPRESS,
    help="org root (default: $ORGTUI_ROOT, else the nearest org.toml above the cwd)",
)
common.add_argument(
    "--socket",
    metavar="NAME",
    default=argparse.SUPPRESS,
    help="private tmux server (tmux -L NAME; default: $ORGTUI_TMUX_SOCKET or the user's server)",
)


def add_parser(
    subparsers: argparse._SubParsersAction, name: str, help: str, **kwargs: object
) -> argparse.ArgumentParser:
    """Add a verb that accepts the common options (``--root``, ``--socket``) after it."""
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        parents=[common],
        **kwargs,  # type: ignore[arg-type]
    )


def root_arg(args: argparse.Namespace) -> str | None:
    return getattr(args, "root", None)


def socket_name(args: argparse.Namespace) -> str | None:
    """The tmux server to use: ``--socket``, else ``$ORGTUI_TMUX_SOCKET``, else the default."""
    return getattr(args, "socket", None) or os.environ.get("ORGTUI_TMUX_SOCKET") or None


def org_root(args: argparse.Namespace) -> Path:
    from orgtui.paths import find_root

    return find_root(root_arg(args))


def load_org(args: argparse.Namespace) -> OrgConfig:
    """The validated org the command runs against."""
    from orgtui.config import load_config

    return load_config(org_root(args))
