"""NvmlSource against a stand-in pynvml module: a refused call is None, never a crash."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from orgtui.gpu import GpuError, NvmlSource


class NVMLError(Exception):
    pass


def fake_pynvml(*, init_fails: bool = False) -> types.ModuleType:
    """Two GPUs; GPU 1's driver refuses power, temperature and the process list."""
    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError  # type: ignore[attr-defined]
    module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    module.NVML_CLOCK_SM = 1  # type: ignore[attr-defined]
    module.shutdowns = 0  # type: ignore[attr-defined]

    def init() -> None:
        if init_fails:
            raise NVMLError("Driver Not Loaded")

    def refuse_on_1(value: object):
        def call(handle: int, *args: object) -> object:
            if handle == 1:
                raise NVMLError("Not Supported")
            return value

        return call

    def shutdown() -> None:
        module.shutdowns += 1  # type: ignore[attr-defined]

    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    module.nvmlDeviceGetName = lambda h: b"Fake H100"  # type: ignore[attr-defined]
    module.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=97, memory=40)  # type: ignore[attr-defined]
    module.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used=2**30, total=80 * 2**30)  # type: ignore[attr-defined]
    module.nvmlDeviceGetPowerUsage = refuse_on_1(350_000)  # type: ignore[attr-defined]
    module.nvmlDeviceGetEnforcedPowerLimit = refuse_on_1(700_000)  # type: ignore[attr-defined]
    module.nvmlDeviceGetTemperature = refuse_on_1(61)  # type: ignore[attr-defined]
    module.nvmlDeviceGetClockInfo = lambda h, kind: 1980  # type: ignore[attr-defined]
    module.nvmlDeviceGetComputeRunningProcesses = refuse_on_1(  # type: ignore[attr-defined]
        [SimpleNamespace(pid=4242, usedGpuMemory=123), SimpleNamespace(pid=7, usedGpuMemory=None)]
    )
    return module


def test_refused_calls_become_none(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", module)
    source = NvmlSource()
    first, second = source.devices()
    assert first.name == "Fake H100" and first.util == 97 and first.mem_util == 40
    assert first.power_w == 350.0 and first.power_limit_w == 700.0 and first.temp_c == 61
    assert first.sm_clock == 1980 and first.source == "nvml"
    assert [(p.pid, p.used_bytes) for p in first.procs] == [(4242, 123), (7, None)]
    assert second.util == 97
    assert second.power_w is None and second.power_limit_w is None and second.temp_c is None
    assert second.procs == ()
    source.close()
    source.close()
    assert module.shutdowns == 1  # type: ignore[attr-defined]


def test_init_failure_is_a_gpu_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(init_fails=True))
    with pytest.raises(GpuError, match="Driver Not Loaded"):
        NvmlSource()


def test_odd_driver_answers_become_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """NVML's "not available" (2**64 - 1), strings, negatives and pid-less entries."""
    module = fake_pynvml()
    module.nvmlDeviceGetName = lambda h: 42  # type: ignore[attr-defined]
    module.nvmlDeviceGetPowerUsage = lambda h: "350"  # type: ignore[attr-defined]
    module.nvmlDeviceGetEnforcedPowerLimit = lambda h: -1  # type: ignore[attr-defined]
    module.nvmlDeviceGetTemperature = lambda h, kind: float("nan")  # type: ignore[attr-defined]
    module.nvmlDeviceGetComputeRunningProcesses = lambda h: [  # type: ignore[attr-defined]
        SimpleNamespace(pid=11, usedGpuMemory=2**64 - 1),
        SimpleNamespace(usedGpuMemory=5),
        SimpleNamespace(pid=-3, usedGpuMemory=5),
    ]
    monkeypatch.setitem(sys.modules, "pynvml", module)
    first, _ = NvmlSource().devices()
    assert first.name is None and first.power_w is None and first.power_limit_w is None
    assert first.temp_c is None and first.util == 97
    assert [(p.pid, p.used_bytes) for p in first.procs] == [(11, None)]
