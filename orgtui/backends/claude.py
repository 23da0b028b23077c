"""The ``claude`` backend: Claude Code, interactive in the agent's pane.

The seat's rendered role prompt goes in ``.org/agents/<name>/role.md``; Claude Code reports
its state through its hooks (passed with ``--settings``), which call ``orgtui status-hook``
and land in ``status.json``. The org's tools come from ``orgtui mcp``, named in
``claude-mcp.json`` (``--mcp-config``) and allowed by the settings without a prompt. Its
session id is pinned up front and kept in ``session.json`` so a restart resumes the same
conversation. Keys stay in the environment: nothing written here holds one.
"""

from __future__ import annotations

import json
import os
import shlex
import uuid
from pathlib import Path

from orgtui.atomic import atomic_write_json
from orgtui.backends.base import (
    MCP_SERVER,
    Launch,
    LaunchContext,
    base_env,
    hook_table,
    mcp_server,
)
from orgtui.paths import OrgPaths

CLAUDE_WORKING = ("UserPromptSubmit", "PreToolUse", "PostToolUse", "SubagentStart", "PreCompact")
CLAUDE_HOOK_EVENTS = (
    "SessionStart",
    *CLAUDE_WORKING,
    "Notification",
    "PermissionRequest",
    "Stop",
    "StopFailure",
    "SessionEnd",
)
WAITING_NOTIFICATIONS = ("permission_prompt", "elicitation_dialog")
KEY_HELPER_VAR = "ORGTUI_HELPER_API_KEY"
"""Claude Code asks "use this API key?" when ANTHROPIC_API_KEY is set, and remembering the
answer writes part of the key to disk. The pane moves the key to this variable (at run time,
in its own shell) and ``apiKeyHelper`` prints it: no dialog, nothing of the key on disk."""


def claude_settings(
    *, skip_permissions: bool = False, key_helper: bool = False
) -> dict[str, object]:
    """Claude Code settings (passed with --settings, so the worktree stays clean).

    With ``skip_permissions`` the one-time "Bypass Permissions mode" acceptance dialog is
    pre-accepted (Claude Code reads this key from --settings too), else it blocks the start.
    With ``key_helper`` the key comes from ``apiKeyHelper`` (see ``KEY_HELPER_VAR``).
    """
    settings: dict[str, object] = {
        "hooks": hook_table("claude", CLAUDE_HOOK_EVENTS),
        # The org's own tools run unasked: an approval prompt would stall an unattended seat.
        "permissions": {"allow": [f"mcp__{MCP_SERVER}"]},
    }
    if skip_permissions:
        settings["skipDangerousModePermissionPrompt"] = True
    if key_helper:
        settings["apiKeyHelper"] = f"printenv {KEY_HELPER_VAR}"
    return settings


def claude_mcp_config(context: LaunchContext, *, key_helper: bool = False) -> dict[str, object]:
    """The ``--mcp-config`` file: the seat's ``orgtui mcp`` and nothing else.

    ``alwaysLoad`` keeps the org's tools in every request (never deferred behind a tool
    search). The server inherits the pane's environment, so the variable holding the key
    for ``apiKeyHelper`` is blanked for it: the org's tools and what they start never see it.
    """
    argv, env = mcp_server(context)
    if key_helper:
        env[KEY_HELPER_VAR] = ""
    server = {"type": "stdio", "command": argv[0], "args": argv[1:], "env": env}
    return {"mcpServers": {MCP_SERVER: {**server, "alwaysLoad": True}}}


def _session_id(paths: OrgPaths, agent: str, resume: bool) -> tuple[str, bool]:
    """(id, resuming): a kept id when restarting a seat that has one, else a fresh one."""
    file = paths.agent_dir(agent) / "session.json"
    if resume:
        try:
            kept = json.loads(file.read_text(encoding="utf-8"))["claude_session_id"]
            return str(uuid.UUID(str(kept))), True
        except (OSError, ValueError, KeyError, TypeError):
            pass
    fresh = str(uuid.uuid4())
    atomic_write_json(file, {"claude_session_id": fresh})
    return fresh, False


def _claude_home(context: LaunchContext, env: dict[str, str]) -> None:
    """With an API key in the environment, give the seat a HOME that skips first-start dialogs.

    The onboarding and trust dialogs would block an unattended start. Without a key the
    user's own login (their HOME) is used unchanged.
    """
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        return
    home = context.paths.agent_dir(context.spec.name) / "home"
    home.mkdir(parents=True, exist_ok=True)
    state = {
        "hasCompletedOnboarding": True,
        "projects": {str(context.worktree): {"hasTrustDialogAccepted": True}},
    }
    atomic_write_json(home / ".claude.json", state)
    real_home = os.environ.get("HOME")
    if real_home and (Path(real_home) / ".gitconfig").is_file():
        env["GIT_CONFIG_GLOBAL"] = str(Path(real_home) / ".gitconfig")
    env["HOME"] = str(home)


def claude(context: LaunchContext) -> Launch:
    from orgtui.agent.prompts import kickoff, write_role

    spec, paths = context.spec, context.paths
    role = write_role(context.config, spec)
    settings = paths.agent_dir(spec.name) / "claude-settings.json"
    key_helper = bool(os.environ.get("ANTHROPIC_API_KEY"))
    atomic_write_json(
        settings, claude_settings(skip_permissions=spec.skip_permissions, key_helper=key_helper)
    )
    mcp = paths.agent_dir(spec.name) / "claude-mcp.json"
    atomic_write_json(mcp, claude_mcp_config(context, key_helper=key_helper))
    session, resuming = _session_id(paths, spec.name, context.resume)
    env = base_env(context)
    env["DISABLE_AUTOUPDATER"] = "1"
    _claude_home(context, env)
    argv = ["claude", "--append-system-prompt-file", str(role), "--settings", str(settings)]
    # Strict: a project's .mcp.json would stop the start with an approval dialog.
    argv += ["--mcp-config", str(mcp), "--strict-mcp-config"]
    argv += ["--resume", session] if resuming else ["--session-id", session]
    if spec.model:
        argv += ["--model", spec.model]
    if spec.skip_permissions:
        argv.append("--dangerously-skip-permissions")
        if os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"  # Claude Code refuses the flag as root otherwise
    if not resuming:
        argv.append(kickoff(context.config, spec, context.brief))
    command = shlex.join(argv)
    if key_helper:
        command = f'{KEY_HELPER_VAR}="$ANTHROPIC_API_KEY" env -u ANTHROPIC_API_KEY {command}'
    return Launch(command=command, cwd=context.worktree, env=env)


def claude_state(event: dict[str, object]) -> tuple[str, str] | None:
    """(state, detail) for one Claude Code hook event, or None when it says nothing new."""
    name = str(event.get("hook_event_name", ""))
    if name in CLAUDE_WORKING:
        tool = event.get("tool_name")
        return "working", f"{name} {tool}" if tool else name
    if name == "Notification":
        kind = str(event.get("notification_type", ""))
        if kind in WAITING_NOTIFICATIONS:
            return "waiting", kind
        if kind == "idle_prompt":
            return "idle", kind
        return None
    if name == "PermissionRequest":
        return "waiting", name
    if name in ("Stop", "SessionStart", "SessionEnd", "StopFailure"):
        return "idle", name
    return None
