"""claude / codex launch: stand-in executables record what the pane would run.

The real CLIs, driven end to end in tmux against a loopback model, are in tests/clients/.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from orgtui.agentstatus import read_status
from orgtui.backends import Launch, LaunchContext, launch_for
from orgtui.backends.claude import KEY_HELPER_VAR
from orgtui.backends.hooks import record_event
from orgtui.config import OrgConfig
from tests.agent.conftest import PLANTED_ANTHROPIC, PLANTED_OPENAI, files_containing

STAND_IN = """#!{python}
import json, os, sys
record = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}
with open(os.environ["STAND_IN_RECORD"], "w") as f:
    json.dump(record, f)
"""


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    import sys

    for name in ("claude", "codex"):
        exe = bin_dir / name
        exe.write_text(STAND_IN.format(python=sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def _run_pane(launch: Launch, tmp_path: Path) -> dict:
    """Run the pane's command line as tmux would: a shell, in cwd, with the launch env."""
    record = tmp_path / "record.json"
    env = {**os.environ, **launch.env, "STAND_IN_RECORD": str(record)}
    subprocess.run(["sh", "-c", launch.command], cwd=launch.cwd, env=env, check=True)
    return json.loads(record.read_text())


def _hook(command: str, env: dict[str, str], payload: dict, *, last_arg: bool = False) -> None:
    data = json.dumps(payload)
    if last_arg:
        subprocess.run([*json.loads(command), data], env=env, check=True)
    else:
        subprocess.run(command, shell=True, input=data, text=True, env=env, check=True)


def test_claude_runs_interactively_with_role_hooks_and_pinned_session(
    org: OrgConfig, stand_ins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_ANTHROPIC)
    worktree = org.root / "worktrees" / "ada"
    seen = _run_pane(launch_for(LaunchContext(org, org.agent("chief"), worktree)), tmp_path)
    argv = seen["argv"]
    assert "-p" not in argv and "--print" not in argv and "--bare" not in argv
    assert Path(seen["cwd"]) == worktree
    role = Path(argv[argv.index("--append-system-prompt-file") + 1])
    assert role == org.paths.agent_dir("chief") / "role.md"
    role_text = role.read_text()
    assert "You are chief, the chief scientist of lab" in role_text
    assert "Research protocol of lab" in role_text and "{org}" not in role_text
    session = argv[argv.index("--session-id") + 1]
    uuid.UUID(session)
    kickoff = argv[-1]
    for word in (
        "chief",
        "Make the loss go down.",
        "orgtui inbox",
        "orgtui post",
        "orgtui run",
        "orgtui compare",
        "orgtui propose",
        "orgtui standup",
    ):
        assert word in kickoff
    env = seen["env"]
    assert env["ORGTUI_AGENT"] == "chief" and env["ORGTUI_ROOT"] == str(org.root)
    assert env["DISABLE_AUTOUPDATER"] == "1"
    home_state = json.loads((Path(env["HOME"]) / ".claude.json").read_text())
    assert home_state["projects"][str(worktree)]["hasTrustDialogAccepted"] is True
    assert not (worktree / ".claude").exists()  # hooks come through --settings

    settings = json.loads(Path(argv[argv.index("--settings") + 1]).read_text())
    # The key reaches Claude through apiKeyHelper: no "use this key?" dialog to remember.
    assert "ANTHROPIC_API_KEY" not in env and env[KEY_HELPER_VAR] == PLANTED_ANTHROPIC
    helper = subprocess.run(settings["apiKeyHelper"], shell=True, env=env, capture_output=True)
    assert helper.stdout.decode().strip() == PLANTED_ANTHROPIC
    hooks = settings["hooks"]
    expected = [
        ({"hook_event_name": "SessionStart", "source": "startup"}, "idle"),
        ({"hook_event_name": "UserPromptSubmit", "prompt": "go"}, "working"),
        ({"hook_event_name": "PreToolUse", "tool_name": "Bash"}, "working"),
        ({"hook_event_name": "Notification", "notification_type": "permission_prompt"}, "waiting"),
        ({"hook_event_name": "PostToolUse", "tool_name": "Bash"}, "working"),
        ({"hook_event_name": "Stop", "last_assistant_message": "done"}, "idle"),
        ({"hook_event_name": "Notification", "notification_type": "idle_prompt"}, "idle"),
    ]
    for payload, state in expected:
        command = hooks[payload["hook_event_name"]][0]["hooks"][0]["command"]
        _hook(command, env, {"session_id": session, "cwd": str(worktree), **payload})
        status = read_status(org.paths, "chief")
        assert (status.state, status.source) == (state, "claude"), payload
    # Nothing of the key lands in .org/, not even the suffix Claude keeps for approvals.
    assert files_containing(org.paths.org_dir, PLANTED_ANTHROPIC[-12:]) == []

    # A restart resumes the same conversation instead of starting over.
    again = _run_pane(
        launch_for(LaunchContext(org, org.agent("chief"), worktree, resume=True)), tmp_path
    )["argv"]
    assert again[again.index("--resume") + 1] == session and "--session-id" not in again


def test_codex_runs_interactively_with_instructions_notify_and_trust(
    org: OrgConfig, stand_ins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_OPENAI)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    worktree = org.root / "worktrees" / "ada"
    seen = _run_pane(launch_for(LaunchContext(org, org.agent("cx"), worktree)), tmp_path)
    argv = seen["argv"]
    assert argv[0] not in ("exec", "e") and "exec" not in argv
    assert "--dangerously-bypass-approvals-and-sandbox" in argv  # skip_permissions = true
    assert "--no-daemon" in argv  # the CLI lives and dies with its pane
    assert "--dangerously-bypass-hook-trust" in argv  # orgtui wrote the hooks itself
    assert argv[argv.index("-C") + 1] == str(worktree)
    assert "orgtui inbox" in argv[-1] and "cx" in argv[-1]
    env = seen["env"]
    home = Path(env["CODEX_HOME"])
    assert home == org.paths.agent_dir("cx") / "codex"
    config = tomllib.loads((home / "config.toml").read_text())
    assert "You are cx, a researcher in lab" in config["developer_instructions"]
    assert config["projects"][str(worktree)]["trust_level"] == "trusted"
    assert config["model"] == "gpt-fake" and config["check_for_update_on_startup"] is False
    assert config["allow_login_shell"] is False  # /etc/profile would drop orgtui from PATH
    # The key is read from the environment by a provider entry: no login, no auth.json.
    provider = config["model_providers"][config["model_provider"]]
    assert provider["env_key"] == "OPENAI_API_KEY"
    assert provider["base_url"] == "http://127.0.0.1:9/v1"
    assert files_containing(org.paths.org_dir, PLANTED_OPENAI) == []
    notify = json.dumps(config["notify"])
    hooks = json.loads((home / "hooks.json").read_text())["hooks"]
    for event, state in (
        ("UserPromptSubmit", "working"),
        ("PermissionRequest", "waiting"),
        ("PostToolUse", "working"),
        ("Stop", "idle"),
    ):
        _hook(hooks[event][0]["hooks"][0]["command"], env, {"hook_event_name": event})
        assert (read_status(org.paths, "cx").state, read_status(org.paths, "cx").source) == (
            state,
            "codex",
        )

    main = {
        "type": "agent-turn-complete",
        "thread-id": "t-main",
        "cwd": str(worktree),
        "last-assistant-message": "done",
    }
    # Codex saves the seat's conversation as a rollout named after its thread; the title
    # side-turn has no rollout.
    rollout = home / "sessions" / "2026" / "01" / "01" / "rollout-2026-01-01T00-00-00-t-main.jsonl"
    rollout.parent.mkdir(parents=True)
    rollout.write_text("{}\n")
    _hook(notify, env, main, last_arg=True)
    assert read_status(org.paths, "cx").state == "idle"
    # Something else marks it working; the title side-turn must not flip it back to idle.
    event = json.dumps({"hook_event_name": "UserPromptSubmit"})
    record_event(org.root, "cx", "claude", event, spawned=time.time())
    _hook(notify, env, {**main, "thread-id": "t-title"}, last_arg=True)
    assert read_status(org.paths, "cx").state == "working"
    _hook(notify, env, main, last_arg=True)
    assert read_status(org.paths, "cx").state == "idle"


def test_status_hook_ignores_garbage_and_never_fails(org: OrgConfig) -> None:
    assert record_event(org.root, "chief", "claude", "not json") is None
    assert record_event(org.root, "../x", "claude", '{"hook_event_name": "Stop"}') is None
    assert record_event(org.root, "chief", "claude", '{"hook_event_name": "Other"}') is None
    assert read_status(org.paths, "chief") is None
