"""Where readings come from: the ``GpuSource`` protocol, ``NoGpu``, and ``open_source``.

Three sources share one protocol: ``NvmlSource`` (the real machine, ``nvml.py``),
``ReplaySource`` (a recorded trace, ``replay.py``) and ``NoGpu``. ``[gpu] source`` in
org.toml picks one; ``auto`` falls back to ``NoGpu`` when NVML does not start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orgtui.gpu.records import GpuError

if TYPE_CHECKING:
    from orgtui.config import GpuSpec
    from orgtui.gpu.records import GpuReading


class GpuSource(Protocol):
    """Where readings come from. ``name`` is nvml/replay/none; ``label`` is shown on screen."""

    name: str
    label: str

    def devices(self) -> list[GpuReading]: ...

    def close(self) -> None: ...


class NoGpu:
    """No GPU on this machine (or telemetry turned off): no devices, never invented numbers."""

    name = "none"
    label = "no GPU"

    def devices(self) -> list[GpuReading]:
        return []

    def close(self) -> None:
        pass


def open_source(spec: GpuSpec | str, root: Path | str) -> GpuSource:
    """The source ``[gpu] source`` names: auto (NVML if it initialises, else NoGpu), nvml,
    none, or ``replay:PATH`` (PATH relative to the org root)."""
    # imported here: only the source asked for is loaded (NVML loads a driver library)
    from orgtui.gpu.nvml import NvmlSource
    from orgtui.gpu.replay import ReplaySource

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
