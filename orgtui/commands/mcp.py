"""``orgtui mcp``: the org's tools as an MCP server on stdio, for the seat that starts it."""

from __future__ import annotations

import argparse

from orgtui.commands import add_parser, root_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(
        subparsers,
        "mcp",
        "serve the board, the ledger and the queue as MCP tools on stdio (identity: $ORGTUI_AGENT)",
    )
    parser.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    from orgtui.mcp.server import serve

    return serve(root_arg(args))
