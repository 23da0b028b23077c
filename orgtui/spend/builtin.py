"""The builtin agent's usage: one line per model call in ``.org/agents/<name>/usage.jsonl``.

Written by the agent loop from the SDK's ``usage``: ``input_tokens`` (uncached input),
``output_tokens`` (reasoning included), ``cache_write_tokens``, ``cache_read_tokens``, the
``model`` and an ``id`` per call (a line read twice, after the file was rewritten, counts
once; lines from before ids were written count by position only).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orgtui.paths import OrgPaths
from orgtui.spend.records import Counted, Malformed, Warn, count, model_name
from orgtui.spend.tokens import TokenCounts

KIND = "builtin"
USAGE_FILE = "usage.jsonl"


def files(paths: OrgPaths, agent: str, warn: Warn) -> list[Path]:
    path = paths.agent_dir(agent) / USAGE_FILE
    return [path] if os.path.lexists(path) else []


def read(record: Any, state: dict[str, Any], kind: dict[str, Any]) -> Iterable[Counted]:
    if not isinstance(record, dict):
        raise Malformed("not a JSON object")
    counts = TokenCounts(
        input=count(record.get("input_tokens"), "input_tokens"),
        output=count(record.get("output_tokens"), "output_tokens"),
        cache_write=count(record.get("cache_write_tokens"), "cache_write_tokens"),
        cache_read=count(record.get("cache_read_tokens"), "cache_read_tokens"),
    )
    key = record.get("id")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
        raise Malformed("id is not a short string")
    return (Counted(model_name(record.get("model")), counts, key and f"builtin:{key}"),)
