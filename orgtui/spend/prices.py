"""What model tokens cost: the shipped price table, org.toml's overrides, and money from tokens.

Prices are money per million tokens, by kind (input, output, cache write, cache read), in the
currency the table is written in: the shipped defaults are the vendors' list prices in US
dollars as of :data:`PRICES_AS_OF`. ``[prices."MODEL"]`` in org.toml overrides a model's
price or adds one. A model found in neither has no price: its tokens are shown with
"no price" and left out of every money total, never guessed.

A model name that carries a snapshot date (``claude-sonnet-4-5-20250929``) takes the price of
the name without it when only that one is listed: a dated snapshot is the same model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from orgtui.spend.tokens import KINDS, TokenCounts

PRICES_AS_OF = "2025-11-24"
"""The day the shipped prices were read from the vendors' price pages."""
MAX_PRICE = 10_000.0
"""Money per million tokens above this is a typo (the dearest list price is far below)."""
MAX_MODEL_NAME = 200
_DATED = re.compile(r"^(?P<model>.+?)(?:-\d{8}|@\d{8}|-\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Price:
    """Money per million tokens of one model, by kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, tokens: TokenCounts) -> float:
        """The money ``tokens`` cost at this price."""
        return sum(getattr(tokens, kind) * getattr(self, kind) for kind in KINDS) / 1e6

    def to_json(self) -> dict[str, float]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _anthropic(input: float, output: float) -> Price:
    """Anthropic bills a (5-minute) cache write at 1.25x input and a cache read at 0.1x."""
    return Price(input, output, input * 1.25, input * 0.1)


def _openai(input: float, output: float, cached: float) -> Price:
    """OpenAI bills no cache write of its own (a written prompt is input); reads as cached."""
    return Price(input, output, input, cached)


DEFAULT_PRICES: Mapping[str, Price] = {
    # Anthropic (the claude backend, and the builtin agent's default: claude-sonnet-4-5)
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.8, 4.0),
    # OpenAI (the codex backend, and the builtin agent's default: gpt-5)
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-codex": _openai(1.25, 10.0, 0.125),
    "gpt-5.1": _openai(1.25, 10.0, 0.125),
    "gpt-5.1-codex": _openai(1.25, 10.0, 0.125),
    "gpt-5.1-codex-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.4, 0.005),
    "gpt-4.1": _openai(2.0, 8.0, 0.5),
    "gpt-4o": _openai(2.5, 10.0, 1.25),
    "o3": _openai(2.0, 8.0, 0.5),
    "o4-mini": _openai(1.1, 4.4, 0.275),
}
"""List prices in US dollars per million tokens, as of :data:`PRICES_AS_OF`."""


def price_problem(value: object) -> str | None:
    """Why ``value`` is no price per million tokens; None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "expected a number (money per million tokens)"
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE:
        return f"expected a number from 0 to {MAX_PRICE:g} (money per million tokens)"
    return None


def price_table(overrides: Mapping[str, Price] | None = None) -> dict[str, Price]:
    """The shipped prices with org.toml's ``[prices]`` over them."""
    return {**DEFAULT_PRICES, **(overrides or {})}


def price_of(model: str, table: Mapping[str, Price]) -> Price | None:
    """``model``'s price: its own entry, else its undated name's; None when it has none."""
    if model in table:
        return table[model]
    match = _DATED.match(model)
    return table.get(match.group("model")) if match else None


@dataclass(frozen=True)
class Money:
    """What some tokens cost: the priced total, and the models it had to leave out."""

    total: float = 0.0
    unpriced: tuple[str, ...] = ()

    def __add__(self, other: Money) -> Money:
        unpriced = tuple(sorted(set(self.unpriced) | set(other.unpriced)))
        return Money(self.total + other.total, unpriced)


def money_of(usage: Mapping[str, TokenCounts], table: Mapping[str, Price]) -> Money:
    """The money of tokens by model; a model without a price is named, not guessed."""
    total, unpriced = 0.0, []
    for model, tokens in usage.items():
        price = price_of(model, table)
        if price is None:
            if tokens.total:
                unpriced.append(model)
            continue
        total += price.cost(tokens)
    return Money(total, tuple(sorted(unpriced)))
