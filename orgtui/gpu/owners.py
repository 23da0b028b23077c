"""Who owns each GPU process: the agent whose pane's process tree holds its pid.

The pane trees come from ``orgtui.procs`` (the one psutil user); this module only matches
NVML's pids against them and flags what is out of place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orgtui import procs
from orgtui.gpu.records import GpuReading, GpuSample, ProcessOwner


def map_processes(
    readings: Iterable[GpuReading],
    agent_pids: Mapping[str, int],
    agent_gpus: Mapping[str, int | None],
) -> list[ProcessOwner]:
    """Each GPU process with the agent whose pane tree holds it, flagged when out of place."""
    readings = list(readings)
    if not any(reading.procs for reading in readings):
        return []  # no process table walk on an idle machine
    owners = procs.owners(agent_pids)
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


def describe_flags(sample: GpuSample) -> list[str]:
    """One line per out-of-place GPU process, for ``orgtui status`` and the TUI."""
    lines = []
    for owner in sample.owners:
        if owner.flag == "unowned":
            lines.append(f"GPU {owner.gpu}: pid {owner.pid} belongs to no agent")
        elif owner.flag == "wrong_gpu":
            lines.append(f"GPU {owner.gpu}: pid {owner.pid} of {owner.agent} (pinned elsewhere)")
    return lines
