"""Token usage as orgtui collects it, exact against what a loopback fake model served.

The real Claude Code and Codex CLIs, launched by ``orgtui up`` in tmux, talk to a fake that
reports distinct usage figures (primes) on every response; the builtin agent does the same
through the SDKs. The supervisor's collector reads each client's own records (Claude Code's
transcript, Codex's rollout, usage.jsonl) into spend.json; after a few turns, a restart that
resumes the session and a turn after it, the seat's totals equal the sum of what was served,
token for token, for each kind: the resume copied or replayed nothing into the count.

Both CLIs also send side requests (a session title; no tools offered) that neither records
anywhere: their tokens cannot be collected, so the totals compared are the conversation's.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orgtui.paths import OrgPaths
from orgtui.spend.tokens import TokenCounts, seat_usage
from tests.agent.fakes import (
    FakeModelServer,
    a_text,
    a_tool,
    anthropic_message,
    anthropic_sse,
    o_call,
    o_text,
    openai_response,
)
from tests.clients import model as model_module
from tests.clients.conftest import PLANTED, Org, make_org
from tests.clients.model import ModelServer, text_of

RECALL = "What did the command print?"


def _primes() -> Iterator[int]:
    """101, 103, 107, ...: no sum of a few of them passes for another, by accident."""
    for n in itertools.count(101):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            yield n


class Served:
    """The usage the fake put on each response, in order; ``side`` marks the CLIs' side
    requests (titles, summaries: no tools offered)."""

    def __init__(self) -> None:
        self.primes = _primes()
        self.lock = threading.Lock()
        self.calls: list[tuple[bool, TokenCounts]] = []

    def next(self, side: bool) -> tuple[int, TokenCounts]:
        with self.lock:
            counts = TokenCounts(*(next(self.primes) for _ in range(4)))
            self.calls.append((side, counts))
            return len(self.calls), counts

    def total(self, *, side: bool | None = None) -> TokenCounts:
        with self.lock:
            chosen = [c for s, c in self.calls if side is None or s == side]
        return sum(chosen, TokenCounts())


def _realistic_anthropic_sse(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """As the real API streams: message_start knows the input side and 1 output token; the
    final output count comes only in message_delta."""
    events = anthropic_sse(message)
    start = events[0][1]["message"]
    start["usage"] = {**start["usage"], "output_tokens": 1}
    return events


def _settled(org: Org, paths: OrgPaths, expected: TokenCounts, model: str) -> None:
    org.wait(
        lambda: seat_usage(paths, "ada") == {model: expected},
        f"spend.json to show {expected}",
        timeout=30,
    )


def _drive(org: Org, model: ModelServer, done: str, answer: str) -> None:
    """Kickoff (a tool call, its result, a reply), a restart that resumes, one more turn."""
    org.orgtui("up")
    org.wait(lambda: done in org.pane(), "the kickoff turn's reply", timeout=60)
    org.wait_state("idle")
    seen = len(model.bodies())
    org.orgtui("restart", "ada")
    org.wait(lambda: done in org.pane(), "the resumed conversation")
    org.say(RECALL, lambda: any(RECALL in json.dumps(b) for b in model.bodies()[seen:]))
    org.wait(lambda: answer in org.pane(), "the answer after the restart")
    org.wait_state("idle")


def test_claude_code_usage_is_exact_across_a_resume(
    git_repo: Path, tmux_socket: str, client_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_module, "anthropic_sse", _realistic_anthropic_sse)
    served = Served()

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        side = not body.get("tools")
        number, counts = served.next(side)
        usage = {
            "input_tokens": counts.input,
            "output_tokens": counts.output,
            "cache_creation_input_tokens": counts.cache_write,
            "cache_read_input_tokens": counts.cache_read,
        }
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1].get("content") if users else ""
        if side:
            blocks = [a_text("A side answer")]
        elif any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last or []):
            blocks = [a_text("The command printed hi.")]
        elif RECALL in text_of(last):
            blocks = [a_text("It printed hi, as I said.")]
        else:
            blocks = [
                a_text("Running a command."),
                a_tool("toolu_1", "Bash", {"command": "echo hi", "description": "say hi"}),
            ]
        return {**anthropic_message(*blocks), "id": f"msg_{number:04d}", "usage": usage}

    org = make_org(
        git_repo,
        tmux_socket,
        client_bin,
        "claude",
        'model = "claude-fake"\nskip_permissions = true',
    )
    model = ModelServer(respond)
    org.env.update(ANTHROPIC_API_KEY=PLANTED["ANTHROPIC_API_KEY"])
    paths = OrgPaths(git_repo)
    with model.running():
        org.env["ANTHROPIC_BASE_URL"] = model.url
        try:
            _drive(org, model, "The command printed hi.", "It printed hi, as I said.")
            _settled(org, paths, served.total(side=False), "claude-fake")
        finally:
            org.orgtui("down", check=False)


def test_codex_usage_is_exact_across_a_resume(
    git_repo: Path, tmux_socket: str, client_bin: Path
) -> None:
    served = Served()

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        side = not body.get("tools")
        number, counts = served.next(side)
        usage = {  # input_tokens includes the cached ones; output_tokens the reasoning ones
            "input_tokens": counts.input + counts.cache_read,
            "output_tokens": counts.output,
            "total_tokens": counts.input + counts.cache_read + counts.output,
            "input_tokens_details": {"cached_tokens": counts.cache_read},
            "output_tokens_details": {"reasoning_tokens": counts.output // 3},
        }
        items = [i for i in body.get("input", []) if isinstance(i, dict)]
        last = items[-1] if items else {}
        if side:
            output = [o_text("A side answer")]
        elif last.get("type") == "function_call_output":
            output = [o_text("The command printed hi.")]
        elif RECALL in json.dumps(last):
            output = [o_text("It printed hi, as I said.")]
        else:
            output = [o_call("call_1", "exec_command", {"cmd": "echo hi"})]
        return {**openai_response(*output), "id": f"resp_{number:04d}", "usage": usage}

    org = make_org(
        git_repo, tmux_socket, client_bin, "codex", 'model = "gpt-fake"\nskip_permissions = true'
    )
    model = ModelServer(respond)
    org.env.update(OPENAI_API_KEY=PLANTED["OPENAI_API_KEY"])
    paths = OrgPaths(git_repo)
    with model.running():
        org.env["OPENAI_BASE_URL"] = model.url + "/v1"
        try:
            _drive(org, model, "The command printed hi.", "It printed hi, as I said.")
            # cache writes are not reported by the Responses API: none are counted
            expected = served.total(side=False)
            _settled(
                org,
                paths,
                TokenCounts(expected.input, expected.output, 0, expected.cache_read),
                "gpt-fake",
            )
        finally:
            org.orgtui("down", check=False)


def test_builtin_agent_usage_is_exact_across_a_restart(git_repo: Path, tmux_socket: str) -> None:
    served = Served()
    replies = [
        anthropic_message(
            a_text("Running a command."), a_tool("t1", "bash", {"command": "echo hi"})
        ),
        anthropic_message(a_text("The command printed hi.")),
        anthropic_message(a_text("Back again.")),  # the kickoff after the restart
    ]
    for number, reply in enumerate(replies):
        counts = served.next(side=False)[1]
        reply["id"] = f"msg_{number}"
        reply["usage"] = {
            "input_tokens": counts.input,
            "output_tokens": counts.output,
            "cache_creation_input_tokens": counts.cache_write,
            "cache_read_input_tokens": counts.cache_read,
        }
    org = make_org(
        git_repo,
        tmux_socket,
        Path(sys.executable).parent,
        "builtin",
        'provider = "anthropic"\nmodel = "claude-fake"',
    )
    org.env.update(ANTHROPIC_API_KEY=PLANTED["ANTHROPIC_API_KEY"], ORGTUI_AGENT_BACKOFF_S="0.05")
    paths = OrgPaths(git_repo)
    with FakeModelServer(replies).running() as server:
        org.env["ANTHROPIC_BASE_URL"] = server.url
        try:
            org.orgtui("up")
            org.wait(lambda: "The command printed hi." in org.pane(), "the kickoff turn")
            first = served.calls[0][1] + served.calls[1][1]
            _settled(org, paths, first, "claude-fake")
            org.orgtui("restart", "ada")
            org.wait(lambda: "Back again." in org.pane(), "the turn after the restart")
            _settled(org, paths, served.total(), "claude-fake")
        finally:
            org.orgtui("down", check=False)
    assert len(server.requests) == 3
