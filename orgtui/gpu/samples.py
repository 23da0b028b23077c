"""The ``.org/gpu.jsonl`` ring: the supervisor's ``GpuSampler`` writes it, everyone reads it.

One JSON sample a line (every GPU plus the owner of each GPU process), appended line by line
and trimmed atomically to the newest samples once it passes 1.25x its capacity. The readers
(``read_samples``, ``latest_sample``) never raise and never block: torn, corrupt or hostile
lines are skipped, and a ring that is not a regular file reads as empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orgtui.atomic import append_line, atomic_write_bytes
from orgtui.gpu.files import is_regular_or_missing, open_regular, tail_lines
from orgtui.gpu.hours import MAX_GAP_PERIODS, accrue, gpu_hours, save_hours
from orgtui.gpu.owners import map_processes
from orgtui.gpu.records import GpuError, GpuSample

if TYPE_CHECKING:
    from pathlib import Path

    from orgtui.gpu.sources import GpuSource
    from orgtui.paths import OrgPaths


MAX_READ_BYTES = 64 << 20
"""Readers look at most this far back from the end of the ring (it is far smaller when
the sampler wrote it; a larger one was put there by someone else)."""


class GpuSampler:
    """Samples a source into the ``.org/gpu.jsonl`` ring and accrues GPU-hours per agent.

    The ring holds about ``history_s / every_s`` samples. GPU-hours: see ``orgtui.gpu.hours``.

    Raises:
        GpuError: the ring's path is taken by something that is not a regular file.
    """

    def __init__(
        self,
        paths: OrgPaths,
        source: GpuSource,
        every_s: float = 1.0,
        history_s: float = 3600.0,
    ) -> None:
        self.paths = paths
        self.source = source
        self.every_s = max(every_s, 0.001)
        self.capacity = max(1, math.ceil(history_s / self.every_s))
        self.last_time: float | None = None
        self.last: GpuSample | None = None
        _check_ring(paths.gpu_samples)
        self._lines = _count_lines(paths.gpu_samples)
        _end_torn_line(paths.gpu_samples)
        self.hours: dict[str, float] = gpu_hours(paths)

    def due(self, now: float) -> bool:
        return self.last_time is None or now - self.last_time >= self.every_s * 0.999

    def tick(
        self,
        now: float,
        agent_pids: Mapping[str, int],
        agent_gpus: Mapping[str, int | None],
    ) -> GpuSample | None:
        """Take a sample if one is due; returns it (None when not due)."""
        if not self.due(now):
            return None
        readings = self.source.devices()
        sample = GpuSample(
            time=now,
            source=self.source.label,
            gpus=tuple(readings),
            owners=tuple(map_processes(readings, agent_pids, agent_gpus)),
        )
        span = 0.0 if self.last_time is None else now - self.last_time
        busy = accrue(self.hours, min(span, MAX_GAP_PERIODS * self.every_s), sample, agent_gpus)
        self.last_time = now
        self.last = sample
        self._append(sample)
        if busy:
            save_hours(self.paths, self.hours)
        return sample

    def _append(self, sample: GpuSample) -> None:
        target = self.paths.gpu_samples
        _check_ring(target)
        append_line(target, json.dumps(sample.to_json(), separators=(",", ":")))
        self._lines += 1
        if self._lines > self.capacity * 1.25:
            keep = _read_lines(target, self.capacity)
            atomic_write_bytes(target, b"".join(line + b"\n" for line in keep))
            self._lines = len(keep)

    def close(self) -> None:
        self.source.close()


def read_samples(paths: OrgPaths, last_n: int | None = None) -> list[GpuSample]:
    """Samples from the ring, oldest first (the newest ``last_n`` only, read from the end).

    Torn or corrupt lines are skipped: the reader never fails because the writer is mid-line.
    """
    if last_n is not None and last_n <= 0:
        return []
    lines = _read_lines(paths.gpu_samples, None if last_n is None else last_n + 1)
    samples = [sample for sample in map(_parse, lines) if sample is not None]
    return samples if last_n is None else samples[-last_n:]


def latest_sample(paths: OrgPaths) -> GpuSample | None:
    samples = read_samples(paths, last_n=1)
    return samples[-1] if samples else None


def _parse(line: bytes) -> GpuSample | None:
    try:
        return GpuSample.from_json(json.loads(line))
    except (ValueError, RecursionError):  # torn, not JSON, not UTF-8, nested too deep
        return None


def _read_lines(path: Path, count: int | None) -> list[bytes]:
    """The ring's last ``count`` lines (all when None); empty when it cannot be read."""
    handle = open_regular(path)
    if handle is None:
        return []
    with handle:
        try:
            return tail_lines(handle, count, MAX_READ_BYTES)
        except OSError:
            return []


def _check_ring(path: Path) -> None:
    if not is_regular_or_missing(path):
        raise GpuError(
            f"{path}: not a regular file, so GPU samples cannot be kept there; remove it"
        )


def _count_lines(path: Path) -> int:
    handle = open_regular(path)
    if handle is None:
        return 0
    with handle:
        try:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 16), b""))
        except OSError:
            return 0


def _end_torn_line(path: Path) -> None:
    """A crash mid-append leaves a line without its newline: end it so the next is whole."""
    handle = open_regular(path)
    if handle is None:
        return
    with handle:
        try:
            handle.seek(-1, 2)
            torn = handle.read(1) != b"\n"
        except OSError:  # empty file
            return
    appender = open_regular(path, "ab") if torn else None
    if appender is not None:
        with appender:
            appender.write(b"\n")
