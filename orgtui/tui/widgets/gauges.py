"""Text gauges: small enough for 64 cards, drawn from rich Text rather than by hand-placed cells."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from orgtui.snapshot import smooth

if TYPE_CHECKING:
    from orgtui.views import GpuView

BAR_WIDTH = 10


def bar(fraction: float | None, width: int = BAR_WIDTH) -> Text:
    """``▇▇▇▇░░░░░░`` coloured by load; dashes when the value is unknown."""
    if fraction is None:
        return Text("─" * width, style="dim")
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    colour = "green" if fraction < 0.5 else "yellow" if fraction < 0.85 else "red"
    return Text("▇" * filled, style=colour) + Text("░" * (width - filled), style="dim")


def gpu_gauge(gpu: int | None, view: GpuView | None, source: str) -> Text:
    """Two lines: ``GPU0 · 350W · replay`` then utilisation and memory bars.

    With nothing to show it says why (no GPU assigned, no GPU on this machine, no sample yet)
    instead of drawing zeros.
    """
    if gpu is None:
        return Text("no GPU assigned\n", style="dim")
    if view is None:
        return Text(
            f"GPU{gpu} " + ("no GPU" if source == "none" else "no sample yet") + "\n", style="dim"
        )
    mem = view.mem_used / view.mem_total if view.mem_used is not None and view.mem_total else None
    util = view.util / 100.0 if view.util is not None else None
    text = Text(f"GPU{gpu}", style="bold")
    if view.power_w is not None:
        text += Text(f" · {view.power_w:.0f}W")
    if view.source == "replay":
        text += Text(" · replay (recorded trace)", style="italic magenta")
    text += (
        Text("\nutil ")
        + bar(util)
        + Text(f" {_pct(util)}  mem ")
        + bar(mem)
        + Text(f" {_pct(mem)}")
    )
    return text


def _pct(fraction: float | None) -> str:
    return " n/a" if fraction is None else f"{fraction * 100:3.0f}%"


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float, ...] | list[float], width: int) -> Text:
    """All ``values`` in at most ``width`` block characters (averaged down, never cut to the
    tail), scaled between their min and max."""
    if not values:
        return Text("─" * width, style="dim")
    shown = smooth(list(values), width)
    low, high = min(shown), max(shown)
    span = (high - low) or 1.0
    chars = "".join(SPARK[round((v - low) / span * (len(SPARK) - 1))] for v in shown)
    return Text(chars, style="green")
