"""The ledger screen: variants with verdicts and flags, and the org's progress plot."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from orgtui.ledger.verdicts import VERDICT_STYLE
from orgtui.paths import OrgPaths
from orgtui.snapshot import compute_label
from orgtui.tui.widgets.keybar import KeyBar

COLUMNS = (
    ("variant", 16),
    ("seeds", 5),
    ("bpb mean ± sd", 17),
    ("at FLOPs", 9),
    ("FLOPs", 9),
    ("hours", 7),
    ("verdict", 14),
    ("flags", 36),
    ("agents", 14),
)


class LedgerScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [("escape", "app.pop_screen", "Back")]

    def __init__(self, paths: OrgPaths) -> None:
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        yield Static("Ledger", id="ledger-title", classes="panel-title")
        yield DataTable(id="ledger-table", cursor_type="row", zebra_stripes=True)
        yield PlotextPlot(id="progress-plot")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Fixed widths: the table does not jump when rows arrive from the worker.
        hours = self.hours_label.replace("-hours", "-h")
        for label, width in COLUMNS:
            table.add_column(hours if label == "hours" else label, width=width)
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from orgtui.ledger import Ledger

        ledger = Ledger.load(self.paths)
        rows, report = ledger.table(), ledger.report()
        self.app.call_from_thread(self.show, ledger.baseline, rows, report)

    @property
    def hours_label(self) -> str:
        """GPU-hours, or CPU-hours on a machine without GPUs."""
        snapshot = getattr(self.app, "snapshot", None)
        return compute_label(snapshot.gpu_source if snapshot else "nvml")

    def show(self, baseline: str | None, rows: list[Any], report: Any) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            verdict = "baseline" if row.variant == baseline else (row.verdict or "—")
            bpb = "—" if row.mean_bpb is None else f"{row.mean_bpb:.4f}"
            if row.sd_bpb:
                bpb += f" ± {row.sd_bpb:.4f}"
            table.add_row(
                row.variant,
                str(row.n_seeds),
                bpb,
                "—" if row.at_flops is None else f"{row.at_flops:.3g}",
                f"{row.flops:.3g}",
                f"{row.gpu_hours:.3f}",
                Text(verdict, style=VERDICT_STYLE.get(verdict, "bold")),
                Text(", ".join(row.flags), style="red" if row.flags else ""),
                ", ".join(row.agents),
            )
        best = (
            f"{report.best_improvement_bpb:.4f} bpb ({report.best_variant})"
            if report.best_improvement_bpb is not None
            else "none verified yet"
        )
        self.query_one("#ledger-title", Static).update(
            f"Ledger — baseline {baseline or 'not set'} · best verified improvement {best} · "
            f"{report.gpu_hours:.3f} {self.hours_label} · {len(rows)} variants"
        )
        plot = self.query_one(PlotextPlot).plt
        plot.clear_data()
        plot.title(f"best verified improvement (bpb) vs {self.hours_label}")
        if report.progress:
            plot.plot([p[0] for p in report.progress], [p[2] for p in report.progress])
        self.query_one(PlotextPlot).refresh()
