"""GPU telemetry, split like nvitop's ``api/``: nothing here prints, nothing here crashes.

- ``records``: ``GpuReading``, ``GpuProcess``, ``ProcessOwner``, ``GpuSample``; hostile
  values read back as None ("n/a"), never as invented numbers.
- ``sources``: the ``GpuSource`` protocol, ``NoGpu``, ``open_source``; ``nvml`` (the only
  pynvml user) and ``replay`` (recorded traces) are the other two sources.
- ``owners``: which agent's pane holds each GPU process (through ``orgtui.procs``).
- ``samples``: the ``.org/gpu.jsonl`` ring, written by ``GpuSampler`` in the supervisor,
  read by the TUI and ``orgtui gpus``; ``hours``: GPU-hours per agent.
- ``assignment``: whether org.toml's ``gpu = N`` fit this machine, as lines to print.
"""

from orgtui.gpu.assignment import assignment_report, check_assignment
from orgtui.gpu.hours import BUSY_UTIL, gpu_hours
from orgtui.gpu.nvml import NvmlSource
from orgtui.gpu.owners import describe_flags, map_processes
from orgtui.gpu.records import GpuProcess, GpuReading, GpuSample, ProcessOwner
from orgtui.gpu.replay import ReplaySource
from orgtui.gpu.samples import GpuSampler, latest_sample, read_samples
from orgtui.gpu.sources import GpuError, GpuSource, NoGpu, open_source

__all__ = [
    "BUSY_UTIL",
    "GpuError",
    "GpuProcess",
    "GpuReading",
    "GpuSample",
    "GpuSampler",
    "GpuSource",
    "NoGpu",
    "NvmlSource",
    "ProcessOwner",
    "ReplaySource",
    "assignment_report",
    "check_assignment",
    "describe_flags",
    "gpu_hours",
    "latest_sample",
    "map_processes",
    "open_source",
    "read_samples",
]
