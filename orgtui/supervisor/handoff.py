"""Handing a seat's work on: to another backend in the same seat, or to another agent."""

from __future__ import annotations

import contextlib

from orgtui import board
from orgtui.atomic import atomic_write_text
from orgtui.errors import OrgtuiError
from orgtui.supervisor import worktrees
from orgtui.supervisor.launch import launch
from orgtui.supervisor.lifecycle import wip
from orgtui.supervisor.seats import Org, SeatError, log, seat, seat_names
from orgtui.supervisor.state import Seat


def brief_for(org: Org, name: str) -> str:
    """Recent commits, the last board messages to/from the seat, and its open questions."""
    record = seat(org, name)
    lines = [
        f"# Handoff brief: {name}",
        "",
        f"Seat: role {record.role}, branch {record.branch}, "
        f"worktree {org.paths.worktree(name)}, GPU {record.gpu}",
        "",
        "## Recent commits",
    ]
    lines += [f"- {c}" for c in worktrees.recent_commits(org.paths.worktree(name))] or ["- none"]
    messages: list[board.Message] = []
    with contextlib.suppress(OrgtuiError, OSError):
        messages = [
            m for m in board.messages(org.paths) if m.sender == name or m.addressed_to(name)
        ]
    lines += ["", "## Last messages"]
    lines += [
        f"- [{m.kind}] {m.sender} -> {', '.join(m.to)}: {m.subject} ({m.id})"
        for m in messages[-10:]
    ] or ["- none"]
    answered = {m.reply_to for m in messages if m.reply_to}
    questions = [m for m in messages if m.kind == "question" and m.id not in answered]
    lines += ["", "## Open questions"]
    lines += [f"- {m.sender}: {m.subject} ({m.id})" for m in questions] or ["- none"]
    return "\n".join(lines) + "\n"


def handoff(org: Org, name: str, *, backend: str | None = None, to: str | None = None) -> Seat:
    """WIP-commit, write the brief, then relaunch with ``backend`` or post the work ``to``."""
    if bool(backend) == bool(to):
        raise SeatError("handoff needs exactly one of --backend B or --to OTHER")
    if to is not None and to not in seat_names(org):
        raise SeatError(f"handoff --to {to!r}: no such agent")
    record = seat(org, name)
    record.wip_commit = wip(org, name, "handoff")
    brief = brief_for(org, name)
    atomic_write_text(org.paths.handoff_brief(name), brief)
    if backend:
        previous = record.backend
        record.backend = backend
        try:
            launch(org, name, resume=False, brief=brief)
        except OrgtuiError:
            record.backend = previous
            raise
        log(org.paths, f"{name}: handed over to backend {backend}")
        return record
    branch = record.branch or worktrees.feature_branch(org.config.org.program, name)
    board.post(
        org.paths,
        sender="supervisor",
        to=[str(to)],
        subject=f"handoff: {name}",
        body=f"Take over {name}'s work: merge branch `{branch}`.\n\n{brief}",
        kind="handoff",
        refs=(),
        known_agents=seat_names(org),
    )
    log(org.paths, f"{name}: handed off to {to} (branch {branch})")
    return record
