"""The standup process: on schedule, answered by agents, digested for the chief."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from orgtui import board, process
from orgtui.config import StandupSpec, load_config
from tests.conftest import wait_for
from tests.supervisor.helpers import FAST, orgtui

ANSWER = """
[[step]]
action = "wait_message"
from = "supervisor"
kind = "standup"
timeout = 60

[[step]]
action = "standup_answer"
body = "done: run {agent}-1\\nnext: more seeds\\nblocked: nothing"
"""


def write_org(repo: Path, extra: str = "") -> None:
    (repo / "quiet.toml").write_text('[[step]]\naction = "sleep"\nseconds = 0.1\n')
    (repo / "answer.toml").write_text(ANSWER)
    seats = [
        ("chief", "chief_scientist", "quiet.toml"),
        ("ada", "researcher", "answer.toml"),
        ("bo", "researcher", "answer.toml"),
    ]
    lines = [
        '[org]\nname = "t"\nprogram = "p1"\ntask = "test"',
        '[defaults]\ngpus = "none"',
        FAST,
        extra,
    ]
    for name, role, playbook in seats:
        lines.append(
            f'[[agent]]\nname = "{name}"\nrole = "{role}"\nbackend = "scripted"\n'
            f'playbook = "{playbook}"'
        )
    (repo / "org.toml").write_text("\n".join(lines) + "\n")


def test_standup_runs_on_schedule_and_yields_a_digest(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, '[process.standup]\nevery = "2s"')
    orgtui(git_repo, tmux_socket, "up")
    try:
        config = load_config(git_repo)

        def digest() -> board.Message | None:
            found = [m for m in board.messages(config.paths) if m.subject == "standup digest"]
            return found[0] if found else None

        message = wait_for(digest, "the standup digest", timeout=90)
    finally:
        orgtui(git_repo, tmux_socket, "down")
    call = next(m for m in board.messages(config.paths) if m.sender == "supervisor")
    assert call.kind == "standup" and call.to == ("all",)
    assert message.sender == "supervisor" and message.to == ("chief",)
    assert message.reply_to == call.id and message.thread == call.thread
    assert "- ada: done: run ada-1" in message.body
    assert "- bo: done: run bo-1" in message.body
    assert "## Ledger\nno runs yet" in message.body
    assert "## GPUs\nno GPU samples" in message.body


def test_flat_org_gets_the_digest_and_cli_can_force_it(git_repo: Path) -> None:
    write_org(git_repo)
    text = (git_repo / "org.toml").read_text().replace("chief_scientist", "researcher")
    (git_repo / "org.toml").write_text(text)
    config = load_config(git_repo)
    no_call = orgtui(git_repo, "unused", "standup", "--digest", check=False)
    assert no_call.returncode == 1 and "no standup is open" in no_call.stderr
    assert "standup called" in orgtui(git_repo, "unused", "standup", "--now").stdout
    board.post(
        config.paths,
        sender="ada",
        to=["all"],
        subject="standup",
        body="done: x",
        kind="standup",
        known_agents=config.agent_names,
    )
    assert "digest posted" in orgtui(git_repo, "unused", "standup", "--digest").stdout
    digest = board.messages(config.paths)[-1]
    assert digest.to == ("all",)  # no chief: everyone
    assert "- ada: done: x" in digest.body and "- bo: (no answer)" in digest.body
    assert not process.load_standup(config.paths).open


def test_tick_closes_the_window_when_answers_do_not_come(git_repo: Path) -> None:
    write_org(git_repo, '[process.standup]\nevery = "10s"')
    config = load_config(git_repo)
    assert process.tick(config, now=1000.0, started=995.0) is None  # not due yet
    called = process.tick(config, now=1006.0, started=995.0)
    assert called and called.startswith("standup call")
    assert process.tick(config, now=1007.0, started=995.0) is None  # window open, no answers
    closed = process.tick(config, now=1012.0, started=995.0)  # half a period later
    assert closed and closed.startswith("standup digest")


def test_standup_due_every_and_at() -> None:
    every = StandupSpec(every_s=60.0)
    assert not process.standup_due(every, None, now=150.0, started=100.0)
    assert process.standup_due(every, None, now=160.0, started=100.0)
    assert not process.standup_due(every, 160.0, now=200.0, started=100.0)
    at = StandupSpec(at="09:00")
    nine = datetime(2026, 11, 25, 9, 0).timestamp()
    assert process.standup_due(at, None, now=nine + 60, started=nine - 3600)
    assert not process.standup_due(at, nine + 60, now=nine + 120, started=nine - 3600)
    assert not process.standup_due(at, None, now=nine - 60, started=nine - 3600)
