"""The org's message board: one Markdown file per message in ``.org/board/``.

Each file is TOML front matter between ``+++`` lines (``id, from, to, subject, thread, kind,
time``, optional ``reply_to`` and ``refs``) followed by the Markdown body. Ids are
``<UTC time to the microsecond>Z-<sender>-<random>``: they sort by time and never collide
between concurrent writers. A message is written to a temp file, fsynced and hard-linked
into place, so a reader never sees half a message and an existing message is never
overwritten. A file that does not parse is listed as ``Malformed`` with the reason and
never stops the board.

Read tracking lives per recipient in ``.org/agents/<name>/``: ``cursor`` holds the newest
id read, ``read.json`` the ids read recently (so a message that lands late, or one read out
of order with ``orgtui read``, is tracked exactly), ``nudged.json`` the ids the supervisor
has already typed a nudge for. Per message and recipient that gives: delivered, nudged,
read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import tempfile
import threading
import time
import tomllib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from orgtui.atomic import _fsync_dir, atomic_write_json, atomic_write_text
from orgtui.errors import OrgtuiError
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths
from orgtui.redact import redact

if TYPE_CHECKING:
    import asyncio

KINDS = ("note", "directive", "result", "question", "standup", "handoff", "system")
RESERVED = ("supervisor", "human", "all")
MAX_BODY_BYTES = 256 * 1024
MAX_SUBJECT_CHARS = 200
MAX_RECIPIENTS = 256
# Messages older than the cursor by more than this count as read without being listed in
# read.json; younger ones are tracked one by one, which covers writers whose id was taken
# just before a reader advanced the cursor.
READ_GRACE = timedelta(minutes=10)

ID_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6})Z-([a-z0-9][a-z0-9_-]*)-([a-z0-9]{6})$")
REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
SUFFIX = ".md"
FENCE = "+++"
_ID_TIME = "%Y%m%dT%H%M%S.%f"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class BoardError(OrgtuiError):
    """Bad input to the board (recipient, kind, subject, size, name); nothing was written."""


@dataclass(frozen=True)
class Message:
    """One message as stored in ``.org/board/<id>.md``."""

    id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    thread: str
    kind: str
    time: str  # ISO 8601 UTC, e.g. 2026-11-24T22:15:01.123456Z
    body: str
    reply_to: str | None = None
    refs: tuple[str, ...] = ()
    path: Path | None = None

    def addressed_to(self, agent: str) -> bool:
        """True when ``agent`` is a recipient; ``all`` reaches everyone but the sender."""
        if agent in self.to:
            return True
        return "all" in self.to and agent != self.sender and agent != "supervisor"

    @property
    def when(self) -> datetime:
        return _parse_time(self.time)


@dataclass(frozen=True)
class Malformed:
    """A file in the board directory that is not a valid message, and why."""

    path: Path
    reason: str

    @property
    def id(self) -> str:
        return self.path.name.removesuffix(SUFFIX)


# ---------------------------------------------------------------------------- validation


def is_valid_id(value: object) -> bool:
    """True for a well-formed message id (which is also a safe file name)."""
    return isinstance(value, str) and bool(ID_RE.match(value))


def check_id(value: object, what: str = "message id") -> str:
    if not is_valid_id(value):
        raise BoardError(
            f"invalid {what} {value!r}: ids look like 20261124T221501.123456Z-ada-7f3k9q "
            "(see `orgtui board`)"
        )
    return value  # type: ignore[return-value]


def is_valid_thread(value: object) -> bool:
    """A thread is a message id (the default) or a plain name chosen by the sender."""
    return is_valid_id(value) or is_valid_name(value)


def _is_participant(value: object) -> bool:
    return is_valid_name(value) and value != "all"


def known_recipients(paths: OrgPaths, problems: list[str] | None = None) -> set[str]:
    """Agent names from org.toml and from state.json's runtime seats (either may be absent).

    A broken org.toml does not stop the board (state.json may still name the seats); its
    error is appended to ``problems`` so a refusal can say why a name is unknown.
    """
    names: set[str] = set()
    if paths.config_file.is_file():
        from orgtui.config import load_config

        try:
            names.update(spec.name for spec in load_config(paths.root).agents)
        except (OrgtuiError, OSError) as error:
            if problems is not None:
                problems.append(str(error))
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        state = json.loads(paths.state_file.read_text(encoding="utf-8"))
        names.update(name for name in state.get("agents", {}) if is_valid_name(name))
    return names


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BoardError(f"{what} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise BoardError(f"{what} contains a NUL byte; remove it")
    return value


_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_body(body: str) -> str:
    """Drop terminal escape codes and stray control characters (pasted coloured output).

    A message is shown in other agents' terminals; escape codes there could move the cursor
    or retitle the pane. NUL is refused earlier, tabs and newlines stay, CRLF becomes LF.
    """
    body = _ANSI_RE.sub("", body.replace("\r\n", "\n"))
    return _CONTROL_RE.sub("", body)


# ---------------------------------------------------------------------------- writing

_last_stamp = 0
_stamp_lock = threading.Lock()


def _stamp() -> datetime:
    """Current UTC time, strictly increasing within this process (keeps a sender's order)."""
    global _last_stamp
    with _stamp_lock:
        now_us = time.time_ns() // 1000
        if now_us <= _last_stamp:
            now_us = _last_stamp + 1
        _last_stamp = now_us
    return datetime.fromtimestamp(now_us // 1_000_000, UTC).replace(microsecond=now_us % 1_000_000)


def new_id(sender: str, when: datetime) -> str:
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    return f"{when.strftime(_ID_TIME)}Z-{sender}-{suffix}"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def id_time(message_id: str) -> datetime:
    match = ID_RE.match(message_id)
    if not match:
        raise BoardError(f"invalid message id {message_id!r}")
    return datetime.strptime(match.group(1), _ID_TIME).replace(tzinfo=UTC)


def render(message: Message) -> str:
    """The file text of ``message``: TOML front matter between ``+++`` lines, then the body."""
    import tomli_w

    head: dict[str, object] = {
        "id": message.id,
        "from": message.sender,
        "to": list(message.to),
        "subject": message.subject,
        "thread": message.thread,
        "kind": message.kind,
        "time": message.time,
    }
    if message.reply_to:
        head["reply_to"] = message.reply_to
    head["refs"] = list(message.refs)
    body = message.body if message.body.endswith("\n") or not message.body else message.body + "\n"
    return f"{FENCE}\n{tomli_w.dumps(head)}{FENCE}\n{body}"


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

    Recipients must be known agents (``known_agents``, else org.toml and state.json), or
    ``all``, ``human``, ``supervisor``. A reply takes its parent's thread.

    Raises:
        BoardError: for any bad input, with nothing written.
    """
    if not _is_participant(sender):
        raise BoardError(
            f"invalid sender {sender!r}: set ORGTUI_AGENT or pass --as NAME "
            "(lowercase letters, digits, '-', '_')"
        )
    if isinstance(to, str):
        to = [part for part in to.split(",")]
    recipients: list[str] = []
    for name in to:
        name = _check_text(name, "recipient").strip()
        if name and name not in recipients:
            recipients.append(name)
    if not recipients:
        raise BoardError("no recipient: pass --to NAME[,NAME] or --to all")
    if len(recipients) > MAX_RECIPIENTS:
        raise BoardError(f"too many recipients ({len(recipients)} > {MAX_RECIPIENTS})")
    bad = [name for name in recipients if not is_valid_name(name)]
    if bad:
        raise BoardError(f"invalid recipient name {bad[0]!r}: use an agent name, all, or human")
    problems: list[str] = []
    known = set(known_agents) if known_agents is not None else known_recipients(paths, problems)
    unknown = [name for name in recipients if name not in known and name not in RESERVED]
    if unknown:
        choices = ", ".join(sorted(known | set(RESERVED)))
        hint = f" (org.toml did not load: {problems[0]})" if problems else ""
        raise BoardError(f"unknown recipient {unknown[0]!r}: known are {choices}{hint}")
    if kind not in KINDS:
        raise BoardError(f"invalid kind {kind!r}: use one of {', '.join(KINDS)}")
    subject = _check_text(subject, "subject").strip()
    if not subject:
        raise BoardError("empty subject: pass --subject TEXT")
    if "\n" in subject or "\r" in subject:
        raise BoardError("subject must be one line; put the rest in the body")
    if _CONTROL_RE.search(subject):
        raise BoardError("subject contains control characters (escape codes?); use plain text")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise BoardError(f"subject too long ({len(subject)} > {MAX_SUBJECT_CHARS} characters)")
    body = clean_body(_check_text(body, "body"))
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise BoardError(
            f"body too large ({size} bytes > {MAX_BODY_BYTES}): attach a file path or run id "
            "with --ref instead"
        )
    ref_list = []
    for ref in [refs] if isinstance(refs, str) else refs:
        ref = _check_text(ref, "ref").strip()
        if not REF_RE.match(ref):
            raise BoardError(
                f"invalid ref {ref!r}: a run id or commit (letters, digits, . _ : / @ + -)"
            )
        ref_list.append(ref)
    if thread is not None and not is_valid_thread(thread):
        raise BoardError(f"invalid thread {thread!r}: a message id or a name like softcap-sweep")
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

    board = paths.board_dir
    board.mkdir(parents=True, exist_ok=True)
    while True:
        when = _stamp()
        message_id = new_id(sender, when)
        message = Message(
            id=message_id,
            sender=sender,
            to=tuple(recipients),
            subject=subject,
            thread=thread or message_id,
            kind=kind,
            time=_iso(when),
            body=body,
            reply_to=reply_to,
            refs=tuple(ref_list),
            path=board / f"{message_id}{SUFFIX}",
        )
        try:
            written = _write_new(message.path, render(message).encode("utf-8"))  # type: ignore[arg-type]
        except OSError as error:  # disk full, read-only, quota: say so, keep what is there
            raise BoardError(
                f"{board}: cannot write the message ({error.strerror}); nothing was posted and "
                "the board is unchanged"
            ) from None
        if written:
            return message


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` atomically unless it exists (then False): temp, fsync, hard link."""
    fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    _fsync_dir(path.parent)
    return True


# ---------------------------------------------------------------------------- reading


def parse(text: str, path: Path) -> Message | Malformed:
    """Parse one message file; anything wrong becomes ``Malformed`` with the reason."""
    name = path.name.removesuffix(SUFFIX)
    if not text.startswith(FENCE + "\n"):
        return Malformed(path, "does not start with a +++ front matter line")
    end = text.find("\n" + FENCE + "\n", len(FENCE))
    if end < 0:
        if text.endswith("\n" + FENCE):
            end = len(text) - len(FENCE) - 1
        else:
            return Malformed(path, "front matter is not closed by a +++ line")
    head_text = text[len(FENCE) + 1 : end + 1]
    body = text[end + len(FENCE) + 2 :]
    try:
        head = tomllib.loads(head_text)
    except tomllib.TOMLDecodeError as error:
        return Malformed(path, f"front matter is not valid TOML: {error}")
    problem = _check_head(head, name)
    if problem:
        return Malformed(path, problem)
    if "\x00" in body:
        return Malformed(path, "body contains a NUL byte")
    return Message(
        id=head["id"],
        sender=head["from"],
        to=tuple(head["to"]),
        subject=head["subject"],
        thread=head["thread"],
        kind=head["kind"],
        time=head["time"],
        body=body,
        reply_to=head.get("reply_to"),
        refs=tuple(head.get("refs", ())),
        path=path,
    )


def _check_head(head: dict[str, object], name: str) -> str | None:
    for key in ("id", "from", "to", "subject", "thread", "kind", "time"):
        if key not in head:
            return f"missing key {key!r} in front matter"
    if not is_valid_id(head["id"]):
        return f"id {head['id']!r} is not a valid message id"
    if head["id"] != name:
        return f"id {head['id']!r} does not match the file name {name!r}"
    if not _is_participant(head["from"]):
        return f"from {head['from']!r} is not a valid agent name"
    to = head["to"]
    if not isinstance(to, list) or not to:
        return "to must be a non-empty list of names"
    for item in to:
        if not is_valid_name(item):
            return f"recipient {item!r} is not a valid name"
    subject = head["subject"]
    if not isinstance(subject, str) or not subject.strip():
        return "subject must be non-empty text"
    if head["kind"] not in KINDS:
        return f"kind {head['kind']!r} is not one of {', '.join(KINDS)}"
    if not is_valid_thread(head["thread"]):
        return f"thread {head['thread']!r} is not a message id or name"
    if not isinstance(head["time"], str):
        return "time must be an ISO 8601 UTC string like 2026-11-24T22:15:01.123456Z"
    try:
        _parse_time(head["time"])
    except ValueError:
        return f"time {head['time']!r} is not ISO 8601 UTC like 2026-11-24T22:15:01.123456Z"
    reply_to = head.get("reply_to")
    if reply_to is not None and not is_valid_id(reply_to):
        return f"reply_to {reply_to!r} is not a valid message id"
    refs = head.get("refs", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) and REF_RE.match(r) for r in refs):
        return "refs must be a list of run ids or commits"
    return None


_cache: dict[Path, tuple[int, int, int, Message | Malformed]] = {}
_cache_lock = threading.Lock()


def load(path: Path) -> Message | Malformed:
    """Read and parse one file, cached by (inode, mtime, size) since messages never change."""
    try:
        stat = path.stat()
    except OSError as error:
        return Malformed(path, f"cannot read: {error.strerror}")
    key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        hit = _cache.get(path)
    if hit and hit[:3] == key:
        return hit[3]
    try:
        raw = path.read_bytes()
    except OSError as error:
        return Malformed(path, f"cannot read: {error.strerror}")
    if len(raw) > MAX_BODY_BYTES + 64 * 1024:
        result: Message | Malformed = Malformed(path, f"file too large ({len(raw)} bytes)")
    else:
        try:
            result = parse(raw.decode("utf-8"), path)
        except UnicodeDecodeError:
            result = Malformed(path, "not valid UTF-8")
    with _cache_lock:
        _cache[path] = (*key, result)
    return result


def _board_files(paths: OrgPaths) -> list[Path]:
    try:
        entries = list(os.scandir(paths.board_dir))
    except FileNotFoundError:
        return []
    return sorted(
        Path(entry.path)
        for entry in entries
        if entry.name.endswith(SUFFIX) and not entry.name.startswith(".")
    )


def list_messages(paths: OrgPaths) -> list[Message | Malformed]:
    """Every file on the board, oldest first; bad files come back as ``Malformed``."""
    return [load(path) for path in _board_files(paths)]


def messages(paths: OrgPaths) -> list[Message]:
    """Only the well-formed messages, oldest first."""
    return [item for item in list_messages(paths) if isinstance(item, Message)]


def read_message(paths: OrgPaths, message_id: str) -> Message:
    """The message with this id (validated first, so no path can be forged)."""
    check_id(message_id)
    path = paths.board_dir / f"{message_id}{SUFFIX}"
    if not path.is_file():
        raise BoardError(f"no message {message_id} on the board ({paths.board_dir})")
    result = load(path)
    if isinstance(result, Malformed):
        raise BoardError(f"{path}: malformed message: {result.reason}")
    return result


def thread_of(paths: OrgPaths, thread: str) -> list[Message]:
    return [m for m in messages(paths) if m.thread == thread]


# ---------------------------------------------------------------------------- read tracking


@dataclass(frozen=True)
class ReadState:
    """What one recipient has read: a cursor and the recent ids read one by one."""

    cursor: str | None
    read: frozenset[str]

    def is_read(self, message: Message) -> bool:
        if message.id in self.read:
            return True
        if self.cursor is None:
            return False
        return message.id <= self.cursor and id_time(message.id) < id_time(self.cursor) - READ_GRACE


def _cursor_file(paths: OrgPaths, agent: str) -> Path:
    return paths.agent_dir(agent) / "cursor"


def _read_file(paths: OrgPaths, agent: str) -> Path:
    return paths.agent_dir(agent) / "read.json"


def _nudged_file(paths: OrgPaths, agent: str) -> Path:
    return paths.agent_dir(agent) / "nudged.json"


def _load_ids(path: Path) -> set[str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(value, list):
        return set()
    return {item for item in value if is_valid_id(item)}


def read_state(paths: OrgPaths, agent: str) -> ReadState:
    try:
        cursor: str | None = _cursor_file(paths, agent).read_text(encoding="utf-8").strip()
    except OSError:
        cursor = None
    if cursor is not None and not is_valid_id(cursor):
        cursor = None
    return ReadState(cursor, frozenset(_load_ids(_read_file(paths, agent))))


@contextlib.contextmanager
def _agent_lock(paths: OrgPaths, agent: str):  # type: ignore[no-untyped-def]
    directory = paths.agent_dir(agent)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".board.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def inbox(paths: OrgPaths, agent: str, *, include_read: bool = False) -> list[Message]:
    """Messages addressed to ``agent``, oldest first; unread only unless ``include_read``."""
    state = read_state(paths, agent)
    return [
        m
        for m in messages(paths)
        if m.addressed_to(agent) and (include_read or not state.is_read(m))
    ]


def unread(paths: OrgPaths, agent: str) -> list[Message]:
    """Messages addressed to ``agent`` that it has not read, oldest first."""
    return inbox(paths, agent)


def mark_read(
    paths: OrgPaths,
    agent: str,
    ids: Iterable[str] | None = None,
    *,
    advance_cursor: bool | None = None,
) -> list[str]:
    """Record ``ids`` (default: every message addressed to ``agent``) as read.

    Returns the ids newly marked. ``advance_cursor`` (default: when ``ids`` is None) moves
    the cursor to the newest id marked, as ``orgtui inbox`` does; ``orgtui read ID`` only
    adds the id. Ids within ``READ_GRACE`` of the cursor stay in read.json, so a message
    whose id is older than the cursor but landed late still counts as unread.
    """
    with _agent_lock(paths, agent):
        state = read_state(paths, agent)
        if ids is None:
            chosen = [m.id for m in messages(paths) if m.addressed_to(agent)]
        else:
            chosen = [check_id(i) for i in ids]
        if advance_cursor is None:
            advance_cursor = ids is None
        fresh = [i for i in chosen if i not in state.read]
        read = set(state.read) | set(chosen)
        cursor = state.cursor
        if advance_cursor and chosen:
            cursor = max([cursor or "", *chosen])
            atomic_write_text(_cursor_file(paths, agent), cursor + "\n")
        if cursor is not None:
            floor = id_time(cursor) - READ_GRACE
            read = {i for i in read if id_time(i) >= floor}
        atomic_write_json(_read_file(paths, agent), sorted(read))
        nudged = _load_ids(_nudged_file(paths, agent))
        if nudged & read:
            atomic_write_json(_nudged_file(paths, agent), sorted(nudged - read))
    return fresh


def nudged_ids(paths: OrgPaths, agent: str) -> set[str]:
    return _load_ids(_nudged_file(paths, agent))


def nudge_due(paths: OrgPaths, agent: str) -> list[str]:
    """Ids of unread messages for ``agent`` that no nudge has announced yet."""
    done = nudged_ids(paths, agent)
    return [m.id for m in unread(paths, agent) if m.id not in done]


def nudge_line(count: int) -> str:
    """The one line the supervisor types into an idle agent's pane."""
    noun = "message" if count == 1 else "messages"
    return f"orgtui: {count} new {noun} — run `orgtui inbox`"


def record_nudge(paths: OrgPaths, agent: str, ids: Iterable[str]) -> None:
    """Remember that a nudge announced ``ids`` (keeps only ids still unread)."""
    with _agent_lock(paths, agent):
        still_unread = {m.id for m in unread(paths, agent)}
        done = (_load_ids(_nudged_file(paths, agent)) | {check_id(i) for i in ids}) & still_unread
        atomic_write_json(_nudged_file(paths, agent), sorted(done))


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
    """``delivery`` for many messages, reading each recipient's tracking files once."""
    agents = list(agents)
    states: dict[str, tuple[ReadState, set[str]]] = {}
    table: dict[str, dict[str, str]] = {}
    for message in batch:
        row: dict[str, str] = {}
        for name in recipients_of(message, agents):
            if name not in states:
                states[name] = (read_state(paths, name), nudged_ids(paths, name))
            state, nudged = states[name]
            if state.is_read(message):
                row[name] = "read"
            elif message.id in nudged:
                row[name] = "nudged"
            else:
                row[name] = "delivered"
        table[message.id] = row
    return table


def unread_counts(paths: OrgPaths, agents: Iterable[str]) -> dict[str, int]:
    """Unread messages per agent, listing the board once (for the TUI's agent cards)."""
    current = messages(paths)
    counts: dict[str, int] = {}
    for name in agents:
        state = read_state(paths, name)
        counts[name] = sum(1 for m in current if m.addressed_to(name) and not state.is_read(m))
    return counts


# ---------------------------------------------------------------------------- watching


def _force_polling() -> bool:
    return os.environ.get("ORGTUI_FORCE_POLLING", "") not in ("", "0")


async def watch(
    paths: OrgPaths,
    *,
    stop_event: asyncio.Event | None = None,
    force_polling: bool | None = None,
) -> AsyncIterator[list[Message | Malformed]]:
    """Yield batches of new or changed board files (parsed) as they land.

    Built on watchfiles ``awatch(debounce=50, step=10)``; polls instead when
    ``force_polling``, ``ORGTUI_FORCE_POLLING=1``, or inotify cannot start. Deleted files
    and temp files are not reported; re-list with ``list_messages`` when in doubt.
    """
    from watchfiles import Change, awatch

    board = paths.board_dir
    polling = _force_polling() if force_polling is None else force_polling
    while True:
        board.mkdir(parents=True, exist_ok=True)
        try:
            async for changes in awatch(
                board,
                debounce=50,
                step=10,
                stop_event=stop_event,
                force_polling=polling,
                poll_delay_ms=50,
                recursive=False,
                yield_on_timeout=False,
            ):
                names = sorted(
                    {
                        Path(p)
                        for change, p in changes
                        if change != Change.deleted
                        and p.endswith(SUFFIX)
                        and not Path(p).name.startswith(".")
                    }
                )
                batch = [load(p) for p in names if p.exists()]
                if batch:
                    yield batch
            return
        except (OSError, RuntimeError):
            if polling:
                raise
            polling = True  # inotify unavailable (watch limit, odd filesystem): poll instead
