"""Do the agents' ``gpu = N`` in org.toml fit the GPUs this machine has? Pure: returns lines.

``check``, ``up`` and the supervisor print the lines (``orgtui.commands.gpu.check_gpus``);
nothing here prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orgtui.config import OrgConfig
    from orgtui.gpu.sources import GpuSource


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
