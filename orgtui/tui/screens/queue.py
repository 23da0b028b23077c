"""The queue screen: the experiment slots and what runs on each, then every job in the order
it will run, how long it has run and about when it ends, the latest finished, and queue files
that did not read (as malformed). A key cancels the selected job, after a confirm.

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
from orgtui.snapshot import JobView, OrgSnapshot, QueueView
from orgtui.tui.widgets.keybar import KeyBar

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

    def compose(self) -> ComposeResult:
        yield Static("Queue", id="queue-title", classes="panel-title")
        yield Static(id="queue-slots")
        yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        self.watch(self.app, "snapshot", self.show)
        table.focus()

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
        self.query_one("#queue-title", Static).update(Text(title))
        self.query_one("#queue-slots", Static).update(slot_lines(queue, running, now))
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


def slot_lines(queue: QueueView, running: tuple[JobView, ...], now: float) -> Text:
    """One line a slot: what runs there, for how long, about how long is left."""
    on = {job.slot: job for job in running}
    text = Text()
    for slot in queue.slots:
        job = on.get(slot)
        text += Text(f" {slot:<8}", style="bold")
        if job is None:
            text += Text("free\n", style="dim")
            continue
        text += Text(f"{job.variant} seed {job.seed}", style="green")
        text += Text(f" · {job.agent or 'no agent'} · ran {ran(job, now)}")
        text += Text(f" · {ends(job)}\n" if ends(job) else "\n")
    if not queue.slots:
        text += Text(" no slots\n", style="dim")
    text.rstrip()
    return text
