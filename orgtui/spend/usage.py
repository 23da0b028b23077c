"""Token usage per seat, from the clients' own records, collected incrementally into spend.json.

Three kinds of record, each interpreted by its own module: Claude Code's session transcripts
(:mod:`orgtui.spend.claude`), Codex's rollout files (:mod:`orgtui.spend.codex`) and the
builtin agent's ``usage.jsonl`` (:mod:`orgtui.spend.builtin`). Every file is tailed: the
seat's spend.json remembers, under ``sources``, each file's device, inode, byte offset and the
bytes just before that offset, so a collection reads only what was appended. A file that was
truncated, replaced or rewritten is read again from its start; what it had already counted is
recognised (message and record ids, Codex's cumulative totals) and not counted twice. A line
without its newline yet waits for the next collection; a malformed one is skipped with a
warning. Nothing in a record can raise out of the collector or corrupt the totals.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from orgtui.atomic import (
    NotRegularFile,
    atomic_write_json,
    atomic_write_text,
    exclusive_lock,
    read_regular,
)
from orgtui.paths import OrgPaths
from orgtui.spend import builtin, claude, codex
from orgtui.spend.records import UNKNOWN_MODEL, Counted, Malformed, Warn, short
from orgtui.spend.tokens import KINDS, MAX_TOKENS, TokenCounts, read_spend_file

READ_CHUNK = 4 << 20
"""At most this much of one file per collection (a big backlog is read over several)."""
TAIL_BYTES = 32
"""The bytes before the offset kept to notice a file rewritten in place."""
MAX_SEEN = 20000
"""Message/record ids remembered per seat (the oldest are forgotten first)."""
MAX_MODELS = 64
RECENT_FIGURES = 256
"""How many of the newest ids keep their figures (a message may still grow)."""
SEEN_FILE = "spend-seen.json"


# --------------------------------------------------------------------------- tailing


def _file_state(value: Any) -> dict[str, Any]:
    """A remembered read position, or a fresh one when what was stored is not one."""
    if isinstance(value, dict):
        ints = [value.get(k) for k in ("dev", "ino", "offset")]
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            return dict(value)
    return {"offset": 0}


def _restart(state: dict[str, Any], info: os.stat_result) -> dict[str, Any]:
    """The file is not the one read before: read it from the start (reader state kept)."""
    fresh = {k: v for k, v in state.items() if k not in ("tail", "skip")}
    fresh.update(dev=info.st_dev, ino=info.st_ino, offset=0)
    return fresh


def tail(path: Path, state: dict[str, Any], warn: Warn) -> tuple[list[bytes], dict[str, Any]]:
    """The complete lines appended to ``path`` since ``state``, and the state after them.

    Refuses without blocking a FIFO, device or symlink in the file's place; reads at most
    READ_CHUNK; a line longer than that is skipped whole, with a warning.
    """
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(f"{path}: not a plain file; not read")
    moved = (state.get("dev"), state.get("ino")) != (info.st_dev, info.st_ino)
    if moved or info.st_size < state["offset"]:
        if state["offset"]:
            warn(f"{path}: replaced or truncated; reading it again from the start")
        state = _restart(state, info)
    if info.st_size == state["offset"]:
        return [], state
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or opened.st_ino != info.st_ino:
            return [], state  # swapped between the two looks: next time
        if state["offset"] and not _same_tail(fd, state):
            warn(f"{path}: rewritten before offset {state['offset']}; reading it again")
            state = _restart(state, info)
        return _read_lines(fd, path, state, warn)
    finally:
        os.close(fd)


def _same_tail(fd: int, state: dict[str, Any]) -> bool:
    kept = state.get("tail")
    if not isinstance(kept, str):
        return True
    offset = state["offset"]
    start = max(0, offset - TAIL_BYTES)
    try:
        return os.pread(fd, offset - start, start).hex() == kept
    except OSError:
        return False


def _read_lines(
    fd: int, path: Path, state: dict[str, Any], warn: Warn
) -> tuple[list[bytes], dict[str, Any]]:
    offset = state["offset"]
    data = os.pread(fd, READ_CHUNK, offset)
    state, start = dict(state), 0
    if state.get("skip"):  # the rest of an overlong line, up to its newline
        start = data.find(b"\n") + 1 or len(data)
        state["skip"] = start == len(data) and not data.endswith(b"\n")
    cut = max(data.rfind(b"\n", start) + 1, start)
    if cut == 0 and len(data) >= READ_CHUNK:
        warn(f"{path}: a line at offset {offset} is over {READ_CHUNK} bytes; skipped")
        cut, state["skip"] = len(data), True
    lines = data[start:cut].split(b"\n")[:-1]
    state["offset"] = offset + cut
    if cut:
        begin = max(0, state["offset"] - TAIL_BYTES)
        state["tail"] = os.pread(fd, state["offset"] - begin, begin).hex()
    return lines, state


# --------------------------------------------------------------------------- the seat's totals


class Ledger:
    """One seat's totals, read positions and counted ids while a collection runs."""

    def __init__(self, paths: OrgPaths, agent: str) -> None:
        self.paths, self.agent = paths, agent
        data = read_spend_file(paths, agent)
        sources = data.get("sources")
        self.sources: dict[str, Any] = sources if isinstance(sources, dict) else {}
        self.models: dict[str, TokenCounts] = {}
        models = data.get("models")
        for model, counts in (models if isinstance(models, dict) else {}).items():
            parsed = TokenCounts.from_json(counts)
            if isinstance(model, str) and parsed is not None:
                self.models[model] = parsed
        if not isinstance(self.sources.get("epoch"), str):  # not ours: count everything anew
            self.models, self.sources = {}, {"epoch": uuid.uuid4().hex}
        self.seen = self._load_seen()
        self.changed = False
        self.counted = False
        self.seen_changed = False

    def _load_seen(self) -> dict[str, list[int] | None]:
        """The counted ids (in the order counted), if they belong to these totals."""
        path = self.paths.agent_dir(self.agent) / SEEN_FILE
        try:
            data = json.loads(read_regular(path, 8 << 20))
        except (OSError, NotRegularFile, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("epoch") != self.sources["epoch"]:
            return {}
        ids = data.get("ids")
        if not isinstance(ids, dict):
            return {}
        return {k: v if _counts_list(v) else None for k, v in ids.items() if isinstance(k, str)}

    def kind(self, name: str) -> dict[str, Any]:
        """The reader state for one kind of record (its files under ``files``)."""
        state = self.sources.get(name)
        if not isinstance(state, dict) or not isinstance(state.get("files"), dict):
            state = {"files": {}}
            self.sources[name] = state
        return state

    def add(self, counted: Counted, where: str, warn: Warn) -> None:
        """Count one call; a keyed call once (seen again, only what it grew since)."""
        counts = counted.counts if counted.key is None else self._new_part(counted)
        if counts.total == 0:
            return
        model = counted.model
        if model not in self.models and len(self.models) >= MAX_MODELS:
            warn(f"{where}: more than {MAX_MODELS} models; {model!r} counted as {UNKNOWN_MODEL}")
            model = UNKNOWN_MODEL
        total = self.models.get(model, TokenCounts()) + counts
        if max(getattr(total, k) for k in KINDS) > MAX_TOKENS:
            warn(f"{where}: the total for {model} would pass {MAX_TOKENS} tokens; not counted")
            return
        self.models[model] = total
        self.changed = self.counted = True

    def _new_part(self, counted: Counted) -> TokenCounts:
        """What of a keyed call is not counted yet: all of it the first time it is seen, what
        grew since after that, nothing once its figures were forgotten (it is old)."""
        key, figures = counted.key, [getattr(counted.counts, k) for k in KINDS]
        assert key is not None
        known = key in self.seen
        before = self.seen.pop(key) if known else [0] * len(KINDS)  # back in, as the newest
        if before is None:
            self.seen[key] = None
            return TokenCounts()
        grown = [max(0, a - b) for a, b in zip(figures, before, strict=True)]
        self.seen[key] = [max(a, b) for a, b in zip(figures, before, strict=True)]
        self.seen_changed |= not known or any(grown)
        while len(self.seen) > MAX_SEEN:
            del self.seen[next(iter(self.seen))]
        return TokenCounts(*grown)

    def save(self) -> None:
        """spend.json first, then the ids: a crash between can forget ids, never a count."""
        data = {
            "models": {m: c.to_json() for m, c in sorted(self.models.items())},
            "sources": self.sources,
            "updated": time.time(),
        }
        atomic_write_json(self.paths.spend_file(self.agent), data)
        if self.seen_changed:
            recent = set(list(self.seen)[-RECENT_FIGURES:])
            ids = {k: v if k in recent else 0 for k, v in self.seen.items()}
            text = json.dumps({"epoch": self.sources["epoch"], "ids": ids}, separators=(",", ":"))
            atomic_write_text(self.paths.agent_dir(self.agent) / SEEN_FILE, text)


def _counts_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == len(KINDS)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    )


# --------------------------------------------------------------------------- collecting


READERS: tuple[ModuleType, ...] = (claude, codex, builtin)
"""Each kind of record: its KIND (key in ``sources``), ``files`` and ``read``."""


def collect_seat(paths: OrgPaths, agent: str, warn: Warn) -> bool:
    """Add the seat's new usage to its spend.json; True when the totals changed.

    Under the seat's ``spend.lock``, so a second collector (``orgtui spend`` while the
    supervisor runs) waits instead of counting the same lines twice.
    """
    agent_dir = paths.agent_dir(agent)
    if not agent_dir.is_dir():
        return False
    with exclusive_lock(agent_dir / "spend.lock"):
        ledger = Ledger(paths, agent)
        for reader in READERS:
            _collect_kind(ledger, reader, warn)
        if ledger.changed:
            ledger.save()
        return ledger.counted


def _collect_kind(ledger: Ledger, reader: ModuleType, warn: Warn) -> None:
    kind = ledger.kind(reader.KIND)
    files: dict[str, Any] = kind["files"]
    present = {str(p): p for p in reader.files(ledger.paths, ledger.agent, warn)}
    for gone in [name for name in files if name not in present]:
        del files[gone]  # its ids and totals still guard against counting it again
        ledger.changed = True
    for name, path in present.items():
        before = _file_state(files.get(name))
        try:
            lines, after = tail(path, before, warn)
        except FileNotFoundError:
            continue
        except OSError as error:
            warn(f"{path}: {error}")
            continue
        for number, line in enumerate(lines):
            where = f"{path} line {number + 1} after offset {before['offset']}"
            _count_line(ledger, reader, kind, after, line, where, warn)
        if after != before or name not in files:
            files[name] = after
            ledger.changed = True


def _count_line(
    ledger: Ledger,
    reader: ModuleType,
    kind: dict[str, Any],
    state: dict[str, Any],
    line: bytes,
    where: str,
    warn: Warn,
) -> None:
    if not line.strip():
        return
    try:
        record = json.loads(line, parse_constant=_no_constant)
        for counted in reader.read(record, state, kind):
            ledger.add(counted, where, warn)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        warn(f"{where}: skipped ({short(str(error))})")


def _no_constant(name: str) -> float:
    raise Malformed(f"{name} is not a number")


class UsageCollector:
    """The supervisor's collector: every seat's new usage, each warning logged once."""

    def __init__(self, paths: OrgPaths, log: Callable[[str], None]) -> None:
        self.paths, self.log = paths, log
        self.warned: set[str] = set()

    def collect(self, agents: Iterable[str]) -> list[str]:
        """Collect each seat; returns the seats whose totals changed. Never raises for a
        seat: its failure is logged and the next seat is collected."""
        changed = []
        for agent in agents:
            try:
                if collect_seat(self.paths, agent, self._warn):
                    changed.append(agent)
            except Exception as error:
                self._warn(f"{agent}: usage not collected: {error!r}")
        return changed

    def _warn(self, line: str) -> None:
        if line in self.warned:
            return
        if len(self.warned) > 10000:
            self.warned.clear()
        self.warned.add(line)
        with contextlib.suppress(Exception):
            self.log(f"spend: {line}")
