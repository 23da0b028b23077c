"""A trial's budget as typed on the command line: ``4m`` / ``90s`` wall time, ``0.5gpuh``
GPU-hours (CPU-hours on a machine without GPUs), ``$2`` money (from ``orgtui.spend``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from orgtui.errors import OrgtuiError

UNITS = ("wall_s", "gpu_hours", "money")
SYNTAX = (
    "wall time (90s, 4m, 1.5h), GPU-hours (0.5gpuh; CPU-hours without GPUs) or money "
    "('$2' in quotes)"
)
MAX_WALL_S = 7 * 86400.0
MAX_AMOUNT = 1e7
_RE = re.compile(r"(\$?)(\d+(?:\.\d*)?|\.\d+)\s*([a-z-]*)")
_WALL = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_HOURS = ("gpuh", "gpu-h", "cpuh", "cpu-h")


class BudgetError(OrgtuiError):
    """A budget that cannot be used; the message says what would work."""


@dataclass(frozen=True)
class Budget:
    """How much one trial of one org may spend before it is stopped."""

    unit: str
    amount: float
    text: str

    def spent(self, wall_s: float, gpu_hours: float, money: float | None) -> bool:
        used = {"wall_s": wall_s, "gpu_hours": gpu_hours, "money": money or 0.0}[self.unit]
        return used >= self.amount


def parse_budget(text: str) -> Budget:
    """``--budget`` -> a :class:`Budget`; zero, negative or unknown units are errors."""
    raw = text.strip().lower().replace("_", "")
    if raw.startswith("-"):
        raise BudgetError(f"--budget {text!r}: a budget must be above zero ({SYNTAX})")
    match = _RE.fullmatch(raw)
    if match is None:
        raise BudgetError(f"--budget {text!r}: expected {SYNTAX}")
    dollar, number, suffix = match.group(1), float(match.group(2)), match.group(3)
    if not math.isfinite(number) or number <= 0:
        raise BudgetError(f"--budget {text!r}: a budget must be above zero ({SYNTAX})")
    if dollar and suffix:
        raise BudgetError(f"--budget {text!r}: money is '$N' with no unit after it")
    if dollar:
        unit, amount, cap = "money", number, MAX_AMOUNT
    elif suffix in _HOURS:
        unit, amount, cap = "gpu_hours", number, MAX_AMOUNT
    elif suffix in _WALL:
        unit, amount, cap = "wall_s", number * _WALL[suffix], MAX_WALL_S
    else:
        raise BudgetError(f"--budget {text!r}: unknown unit {suffix or '(none)'!r}; {SYNTAX}")
    if not math.isfinite(amount) or amount <= 0:
        raise BudgetError(f"--budget {text!r}: a budget must be above zero ({SYNTAX})")
    if amount > cap:
        raise BudgetError(f"--budget {text!r}: more than a trial may take; at most {cap:g}")
    return Budget(unit, amount, text.strip())
