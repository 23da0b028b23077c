"""The builtin agent with the real anthropic/openai SDKs pointed at fake servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orgtui import board
from orgtui.agent.loop import EXIT_AUTH, run_agent
from orgtui.agentstatus import read_status
from orgtui.config import OrgConfig
from tests.agent.conftest import (
    PLANTED_ANTHROPIC,
    PLANTED_OPENAI,
    files_containing,
)
from tests.agent.fakes import (
    FakeModelServer,
    a_text,
    a_tool,
    anthropic_message,
    error,
    o_call,
    o_text,
    openai_response,
)
from tests.conftest import wait_for


def _last_user_text(request: dict) -> str:
    for message in reversed(request["body"]["messages"]):
        if message["role"] == "user":
            content = message["content"]
            if isinstance(content, str):
                return content
            return " ".join(b.get("text", "") for b in content if b.get("type") == "text")
    return ""


def test_builtin_agent_in_tmux_posts_runs_bash_and_takes_typed_input(
    org: OrgConfig, clean_env: pytest.MonkeyPatch, tmux_socket: str
) -> None:
    worktree = org.root / "worktrees" / "ada"
    server = FakeModelServer(
        [
            anthropic_message(
                a_text("Telling bob."),
                a_tool("t1", "post", {"to": "sam", "subject": "hello", "body": "hi sam"}),
            ),
            anthropic_message(a_tool("t2", "bash", {"command": "echo made > out.txt; echo ok"})),
            anthropic_message(a_text("All done.")),
            anthropic_message(a_text("Noted.")),
        ]
    )
    seen: list[str | None] = []
    server.on_request = lambda: seen.append(getattr(read_status(org.paths, "ada"), "state", None))
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": PLANTED_ANTHROPIC,
        "ORGTUI_AGENT_BACKOFF_S": "0.05",
    }
    with server.running():
        env["ANTHROPIC_BASE_URL"] = server.url
        command = f"{sys.executable} -m orgtui agent ada --root {org.root}"
        subprocess.run(
            [
                "tmux",
                "-L",
                tmux_socket,
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "160",
                "-y",
                "50",
                "-c",
                str(worktree),
                command,
            ],
            env=env,
            check=True,
        )
        wait_for(lambda: len(server.requests) >= 3, what="three model calls")
        wait_for(
            lambda: (s := read_status(org.paths, "ada")) and s.state == "idle",
            what="idle after the final answer",
        )
        subprocess.run(
            ["tmux", "-L", tmux_socket, "send-keys", "-t", "t", "what now?", "Enter"], check=True
        )
        wait_for(lambda: len(server.requests) >= 4, what="the typed turn")
        pane = subprocess.run(
            ["tmux", "-L", tmux_socket, "capture-pane", "-p", "-t", "t"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    # The model was reached with the key from the environment.
    headers = server.requests[0]["headers"]
    assert PLANTED_ANTHROPIC in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    # post reached the board; bash ran in the worktree; results went back.
    posted = [m for m in board.messages(org.paths) if m.sender == "ada"]
    assert [(m.to, m.subject, m.body.strip()) for m in posted] == [(("sam",), "hello", "hi sam")]
    assert (worktree / "out.txt").read_text() == "made\n"
    tool_result = server.requests[2]["body"]["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and "ok" in json.dumps(tool_result)
    assert "what now?" in _last_user_text(server.requests[3])
    # Working while the model was called, idle when waiting for the person.
    assert seen[:4] == ["working"] * 4
    assert "All done." in pane and "-> bash(" in pane
    usage = (org.paths.agent_dir("ada") / "usage.jsonl").read_text().splitlines()
    assert len(usage) >= 3 and json.loads(usage[0])["input_tokens"] == 11
    assert files_containing(org.paths.org_dir, PLANTED_ANTHROPIC) == []
    assert files_containing(org.paths.org_dir, PLANTED_ANTHROPIC[-16:]) == []


def test_rate_limit_then_success_is_retried(org: OrgConfig, clean_env: pytest.MonkeyPatch) -> None:
    server = FakeModelServer(
        [error(429, "slow down", retry_after="0"), error(503), anthropic_message(a_text("fine"))]
    )
    clean_env.setenv("ANTHROPIC_API_KEY", PLANTED_ANTHROPIC)
    with server.running():
        clean_env.setenv("ANTHROPIC_BASE_URL", server.url)
        code = run_agent(org, org.agent("ada"), first="go", interactive=False, cwd=org.root)
    assert code == 0
    assert len(server.requests) == 3
    assert read_status(org.paths, "ada").state == "idle"


def test_refused_key_stops_with_a_clear_failure(
    org: OrgConfig, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeModelServer([error(401, "invalid x-api-key")])
    clean_env.setenv("ANTHROPIC_API_KEY", PLANTED_ANTHROPIC)
    with server.running():
        clean_env.setenv("ANTHROPIC_BASE_URL", server.url)
        code = run_agent(org, org.agent("ada"), first="go", interactive=False, cwd=org.root)
    assert code == EXIT_AUTH
    assert len(server.requests) == 1  # no retry on a refused key
    status = read_status(org.paths, "ada")
    assert status.detail.startswith("failed: auth failed")
    assert "refused the key (401)" in capsys.readouterr().out
    assert files_containing(org.paths.org_dir, PLANTED_ANTHROPIC) == []


def test_missing_key_is_reported_without_calling_the_model(
    org: OrgConfig, clean_env: pytest.MonkeyPatch
) -> None:
    code = run_agent(org, org.agent("ada"), first="go", interactive=False, cwd=org.root)
    assert code == EXIT_AUTH
    assert "ANTHROPIC_API_KEY is not set" in read_status(org.paths, "ada").detail


def test_openai_responses_tool_loop(
    org: OrgConfig, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (org.root / "notes.txt").write_text("alpha beta\n")
    server = FakeModelServer(
        [
            openai_response(
                o_call("c1", "edit_file", {"path": "notes.txt", "old": "beta", "new": "gamma"})
            ),
            openai_response(o_call("c2", "inbox", {})),
            openai_response(o_text("Edited.")),
        ]
    )
    board.post(
        org.paths,
        sender="sam",
        to=["oli"],
        subject="task",
        body="edit notes",
        known_agents=org.agent_names,
    )
    clean_env.setenv("OPENAI_API_KEY", PLANTED_OPENAI)
    with server.running():
        clean_env.setenv("OPENAI_BASE_URL", server.url + "/v1")
        code = run_agent(org, org.agent("oli"), first="go", interactive=False, cwd=org.root)
    assert code == 0
    assert (org.root / "notes.txt").read_text() == "alpha gamma\n"
    assert server.requests[0]["path"] == "/v1/responses"
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {PLANTED_OPENAI}"
    outputs = [
        i for i in server.requests[2]["body"]["input"] if i.get("type") == "function_call_output"
    ]
    assert [o["call_id"] for o in outputs] == ["c1", "c2"]
    assert "edit notes" in outputs[1]["output"]
    assert board.unread(org.paths, "oli") == []
    assert files_containing(org.paths.org_dir, PLANTED_OPENAI) == []


def test_fake_servers_stream_what_the_sdks_parse(clean_env: pytest.MonkeyPatch) -> None:
    """The SSE mode (used by the CLIs, which always stream) is valid for the real SDKs."""
    import anthropic
    import openai

    message = anthropic_message(a_text("hi"), a_tool("t1", "bash", {"command": "ls"}))
    response = openai_response(o_call("c1", "bash", {"command": "ls"}), o_text("hi"))
    with FakeModelServer([message, response]).running() as server:
        client = anthropic.Anthropic(api_key="x", base_url=server.url, max_retries=0)
        with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            final = stream.get_final_message()
        assert [b.type for b in final.content] == ["text", "tool_use"]
        assert final.content[1].input == {"command": "ls"}
        oa = openai.OpenAI(api_key="x", base_url=server.url + "/v1", max_retries=0)
        events = list(oa.responses.create(model="m", input="x", stream=True))
        assert events[-1].type == "response.completed"
        assert events[-1].response.output[0].name == "bash"
