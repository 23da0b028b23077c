"""What the readers of each client's records hand the collector: one call's counted tokens.

Shared by :mod:`orgtui.spend.usage` (the collector) and the readers beside it, so that the
bounds a count must keep are written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orgtui.spend.tokens import TokenCounts

MAX_CALL_TOKENS = 10**9
"""More tokens than this in one model call is not a count: the record is skipped."""
MAX_MODEL_NAME = 128
UNKNOWN_MODEL = "unknown"

Warn = Callable[[str], None]
"""Where a reader or the collector says what it skipped (the supervisor log)."""


class Malformed(ValueError):
    """A record whose usage cannot be trusted; it is skipped with a warning."""


@dataclass(frozen=True)
class Counted:
    """One model call's tokens as a record reports them; ``key`` names the call for dedup."""

    model: str
    counts: TokenCounts
    key: str | None = None


def count(value: Any, what: str) -> int:
    """A token count from a record: a whole number in range, else ``Malformed``."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{what} is {type(value).__name__} {short(value)}, not a whole number")
    if not 0 <= value <= MAX_CALL_TOKENS:
        raise Malformed(f"{what} = {short(value)} is out of range (0..{MAX_CALL_TOKENS})")
    return value


def model_name(value: Any) -> str:
    """A model name fit to be a key in spend.json; anything else is ``unknown``."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_MODEL_NAME:
        return UNKNOWN_MODEL
    if not value.isprintable() or value != value.strip():
        return UNKNOWN_MODEL
    return value


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
