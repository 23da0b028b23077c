"""Codex's usage: the ``token_count`` events of its session rollout files.

``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`` (CODEX_HOME is the seat's
``.org/agents/<name>/codex``). A ``turn_context`` line names the model of the turns after it;
an ``event_msg`` of type ``token_count`` carries ``info.total_token_usage`` (cumulative for
the thread) and ``info.last_token_usage`` (the last call). The cumulative figure is the
record: what it grew since the last one counted for the thread is counted, so an event
repeated (Codex sends one again for a rate-limit update) or a file read again adds nothing.
``input_tokens`` includes ``cached_input_tokens`` and ``cache_write_input_tokens`` (counted
apart, as cache reads and writes); ``output_tokens`` includes ``reasoning_output_tokens``.

Seen with Codex 0.171: ``codex resume`` appends to the same rollout file, the same thread,
and its cumulative total goes on from where it stopped. The CLI's side requests (the
session title) are not recorded in any rollout, so their tokens cannot be counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orgtui.paths import OrgPaths
from orgtui.spend.records import Counted, Malformed, Warn, count, model_name
from orgtui.spend.tokens import KINDS, TokenCounts

KIND = "codex"
MAX_THREADS = 256


def files(paths: OrgPaths, agent: str, warn: Warn) -> list[Path]:
    """The seat's rollouts; one reached through a symlinked dir leading out is left out."""
    sessions = paths.agent_dir(agent) / "codex" / "sessions"
    try:
        real = sessions.resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    found = []
    for path in sorted(sessions.glob("*/*/*/rollout-*.jsonl")):
        try:
            inside = real in path.parent.resolve(strict=True).parents
        except (OSError, RuntimeError):
            inside = False
        if inside:
            found.append(path)
        else:
            warn(f"{path}: leads outside {sessions}; not read")
    return found


def _usage(value: Any, what: str) -> TokenCounts:
    """One of Codex's usage objects; its input_tokens include the cache reads and writes."""
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    given = count(value.get("input_tokens"), f"{what}.input_tokens")
    cached = count(value.get("cached_input_tokens"), f"{what}.cached_input_tokens")
    written = count(value.get("cache_write_input_tokens"), f"{what}.cache_write_input_tokens")
    output = count(value.get("output_tokens"), f"{what}.output_tokens")
    if cached + written > given:
        raise Malformed(f"{what}: more cached input ({cached} + {written}) than input ({given})")
    return TokenCounts(given - cached - written, output, written, cached)


def _thread(state: dict[str, Any], kind: dict[str, Any]) -> dict[str, Any]:
    """The counted-so-far record of the thread this file belongs to (the newest kept)."""
    threads = kind.get("threads")
    if not isinstance(threads, dict):
        threads = kind["threads"] = {}
    name = state.get("thread")
    if not isinstance(name, str):
        name = f"file:{state.get('dev')}:{state.get('ino')}"
    entry = threads.pop(name, None)  # back in at the end: the most recent
    threads[name] = entry if isinstance(entry, dict) else {}
    while len(threads) > MAX_THREADS:
        del threads[next(iter(threads))]
    return threads[name]


def read(record: Any, state: dict[str, Any], kind: dict[str, Any]) -> Iterable[Counted]:
    """Tokens a token_count event adds to its thread's count; notes thread and model."""
    if not isinstance(record, dict):
        raise Malformed("not a JSON object")
    payload = record.get("payload")
    if not isinstance(payload, dict):
        return ()
    if record.get("type") == "session_meta" and isinstance(payload.get("id"), str):
        state["thread"] = payload["id"][:200]
    elif record.get("type") == "turn_context":
        state["model"] = model_name(payload.get("model"))
    elif record.get("type") == "event_msg" and payload.get("type") == "token_count":
        info = payload.get("info")
        if info is None:
            return ()  # a rate-limit update only
        if not isinstance(info, dict):
            raise Malformed("token_count info is not an object")
        total = _usage(info.get("total_token_usage"), "total_token_usage")
        thread = _thread(state, kind)
        before = TokenCounts.from_json(thread.get("total")) or TokenCounts()
        grown = TokenCounts(*(max(0, getattr(total, k) - getattr(before, k)) for k in KINDS))
        thread["total"] = TokenCounts(
            *(max(getattr(total, k), getattr(before, k)) for k in KINDS)
        ).to_json()
        return (Counted(model_name(state.get("model")), grown),)
    return ()
