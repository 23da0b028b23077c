"""One board message: the record, its id, and its file format (TOML front matter + body).

A file is TOML between ``+++`` lines (``id, from, to, subject, thread, kind, time``, optional
``reply_to`` and ``refs``) followed by the Markdown body. Ids are ``<UTC time to the
microsecond>Z-<sender>-<random>``: they sort by the sender's clock and never collide between
concurrent writers. Nothing here trusts that clock: read state is kept per id
(``receipts``), so a sender whose clock runs ahead cannot hide later mail.

Validation lives here twice over: ``check_*`` refuse bad input to ``post`` with a
``BoardError`` that says the fix, and ``parse`` turns any file into a ``Message`` or a
``Malformed`` with the reason — it never raises.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orgtui.errors import OrgtuiError
from orgtui.names import is_valid_name

KINDS = ("note", "directive", "result", "question", "standup", "handoff", "system")
RESERVED = ("supervisor", "human", "all")
MAX_BODY_BYTES = 256 * 1024
MAX_FILE_BYTES = MAX_BODY_BYTES + 64 * 1024
MAX_SUBJECT_CHARS = 200
MAX_RECIPIENTS = 256

ID_RE = re.compile(r"(\d{8}T\d{6}\.\d{6})Z-([a-z0-9][a-z0-9_-]*)-([a-z0-9]{6})")
REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")
SUFFIX = ".md"
FENCE = "+++"
ID_TIME = "%Y%m%dT%H%M%S.%f"
ISO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


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
        """The sender's clock at posting: for display and digests, never for read state."""
        return parse_time(self.time)


@dataclass(frozen=True)
class Malformed:
    """A file in the board directory that is not a valid message, and why."""

    path: Path
    reason: str

    @property
    def id(self) -> str:
        return self.path.name.removesuffix(SUFFIX)


# ---------------------------------------------------------------------------- ids and times


def is_valid_id(value: object) -> bool:
    """True for a well-formed message id (which is also a safe file name)."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def check_id(value: object, what: str = "message id") -> str:
    if not is_valid_id(value):
        raise BoardError(
            f"invalid {what} {value!r}: ids look like 20261124T221501.123456Z-ada-7f3k9q "
            "(see `orgtui board`)"
        )
    return value  # type: ignore[return-value]


def new_id(sender: str, when: datetime) -> str:
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    return f"{when.strftime(ID_TIME)}Z-{sender}-{suffix}"


def id_time(message_id: str) -> datetime:
    """The sender's clock encoded in an id (display only)."""
    match = ID_RE.fullmatch(message_id)
    if not match:
        raise BoardError(f"invalid message id {message_id!r}")
    return datetime.strptime(match.group(1), ID_TIME).replace(tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.strftime(ISO_TIME)


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, ISO_TIME).replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- input checks


def is_valid_thread(value: object) -> bool:
    """A thread is a message id (the default) or a plain name chosen by the sender."""
    return is_valid_id(value) or is_valid_name(value)


def is_participant(value: object) -> bool:
    """A name that can send (everything but ``all``)."""
    return is_valid_name(value) and value != "all"


def check_text(value: object, what: str) -> str:
    """Text from argv, stdin or a caller; bytes that were not UTF-8 become U+FFFD, not a crash."""
    if not isinstance(value, str):
        raise BoardError(f"{what} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise BoardError(f"{what} contains a NUL byte; remove it")
    return _SURROGATE_RE.sub("\ufffd", value)


def clean_body(body: str) -> str:
    """Drop terminal escape codes and stray control characters (pasted coloured output).

    A message is shown in other agents' terminals; escape codes there could move the cursor
    or retitle the pane. NUL is refused earlier, tabs and newlines stay, CRLF becomes LF.
    """
    body = _ANSI_RE.sub("", body.replace("\r\n", "\n"))
    return _CONTROL_RE.sub("", body)


def check_sender(sender: object) -> str:
    if not is_participant(sender):
        raise BoardError(
            f"invalid sender {sender!r}: set ORGTUI_AGENT or pass --as NAME "
            "(lowercase letters, digits, '-', '_')"
        )
    return sender  # type: ignore[return-value]


def check_recipients(to: Sequence[str] | str) -> list[str]:
    """Names in order, duplicates dropped; ``"a,b"`` is split. Known-ness is checked by ``post``."""
    if isinstance(to, str):
        to = to.split(",")
    recipients: list[str] = []
    for name in to:
        name = check_text(name, "recipient").strip()
        if name and name not in recipients:
            recipients.append(name)
    if not recipients:
        raise BoardError("no recipient: pass --to NAME[,NAME] or --to all")
    if len(recipients) > MAX_RECIPIENTS:
        raise BoardError(f"too many recipients ({len(recipients)} > {MAX_RECIPIENTS})")
    bad = [name for name in recipients if not is_valid_name(name)]
    if bad:
        raise BoardError(f"invalid recipient name {bad[0]!r}: use an agent name, all, or human")
    return recipients


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise BoardError(f"invalid kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind  # type: ignore[return-value]


def check_subject(subject: object) -> str:
    subject = check_text(subject, "subject").strip()
    if not subject:
        raise BoardError("empty subject: pass --subject TEXT")
    if "\n" in subject or "\r" in subject:
        raise BoardError("subject must be one line; put the rest in the body")
    if _CONTROL_RE.search(subject):
        raise BoardError("subject contains control characters (escape codes?); use plain text")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise BoardError(f"subject too long ({len(subject)} > {MAX_SUBJECT_CHARS} characters)")
    return subject


def check_body(body: object) -> str:
    body = clean_body(check_text(body, "body"))
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise BoardError(
            f"body too large ({size} bytes > {MAX_BODY_BYTES}): attach a file path or run id "
            "with --ref instead"
        )
    return body


def check_refs(refs: Iterable[str] | str) -> list[str]:
    checked = []
    for ref in [refs] if isinstance(refs, str) else refs:
        ref = check_text(ref, "ref").strip()
        if not REF_RE.fullmatch(ref):
            raise BoardError(
                f"invalid ref {ref!r}: a run id or commit (letters, digits, . _ : / @ + -)"
            )
        checked.append(ref)
    return checked


def check_thread(thread: object) -> None:
    if thread is not None and not is_valid_thread(thread):
        raise BoardError(f"invalid thread {thread!r}: a message id or a name like softcap-sweep")


# ---------------------------------------------------------------------------- file format


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


def parse(text: str, path: Path) -> Message | Malformed:
    """Parse one message file; anything wrong becomes ``Malformed`` with the reason."""
    if not text.startswith(FENCE + "\n"):
        return Malformed(path, "does not start with a +++ front matter line")
    end = text.find("\n" + FENCE + "\n", len(FENCE))
    if end < 0:
        if not text.endswith("\n" + FENCE):
            return Malformed(path, "front matter is not closed by a +++ line")
        end = len(text) - len(FENCE) - 1
    head_text = text[len(FENCE) + 1 : end + 1]
    body = text[end + len(FENCE) + 2 :]
    try:
        head = tomllib.loads(head_text)
    except tomllib.TOMLDecodeError as error:
        return Malformed(path, f"front matter is not valid TOML: {error}")
    except RecursionError:  # arrays nested thousands deep
        return Malformed(path, "front matter is nested too deeply")
    problem = _check_head(head, path.name.removesuffix(SUFFIX)) or _check_extras(head)
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
    if not is_participant(head["from"]):
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
    if _CONTROL_RE.search(subject):
        return "subject contains control characters (escape codes?)"
    if head["kind"] not in KINDS:
        return f"kind {head['kind']!r} is not one of {', '.join(KINDS)}"
    return None


def _check_extras(head: dict[str, object]) -> str | None:
    if not is_valid_thread(head["thread"]):
        return f"thread {head['thread']!r} is not a message id or name"
    when = head["time"]
    if not isinstance(when, str):
        return "time must be an ISO 8601 UTC string like 2026-11-24T22:15:01.123456Z"
    try:
        parse_time(when)
    except ValueError:
        return f"time {when!r} is not ISO 8601 UTC like 2026-11-24T22:15:01.123456Z"
    reply_to = head.get("reply_to")
    if reply_to is not None and not is_valid_id(reply_to):
        return f"reply_to {reply_to!r} is not a valid message id"
    refs = head.get("refs", [])
    if not isinstance(refs, list) or not all(
        isinstance(r, str) and REF_RE.fullmatch(r) for r in refs
    ):
        return "refs must be a list of run ids or commits"
    return None
