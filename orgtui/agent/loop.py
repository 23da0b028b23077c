"""``orgtui agent NAME``: the builtin agent, a tool-use loop in the seat's pane.

It prints every step, so the pane reads like a transcript; a person can type a line at any
time and it enters the conversation as a user turn (after the tool results in flight).
State goes to status.json (working while the model or a tool runs, idle while waiting for
input); token usage goes to ``.org/agents/<name>/usage.jsonl``, one line per call (an id,
the model, uncached input, output with reasoning, cache writes, cache reads), which
:mod:`orgtui.spend.builtin` reads. A refused key ends the agent with exit code 3 and a
status detail starting with ``failed:``.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from pathlib import Path

from orgtui.agentstatus import write_status
from orgtui.atomic import append_line
from orgtui.config import AgentSpec, OrgConfig
from orgtui.errors import OrgtuiError

EXIT_AUTH = 3
EXIT_ERROR = 1


def _say(line: str) -> None:
    """Print to the pane; secrets are masked since panes get captured into logs."""
    from orgtui.redact import redact

    print(redact(line)[0], flush=True)


def _stdin_lines() -> queue.Queue[str | None]:
    """Typed lines, read on a thread so the loop never blocks on the keyboard."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True, name="stdin").start()
    return lines


def _drain(lines: queue.Queue[str | None]) -> tuple[list[str], bool]:
    typed, closed = [], False
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return typed, closed
        if line is None:
            closed = True
        elif line.strip():
            typed.append(line)


def run_agent(
    config: OrgConfig,
    spec: AgentSpec,
    *,
    first: str | None = None,
    interactive: bool = True,
    cwd: Path | None = None,
) -> int:
    from orgtui.agent.prompts import kickoff, render_role
    from orgtui.agent.providers import AuthFailed, open_provider
    from orgtui.agent.tools import ToolContext
    from orgtui.redact import redact

    paths = config.paths
    usage_file = paths.agent_dir(spec.name) / "usage.jsonl"
    usage_file.parent.mkdir(parents=True, exist_ok=True)

    def status(state: str, detail: str) -> None:
        write_status(paths, spec.name, state, source="builtin", detail=redact(detail)[0])

    status("starting", "")
    ctx = ToolContext(config, spec.name, cwd or Path.cwd())
    try:
        provider = open_provider(spec.provider, spec.model, render_role(config, spec), _say)
    except AuthFailed as error:
        return _fail(status, f"auth failed: {error}", EXIT_AUTH)
    except OrgtuiError as error:
        return _fail(status, str(error), EXIT_ERROR)
    _say(f"== {spec.name}: builtin agent on {spec.provider or 'anthropic'} / {provider.model}")
    lines = _stdin_lines() if interactive else None
    provider.add_user(first or kickoff(config, spec))
    while True:
        status("working", "calling the model")
        try:
            turn = provider.step()
        except AuthFailed as error:
            return _fail(status, f"auth failed: {error}", EXIT_AUTH)
        except OrgtuiError as error:
            return _fail(status, str(error), EXIT_ERROR)
        record = {
            "time": time.time(),
            "id": uuid.uuid4().hex,
            "provider": spec.provider or "anthropic",
            "model": provider.model,
            **turn.usage,
        }
        append_line(usage_file, json.dumps(record))
        if turn.text.strip():
            _say(f"\n{spec.name}> {turn.text.strip()}\n")
        if turn.calls:
            provider.add_results([_run_call(ctx, call, status) for call in turn.calls])
            for text in _drain(lines)[0] if lines is not None else []:
                _say(f"(you) {text}")
                provider.add_user(text)
            continue
        status("idle", "waiting for input")
        if lines is None:
            return 0
        text = _wait_for_person(lines)
        if text is None:
            status("idle", "input closed")
            return 0
        provider.add_user(text)


def _run_call(ctx, call, status):  # type: ignore[no-untyped-def]
    """One tool call, shown in the pane as it runs; returns the (call, output) pair."""
    from orgtui.agent.tools import describe, execute

    status("working", describe(call.name, call.args))
    _say(f"-> {describe(call.name, call.args)}")
    output = execute(ctx, call.name, call.args)
    _say("   " + "\n   ".join(output.strip().splitlines()[-15:] or [""]))
    return call, output


def _wait_for_person(lines: queue.Queue[str | None]) -> str | None:
    """The next non-empty line a person types; None once input is closed."""
    _say("(type a message and press Enter)")
    text = lines.get()
    while text is not None and not text.strip():
        text = lines.get()
    return text


def _fail(status, message: str, code: int) -> int:  # type: ignore[no-untyped-def]
    _say(f"\n!! {message}")
    status("idle", f"failed: {message}")
    return code
