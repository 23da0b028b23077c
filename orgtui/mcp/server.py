"""``orgtui mcp``: the org's tools over MCP on stdio, for one seat.

Built on the official SDK's ``MCPServer``; each tool of ``orgtui.mcp.tools.TOOLS`` is
registered with its own JSON schema as the input schema, and its arguments reach the table
untouched (the table checks them, so the builtin agent and this server refuse alike). A
refusal, and anything a tool raises, comes back as a tool error the model can read; the
server goes on. The seat (``ORGTUI_AGENT``, the org root) is read on every call, so a seat
started before its org.toml existed works once it does.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as SdkToolError
from mcp.server.mcpserver.tools import Tool as SdkTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from pydantic import ConfigDict

from orgtui import __version__
from orgtui.errors import OrgtuiError
from orgtui.mcp.tools import TOOLS, OrgTool, Seat, call

SERVER_NAME = "orgtui"
log = logging.getLogger("orgtui.mcp")


class _Arguments(ArgModelBase):
    """Any JSON object, handed on whole: the table, not pydantic, checks the arguments."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _handler(tool: OrgTool, root: str | None) -> Any:
    def handle(arguments: dict[str, Any]) -> str:
        try:
            return call(Seat.from_env(root), tool.name, arguments)
        except OrgtuiError as error:
            raise SdkToolError(str(error).removeprefix(f"{tool.name}: ")) from None
        except Exception as error:  # a bug of orgtui: the model still gets an answer
            log.exception("tool %s failed", tool.name)
            raise SdkToolError(
                f"{tool.name} failed inside orgtui ({type(error).__name__}: {error}); "
                f"try again, or use `orgtui {tool.name.replace('_', ' ')}` in the shell"
            ) from None

    return handle


def sdk_tool(tool: OrgTool, root: str | None = None) -> SdkTool:
    """``tool`` as the SDK registers it, with the table's schema as its input schema."""
    return SdkTool(
        fn=_handler(tool, root),
        name=tool.name,
        description=tool.description,
        parameters=tool.schema,
        fn_metadata=FuncMetadata(arg_model=_Arguments),
        is_async=False,
    )


def build_server(root: str | None = None) -> MCPServer:
    agent = os.environ.get("ORGTUI_AGENT") or "human"
    return MCPServer(
        SERVER_NAME,
        version=__version__,
        instructions=(
            f"The research org's board, ledger and experiment queue, for agent {agent}: "
            "post and read messages, queue runs, and judge them by the ledger's verdicts."
        ),
        tools=[sdk_tool(tool, root) for tool in TOOLS],
        log_level="WARNING",
    )


def serve(root: str | None = None) -> int:
    """Serve on stdin/stdout until the client closes them."""
    build_server(root).run()
    return 0
