"""The ``codex`` backend: the Codex CLI, interactive in the agent's pane.

The seat gets its own ``CODEX_HOME`` holding ``config.toml`` (notify program, trust, the role
prompt as developer instructions) and ``hooks.json`` (Claude Code's events and payloads), both
calling ``orgtui status-hook``; its ``[mcp_servers.orgtui]`` starts ``orgtui mcp`` with the
org's tools approved up front. ``notify`` (turn finished) is a second source of "idle"; the
pane detectors are only a fallback. A restart resumes the seat's last session.
"""

from __future__ import annotations

import json
import os
import shlex

from orgtui.atomic import atomic_write_json, atomic_write_text
from orgtui.backends.base import (
    MCP_SERVER,
    Launch,
    LaunchContext,
    base_env,
    hook_table,
    mcp_server,
)
from orgtui.invocation import orgtui_command
from orgtui.paths import OrgPaths

CODEX_HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
)
"""Codex's hooks send Claude Code's payloads (``hook_event_name``, ``tool_name`` ...)."""


MCP_STARTUP_S = 30
"""How long the first turn waits for ``orgtui mcp`` (a loaded machine starts Python slowly)."""


def _toml_str(value: str) -> str:
    """A TOML basic string: a JSON one kept in UTF-8 (TOML has no escape for the surrogate
    pairs ``ensure_ascii`` writes beyond the BMP), DEL escaped (TOML refuses it raw)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_list(values: list[str]) -> str:
    return f"[{', '.join(_toml_str(value) for value in values)}]"


def mcp_section(context: LaunchContext) -> list[str]:
    """``[mcp_servers.orgtui]``: the seat's ``orgtui mcp``, its tools run without a prompt.

    Codex starts the server with a bare environment (PATH, HOME ...) plus ``env`` and the
    variables ``env_vars`` names, forwarded from the pane by name: the tmux socket's value
    is not known here, and nothing else of the pane's environment (keys) reaches the server.
    """
    argv, env = mcp_server(context)
    pairs = ", ".join(f"{name} = {_toml_str(value)}" for name, value in env.items())
    return [
        "",
        f"[mcp_servers.{MCP_SERVER}]",
        f"command = {_toml_str(argv[0])}",
        f"args = {_toml_list(argv[1:])}",
        f"env = {{ {pairs} }}",
        'env_vars = ["ORGTUI_TMUX_SOCKET"]',
        f"cwd = {_toml_str(str(context.worktree))}",
        # "approve": every tool of this server runs unasked, in every sandbox mode.
        'default_tools_approval_mode = "approve"',
        f"startup_timeout_sec = {MCP_STARTUP_S}",
    ]


def codex_config(context: LaunchContext, instructions: str) -> str:
    """``$CODEX_HOME/config.toml``: notify program, trust for the worktree, no update check."""
    notify = [*shlex.split(orgtui_command()), "status-hook", "--source", "codex"]
    lines = [
        "check_for_update_on_startup = false",
        # A login shell runs /etc/profile, which resets PATH on many systems: `orgtui` (this
        # venv, first on the pane's PATH) would vanish from the agent's own shell commands.
        "allow_login_shell = false",
        f"notify = {_toml_list(notify)}",
        f"developer_instructions = {_toml_str(instructions)}",
        # The first turn would otherwise start before `orgtui mcp` is up, without its tools.
        f"mcp_optional_startup_grace_ms = {MCP_STARTUP_S * 1000}",
    ]
    if context.spec.model:
        lines.append(f"model = {_toml_str(context.spec.model)}")
    provider: list[str] = []
    if os.environ.get("OPENAI_API_KEY"):
        # Codex would ask for a login (and store the key in auth.json); a provider that
        # reads the key from the environment needs none and keeps the key off the disk.
        base = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        lines.append('model_provider = "orgtui-openai"')
        provider = [
            "",
            '[model_providers."orgtui-openai"]',
            'name = "OpenAI (key from the environment)"',
            f"base_url = {_toml_str(base)}",
            'env_key = "OPENAI_API_KEY"',
            'wire_api = "responses"',
        ]
    lines += provider
    # Codex snapshots the login shell's environment (keys included) into CODEX_HOME.
    lines += ["", "[features]", "shell_snapshot = false"]
    lines += mcp_section(context)
    lines += ["", f"[projects.{_toml_str(str(context.worktree))}]", 'trust_level = "trusted"']
    return "\n".join(lines) + "\n"


def codex(context: LaunchContext) -> Launch:
    from orgtui.agent.prompts import kickoff, render_role, write_role

    spec, paths = context.spec, context.paths
    write_role(context.config, spec)
    home = paths.agent_dir(spec.name) / "codex"
    home.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        home / "config.toml", codex_config(context, render_role(context.config, spec))
    )
    # orgtui writes these hooks itself: trusting them per invocation spares the "Hooks need
    # review" screen, which would block an unattended start.
    atomic_write_json(home / "hooks.json", {"hooks": hook_table("codex", CODEX_HOOK_EVENTS)})
    env = base_env(context)
    env["CODEX_HOME"] = str(home)
    # --no-daemon: the CLI lives and dies with the pane (no shared background server).
    resuming = context.resume and any((home / "sessions").glob("**/*.jsonl"))
    argv = ["codex", "resume", "--last"] if resuming else ["codex"]
    argv += ["--no-daemon", "--dangerously-bypass-hook-trust"]
    if spec.skip_permissions:
        argv.append("--dangerously-bypass-approvals-and-sandbox")
    argv += ["-C", str(context.worktree)]
    if not resuming:
        argv.append(kickoff(context.config, spec, context.brief))
    return Launch(command=shlex.join(argv), cwd=context.worktree, env=env)


def codex_state(paths: OrgPaths, agent: str, event: dict[str, object]) -> tuple[str, str] | None:
    """Codex notify: a completed turn of the seat's own conversation means idle.

    The TUI also completes a side turn that writes the session title, on another thread
    that Codex never saves: the seat's conversation is the thread with a rollout file under
    ``$CODEX_HOME/sessions``. A turn without one says nothing (the Stop hook covers idle).
    """
    if event.get("type") != "agent-turn-complete":
        return None
    thread = str(event.get("thread-id", ""))
    sessions = paths.agent_dir(agent) / "codex" / "sessions"
    names = [p.name for p in sessions.glob("**/rollout-*.jsonl")]
    if not thread or not any(name.endswith(f"-{thread}.jsonl") for name in names):
        return None
    return "idle", "agent-turn-complete"
