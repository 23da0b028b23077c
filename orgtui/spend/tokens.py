"""Token counts per seat and model, as the supervisor has collected them.

Each seat's totals live in ``.org/agents/<name>/spend.json`` (written atomically by the
collector, :mod:`orgtui.spend.usage`)::

    {"models": {"MODEL": {"input": N, "output": N, "cache_write": N, "cache_read": N}},
     "sources": {...the collector's read positions...}, "updated": SECONDS}

Readers here never raise for bad content: a malformed file reads as no usage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from orgtui.atomic import NotRegularFile, read_regular
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths

MAX_SPEND_BYTES = 4 << 20
MAX_TOKENS = 10**15
"""More tokens than this in one count is not a count (a corrupt file, a hostile one)."""
KINDS = ("input", "output", "cache_write", "cache_read")


@dataclass(frozen=True)
class TokenCounts:
    """Tokens of one seat with one model, by kind (cache writes and reads apart from input)."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(*(getattr(self, k) + getattr(other, k) for k in KINDS))

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def to_json(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_json(cls, data: Any) -> TokenCounts | None:
        """The counts in ``data``; None unless every kind present is a whole number in range."""
        if not isinstance(data, dict):
            return None
        values = [data.get(kind, 0) for kind in KINDS]
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_TOKENS for v in values
        ):
            return None
        return cls(*values)


def read_spend_file(paths: OrgPaths, agent: str) -> dict[str, Any]:
    """The seat's ``spend.json`` as a dict; empty when absent or malformed."""
    try:
        data = json.loads(read_regular(paths.spend_file(agent), MAX_SPEND_BYTES))
    except (OSError, NotRegularFile, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def seat_usage(paths: OrgPaths, agent: str) -> dict[str, TokenCounts]:
    """The seat's tokens by model (malformed entries left out)."""
    models = read_spend_file(paths, agent).get("models")
    if not isinstance(models, dict):
        return {}
    usage: dict[str, TokenCounts] = {}
    for model, counts in models.items():
        parsed = TokenCounts.from_json(counts)
        if isinstance(model, str) and model and parsed is not None:
            usage[model] = parsed
    return usage


def org_usage(paths: OrgPaths) -> dict[str, dict[str, TokenCounts]]:
    """Every seat's tokens by model, by agent (seats with no usage left out)."""
    try:
        names = sorted(entry.name for entry in paths.agents_dir.iterdir() if entry.is_dir())
    except OSError:
        return {}
    found = {name: seat_usage(paths, name) for name in names if is_valid_name(name)}
    return {name: usage for name, usage in found.items() if usage}
