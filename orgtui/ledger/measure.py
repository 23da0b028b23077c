"""What the ledger measures: the task's eval metric, which way is better, and the compute axis.

org.toml's ``[ledger]`` names them (``metric``, ``direction``, ``cost``); the default is
nanochat's: val bpb, lower is better, at matched FLOPs. Every reading of a run, verdict and
report goes through one :class:`Measure`, so nothing in the ledger assumes bpb or FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orgtui.config import LedgerSpec
    from orgtui.paths import OrgPaths

GENERAL_RANGE = (-1e15, 1e15)
"""What any metric may read: finite, and small enough that every sum the ledger makes is."""
KNOWN_RANGES: dict[str, tuple[float, float]] = {
    "val_bpb": (0.0, 1e6),
    "val_loss": (0.0, 1e6),
    "val_acc": (0.0, 100.0),  # a fraction or a percentage
}
"""Metrics whose possible values are known: one outside them is a broken measurement, and the
run it came from never counts towards a verdict."""
COST_LABELS = {"flops": "FLOPs", "gpu_seconds": "GPU-seconds", "wall_seconds": "wall-seconds"}
COST_COLUMNS = {"flops": "FLOPs", "gpu_seconds": "GPU-s", "wall_seconds": "wall-s"}


@dataclass(frozen=True)
class Measure:
    """The metric (an eval key), ``min`` or ``max``, and the cost unit variants are matched on."""

    metric: str = "val_bpb"
    direction: str = "min"
    cost: str = "flops"

    @classmethod
    def of(cls, spec: LedgerSpec) -> Measure:
        return cls(spec.metric, spec.direction, spec.cost)

    def to_json(self) -> dict[str, str]:
        """The keys every ``--json`` output of the ledger names its measure with."""
        return {"metric": self.metric, "direction": self.direction, "cost_unit": self.cost}

    @property
    def final_key(self) -> str:
        """The ``run_end`` key of the run's final value: ``final_val_bpb``."""
        return f"final_{self.metric}"

    @property
    def label(self) -> str:
        """How tables name the metric: ``bpb`` for val bpb (as always), else its key."""
        return "bpb" if self.metric == "val_bpb" else self.metric

    @property
    def better(self) -> str:
        return "lower is better" if self.direction == "min" else "higher is better"

    @property
    def cost_label(self) -> str:
        return COST_LABELS.get(self.cost, self.cost)

    def fmt(self, value: float, sign: str = "") -> str:
        """A value of the metric (or a difference of two) as tables show it: four decimals
        for bpb, as always; four significant digits for a metric of any scale."""
        return format(value, f"{sign}.4f" if self.metric == "val_bpb" else f"{sign}.4g")

    @property
    def heading(self) -> str:
        """The metric in a table's header: "bpb" as always, else "val_acc ↑" (which way is
        better)."""
        if self.metric == "val_bpb":
            return "bpb"
        return f"{self.metric} {'↓' if self.direction == 'min' else '↑'}"

    @property
    def cost_column(self) -> str:
        """The cost in a table's header: "FLOPs", "GPU-s", "wall-s"."""
        return COST_COLUMNS.get(self.cost, self.cost)

    def value_text(self, mean: float | None, sd: float | None) -> str:
        """A variant's metric as "mean ± sd" ("—" when it has none)."""
        if mean is None:
            return "—"
        return self.fmt(mean) + (f" ± {self.fmt(sd)}" if sd else "")

    def gain_text(self, gain: float) -> str:
        """A verified gain (positive = better) in the metric's words: "0.0500 bpb" (as always),
        "val_acc +0.031 (higher is better)"."""
        if self.metric == "val_bpb":
            return f"{gain:.4f} bpb"
        return f"{self.metric} {self.fmt(self.gain(gain), '+')} ({self.better})"

    def gain(self, delta: float) -> float:
        """``delta`` = B - A as an improvement of B: positive when B is better."""
        return -delta if self.direction == "min" else delta

    def bounds(self) -> tuple[float, float, bool]:
        """(low, high, known): the values the metric can take, and whether they are known (an
        impossible value then invalidates the run) or only :data:`GENERAL_RANGE`."""
        if self.metric in KNOWN_RANGES:
            return (*KNOWN_RANGES[self.metric], True)
        return (*GENERAL_RANGE, False)


DEFAULT = Measure()


def measure_of(paths: OrgPaths) -> Measure:
    """The org's measure from org.toml's ``[ledger]``; the default without a readable one."""
    from orgtui.config import load_config
    from orgtui.errors import OrgtuiError

    if not paths.config_file.is_file():
        return DEFAULT
    try:
        return Measure.of(load_config(paths.root).ledger)
    except OrgtuiError:
        return DEFAULT
