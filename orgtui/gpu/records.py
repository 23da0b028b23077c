"""What the GPU telemetry says: frozen records, and the coercions that keep them honest.

Records are read back from files anyone can write (the ``.org/gpu.jsonl`` ring, a replay
trace) and from drivers that answer oddly. ``from_json`` never raises: a value that is not a
finite, non-negative number of the right kind becomes None ("n/a" on screen), and a record
without the fields that identify it (a GPU index, a pid, a sample time) is None as a whole,
for the reader to skip. No number is ever invented.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from orgtui.errors import OrgtuiError


class GpuError(OrgtuiError):
    """A GPU source cannot be opened (bad replay trace, NVML asked for but missing)."""


MAX_INT = 2**63 - 1
"""Above any counter NVML reports (64-bit): a larger int is hostile, and would overflow a float."""

FLAGS = ("unowned", "wrong_gpu")
"""What can be wrong with a GPU process: no agent's pane holds it, or its agent is pinned
to another GPU."""


def non_negative_float(value: Any) -> float | None:
    """``value`` as a finite float >= 0; None for NaN, inf, negatives, bools and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return abs(number) if math.isfinite(number) and number >= 0 else None  # abs: -0.0 is 0.0


def non_negative_int(value: Any) -> int | None:
    """``value`` as an int >= 0 (floats truncated); None when it is not a finite number >= 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= MAX_INT else None
    number = non_negative_float(value)
    return None if number is None or number > MAX_INT else int(number)


def watts(milliwatts: Any) -> float | None:
    """NVML's milliwatts (as read, or as stored in a trace) in watts; None when not a number."""
    value = non_negative_float(milliwatts)
    return None if value is None else value / 1000.0


def _index(value: Any) -> int | None:
    """An identifier (GPU index, pid): a true int >= 0, never a float or a string."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT:
        return value
    return None


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def mappings(value: Any) -> Iterable[Mapping[str, Any]]:
    """The mappings in a JSON list; anything else is no records at all."""
    if not isinstance(value, list | tuple):
        return ()
    return (item for item in value if isinstance(item, Mapping))


@dataclass(frozen=True)
class GpuProcess:
    """A compute process on a GPU and the device memory it holds (bytes, None if unknown)."""

    pid: int
    used_bytes: int | None = None

    @classmethod
    def parse(cls, pid: Any, used: Any) -> GpuProcess | None:
        """A process from raw values; None unless ``pid`` is a positive int."""
        number = _index(pid)
        return None if not number else cls(number, non_negative_int(used))


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one moment; any field NVML could not give is None."""

    index: int
    name: str | None = None
    util: float | None = None
    mem_util: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temp_c: float | None = None
    sm_clock: int | None = None
    procs: tuple[GpuProcess, ...] = ()
    source: str = "nvml"
    time: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["procs"] = [{"pid": p.pid, "used_bytes": p.used_bytes} for p in self.procs]
        return data

    @classmethod
    def from_json(cls, data: Any) -> GpuReading | None:
        """A reading from a ring line's ``gpus`` entry; None when it names no GPU index."""
        if not isinstance(data, Mapping) or _index(data.get("index")) is None:
            return None
        procs = (
            GpuProcess.parse(p.get("pid"), p.get("used_bytes")) for p in mappings(data.get("procs"))
        )
        return cls(
            index=data["index"],
            name=text_or_none(data.get("name")),
            util=non_negative_float(data.get("util")),
            mem_util=non_negative_float(data.get("mem_util")),
            mem_used=non_negative_int(data.get("mem_used")),
            mem_total=non_negative_int(data.get("mem_total")),
            power_w=non_negative_float(data.get("power_w")),
            power_limit_w=non_negative_float(data.get("power_limit_w")),
            temp_c=non_negative_float(data.get("temp_c")),
            sm_clock=non_negative_int(data.get("sm_clock")),
            procs=tuple(p for p in procs if p is not None),
            source=text_or_none(data.get("source")) or "nvml",
            time=non_negative_float(data.get("time")) or 0.0,
        )


@dataclass(frozen=True)
class ProcessOwner:
    """A GPU process and the agent whose pane started it.

    ``flag`` is None when all is well, "unowned" when no agent's pane tree holds the pid, and
    "wrong_gpu" when the owning agent is pinned to another GPU (or to none).
    """

    gpu: int
    pid: int
    used: int | None
    agent: str | None
    flag: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ProcessOwner | None:
        """An owner from a ring line; None without a GPU index and a positive pid."""
        if not isinstance(data, Mapping):
            return None
        gpu, pid = _index(data.get("gpu")), _index(data.get("pid"))
        if gpu is None or not pid:
            return None
        flag = data.get("flag")
        return cls(
            gpu=gpu,
            pid=pid,
            used=non_negative_int(data.get("used")),
            agent=text_or_none(data.get("agent")),
            flag=flag if flag in FLAGS else None,
        )


@dataclass(frozen=True)
class GpuSample:
    """One line of ``.org/gpu.jsonl``: every GPU plus the process owners at time ``time``."""

    time: float
    source: str
    gpus: tuple[GpuReading, ...] = ()
    owners: tuple[ProcessOwner, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.time,
            "source": self.source,
            "gpus": [g.to_json() for g in self.gpus],
            "owners": [o.to_json() for o in self.owners],
        }

    @classmethod
    def from_json(cls, data: Any) -> GpuSample | None:
        """A sample from a parsed ring line; None when it has no finite time ``t``."""
        if not isinstance(data, Mapping):
            return None
        time = non_negative_float(data.get("t"))
        if time is None:
            return None
        gpus = (GpuReading.from_json(g) for g in mappings(data.get("gpus")))
        owners = (ProcessOwner.from_json(o) for o in mappings(data.get("owners")))
        return cls(
            time=time,
            source=text_or_none(data.get("source")) or "",
            gpus=tuple(g for g in gpus if g is not None),
            owners=tuple(o for o in owners if o is not None),
        )

    def gpu(self, index: int) -> GpuReading | None:
        return next((g for g in self.gpus if g.index == index), None)
