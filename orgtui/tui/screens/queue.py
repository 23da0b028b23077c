"""The queue screen: the experiment slots and what runs on each, then every job in the order
it will run, how long it has run and about when it ends, the latest finished, and queue files
that did not read (as malformed). A key cancels the selected job, after a confirm.

On a cluster engine (Slurm) a column gives each submitted job's cluster job id and state, the
slots list only the jobs submitted (the cluster places them), and the title says when the
cluster does not answer.

A view of the snapshot's ``QueueView``: the cancel goes through ``orgtui.queue.jobs.cancel``
in a thread worker; the scheduler and its engine do the rest.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from orgtui.paths import OrgPaths
from orgtui.snapshot import OrgSnapshot, QueueView
from orgtui.tui.widgets.keybar import KeyBar
from orgtui.views import EngineView, JobView

COLUMNS = (
    ("job", 24),
    ("state", 10),
    ("variant", 16),
    ("seed", 5),
    ("agent", 12),
    ("kind", 8),
    ("slot", 7),
    ("ran", 8),
    ("ends", 12),
    ("note", 36),
)
CLUSTER_COLUMN_WIDTH = 26
"""The cluster job column (``12 PENDING (Resources)``), after ``slot``."""
STATE_STYLES = {
    "queued": "yellow",
    "running": "bold green",
    "done": "dim",
    "failed": "red",
    "cancelled": "dim",
    "malformed": "bold red",
}


def duration(seconds: float) -> str:
    """``45s``, ``3m``, ``1h05m``: how long, at the precision a person reads a queue."""
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def ends(job: JobView) -> str:
    """``~3m left`` for a running job, ``in ~8m`` for a queued one; empty without an estimate."""
    if job.left_s is None or job.state not in ("running", "queued"):
        return ""
    if job.state == "running":
        return "overdue" if job.left_s <= 0 else f"~{duration(job.left_s)} left"
    return f"in ~{duration(job.left_s)}"


def ran(job: JobView, now: float) -> str:
    if job.started is None:
        return ""
    end = job.ended if job.ended is not None else now
    return duration(end - job.started)


def note(job: JobView) -> str:
    if job.malformed:
        return f"malformed: {job.malformed}"
    if job.cancelling:
        return "cancel asked: stopping"
    return job.reason


class QueueScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding(
            "c",
            "cancel_job",
            "Cancel job",
            id="queue.cancel",
            tooltip="on the queue screen: cancel the selected job (asks first)",
        ),
    ]

    def __init__(self, paths: OrgPaths) -> None:
        super().__init__()
        self.paths = paths
        self.queue: QueueView = QueueView()
        self._shown: tuple[JobView, ...] | None = None
        self.engine: str | None = None
        """The cluster engine whose column the table has; None: no such column."""

    def compose(self) -> ComposeResult:
        yield Static("Queue", id="queue-title", classes="panel-title")
        yield Static(id="queue-slots")
        yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self._columns(None)
        self.watch(self.app, "snapshot", self.show)
        self.query_one(DataTable).focus()

    def _columns(self, engine: str | None) -> None:
        """The table's columns: a cluster engine's job column after ``slot``."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self.engine, self._shown = engine, None
        for label, width in COLUMNS:
            table.add_column(label, width=width)
            if label == "slot" and engine is not None:
                table.add_column(engine, width=CLUSTER_COLUMN_WIDTH)

    def show(self, snapshot: OrgSnapshot | None) -> None:
        if snapshot is None:
            return
        queue, now = snapshot.queue, snapshot.taken
        self.queue = queue
        running = queue.in_state("running")
        title = (
            f"Queue — {len(queue.slots)} slots · {len(running)} running · {queue.waiting} queued"
        )
        if queue.malformed:
            title += f" · {queue.malformed} malformed (fix or delete the file)"
        if not snapshot.complete:
            title += " · reading…"
        engine = snapshot.engine
        self.query_one("#queue-title", Static).update(Text(title) + engine_line(engine))
        lines = slot_lines(queue, running, now, cluster=engine is not None)
        self.query_one("#queue-slots", Static).update(lines)
        if (engine.name if engine else None) != self.engine:
            self._columns(engine.name if engine else None)
        self._rows(queue.jobs, now)

    def _rows(self, jobs: tuple[JobView, ...], now: float) -> None:
        """Redraw the table when the jobs changed, keeping the cursor on its job."""
        if jobs == self._shown:
            return
        self._shown = jobs
        table = self.query_one(DataTable)
        current = self.selected()
        table.clear()
        for job in jobs:
            cells = (
                job.id,
                job.state + (" (stopping)" if job.cancelling else ""),
                job.variant,
                "" if job.malformed else str(job.seed),
                job.agent or "",
                job.kind,
                job.slot or "",
                *([job.cluster.summary if job.cluster else ""] if self.engine else []),
                ran(job, now),
                ends(job),
                note(job),
            )
            style = STATE_STYLES.get(job.state, "")
            table.add_row(*(Text(c, style=style) for c in cells), key=job.id)
        if current is not None and current.id in {job.id for job in jobs}:
            table.move_cursor(row=table.get_row_index(current.id))

    def selected(self) -> JobView | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((job for job in self.queue.jobs if job.id == key), None)

    def action_cancel_job(self) -> None:
        from orgtui.tui.screens.dialogs import ConfirmDialog

        job = self.selected()
        if job is None or job.state not in ("queued", "running") or job.cancelling:
            what = "no job selected" if job is None else f"{job.id} is {job.state}"
            self.notify(f"{what}: nothing to cancel", severity="warning")
            return
        where = (
            f"running on {job.slot}: its engine stops it" if job.state == "running" else "queued"
        )
        text = f"{job.variant} seed {job.seed} ({job.agent or 'no agent'}), {where}."

        def chosen(yes: bool | None) -> None:
            if yes:
                self.cancel(job.id)

        self.app.push_screen(ConfirmDialog(f"Cancel job {job.id}?", text, "Cancel job"), chosen)

    @work(thread=True, group="queue")
    def cancel(self, job_id: str) -> None:
        from orgtui.errors import OrgtuiError
        from orgtui.queue.jobs import cancel

        try:
            job = cancel(self.paths, job_id, reason="cancelled from the TUI")
        except (OrgtuiError, OSError) as error:
            self.app.call_from_thread(self.notify, str(error), title="cancel", severity="error")
            return
        said = "cancelled" if job.state == "cancelled" else "asked to stop (it is running)"
        self.app.call_from_thread(self.notify, f"{job.id}: {said}", title="cancel")
        refresh = getattr(self.app, "refresh_snapshot", None)
        if refresh is not None:
            self.app.call_from_thread(refresh)


def engine_line(engine: EngineView | None) -> Text:
    """`` · on Slurm``, or a warning when the cluster does not answer; empty when local."""
    if engine is None:
        return Text("")
    if engine.warning:
        return Text(" · ") + Text(engine.warning, style="bold yellow")
    return Text(f" · on {engine.title}")


def slot_lines(
    queue: QueueView, running: tuple[JobView, ...], now: float, *, cluster: bool = False
) -> Text:
    """One line a slot: what runs there, for how long, about how long is left. On a cluster
    only the slots in use, each with its cluster job, then how many more may be submitted."""
    on = {job.slot: job for job in running}
    text = Text()
    for slot in queue.slots:
        job = on.get(slot)
        if job is None and cluster:
            continue
        text += Text(f" {slot:<8}", style="bold")
        if job is None:
            text += Text("free\n", style="dim")
            continue
        text += Text(f"{job.variant} seed {job.seed}", style="green")
        text += Text(f" · {job.agent or 'no agent'}")
        if job.cluster is not None:
            text += Text(f" · {job.cluster.label}", style="cyan")
        text += Text(f" · ran {ran(job, now)}")
        text += Text(f" · {ends(job)}\n" if ends(job) else "\n")
    if cluster:
        free = sum(1 for slot in queue.slots if slot not in on)
        line = (
            f" {free} of {len(queue.slots)} slots free: the cluster queues what it cannot run yet"
        )
        text += Text(line + "\n", style="dim")
    elif not queue.slots:
        text += Text(" no slots\n", style="dim")
    text.rstrip()
    return text
