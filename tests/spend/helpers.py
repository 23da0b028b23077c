"""Records as the real clients write them (shapes seen in their own files), and a seat."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orgtui.paths import OrgPaths
from orgtui.spend.tokens import TokenCounts, seat_usage
from orgtui.spend.usage import collect_seat


def seat(root: Path, agent: str = "ada") -> OrgPaths:
    paths = OrgPaths(root)
    paths.agent_dir(agent).mkdir(parents=True, exist_ok=True)
    return paths


def claude_line(mid: str, model: str, counts: TokenCounts, block: int = 0) -> bytes:
    """One line of a Claude Code transcript: an assistant message's content block."""
    usage = {
        "input_tokens": counts.input,
        "output_tokens": counts.output,
        "cache_creation_input_tokens": counts.cache_write,
        "cache_read_input_tokens": counts.cache_read,
    }
    entry = {
        "parentUuid": None,
        "type": "assistant",
        "uuid": f"{mid}-{block}",
        "message": {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": f"block {block}"}],
            "usage": usage,
        },
    }
    return json.dumps(entry).encode() + b"\n"


def collect(paths: OrgPaths, agent: str = "ada") -> tuple[dict[str, TokenCounts], list[str]]:
    """Collect the seat; its totals as the spend readers see them, and the warnings."""
    warnings: list[str] = []
    collect_seat(paths, agent, warnings.append)
    return seat_usage(paths, agent), warnings


def totals(expected: dict[str, TokenCounts]) -> dict[str, TokenCounts]:
    return {model: counts for model, counts in expected.items() if counts.total}


def add(expected: dict[str, TokenCounts], model: str, counts: TokenCounts) -> None:
    expected[model] = expected.get(model, TokenCounts()) + counts


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def rewrite(path: Path, data: bytes, how: str) -> None:
    """The file rewritten with ``data``: ``replace`` (a new inode renamed over it) or
    ``truncate`` (the same inode, emptied and written again)."""
    if how == "replace":
        fresh = path.with_suffix(".tmp")
        fresh.write_bytes(data)
        os.replace(fresh, path)
        return
    with path.open("r+b") as handle:
        handle.truncate(0)
        handle.write(data)
