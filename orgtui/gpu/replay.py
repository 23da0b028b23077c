"""Replaying a recorded NVML trace, and the trace format itself (read and written here).

A trace is JSONL, one GPU reading a line: ``t``, ``index``, ``name``, ``util``, ``mem_util``,
``mem_used``, ``mem_total``, ``power_mw``, ``power_limit_mw``, ``temp_c``, ``sm_clock``,
``procs``: [{pid, used}] (``tests/fixtures/nvml_h100_trace.jsonl``). Consecutive lines with
rising indexes (0, 1, 2 ...) form one frame, timed by its first line. A line without a
finite ``t`` and a GPU ``index`` is an error naming the file and line; any other field that
is missing or odd reads as None.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orgtui.gpu.files import is_regular_or_missing, read_regular
from orgtui.gpu.records import (
    GpuError,
    GpuProcess,
    GpuReading,
    mappings,
    non_negative_float,
    non_negative_int,
    text_or_none,
    watts,
)

MAX_TRACE_BYTES = 256 << 20
"""Larger than any trace worth replaying (the 1015-frame H100 trace is about 250 kB)."""

Frame = tuple[float, list[Mapping[str, Any]]]
"""One moment of a trace: its time and one row per GPU."""


class ReplaySource:
    """Plays a recorded NVML trace, looping, always labelled "replay".

    Position in the trace is keyed by the clock: ``(clock() - start) * speed`` seconds after
    the first frame, so a replay runs at the pace it was recorded whoever polls it. Tests pass
    their own ``clock`` for determinism. With ``by_call=True`` each ``devices()`` call steps one
    frame instead, whatever the clock says. With ``loop=False`` the last frame stays on.
    """

    name = "replay"
    label = "replay"

    def __init__(
        self,
        path: Path | str,
        *,
        loop: bool = True,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        by_call: bool = False,
    ) -> None:
        self.path = Path(path)
        if not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
            raise GpuError(f"replay speed must be a positive number, found {speed}")
        self.loop = loop
        self.speed = speed
        self.by_call = by_call
        self._clock = clock
        self._frames = load_trace(self.path)
        self._offsets = [t - self._frames[0][0] for t, _ in self._frames]
        gaps = [b - a for a, b in zip(self._offsets, self._offsets[1:], strict=False)]
        step = sorted(gaps)[len(gaps) // 2] if gaps else 1.0
        self._period = self._offsets[-1] + (step if step > 0 else 1.0)
        self._start = clock()
        self._calls = 0

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    def _frame_index(self) -> int:
        count = len(self._frames)
        if self.by_call:
            position = self._calls
            self._calls += 1
            return position % count if self.loop else min(position, count - 1)
        elapsed = max(0.0, (self._clock() - self._start) * self.speed)
        if self.loop:
            elapsed = math.fmod(elapsed, self._period)
        elif elapsed >= self._offsets[-1]:
            return count - 1
        # last frame whose offset is <= elapsed
        low, high = 0, count - 1
        while low < high:
            mid = (low + high + 1) // 2
            if self._offsets[mid] <= elapsed:
                low = mid
            else:
                high = mid - 1
        return low

    def devices(self) -> list[GpuReading]:
        now = time.time()
        _, rows = self._frames[self._frame_index()]
        return [reading_from_trace(row, self.label, now) for row in rows]

    def close(self) -> None:
        pass


def load_trace(path: Path) -> list[Frame]:
    """The frames of a trace file, in file order.

    Raises:
        GpuError: the file is missing, not a regular file, not UTF-8, empty, or has a line
            without a finite ``t`` and an ``index`` (the message names the line).
    """
    if not is_regular_or_missing(path):
        raise GpuError(f"{path}: cannot read replay trace (not a regular file)")
    data = read_regular(path, MAX_TRACE_BYTES)
    if data is None:
        raise GpuError(
            f"{path}: cannot read replay trace (missing, unreadable, or over "
            f"{MAX_TRACE_BYTES >> 20} MiB)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise GpuError(f"{path}: cannot read replay trace (not UTF-8: {error.reason})") from error
    frames: list[Frame] = []
    last_index = -1
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        t, index, row = _trace_line(path, number, line)
        if frames and index > last_index:
            frames[-1][1].append(row)  # the next GPU of the same frame
        else:
            frames.append((t, [row]))
        last_index = index
    if not frames:
        raise GpuError(f"{path}: replay trace is empty")
    return frames


def _trace_line(path: Path, number: int, line: str) -> tuple[float, int, Mapping[str, Any]]:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise GpuError(f"{path}:{number}: not a GPU trace line (not JSON: {error})") from error
    if not isinstance(row, dict):
        raise GpuError(f"{path}:{number}: not a GPU trace line (needs a JSON object)")
    t = non_negative_float(row.get("t"))
    index = row.get("index")
    if t is None or non_negative_int(index) is None or not isinstance(index, int):
        raise GpuError(
            f"{path}:{number}: not a GPU trace line (needs t, a finite time >= 0, and index, "
            f"a GPU number >= 0; found t={row.get('t')!r}, index={index!r})"
        )
    return t, index, row


def reading_from_trace(row: Mapping[str, Any], label: str, now: float) -> GpuReading:
    """A reading from one trace row (whose ``index`` ``load_trace`` checked), timed ``now``."""
    found = (GpuProcess.parse(p.get("pid"), p.get("used")) for p in mappings(row.get("procs")))
    return GpuReading(
        index=row["index"],
        name=text_or_none(row.get("name")),
        util=non_negative_float(row.get("util")),
        mem_util=non_negative_float(row.get("mem_util")),
        mem_used=non_negative_int(row.get("mem_used")),
        mem_total=non_negative_int(row.get("mem_total")),
        power_w=watts(row.get("power_mw")),
        power_limit_w=watts(row.get("power_limit_mw")),
        temp_c=non_negative_float(row.get("temp_c")),
        sm_clock=non_negative_int(row.get("sm_clock")),
        procs=tuple(p for p in found if p is not None),
        source=label,
        time=now,
    )


def trace_row(reading: GpuReading, t: float) -> dict[str, Any]:
    """The trace line that ``reading_from_trace`` reads back as ``reading`` (power in mW)."""
    return {
        "t": t,
        "index": reading.index,
        "name": reading.name,
        "util": reading.util,
        "mem_util": reading.mem_util,
        "mem_used": reading.mem_used,
        "mem_total": reading.mem_total,
        "power_mw": None if reading.power_w is None else round(reading.power_w * 1000),
        "power_limit_mw": (
            None if reading.power_limit_w is None else round(reading.power_limit_w * 1000)
        ),
        "temp_c": reading.temp_c,
        "sm_clock": reading.sm_clock,
        "procs": [{"pid": p.pid, "used": p.used_bytes} for p in reading.procs],
    }
