"""The ledger screen: variants with verdicts and flags, and the org's progress plot.

Adopting the selected variant shows the gate's verdict first (``AdoptDialog``); the check
and the adoption (a git merge) run in thread workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from orgtui.ledger.verdicts import VERDICT_STYLE
from orgtui.paths import OrgPaths
from orgtui.snapshot import compute_label
from orgtui.tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from orgtui.ledger.verdicts import Report
    from orgtui.tui.screens.dialogs import AdoptChoice

COLUMNS = (
    ("variant", 16),
    ("seeds", 5),
    ("metric", 17),
    ("at cost", 9),
    ("cost", 9),
    ("hours", 7),
    ("verdict", 14),
    ("flags", 36),
    ("agents", 14),
)
"""Column widths; the metric and cost columns are named by the org's measure ([ledger])."""


class LedgerScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding(
            "a",
            "adopt",
            "Adopt",
            id="ledger.adopt",
            tooltip="on the ledger screen: adopt the selected variant (shows the verdict first)",
        ),
    ]

    def __init__(self, paths: OrgPaths) -> None:
        super().__init__()
        self.paths = paths
        self.baseline: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Ledger", id="ledger-title", classes="panel-title")
        yield DataTable(id="ledger-table", cursor_type="row", zebra_stripes=True)
        yield PlotextPlot(id="progress-plot")
        yield KeyBar()

    def on_mount(self) -> None:
        from orgtui.ledger.measure import measure_of

        table = self.query_one(DataTable)
        # Fixed widths: the table does not jump when rows arrive from the worker.
        measure = measure_of(self.paths)
        cost = measure.cost_column
        names = {"metric": f"{measure.heading} mean ± sd", "at cost": f"at {cost}", "cost": cost}
        names["hours"] = self.hours_label.replace("-hours", "-h")
        for label, width in COLUMNS:
            table.add_column(names.get(label, label), width=width)
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

    def show(self, baseline: str | None, rows: list[Any], report: Report) -> None:
        self.baseline = baseline
        measure = report.measure
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            verdict = "baseline" if row.variant == baseline else (row.verdict or "—")
            table.add_row(
                row.variant,
                str(row.n_seeds),
                measure.value_text(row.mean, row.sd),
                "—" if row.at_cost is None else f"{row.at_cost:.3g}",
                f"{row.cost:.3g}",
                f"{row.gpu_hours:.3f}",
                Text(verdict, style=VERDICT_STYLE.get(verdict, "bold")),
                Text(", ".join(row.flags), style="red" if row.flags else ""),
                ", ".join(row.agents),
            )
        best = (
            f"{measure.gain_text(report.best_gain)} ({report.best_variant})"
            if report.best_gain is not None
            else "none verified yet"
        )
        self.query_one("#ledger-title", Static).update(
            f"Ledger — baseline {baseline or 'not set'} · best verified improvement {best} · "
            f"{report.gpu_hours:.3f} {self.hours_label} · {len(rows)} variants"
        )
        plot = self.query_one(PlotextPlot).plt
        plot.clear_data()
        plot.title(f"best verified improvement ({measure.label}) vs {self.hours_label}")
        if report.progress:
            plot.plot([p[0] for p in report.progress], [p[2] for p in report.progress])
        self.query_one(PlotextPlot).refresh()

    # -- adopting --------------------------------------------------------------------------
    def selected_variant(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    def action_adopt(self) -> None:
        variant = self.selected_variant()
        if variant is None:
            self.notify("no variant selected", severity="warning")
        elif variant == self.baseline:
            self.notify(f"{variant} is the baseline: nothing to adopt", severity="warning")
        else:
            self.check_adopt(variant)

    @work(thread=True, exclusive=True, group="adopt")
    def check_adopt(self, variant: str) -> None:
        from orgtui.errors import OrgtuiError
        from orgtui.ledger.adopt import check_adopt
        from orgtui.ledger.verdicts import describe

        try:
            check = check_adopt(self.paths, variant)
        except OrgtuiError as error:
            self._tell(str(error), error=True)
            return
        verdict = describe(check.comparison) if check.comparison else "no verdict: no baseline"
        self.app.call_from_thread(self.confirm_adopt, check, verdict)

    def confirm_adopt(self, check: Any, verdict: str) -> None:
        from orgtui.tui.screens.dialogs import AdoptDialog

        def chosen(choice: AdoptChoice | None) -> None:
            if choice is not None:
                self.adopt(choice.variant, choice.override)

        dialog = AdoptDialog(
            check.variant, verdict, list(check.missing), check.allowed, check.commit
        )
        self.app.push_screen(dialog, chosen)

    @work(thread=True, exclusive=True, group="adopt")
    def adopt(self, variant: str, override: str | None) -> None:
        from orgtui.errors import OrgtuiError
        from orgtui.ledger.adopt import adopt

        try:
            done = adopt(self.paths, variant, override=override, sender="human")
        except OrgtuiError as error:  # AdoptRefused, AdoptError, GitError: said as they are
            self._tell(str(error), error=True)
            return
        self._tell(
            f"{variant} adopted: {done.commit[:12]} merged into {done.program_branch}; "
            f"the baseline is now {variant}"
        )
        self.app.call_from_thread(self.load)
        refresh = getattr(self.app, "refresh_snapshot", None)
        if refresh is not None:
            self.app.call_from_thread(refresh)

    def _tell(self, text: str, *, error: bool = False) -> None:
        """Notify from a worker thread."""
        severity = "error" if error else "information"
        self.app.call_from_thread(self.notify, text, title="adopt", severity=severity)
