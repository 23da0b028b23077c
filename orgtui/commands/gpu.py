"""``orgtui gpus``: each GPU, how busy it is, and which agent owns each process on it.

Also ``check_gpus``, the printing half of the GPU assignment check that ``check`` and ``up``
run (``orgtui.gpu.assignment`` finds the problems; this says them).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orgtui.commands import add_parser, load_org

if TYPE_CHECKING:
    from rich.console import Console

    from orgtui.config import OrgConfig
    from orgtui.gpu import GpuSample

FRESH_PERIODS = 3.0
"""A ring sample younger than this many sample periods counts as "a supervisor is sampling"."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "gpus", "GPU utilisation, memory, power and owning agents")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=cmd_gpus)


def current_sample(args: argparse.Namespace) -> tuple[GpuSample, str]:
    """The supervisor's latest sample when it is fresh, else a direct reading of the source."""
    from orgtui.gpu import GpuSample, latest_sample, map_processes, open_source
    from orgtui.paths import OrgPaths
    from orgtui.supervisor.state import load_state

    config = load_org(args)
    paths = OrgPaths(config.root)
    now = time.time()
    latest = latest_sample(paths)
    if latest is not None and now - latest.time <= max(
        FRESH_PERIODS * config.gpu.sample_every_s, 5.0
    ):
        return latest, "supervisor"
    seats = load_state(paths).seats
    pids = {name: seat.pane_pid for name, seat in seats.items() if seat.pane_pid}
    gpus = {spec.name: spec.gpu for spec in config.agents}
    source = open_source(config.gpu, config.root)
    try:
        readings = source.devices()
    finally:
        source.close()
    owners = map_processes(readings, pids, gpus)
    return GpuSample(now, source.label, tuple(readings), tuple(owners)), "direct"


def check_gpus(config: OrgConfig, say: Callable[[str], object] = print) -> bool:
    """Say each GPU assignment problem (warnings, then errors); False when any is an error."""
    from orgtui.gpu import GpuError, assignment_report, open_source

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


def cmd_gpus(args: argparse.Namespace) -> int:
    sample, origin = current_sample(args)
    if args.json:
        data: dict[str, Any] = sample.to_json()
        data["from"] = origin
        print(json.dumps(data, indent=2))
        return 0
    render(sample, origin)
    return 0


def render_text(sample: GpuSample, origin: str) -> str:
    """``orgtui gpus`` as it prints into a pipe (the ``gpus`` tool)."""
    import io

    from rich.console import Console

    out = io.StringIO()
    render(sample, origin, Console(file=out, width=160))
    return out.getvalue()


def render(sample: GpuSample, origin: str, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()  # names and sources come from sample files: Text, never markup
    title = f"GPUs — {sample.source}" + (
        " (recorded trace, not this machine)" if sample.source == "replay" else ""
    )
    if not sample.gpus:
        console.print(Text.assemble((sample.source, "bold"), ": no GPU telemetry on this machine"))
        return
    table = Table(title=Text(title), caption=Text(f"from {origin}"))
    for column in ("gpu", "name", "util", "memory", "power", "temp", "processes"):
        table.add_column(column)
    for gpu in sample.gpus:
        owners = [o for o in sample.owners if o.gpu == gpu.index]
        procs = [
            Text(f"{o.pid} {o.agent or '?'} {_size(o.used)}")
            + Text(f" {o.flag}" if o.flag else "", "red")
            for o in owners
        ] or [Text("-")]
        table.add_row(
            str(gpu.index),
            Text(gpu.name or "n/a"),
            _bar(gpu.util),
            f"{_size(gpu.mem_used)} / {_size(gpu.mem_total)}",
            _power(gpu.power_w, gpu.power_limit_w),
            "n/a" if gpu.temp_c is None else f"{gpu.temp_c:.0f}C",
            Text("\n").join(procs),
        )
    console.print(table)


def _bar(util: float | None, width: int = 10) -> str:
    if util is None:
        return "n/a"
    filled = round(max(0.0, min(100.0, util)) / 100 * width)
    colour = "green" if util < 50 else "yellow" if util < 85 else "red"
    return f"[{colour}]{'█' * filled}[/]{'░' * (width - filled)} {util:3.0f}%"


def _size(value: int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 2**30:.1f}G"


def _power(power: float | None, limit: float | None) -> str:
    if power is None:
        return "n/a"
    return f"{power:.0f}W" + ("" if limit is None else f" / {limit:.0f}W")
