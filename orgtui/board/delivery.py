"""Who has unread mail, and the one line the supervisor types to tell them.

Per message and recipient the board knows three states: ``delivered`` (the file is on the
board), ``nudged`` (a nudge announced it) and ``read`` (in the reader's receipts).

The nudge is typed into a pane that may be running a plain shell (a person's seat, an agent
CLI that dropped to its shell): it must do nothing there. ``nudge_line`` starts with ``:``,
the shell's no-op, and holds only letters, digits, spaces and ``. , : _ -`` — no quote,
``$``, backtick, ``;``, ``|``, ``&``, redirection, glob, ``!`` or parenthesis — so every
POSIX shell runs nothing and expands nothing, while an agent CLI reads a plain sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orgtui.board.message import Message, check_id
from orgtui.board.receipts import ReadState, agent_lock, read_state, save_nudged
from orgtui.board.store import messages
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths

NUDGE_PREFIX = ": "
INERT_RE = re.compile(r"[A-Za-z0-9 .,:_-]*")


def inbox(paths: OrgPaths, agent: str, *, include_read: bool = False) -> list[Message]:
    """Messages addressed to ``agent``, by id; unread only unless ``include_read``."""
    state = read_state(paths, agent)
    return [
        m
        for m in messages(paths)
        if m.addressed_to(agent) and (include_read or not state.is_read(m))
    ]


def unread(paths: OrgPaths, agent: str) -> list[Message]:
    """Messages addressed to ``agent`` that it has not read, by id."""
    return inbox(paths, agent)


def unread_counts(paths: OrgPaths, agents: Iterable[str]) -> dict[str, int]:
    """Unread messages per agent, listing the board once (for the TUI's agent cards)."""
    current = messages(paths)
    counts: dict[str, int] = {}
    for name in agents:
        state = read_state(paths, name)
        counts[name] = sum(1 for m in current if m.addressed_to(name) and not state.is_read(m))
    return counts


def nudge_due(paths: OrgPaths, agent: str) -> list[str]:
    """Ids of unread messages for ``agent`` that no nudge has announced yet."""
    done = read_state(paths, agent).nudged
    return [m.id for m in unread(paths, agent) if m.id not in done]


def nudge_line(count: int, agent: str | None = None) -> str:
    """The one line the supervisor types into an idle agent's pane: inert in any shell."""
    noun = "message" if count == 1 else "messages"
    pronoun = "it" if count == 1 else "them"
    who = f" for {agent}" if agent is not None and is_valid_name(agent) else ""
    line = f"{NUDGE_PREFIX}orgtui - {int(count)} new {noun}{who} on the board. "
    line += f"Run orgtui inbox to read {pronoun}."
    assert INERT_RE.fullmatch(line), line  # by construction; the tests fuzz it
    return line


def record_nudge(paths: OrgPaths, agent: str, ids: Iterable[str]) -> None:
    """Remember that a nudge announced ``ids`` (keeps only ids still unread)."""
    with agent_lock(paths, agent):
        still_unread = {m.id for m in unread(paths, agent)}
        announced = read_state(paths, agent).nudged | {check_id(i) for i in ids}
        save_nudged(paths, agent, announced & still_unread)


def recipients_of(message: Message, agents: Iterable[str]) -> list[str]:
    """The concrete recipients of ``message`` (``all`` expanded over ``agents`` and human)."""
    names = [n for n in message.to if n != "all"]
    if "all" in message.to:
        for name in [*agents, "human"]:
            if name not in names and message.addressed_to(name):
                names.append(name)
    return names


def delivery(paths: OrgPaths, message: Message, agents: Iterable[str]) -> dict[str, str]:
    """Per recipient: ``delivered`` (on the board), ``nudged`` or ``read``."""
    return delivery_table(paths, [message], agents)[message.id]


def delivery_table(
    paths: OrgPaths, batch: Iterable[Message], agents: Iterable[str]
) -> dict[str, dict[str, str]]:
    """``delivery`` for many messages, reading each recipient's receipts once."""
    agents = list(agents)
    states: dict[str, ReadState] = {}
    table: dict[str, dict[str, str]] = {}
    for message in batch:
        row: dict[str, str] = {}
        for name in recipients_of(message, agents):
            if name not in states:
                states[name] = read_state(paths, name)
            state = states[name]
            if state.is_read(message):
                row[name] = "read"
            elif message.id in state.nudged:
                row[name] = "nudged"
            else:
                row[name] = "delivered"
        table[message.id] = row
    return table
