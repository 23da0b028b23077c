"""Live readings from NVML: the only module that imports pynvml.

Like nvitop's ``api/``, every NVML call may fail on some driver or GPU: a failure becomes
None ("n/a" on screen), never a crash and never an invented number. pynvml is imported when
a source is opened, so a machine without it still imports the rest of ``orgtui.gpu``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orgtui.gpu.records import (
    GpuError,
    GpuProcess,
    GpuReading,
    non_negative_float,
    non_negative_int,
    watts,
)


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
        count = non_negative_int(_safe(pynvml.nvmlDeviceGetCount)) or 0
        self._handles = [_safe(pynvml.nvmlDeviceGetHandleByIndex, index) for index in range(count)]

    def devices(self) -> list[GpuReading]:
        now = time.time()
        return [
            self._reading(index, handle, now)
            if handle is not None
            else GpuReading(index=index, source=self.label, time=now)
            for index, handle in enumerate(self._handles)
        ]

    def _reading(self, index: int, handle: Any, now: float) -> GpuReading:
        nvml = self._nvml
        rates = _safe(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = _safe(nvml.nvmlDeviceGetMemoryInfo, handle)
        name = _safe(nvml.nvmlDeviceGetName, handle)
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        procs = _safe(nvml.nvmlDeviceGetComputeRunningProcesses, handle)
        return GpuReading(
            index=index,
            name=name if isinstance(name, str) else None,
            util=non_negative_float(getattr(rates, "gpu", None)),
            mem_util=non_negative_float(getattr(rates, "memory", None)),
            mem_used=non_negative_int(getattr(memory, "used", None)),
            mem_total=non_negative_int(getattr(memory, "total", None)),
            power_w=watts(_safe(nvml.nvmlDeviceGetPowerUsage, handle)),
            power_limit_w=watts(_safe(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)),
            temp_c=non_negative_float(
                _safe(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
            ),
            sm_clock=non_negative_int(
                _safe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
            ),
            procs=_processes(procs),
            source=self.label,
            time=now,
        )

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


def _processes(procs: Any) -> tuple[GpuProcess, ...]:
    """NVML's process list; entries without a usable pid are left out."""
    if not isinstance(procs, list | tuple):
        return ()
    found = (
        GpuProcess.parse(getattr(p, "pid", None), getattr(p, "usedGpuMemory", None)) for p in procs
    )
    return tuple(p for p in found if p is not None)
