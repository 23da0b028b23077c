"""Amounts of spend as a person types and reads them: ``10``, ``2M``, ``5gpuh``; ``$4.20``.

Light on purpose: ``orgtui resume --help`` needs :data:`RAISE_SYNTAX` without the ledger.
"""

from __future__ import annotations

import math
import re

from orgtui.errors import OrgtuiError

MAX_MONEY = 1e9
MAX_TOKENS = 10**15
MAX_HOURS = 1e7
"""The largest budget (and raise) in money, tokens and GPU-hours: beyond them, a typo."""


class BudgetError(OrgtuiError):
    """A budget amount or raise that cannot be used; the message says what would work."""


RAISE_SYNTAX = (
    "money as a number (10, 2.50, or '$10' in quotes: the shell expands $1); tokens with "
    "k, M or G, or tok (500k, 2M, 300000tok); GPU-hours with gpuh (5gpuh; CPU-hours on a "
    "machine without GPUs)"
)
_AMOUNT_RE = re.compile(r"(\$?)(\d+(?:\.\d*)?|\.\d+)([A-Za-z-]*)")
_TOKEN_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9, "tok": 1.0, "tokens": 1.0}
_HOUR_SUFFIX = ("gpuh", "gpu-h", "gpu-hours", "cpuh", "cpu-h", "cpu-hours")
_CAPS = {"money": MAX_MONEY, "tokens": float(MAX_TOKENS), "gpu_hours": MAX_HOURS}


def parse_amount(text: str) -> tuple[str, float]:
    """``--raise-budget X``: the unit (money, tokens, gpu_hours) and the amount."""
    match = _AMOUNT_RE.fullmatch(text.strip().replace("_", "").replace(",", ""))
    bad = BudgetError(f"--raise-budget {text!r}: expected {RAISE_SYNTAX}")
    if match is None:
        raise bad
    dollar, number, suffix = match.group(1), float(match.group(2)), match.group(3).lower()
    if not math.isfinite(number):
        raise bad
    if not suffix:
        unit, value = "money", number
    elif dollar:
        raise bad
    elif suffix in _TOKEN_SUFFIX:
        unit, value = "tokens", float(round(number * _TOKEN_SUFFIX[suffix]))
    elif suffix in _HOUR_SUFFIX:
        unit, value = "gpu_hours", number
    else:
        raise bad
    if not (math.isfinite(value) and 0 < value <= _CAPS[unit]):
        raise BudgetError(
            f"--raise-budget {text!r}: a raise is above 0 and at most {say(unit, _CAPS[unit])}"
        )
    return unit, value


def say(unit: str, value: float, hours: str = "GPU") -> str:
    """An amount for a person: ``$4.20``, ``1.2M tokens``, ``3.50 GPU-h``."""
    if unit == "money":
        return f"${value:,.2f}"
    if unit == "tokens":
        for size, letter in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if value >= size:
                return f"{value / size:.3g}{letter} tokens"
        return f"{value:.0f} tokens"
    return f"{value:.2f} {hours}-h"


def count(value: float) -> str:
    """Tokens for a person: 9500, 12.3k, 4.56M."""
    if value >= 1e9:
        return f"{value / 1e9:.3g}G"
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.0f}"
