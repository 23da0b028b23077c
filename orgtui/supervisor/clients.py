"""The ``claude`` and ``codex`` backends: the real CLIs, interactive, in the agent's pane.

Each seat gets its rendered role prompt in ``.org/agents/<name>/role.md``; the CLIs report
their state through their own hooks (Claude Code: ``--settings``; Codex: ``hooks.json`` in the
seat's ``CODEX_HOME``, same events and payloads), which call ``orgtui status-hook`` and land
in ``status.json``. Codex's ``notify`` (turn finished) is a second source of "idle"; the pane
detectors are only a fallback. Keys stay in the environment: nothing written here holds one.
Claude's session id is pinned up front and kept in ``session.json`` so a restart resumes the
same conversation; Codex resumes its last session.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import time
import uuid
from pathlib import Path

from orgtui.agentstatus import read_status, write_status
from orgtui.atomic import atomic_write_json, atomic_write_text
from orgtui.paths import OrgPaths
from orgtui.supervisor.backends import (
    Launch,
    LaunchContext,
    base_env,
    orgtui_command,
    register_backend,
)

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
CODEX_HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
)
"""Codex's hooks send Claude Code's payloads (``hook_event_name``, ``tool_name`` ...)."""
WAITING_NOTIFICATIONS = ("permission_prompt", "elicitation_dialog")
KEY_HELPER_VAR = "ORGTUI_HELPER_API_KEY"
"""Claude Code asks "use this API key?" when ANTHROPIC_API_KEY is set, and remembering the
answer writes part of the key to disk. The pane moves the key to this variable (at run time,
in its own shell) and ``apiKeyHelper`` prints it: no dialog, nothing of the key on disk."""


def hook_command(source: str) -> str:
    """The program a CLI hook runs; the pane's env (ORGTUI_AGENT/ROOT) says who is speaking."""
    return f"{orgtui_command()} status-hook --source {source}"


def hook_table(source: str, events: tuple[str, ...]) -> dict[str, object]:
    """``{"EVENT": [{"matcher": "*", "hooks": [command]}]}`` for each event."""
    entry = [{"matcher": "*", "hooks": [{"type": "command", "command": hook_command(source)}]}]
    return {event: entry for event in events}


# --------------------------------------------------------------------------- claude


def claude_settings(
    *, skip_permissions: bool = False, key_helper: bool = False
) -> dict[str, object]:
    """Claude Code settings (passed with --settings, so the worktree stays clean).

    With ``skip_permissions`` the one-time "Bypass Permissions mode" acceptance dialog is
    pre-accepted (Claude Code reads this key from --settings too), else it blocks the start.
    With ``key_helper`` the key comes from ``apiKeyHelper`` (see ``KEY_HELPER_VAR``).
    """
    settings: dict[str, object] = {"hooks": hook_table("claude", CLAUDE_HOOK_EVENTS)}
    if skip_permissions:
        settings["skipDangerousModePermissionPrompt"] = True
    if key_helper:
        settings["apiKeyHelper"] = f"printenv {KEY_HELPER_VAR}"
    return settings


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
    session, resuming = _session_id(paths, spec.name, context.resume)
    env = base_env(context)
    env["DISABLE_AUTOUPDATER"] = "1"
    _claude_home(context, env)
    argv = ["claude", "--append-system-prompt-file", str(role), "--settings", str(settings)]
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


# --------------------------------------------------------------------------- codex


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def codex_config(context: LaunchContext, instructions: str) -> str:
    """``$CODEX_HOME/config.toml``: notify program, trust for the worktree, no update check."""
    notify = [*shlex.split(orgtui_command()), "status-hook", "--source", "codex"]
    lines = [
        "check_for_update_on_startup = false",
        # A login shell runs /etc/profile, which resets PATH on many systems: `orgtui` (this
        # venv, first on the pane's PATH) would vanish from the agent's own shell commands.
        "allow_login_shell = false",
        f"notify = [{', '.join(_toml_str(part) for part in notify)}]",
        f"developer_instructions = {_toml_str(instructions)}",
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


# --------------------------------------------------------------------------- events -> status


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


def _spawned_at() -> float:
    """When this hook process started (the moment of its event, near enough), wall clock.

    Computed from the process's age on the kernel's boot clock (10 ms ticks): psutil's
    create_time adds a whole-second boot time and can be off by up to a second.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        return time.time() - (up - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time()


def record_event(
    root: str | Path, agent: str, source: str, payload: str, *, spawned: float | None = None
) -> str | None:
    """Turn one hook/notify payload into status.json; returns the state written, if any.

    The CLIs start one hook process per event and do not wait for them in order: a slow
    SessionStart hook may finish after the UserPromptSubmit hook spawned just after it. A
    status written after the event (``spawned``; default: when this process started, as
    each hook is a process of its own) comes from a later event, so it stays.
    """
    from orgtui.names import is_valid_name
    from orgtui.redact import redact

    if not is_valid_name(agent):
        return None
    try:
        event = json.loads(payload or "{}")
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    paths = OrgPaths(Path(root))
    if "hook_event_name" in event or source != "codex":
        result = claude_state(event)  # both CLIs' hooks speak this vocabulary
    else:
        result = codex_state(paths, agent, event)
    if result is None:
        return None
    state, detail = result
    spawned = _spawned_at() if spawned is None else spawned
    paths.agent_dir(agent).mkdir(parents=True, exist_ok=True)
    with open(paths.agent_dir(agent) / "status.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_status(paths, agent)
        if current is not None and current.time > spawned:
            return None
        write_status(paths, agent, state, source=source, detail=redact(detail)[0])
    return state


register_backend("claude", claude)
register_backend("codex", codex)
