"""The builtin agent's tools: shell, files in its worktree, the board, the ledger.

Every tool returns text for the model; failures are returned as text too (the model can
read them and try again) rather than raised. Outputs are capped so one noisy command cannot
flood the context.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgtui.config import OrgConfig
from orgtui.invocation import orgtui_command

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


def post_message(ctx: ToolContext, args: dict[str, Any]) -> str:
    from orgtui import board

    to = args["to"]
    recipients = [t.strip() for t in (to if isinstance(to, list) else str(to).split(","))]
    try:
        message = board.post(
            ctx.config.paths,
            sender=ctx.agent,
            to=[r for r in recipients if r],
            subject=str(args["subject"]),
            body=str(args.get("body", "")),
            kind=str(args.get("kind") or "note"),
            known_agents=ctx.config.agent_names,
        )
    except board.BoardError as error:
        return f"error: {error}"
    return f"posted {message.id}"


def read_inbox(ctx: ToolContext, args: dict[str, Any]) -> str:
    from orgtui import board

    unread = board.unread(ctx.config.paths, ctx.agent)
    if not unread:
        return "no unread messages"
    board.mark_read(ctx.config.paths, ctx.agent, [m.id for m in unread])
    return _cap(
        "\n\n".join(
            f"[{m.id}] {m.kind} from {m.sender} to {', '.join(m.to)}: {m.subject}\n{m.body}"
            for m in unread
        )
    )


def run_experiment(ctx: ToolContext, args: dict[str, Any]) -> str:
    return _shell(ctx, f"{orgtui_command()} run {args['args']}", BASH_TIMEOUT_S * 6)


def compare(ctx: ToolContext, args: dict[str, Any]) -> str:
    quoted = " ".join(shlex.quote(a) for a in shlex.split(str(args.get("args", ""))))
    return _shell(ctx, f"{orgtui_command()} compare --json {quoted}", 120)


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
    Tool(
        "post_message",
        "Post to the org board. to: comma-separated agent names, or all/human.",
        _schema(("to", "subject", "body"), to="str", subject="str", body="str", kind="str"),
        post_message,
    ),
    Tool(
        "read_inbox", "Read your unread board messages (marks them read).", _schema(()), read_inbox
    ),
    Tool(
        "run_experiment",
        "Run `orgtui run ARGS` (e.g. --variant v --seeds 3 -- python ...).",
        _schema(("args",), args="str"),
        run_experiment,
    ),
    Tool(
        "compare",
        "Run `orgtui compare --json ARGS` (e.g. `baseline myvariant`).",
        _schema(("args",), args="str"),
        compare,
    ),
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


def describe(name: str, args: dict[str, Any]) -> str:
    """One readable line for the pane."""
    text = json.dumps(args, ensure_ascii=False)
    return f"{name}({text[:200]}{'...' if len(text) > 200 else ''})"
