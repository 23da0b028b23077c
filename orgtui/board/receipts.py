"""What each reader has read, in ``.org/agents/<name>/``: no sender's clock involved.

``read.json`` is the set of message ids the reader has read. A message is read when its id
is in the set — not when it sorts before some cursor — so a message whose id or time says
2999, or a sender whose clock runs ahead or behind, cannot hide anyone's later mail. The set
is compacted on every write by dropping ids whose file has left the board, so it is never
larger than the board. ``nudged.json`` holds the ids a nudge has already announced.

An older orgtui kept a ``cursor`` (the newest id read) and counted older ids as read; such a
file is honoured by that rule until the next ``mark_read`` folds it into the set and
deletes it, so an upgrade does not re-announce old mail.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from orgtui.atomic import atomic_write_json, ensure_private_dir, read_regular
from orgtui.board.message import BoardError, Message, check_id, id_time, is_valid_id
from orgtui.board.store import message_ids, messages
from orgtui.paths import OrgPaths

MAX_RECEIPT_BYTES = 64 << 20
# The older cursor rule: ids this much older than the cursor counted as read.
LEGACY_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class ReadState:
    """One reader's receipts: the ids read, the ids announced by a nudge."""

    read: frozenset[str]
    nudged: frozenset[str] = frozenset()
    legacy_cursor: str | None = None

    def is_read(self, message: Message) -> bool:
        if message.id in self.read:
            return True
        return self.legacy_cursor is not None and _legacy_read(message.id, self.legacy_cursor)


def _legacy_read(message_id: str, cursor: str) -> bool:
    return message_id <= cursor and id_time(message_id) < id_time(cursor) - LEGACY_GRACE


def _read_file(paths: OrgPaths, agent: str) -> Path:
    return paths.agent_dir(agent) / "read.json"


def _nudged_file(paths: OrgPaths, agent: str) -> Path:
    return paths.agent_dir(agent) / "nudged.json"


def _legacy_cursor_file(paths: OrgPaths, agent: str) -> Path:
    return paths.agent_dir(agent) / "cursor"


def _load_ids(path: Path) -> frozenset[str]:
    """Ids in a JSON list; a missing, corrupt or special file counts as none."""
    try:
        value = json.loads(read_regular(path, MAX_RECEIPT_BYTES))
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item for item in value if is_valid_id(item))


def _load_legacy_cursor(paths: OrgPaths, agent: str) -> str | None:
    try:
        text = read_regular(_legacy_cursor_file(paths, agent), 4096).decode("utf-8").strip()
    except (OSError, ValueError):
        return None
    return text if is_valid_id(text) else None


def read_state(paths: OrgPaths, agent: str) -> ReadState:
    """``agent``'s receipts as they are on disk (never raises for a bad file)."""
    return ReadState(
        read=_load_ids(_read_file(paths, agent)),
        nudged=_load_ids(_nudged_file(paths, agent)),
        legacy_cursor=_load_legacy_cursor(paths, agent),
    )


@contextlib.contextmanager
def agent_lock(paths: OrgPaths, agent: str) -> Iterator[None]:
    """Serialise writers of one reader's receipts (inbox, read, the supervisor's nudges)."""
    ensure_private_dir(paths.org_dir)
    lock = ensure_private_dir(paths.agent_dir(agent)) / ".board.lock"
    flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(lock, flags, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BoardError(f"{lock}: not a plain file; remove it")
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def mark_read(paths: OrgPaths, agent: str, ids: Iterable[str] | None = None) -> list[str]:
    """Record ``ids`` (default: every message addressed to ``agent``) as read.

    Returns the ids newly marked. Ids whose file is no longer on the board are dropped from
    the receipts (compaction); announced ids that are now read leave ``nudged.json``.
    """
    with agent_lock(paths, agent):
        state = read_state(paths, agent)
        if ids is None:
            chosen = [m.id for m in messages(paths) if m.addressed_to(agent)]
        else:
            chosen = [check_id(i) for i in ids]
        fresh = [i for i in chosen if i not in state.read and not _was_read(state, i)]
        read = set(state.read) | set(chosen)
        if state.legacy_cursor is not None:
            read |= {m.id for m in messages(paths) if state.is_read(m)}
        present = message_ids(paths)
        if present is not None:
            read &= present
        atomic_write_json(_read_file(paths, agent), sorted(read))
        if state.legacy_cursor is not None:
            _legacy_cursor_file(paths, agent).unlink(missing_ok=True)
        if state.nudged & read:
            atomic_write_json(_nudged_file(paths, agent), sorted(state.nudged - read))
    return fresh


def _was_read(state: ReadState, message_id: str) -> bool:
    return state.legacy_cursor is not None and _legacy_read(message_id, state.legacy_cursor)


def save_nudged(paths: OrgPaths, agent: str, ids: Iterable[str]) -> None:
    """Replace the announced ids (call under ``agent_lock``)."""
    atomic_write_json(_nudged_file(paths, agent), sorted(ids))
