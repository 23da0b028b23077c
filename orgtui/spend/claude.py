"""Claude Code's usage: the assistant entries of its session transcripts (JSONL).

An API message is written as several lines, one per content block, each with the message's
``id`` and ``usage``: a message counts once, by id, and grows to the largest figures any of
its lines shows (a line written mid-stream may carry only the output tokens known then).
The transcripts are the ones the seat's hooks named (``transcript_path``), kept in
``claude-transcripts.json`` in the seat's dir, plus any under the seat's own HOME (sub-agent
transcripts included), so a missed hook loses nothing.

A hook payload is the seat's word, not the person's: a named transcript is read only when it
lies under the seat's dir (its HOME, where a seat with an API key keeps its transcripts) or
under the person's own Claude ``projects`` dir (where a seat on the person's login writes
them), and is a plain ``.jsonl`` file. Anything else (``/etc/passwd``, a device, another
org's files, a symlink out of those dirs) is refused with a warning and never opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orgtui.atomic import NotRegularFile, atomic_write_json, exclusive_lock, read_regular
from orgtui.paths import OrgPaths
from orgtui.spend.records import Counted, Malformed, Warn, count, model_name
from orgtui.spend.tokens import TokenCounts

KIND = "claude"
TRANSCRIPTS_FILE = "claude-transcripts.json"
MAX_TRANSCRIPTS = 32
MAX_PATH = 4096
MAX_ID = 200


def _roots(paths: OrgPaths, agent: str) -> list[Path]:
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    person = Path(config) if config else Path.home() / ".claude"
    return [paths.agent_dir(agent), person / "projects"]


def allowed_transcript(paths: OrgPaths, agent: str, raw: Any) -> Path | None:
    """``raw`` as a transcript path the seat may name (resolved), or None when refused."""
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_PATH or "\0" in raw:
        return None
    path = Path(raw)
    if not path.is_absolute() or path.suffix != ".jsonl" or path.name.startswith("."):
        return None
    try:
        parent = path.parent.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    for root in _roots(paths, agent):
        try:
            real = root.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if parent == real or real in parent.parents:
            return parent / path.name
    return None


def _recorded(paths: OrgPaths, agent: str) -> list[Any]:
    try:
        data = json.loads(read_regular(paths.agent_dir(agent) / TRANSCRIPTS_FILE, 1 << 20))
    except (OSError, NotRegularFile, ValueError, RecursionError):
        return []
    return data if isinstance(data, list) else []


def remember_transcript(paths: OrgPaths, agent: str, raw: Any) -> None:
    """Note the transcript a hook named, if the seat may name it (the newest MAX kept)."""
    path = allowed_transcript(paths, agent, raw)
    if path is None or str(path) in _recorded(paths, agent):
        return
    with exclusive_lock(paths.agent_dir(agent) / "spend.lock"):
        known = [p for p in _recorded(paths, agent) if isinstance(p, str) and p != str(path)]
        known = [*known, str(path)][-MAX_TRANSCRIPTS:]
        atomic_write_json(paths.agent_dir(agent) / TRANSCRIPTS_FILE, known)


def files(paths: OrgPaths, agent: str, warn: Warn) -> list[Path]:
    """The seat's transcripts: those its hooks named (with their sub-agents'), and those
    under its own HOME."""
    found: dict[Path, None] = {}
    for raw in _recorded(paths, agent):
        path = allowed_transcript(paths, agent, raw)
        if path is None:
            warn(f"{agent}: transcript {str(raw)[:200]!r} is outside the seat's dirs; not read")
        else:
            found[path] = None
            for sub in sorted(path.with_suffix("").glob("subagents/*.jsonl")):
                if (allowed := allowed_transcript(paths, agent, str(sub))) is not None:
                    found[allowed] = None
    projects = paths.agent_dir(agent) / "home" / ".claude" / "projects"
    for pattern in ("*/*.jsonl", "*/*/subagents/*.jsonl"):
        for candidate in sorted(projects.glob(pattern)):
            path = allowed_transcript(paths, agent, str(candidate))
            if path is not None:
                found[path] = None
    return list(found)


def read(record: Any, state: dict[str, Any], kind: dict[str, Any]) -> Iterable[Counted]:
    """The usage of one transcript line: an assistant message's, keyed by its id."""
    if not isinstance(record, dict) or record.get("type") != "assistant":
        return ()
    message = record.get("message")
    if not isinstance(message, dict):
        raise Malformed("an assistant entry without a message object")
    usage = message.get("usage")
    if usage is None:
        return ()
    if not isinstance(usage, dict):
        raise Malformed("message.usage is not an object")
    counts = TokenCounts(
        input=count(usage.get("input_tokens"), "input_tokens"),
        output=count(usage.get("output_tokens"), "output_tokens"),
        cache_write=count(usage.get("cache_creation_input_tokens"), "cache_creation"),
        cache_read=count(usage.get("cache_read_input_tokens"), "cache_read_input_tokens"),
    )
    if counts.total == 0:
        return ()  # Claude Code's own synthetic entries (errors, interruptions)
    key = message.get("id")
    if not isinstance(key, str) or not 0 < len(key) <= MAX_ID:
        raise Malformed("an assistant message with usage but no id")
    return (Counted(model_name(message.get("model")), counts, f"claude:{key}"),)
