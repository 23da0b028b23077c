"""Idle GPUs: which GPUs did nothing for a while, and when to tell the chief about it.

A GPU counts as idle only when the samples show it: every reading of it over the window is
a number below the threshold, and the readings cover the whole window without a gap. A gap,
a reading that is missing or not a number, or no data at all is "don't know", never "idle":
a false alarm costs the chief's attention, a missed one only some GPU time.

Pure: the caller reads the samples (``read_samples``) and posts the notice; nothing here
touches a file or a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any

from orgtui.gpu.records import GpuSample

IDLE_UTIL_PCT = 5.0
"""Below this utilisation a GPU is doing nothing useful."""
MAX_GAP_S = 30.0
"""Readings further apart than this leave a hole in the record: the GPU is not known idle."""
REPEAT_S = 3600.0
"""An idle GPU the chief was told about is not reported again for this long."""


def idle_gpus(
    history: Sequence[GpuSample],
    now: float,
    idle_s: float,
    threshold_pct: float = IDLE_UTIL_PCT,
    max_gap_s: float = MAX_GAP_S,
) -> list[int]:
    """The GPUs whose utilisation stayed below ``threshold_pct`` for the last ``idle_s``
    seconds, in index order.

    The samples are walked from the newest back: a GPU's newest reading must be within
    ``max_gap_s`` of ``now``, each older one within ``max_gap_s`` of the next, and its
    unbroken run of low readings must reach back to ``now - idle_s``. The walk stops as soon
    as every GPU is decided, so busy GPUs cost one sample. Samples from the future (a clock
    set back) and samples without a time are left out.
    """
    if not (_finite(now) and _finite(idle_s) and _finite(max_gap_s) and _finite(threshold_pct)):
        return []
    walk = _Walk(now, now - max(0.0, idle_s), max(0.0, max_gap_s))
    for time, lows in _moments(history, now, threshold_pct):
        if walk.step(time, lows):
            break
    return sorted(walk.idle)


def _finite(value: object) -> bool:
    if not _number(value):
        return False
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a float
        return False


def _moments(
    history: Iterable[GpuSample], now: float, threshold: float
) -> Iterator[tuple[float, dict[int, bool]]]:
    """(time, GPU index -> whether every reading of it then was low), newest first."""
    kept = [s for s in history if _finite(s.time) and s.time <= now]  # not from the future
    kept.sort(key=lambda sample: sample.time, reverse=True)
    for time, samples in groupby(kept, key=lambda sample: sample.time):
        lows: dict[int, bool] = {}
        for sample in samples:
            for gpu in sample.gpus:
                lows[gpu.index] = lows.get(gpu.index, True) and _low(gpu.util, threshold)
        yield time, lows


class _Walk:
    """Each GPU's run of low readings, followed back in time one moment at a time."""

    def __init__(self, now: float, start: float, max_gap: float) -> None:
        self.now, self.start, self.max_gap = now, start, max_gap
        self.open: dict[int, float] = {}
        """GPUs low so far, with their oldest low reading yet."""
        self.decided: set[int] = set()
        self.idle: set[int] = set()

    def step(self, time: float, lows: dict[int, bool]) -> bool:
        """Take one moment's readings; True once nothing older can change the answer."""
        for index, low in lows.items():
            if index in self.decided:
                continue
            if not low or self.open.get(index, self.now) - time > self.max_gap:
                self._decide(index, idle=False)
            elif time <= self.start:
                self._decide(index, idle=True)
            else:
                self.open[index] = time
        for index in [i for i, oldest in self.open.items() if oldest - time > self.max_gap]:
            self._decide(index, idle=False)  # missing from the samples for too long
        return not self.open and self.now - time > self.max_gap

    def _decide(self, index: int, *, idle: bool) -> None:
        self.open.pop(index, None)
        self.decided.add(index)
        if idle:
            self.idle.add(index)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _low(util: Any, threshold: float) -> bool:
    """A known utilisation below ``threshold`` (NaN and infinities compare false)."""
    return _number(util) and 0.0 <= util < threshold


class IdleNotice:
    """When to tell the chief that GPUs sit idle while nothing waits in the queue.

    A notice is due when some idle GPU has not been reported in the last ``repeat_s``: the
    same GPUs are not reported again within the hour, a newly idle one is. The caller posts
    the text ``due`` returns; from then on it counts as reported. ``state()`` and
    ``restore()`` carry what was reported across a supervisor restart, so it is not
    reposted.
    """

    def __init__(
        self,
        idle_s: float,
        threshold_pct: float = IDLE_UTIL_PCT,
        repeat_s: float = REPEAT_S,
    ) -> None:
        self.idle_s = idle_s
        self.threshold_pct = threshold_pct
        self.repeat_s = repeat_s
        self.reported: dict[int, float] = {}
        """GPU index -> when it was last reported idle."""

    def due(self, now: float, idle: Iterable[int], queue_empty: bool) -> str | None:
        """The text of one message to the chief, or None when nothing new is to be said.

        Args:
            now: the time, in the clock the reports are kept in.
            idle: the GPUs idle for the whole window now (``idle_gpus``).
            queue_empty: no job waits in the queue (idle GPUs with jobs waiting are the
                scheduler's business, not the chief's).
        """
        gpus = sorted({i for i in idle if isinstance(i, int) and not isinstance(i, bool)})
        if not gpus or not queue_empty or not _finite(now):
            return None
        if all(self._recent(index, now) for index in gpus):
            return None
        for index in gpus:
            self.reported[index] = now
        return self.text(gpus)

    def _recent(self, index: int, now: float) -> bool:
        """Reported within ``repeat_s``; a report stamped in the future (the clock was set
        back) is not trusted to silence anything."""
        when = self.reported.get(index)
        return when is not None and 0.0 <= now - when < self.repeat_s

    def text(self, gpus: Sequence[int]) -> str:
        names = ", ".join(f"GPU {i}" for i in gpus)
        verb = "has" if len(gpus) == 1 else "have"
        return (
            f"{names} {verb} been idle (below {self.threshold_pct:g}% utilisation) for "
            f"{_minutes(self.idle_s)} and the queue is empty. Queue experiments to use "
            f"{'it' if len(gpus) == 1 else 'them'}: `orgtui run --no-wait ...`."
        )

    def state(self) -> dict[str, Any]:
        """What to keep across a restart (JSON-ready)."""
        return {"reported": {str(index): when for index, when in sorted(self.reported.items())}}

    def restore(self, state: object) -> None:
        """Take back ``state()``'s dict; entries that do not read as (GPU index, finite time)
        are dropped, so a hand-edited or corrupt file only risks one repeated notice."""
        reported = state.get("reported") if isinstance(state, Mapping) else None
        self.reported = {}
        if not isinstance(reported, Mapping):
            return
        for key, when in reported.items():
            if (
                isinstance(key, str)
                and key.isascii()
                and key.isdigit()
                and len(key) < 7
                and _finite(when)
            ):
                self.reported[int(key)] = float(when)


def _minutes(seconds: float) -> str:
    if not _finite(seconds):
        return "a while"
    minutes = max(0.0, seconds) / 60.0
    return f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:.1f} h"
