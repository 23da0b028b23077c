"""The builtin agent's tools: shell and files in its worktree, and the org's tools.

The org's tools (board, ledger, queue...) are the shared table of ``orgtui.mcp.tools``, the
ones Claude Code and Codex reach through ``orgtui mcp``. Every tool returns text for the
model; failures are returned as text too (the model can read them and try again) rather
than raised. Outputs are capped so one noisy command cannot flood the context.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgtui.config import OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.mcp.tools import TOOLS as ORG_TOOLS
from orgtui.mcp.tools import OrgTool, Seat, call

OUTPUT_CAP = 10_000
BASH_TIMEOUT_S = 600


@dataclass(frozen=True)
class ToolContext:
    config: OrgConfig
    agent: str
    cwd: Path


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[ToolContext, dict[str, Any]], str]


def _cap(text: str, cap: int = OUTPUT_CAP) -> str:
    if len(text) <= cap:
        return text
    return f"{text[: cap // 2]}\n... [{len(text) - cap} characters cut] ...\n{text[-cap // 2 :]}"


def _schema(required: tuple[str, ...], **props: str) -> dict[str, Any]:
    types = {
        k: ({"type": "integer"} if v == "int" else {"type": "string"}) for k, v in props.items()
    }
    return {"type": "object", "properties": types, "required": list(required)}


def _path(ctx: ToolContext, value: object) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else ctx.cwd / path


def _shell(ctx: ToolContext, command: str, timeout: float) -> str:
    env = dict(os.environ)
    env.setdefault("ORGTUI_AGENT", ctx.agent)
    env.setdefault("ORGTUI_ROOT", str(ctx.config.root))
    try:
        result = subprocess.run(
            command,
            shell=True,
            cwd=ctx.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        out = (error.stdout or b"").decode() if isinstance(error.stdout, bytes) else error.stdout
        return _cap(f"{out or ''}\n[timed out after {timeout:g}s]")
    return _cap(f"{result.stdout}{result.stderr}\n[exit code {result.returncode}]")


def bash(ctx: ToolContext, args: dict[str, Any]) -> str:
    timeout = float(args.get("timeout") or BASH_TIMEOUT_S)
    return _shell(ctx, str(args["command"]), min(timeout, BASH_TIMEOUT_S))


def read_file(ctx: ToolContext, args: dict[str, Any]) -> str:
    try:
        return _cap(_path(ctx, args["path"]).read_text(encoding="utf-8", errors="replace"))
    except OSError as error:
        return f"error: {error}"


def write_file(ctx: ToolContext, args: dict[str, Any]) -> str:
    path = _path(ctx, args["path"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(args["content"]), encoding="utf-8")
    except OSError as error:
        return f"error: {error}"
    return f"wrote {len(str(args['content']))} characters to {args['path']}"


def edit_file(ctx: ToolContext, args: dict[str, Any]) -> str:
    path = _path(ctx, args["path"])
    old, new = str(args["old"]), str(args["new"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return f"error: {error}"
    count = text.count(old)
    if count != 1:
        return f"error: the old text occurs {count} times in {args['path']}; it must occur once"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return f"edited {args['path']}"


def _org_tool(definition: OrgTool) -> Tool:
    """An org tool of the shared table, called as this agent from its worktree."""

    def run(ctx: ToolContext, args: dict[str, Any]) -> str:
        return call(Seat(ctx.agent, ctx.config.root, ctx.cwd), definition.name, args)

    return Tool(definition.name, definition.description, definition.schema, run)


TOOLS: tuple[Tool, ...] = (
    Tool(
        "bash",
        "Run a shell command in your worktree; returns output and exit code.",
        _schema(("command",), command="str", timeout="int"),
        bash,
    ),
    Tool(
        "read_file",
        "Read a text file (path relative to your worktree).",
        _schema(("path",), path="str"),
        read_file,
    ),
    Tool(
        "write_file",
        "Create or overwrite a file with the given content.",
        _schema(("path", "content"), path="str", content="str"),
        write_file,
    ),
    Tool(
        "edit_file",
        "Replace the exact text `old` (must occur once) with `new` in a file.",
        _schema(("path", "old", "new"), path="str", old="str", new="str"),
        edit_file,
    ),
    *(_org_tool(definition) for definition in ORG_TOOLS),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


def execute(ctx: ToolContext, name: str, args: dict[str, Any]) -> str:
    tool = BY_NAME.get(name)
    if tool is None:
        return f"error: no tool named {name!r}; tools: {', '.join(BY_NAME)}"
    try:
        return tool.run(ctx, args)
    except KeyError as error:
        return f"error: missing argument {error}"
    except OrgtuiError as error:  # a refusal of an org tool: the model reads it and retries
        return f"error: {error}"


def describe(name: str, args: dict[str, Any]) -> str:
    """One readable line for the pane."""
    text = json.dumps(args, ensure_ascii=False)
    return f"{name}({text[:200]}{'...' if len(text) > 200 else ''})"
