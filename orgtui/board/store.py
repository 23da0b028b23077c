"""The board on disk: one file per message in ``.org/board/``, written once, read often.

A message is written to a temp file (0600), fsynced and hard-linked into place, so a reader
never sees half a message and an existing message is never overwritten. Reading never
raises and never blocks: whatever sits in the directory (a FIFO, socket, directory, symlink,
huge or non-UTF-8 file) is listed as ``Malformed`` with the reason, without being opened
unless it is a plain file. Parsed files are cached by inode, times and size.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from orgtui.atomic import ensure_private_dir, fsync_dir, read_regular
from orgtui.board.message import (
    MAX_FILE_BYTES,
    RESERVED,
    SUFFIX,
    BoardError,
    Malformed,
    Message,
    check_body,
    check_id,
    check_kind,
    check_recipients,
    check_refs,
    check_sender,
    check_subject,
    check_thread,
    iso,
    new_id,
    parse,
    render,
)
from orgtui.errors import OrgtuiError
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths
from orgtui.redact import redact


def clock_ns() -> int:
    """The poster's wall clock (a seam for tests that skew it); ids and times come from it."""
    return time.time_ns()


_last_stamp = 0
_stamp_lock = threading.Lock()


def stamp() -> datetime:
    """Current UTC time, strictly increasing within this process (keeps a sender's order)."""
    global _last_stamp
    with _stamp_lock:
        now_us = clock_ns() // 1000
        if now_us <= _last_stamp:
            now_us = _last_stamp + 1
        _last_stamp = now_us
    return datetime.fromtimestamp(now_us // 1_000_000, UTC).replace(microsecond=now_us % 1_000_000)


# ---------------------------------------------------------------------------- recipients


def known_recipients(
    paths: OrgPaths, config_names: Iterable[str] | None = None, problems: list[str] | None = None
) -> set[str]:
    """``config_names`` (the caller's loaded org.toml) plus runtime seats from state.json.

    Only a caller that has no config passes ``None``: then org.toml is read here, and a
    broken one does not stop the board (state.json may still name the seats); its error is
    appended to ``problems`` so a refusal can say why a name is unknown.
    """
    from orgtui.supervisor.state import load_state

    names = set(config_names) if config_names is not None else _config_names(paths, problems)
    names.update(name for name in load_state(paths).seats if is_valid_name(name))
    return names


def _config_names(paths: OrgPaths, problems: list[str] | None) -> set[str]:
    if not paths.config_file.is_file():
        return set()
    from orgtui.config import load_config

    try:
        return {spec.name for spec in load_config(paths.root).agents}
    except (OrgtuiError, OSError) as error:
        if problems is not None:
            problems.append(str(error))
        return set()


# ---------------------------------------------------------------------------- writing


def post(
    paths: OrgPaths,
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    kind: str = "note",
    thread: str | None = None,
    reply_to: str | None = None,
    refs: Iterable[str] = (),
    known_agents: Iterable[str] | None = None,
) -> Message:
    """Validate, redact and write one message; return it.

    Recipients must be known agents (``known_agents``: the caller's org.toml names; runtime
    seats in state.json are added), or ``all``, ``human``, ``supervisor``. A reply takes its
    parent's thread. Text that was not UTF-8 arrives with U+FFFD in place of the bad bytes.

    Raises:
        BoardError: for any bad input, or a board that cannot be written, with nothing written.
    """
    sender = check_sender(sender)
    recipients = check_recipients(to)
    problems: list[str] = []
    known = known_recipients(paths, known_agents, problems)
    unknown = [name for name in recipients if name not in known and name not in RESERVED]
    if unknown:
        choices = ", ".join(sorted(known | set(RESERVED)))
        hint = f" (org.toml did not load: {problems[0]})" if problems else ""
        raise BoardError(f"unknown recipient {unknown[0]!r}: known are {choices}{hint}")
    kind = check_kind(kind)
    subject = check_subject(subject)
    body = check_body(body)
    ref_list = check_refs(refs)
    check_thread(thread)
    if reply_to is not None:
        check_id(reply_to, "--reply-to id")
        parent = read_message(paths, reply_to)
        if thread is not None and thread != parent.thread:
            raise BoardError(
                f"--thread {thread} conflicts with --reply-to {reply_to}, "
                f"which is in thread {parent.thread}"
            )
        thread = parent.thread
    subject, _ = redact(subject)
    body, _ = redact(body)
    if body and not body.endswith("\n"):
        body += "\n"  # stored files end with a newline; return what a reader will see
    try:
        ensure_private_dir(paths.org_dir)
        board = ensure_private_dir(paths.board_dir)
        while True:
            when = stamp()
            message_id = new_id(sender, when)
            message = Message(
                id=message_id,
                sender=sender,
                to=tuple(recipients),
                subject=subject,
                thread=thread or message_id,
                kind=kind,
                time=iso(when),
                body=body,
                reply_to=reply_to,
                refs=tuple(ref_list),
                path=board / f"{message_id}{SUFFIX}",
            )
            if _write_new(board / f"{message_id}{SUFFIX}", render(message).encode("utf-8")):
                return message
    except OSError as error:  # disk full, read-only, quota: say so, keep what is there
        raise BoardError(
            f"{paths.board_dir}: cannot write the message ({error.strerror or error}); nothing "
            "was posted and the board is unchanged"
        ) from None


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` atomically unless it exists (then False): temp (0600), fsync, hard link."""
    fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    fsync_dir(path.parent)
    return True


# ---------------------------------------------------------------------------- reading

_CacheKey = tuple[int, int, int, int, int]
_cache: dict[Path, tuple[_CacheKey, Message | Malformed]] = {}
_cache_lock = threading.Lock()


def load(path: Path) -> Message | Malformed:
    """Read and parse one file, never raising; cached since messages never change."""
    try:
        info = os.lstat(path)
    except OSError as error:
        return Malformed(path, f"cannot read: {error.strerror or error}")
    key = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)
    with _cache_lock:
        hit = _cache.get(path)
    if hit and hit[0] == key:
        return hit[1]
    try:
        raw = read_regular(path, MAX_FILE_BYTES)
    except OSError as error:  # NotRegularFile says what it is; others are the disk's words
        return Malformed(path, f"cannot read: {error.strerror or error}")
    try:
        result = parse(raw.decode("utf-8"), path)
    except UnicodeDecodeError as error:
        result = Malformed(path, f"not valid UTF-8 (byte {error.start})")
    with _cache_lock:
        _cache[path] = (key, result)
    return result


def _board_files(paths: OrgPaths) -> list[Path] | Malformed:
    """Candidate message files, sorted by name; temp files (dot names) are skipped."""
    board = paths.board_dir
    try:
        with os.scandir(board) as entries:
            names = [e.name for e in entries if e.name.endswith(SUFFIX) and e.name[0] != "."]
    except FileNotFoundError:
        return []
    except OSError as error:  # a file, a dangling symlink, no permission
        return Malformed(board, f"the board directory cannot be listed: {error.strerror}")
    return [board / name for name in sorted(names)]


def list_messages(paths: OrgPaths) -> list[Message | Malformed]:
    """Every file on the board, by id; bad files (or a bad board) come back as ``Malformed``."""
    files = _board_files(paths)
    if isinstance(files, Malformed):
        return [files]
    _forget_others(paths.board_dir, set(files))
    return [load(path) for path in files]


def _forget_others(board: Path, present: set[Path]) -> None:
    """Drop cache entries of files gone from ``board`` (a long-lived supervisor stays small)."""
    with _cache_lock:
        for path in [p for p in _cache if p.parent == board and p not in present]:
            del _cache[path]


def messages(paths: OrgPaths) -> list[Message]:
    """Only the well-formed messages, by id."""
    return [item for item in list_messages(paths) if isinstance(item, Message)]


def message_ids(paths: OrgPaths) -> set[str] | None:
    """The ids of the files on the board (parsed or not), or None when it cannot be listed."""
    files = _board_files(paths)
    if isinstance(files, Malformed):
        return None
    return {path.name.removesuffix(SUFFIX) for path in files}


def read_message(paths: OrgPaths, message_id: str) -> Message:
    """The message with this id (validated first, so no path can be forged)."""
    check_id(message_id)
    path = paths.board_dir / f"{message_id}{SUFFIX}"
    if not os.path.lexists(path):
        raise BoardError(f"no message {message_id} on the board ({paths.board_dir})")
    result = load(path)
    if isinstance(result, Malformed):
        raise BoardError(f"{path}: malformed message: {result.reason}")
    return result


def thread_of(paths: OrgPaths, thread: str) -> list[Message]:
    return [m for m in messages(paths) if m.thread == thread]
