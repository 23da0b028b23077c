"""GPU-hours per agent: busy time on the agent's pinned GPU, kept in ``.org/gpu_hours.json``.

The time between two samples counts for an agent when its GPU was above ``BUSY_UTIL``; a gap
longer than three sample periods (the supervisor was down) counts as three periods at most,
so a restart never bills the hours nobody watched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orgtui.atomic import atomic_write_json
from orgtui.gpu.files import read_regular
from orgtui.gpu.records import GpuSample, non_negative_float

if TYPE_CHECKING:
    from orgtui.paths import OrgPaths

BUSY_UTIL = 5.0
"""A GPU counts as busy (GPU-hours accrue) above this utilisation, percent."""

MAX_GAP_PERIODS = 3
"""A gap between samples counts for at most this many sample periods."""

MAX_HOURS_BYTES = 1 << 20
"""A GPU-hours file larger than this is not one the sampler wrote: it reads as empty."""


def gpu_hours(paths: OrgPaths) -> dict[str, float]:
    """Busy GPU-hours per agent accumulated by the sampler (empty if none yet).

    Never raises: an unreadable or hostile file is empty, and a value that is not a finite
    number >= 0 is left out.
    """
    data = read_regular(paths.gpu_hours, MAX_HOURS_BYTES)
    if data is None:
        return {}
    try:
        table = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(table, dict):
        return {}
    hours = {str(agent): non_negative_float(value) for agent, value in table.items()}
    return {agent: value for agent, value in hours.items() if value is not None}


def accrue(
    hours: dict[str, float],
    span_s: float,
    sample: GpuSample,
    agent_gpus: Mapping[str, int | None],
) -> bool:
    """Add ``span_s`` seconds to each agent whose GPU is busy in ``sample``; True if any."""
    if not math.isfinite(span_s) or span_s <= 0:
        return False
    changed = False
    for agent, index in agent_gpus.items():
        reading = None if index is None else sample.gpu(index)
        if reading is None or reading.util is None or reading.util <= BUSY_UTIL:
            continue
        hours[agent] = hours.get(agent, 0.0) + span_s / 3600.0
        changed = True
    return changed


def save_hours(paths: OrgPaths, hours: Mapping[str, float]) -> None:
    """Replace ``.org/gpu_hours.json`` atomically."""
    atomic_write_json(paths.gpu_hours, dict(sorted(hours.items())))
