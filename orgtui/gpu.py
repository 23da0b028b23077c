"""GPU telemetry: where readings come from, who owns each GPU process, and the sample ring.

The only module that imports pynvml. Like nvitop's ``api/``, every NVML call may fail on some
driver or GPU: a failure becomes ``None`` ("n/a" on screen), never a crash and never an
invented number. Three sources share one protocol:

- ``NvmlSource``: the real machine.
- ``ReplaySource``: plays a JSONL trace (one NVML reading a line, the format of
  ``tests/fixtures/nvml_h100_trace.jsonl``), looping; always labelled "replay".
- ``NoGpu``: no devices; the gauges say "no GPU".

The supervisor calls ``GpuSampler.tick`` every loop; the TUI and ``orgtui gpus`` read the
ring back with ``read_samples``; the ledger reads ``gpu_hours``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orgtui.atomic import append_line, atomic_write_json, atomic_write_text
from orgtui.errors import OrgtuiError

if TYPE_CHECKING:
    from orgtui.config import GpuSpec, OrgConfig
    from orgtui.paths import OrgPaths

BUSY_UTIL = 5.0
"""A GPU counts as busy (GPU-hours accrue) above this utilisation, percent."""


class GpuError(OrgtuiError):
    """A GPU source cannot be opened (bad replay trace, NVML asked for but missing)."""


@dataclass(frozen=True)
class GpuProcess:
    """A compute process on a GPU and the device memory it holds (bytes, None if unknown)."""

    pid: int
    used_bytes: int | None = None


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
    def from_json(cls, data: Mapping[str, Any]) -> GpuReading:
        procs = tuple(
            GpuProcess(int(p["pid"]), _opt_int(p.get("used_bytes")))
            for p in data.get("procs") or ()
            if isinstance(p, Mapping) and isinstance(p.get("pid"), int)
        )
        return cls(
            index=int(data["index"]),
            name=data.get("name"),
            util=_opt_float(data.get("util")),
            mem_util=_opt_float(data.get("mem_util")),
            mem_used=_opt_int(data.get("mem_used")),
            mem_total=_opt_int(data.get("mem_total")),
            power_w=_opt_float(data.get("power_w")),
            power_limit_w=_opt_float(data.get("power_limit_w")),
            temp_c=_opt_float(data.get("temp_c")),
            sm_clock=_opt_int(data.get("sm_clock")),
            procs=procs,
            source=str(data.get("source") or "nvml"),
            time=float(data.get("time") or 0.0),
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
    def from_json(cls, data: Mapping[str, Any]) -> ProcessOwner:
        return cls(
            gpu=int(data["gpu"]),
            pid=int(data["pid"]),
            used=_opt_int(data.get("used")),
            agent=data.get("agent"),
            flag=data.get("flag"),
        )


@dataclass(frozen=True)
class GpuSample:
    """One line of ``.org/gpu.jsonl``: every GPU plus the process owners at time ``time``."""

    time: float
    source: str
    gpus: tuple[GpuReading, ...] = ()
    owners: tuple[ProcessOwner, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.time,
            "source": self.source,
            "gpus": [g.to_json() for g in self.gpus],
            "owners": [o.to_json() for o in self.owners],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GpuSample:
        return cls(
            time=float(data["t"]),
            source=str(data.get("source") or ""),
            gpus=tuple(GpuReading.from_json(g) for g in data.get("gpus") or ()),
            owners=tuple(ProcessOwner.from_json(o) for o in data.get("owners") or ()),
        )

    def gpu(self, index: int) -> GpuReading | None:
        return next((g for g in self.gpus if g.index == index), None)


class GpuSource(Protocol):
    """Where readings come from. ``name`` is nvml/replay/none; ``label`` is shown on screen."""

    name: str
    label: str

    def devices(self) -> list[GpuReading]: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- NoGpu


class NoGpu:
    """No GPU on this machine (or telemetry turned off): no devices, never invented numbers."""

    name = "none"
    label = "no GPU"

    def devices(self) -> list[GpuReading]:
        return []

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- NVML


class NvmlSource:
    """Live readings from NVML; each field that NVML refuses on this driver becomes None."""

    name = "nvml"
    label = "nvml"

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError as error:
            raise GpuError("pynvml is not installed (pip install nvidia-ml-py)") from error
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            raise GpuError(f"NVML did not initialise: {error}") from error
        self._nvml = pynvml
        self._closed = False
        count = _safe(pynvml.nvmlDeviceGetCount)
        self._handles = [
            _safe(pynvml.nvmlDeviceGetHandleByIndex, index) for index in range(count or 0)
        ]

    def devices(self) -> list[GpuReading]:
        nvml = self._nvml
        now = time.time()
        readings = []
        for index, handle in enumerate(self._handles):
            if handle is None:
                readings.append(GpuReading(index=index, source=self.label, time=now))
                continue
            rates = _safe(nvml.nvmlDeviceGetUtilizationRates, handle)
            memory = _safe(nvml.nvmlDeviceGetMemoryInfo, handle)
            power = _safe(nvml.nvmlDeviceGetPowerUsage, handle)
            limit = _safe(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
            name = _safe(nvml.nvmlDeviceGetName, handle)
            if isinstance(name, bytes):
                name = name.decode(errors="replace")
            procs = _safe(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
            readings.append(
                GpuReading(
                    index=index,
                    name=name,
                    util=_opt_float(getattr(rates, "gpu", None)),
                    mem_util=_opt_float(getattr(rates, "memory", None)),
                    mem_used=_opt_int(getattr(memory, "used", None)),
                    mem_total=_opt_int(getattr(memory, "total", None)),
                    power_w=None if power is None else power / 1000.0,
                    power_limit_w=None if limit is None else limit / 1000.0,
                    temp_c=_opt_float(
                        _safe(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
                    ),
                    sm_clock=_opt_int(
                        _safe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
                    ),
                    procs=tuple(
                        GpuProcess(int(p.pid), _opt_int(getattr(p, "usedGpuMemory", None)))
                        for p in procs
                    ),
                    source=self.label,
                    time=now,
                )
            )
        return readings

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _safe(self._nvml.nvmlShutdown)


def _safe(call: Callable[..., Any], *args: Any) -> Any:
    """Call an NVML function; None when this driver or GPU does not support it."""
    try:
        return call(*args)
    except Exception:  # NVMLError and its many subclasses; also odd driver failures
        return None


# --------------------------------------------------------------------------- replay


class ReplaySource:
    """Plays a recorded NVML trace, looping, always labelled "replay".

    The trace is JSONL, one GPU reading a line (``t``, ``index``, ``name``, ``util``,
    ``mem_util``, ``mem_used``, ``mem_total``, ``power_mw``, ``power_limit_mw``, ``temp_c``,
    ``sm_clock``, ``procs``: [{pid, used}]). Consecutive lines with rising indexes (0, 1, 2 ...)
    form one frame, timed by its first line.

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
        if speed <= 0:
            raise GpuError(f"replay speed must be positive, found {speed}")
        self.loop = loop
        self.speed = speed
        self.by_call = by_call
        self._clock = clock
        self._frames = _load_trace(self.path)
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
        return [_reading_from_trace(row, self.label, now) for row in rows]

    def close(self) -> None:
        pass


def _load_trace(path: Path) -> list[tuple[float, list[dict[str, Any]]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GpuError(f"{path}: cannot read replay trace ({error.strerror})") from error
    frames: list[tuple[float, list[dict[str, Any]]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            t = float(row["t"])
            index = int(row["index"])
        except (ValueError, KeyError, TypeError) as error:
            raise GpuError(
                f"{path}:{number}: not a GPU trace line (needs t and index): {error}"
            ) from error
        if frames and index > max(int(r["index"]) for r in frames[-1][1]):
            frames[-1][1].append(row)  # the next GPU of the same frame
            continue
        frames.append((t, [row]))
    if not frames:
        raise GpuError(f"{path}: replay trace is empty")
    return frames


def _reading_from_trace(row: Mapping[str, Any], label: str, now: float) -> GpuReading:
    power = _opt_float(row.get("power_mw"))
    limit = _opt_float(row.get("power_limit_mw"))
    return GpuReading(
        index=int(row["index"]),
        name=row.get("name"),
        util=_opt_float(row.get("util")),
        mem_util=_opt_float(row.get("mem_util")),
        mem_used=_opt_int(row.get("mem_used")),
        mem_total=_opt_int(row.get("mem_total")),
        power_w=None if power is None else power / 1000.0,
        power_limit_w=None if limit is None else limit / 1000.0,
        temp_c=_opt_float(row.get("temp_c")),
        sm_clock=_opt_int(row.get("sm_clock")),
        procs=tuple(
            GpuProcess(int(p["pid"]), _opt_int(p.get("used")))
            for p in row.get("procs") or ()
            if isinstance(p, Mapping) and isinstance(p.get("pid"), int)
        ),
        source=label,
        time=now,
    )


# --------------------------------------------------------------------------- choosing


def open_source(spec: GpuSpec | str, root: Path | str) -> GpuSource:
    """The source ``[gpu] source`` names: auto (NVML if it initialises, else NoGpu), nvml,
    none, or ``replay:PATH`` (PATH relative to the org root)."""
    source = spec if isinstance(spec, str) else spec.source
    if source == "none":
        return NoGpu()
    if source == "auto":
        try:
            return NvmlSource()
        except GpuError:
            return NoGpu()
    if source == "nvml":
        return NvmlSource()
    if source.startswith("replay:"):
        trace = Path(source.removeprefix("replay:")).expanduser()
        if not trace.is_absolute():
            trace = Path(root) / trace
        return ReplaySource(trace)
    raise GpuError(f"[gpu] source: found {source!r}; allowed: auto, nvml, none, replay:PATH")


# --------------------------------------------------------------------------- assignment


def assignment_report(config: OrgConfig, source: GpuSource) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the agents' GPU indexes against what ``source`` reports.

    A missing index is an error only on a real machine (NVML with devices). Without a GPU,
    or with a replay trace standing in for one, the same finding is a warning: the org can
    still run (a demo replays one GPU for many agents).
    """
    indexes = {reading.index for reading in source.devices()}
    errors: list[str] = []
    warnings: list[str] = []
    real = source.name == "nvml" and bool(indexes)
    for spec in config.agents:
        if spec.gpu is None or spec.gpu in indexes:
            continue
        if not indexes:
            warnings.append(
                f"agent {spec.name!r}: gpu = {spec.gpu}, but {source.label} is available here; "
                "it will run without telemetry"
            )
            continue
        have = ", ".join(str(i) for i in sorted(indexes))
        problem = (
            f"agent {spec.name!r}: gpu = {spec.gpu}, but this machine has GPU {have} "
            f'({source.label}); set gpu to one of those, or fewer agents with gpus = "auto"'
        )
        (errors if real else warnings).append(problem)
    return errors, warnings


def check_assignment(config: OrgConfig, source: GpuSource) -> list[str]:
    """Errors that must stop ``check``/``up``: GPU indexes the machine does not have."""
    return assignment_report(config, source)[0]


# --------------------------------------------------------------------------- owners


def process_trees(agent_pids: Mapping[str, int]) -> dict[int, str]:
    """pid -> agent, for every pane pid and all its descendants (psutil)."""
    import psutil

    owners: dict[int, str] = {}
    for agent, pane_pid in agent_pids.items():
        try:
            root = psutil.Process(int(pane_pid))
            tree = [root, *root.children(recursive=True)]
        except (psutil.Error, ValueError, TypeError):
            continue
        for process in tree:
            owners.setdefault(process.pid, agent)
    return owners


def map_processes(
    readings: Iterable[GpuReading],
    agent_pids: Mapping[str, int],
    agent_gpus: Mapping[str, int | None],
) -> list[ProcessOwner]:
    """Each GPU process with the agent whose pane tree holds it, flagged when out of place."""
    readings = list(readings)
    if not any(reading.procs for reading in readings):
        return []
    owners = process_trees(agent_pids)
    result = []
    for reading in readings:
        for proc in reading.procs:
            agent = owners.get(proc.pid)
            if agent is None:
                flag: str | None = "unowned"
            elif agent_gpus.get(agent) != reading.index:
                flag = "wrong_gpu"
            else:
                flag = None
            result.append(ProcessOwner(reading.index, proc.pid, proc.used_bytes, agent, flag))
    return result


# --------------------------------------------------------------------------- sampler


class GpuSampler:
    """Samples a source into the ``.org/gpu.jsonl`` ring and accrues GPU-hours per agent.

    The ring holds about ``history_s / every_s`` samples; it is appended to line by line and
    rewritten atomically (newest samples kept) once it passes 1.25x that. GPU-hours: the time
    between two samples counts for an agent when its GPU was above ``BUSY_UTIL``; gaps longer
    than three sample periods (supervisor down) count as one period at most.
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
        self._accrue(now, sample, agent_gpus)
        self.last_time = now
        self.last = sample
        self._append(sample)
        return sample

    def _accrue(self, now: float, sample: GpuSample, agent_gpus: Mapping[str, int | None]) -> None:
        if self.last_time is None:
            return
        span = min(now - self.last_time, 3 * self.every_s)
        if span <= 0:
            return
        changed = False
        for agent, index in agent_gpus.items():
            if index is None:
                continue
            reading = sample.gpu(index)
            if reading is None or reading.util is None or reading.util <= BUSY_UTIL:
                continue
            self.hours[agent] = self.hours.get(agent, 0.0) + span / 3600.0
            changed = True
        if changed:
            self.paths.org_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(_hours_file(self.paths), dict(sorted(self.hours.items())))

    def _append(self, sample: GpuSample) -> None:
        target = self.paths.gpu_samples
        target.parent.mkdir(parents=True, exist_ok=True)
        append_line(target, json.dumps(sample.to_json(), separators=(",", ":")))
        self._lines += 1
        if self._lines > self.capacity * 1.25:
            keep = target.read_text(encoding="utf-8").splitlines()[-self.capacity :]
            atomic_write_text(target, "".join(line + "\n" for line in keep))
            self._lines = len(keep)

    def close(self) -> None:
        self.source.close()


def _hours_file(paths: OrgPaths) -> Path:
    return paths.org_dir / "gpu_hours.json"


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 16), b""))
    except OSError:
        return 0


def _end_torn_line(path: Path) -> None:
    """A crash mid-append leaves a line without its newline: end it so the next is whole."""
    try:
        with path.open("rb") as handle:
            handle.seek(-1, 2)
            torn = handle.read(1) != b"\n"
    except OSError:
        return
    if torn:
        with path.open("ab") as handle:
            handle.write(b"\n")


def read_samples(paths: OrgPaths, last_n: int | None = None) -> list[GpuSample]:
    """Samples from the ring, oldest first (the newest ``last_n`` only, read from the end).

    Torn or corrupt lines are skipped: the reader never fails because the writer is mid-line.
    """
    target = paths.gpu_samples
    try:
        if last_n is None:
            lines = target.read_bytes().splitlines()
        else:
            if last_n <= 0:
                return []
            lines = _tail_lines(target, last_n + 1)
    except OSError:
        return []
    samples = []
    for line in lines:
        try:
            samples.append(GpuSample.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return samples if last_n is None else samples[-last_n:]


def latest_sample(paths: OrgPaths) -> GpuSample | None:
    samples = read_samples(paths, last_n=1)
    return samples[-1] if samples else None


def _tail_lines(path: Path, count: int) -> list[bytes]:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        end = handle.tell()
        data = b""
        block = 1 << 16
        while end > 0 and data.count(b"\n") <= count:
            start = max(0, end - block)
            handle.seek(start)
            data = handle.read(end - start) + data
            end = start
    lines = data.splitlines()
    return lines[-count:]


def gpu_hours(paths: OrgPaths) -> dict[str, float]:
    """Busy GPU-hours per agent accumulated by the sampler (empty if none yet)."""
    try:
        data = json.loads(_hours_file(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def check_gpus(config: OrgConfig, say: Callable[[str], object] = print) -> bool:
    """For ``check``/``up``: print GPU assignment problems; False when any is an error."""
    try:
        source = open_source(config.gpu, config.root)
    except GpuError as error:
        say(f"error: {error}")
        return False
    try:
        errors, warnings = assignment_report(config, source)
    finally:
        source.close()
    for problem in warnings:
        say(f"warning: {problem}")
    for problem in errors:
        say(f"error: {problem}")
    return not errors


def describe_flags(sample: GpuSample) -> list[str]:
    """One line per out-of-place GPU process, for ``orgtui status`` and the TUI."""
    lines = []
    for owner in sample.owners:
        if owner.flag == "unowned":
            lines.append(f"GPU {owner.gpu}: pid {owner.pid} belongs to no agent")
        elif owner.flag == "wrong_gpu":
            lines.append(f"GPU {owner.gpu}: pid {owner.pid} of {owner.agent} (pinned elsewhere)")
    return lines
