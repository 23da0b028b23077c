"""One agent on the main screen: who it is, what state it is in, what it costs, how it learns.

A card is a single widget that renders one rich ``Group``: with 64 agents on screen, one widget
per card instead of one per line keeps layout and restyling cheap (see benchmarks/tui.py).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from orgtui.snapshot import CARD_CLUSTER_JOBS, AgentView
from orgtui.tui.widgets.gauges import gpu_gauge, sparkline

# Distinct at a glance, in both themes: the badge is reverse video on these colours.
STATE_STYLES = {
    "starting": "bold white on blue",
    "working": "bold black on green",
    "waiting": "bold black on yellow",
    "idle": "bold white on grey35",
    "suspended": "bold white on magenta",
    "parked": "bold black on grey70",
    "dead": "bold white on red",
    "failed": "bold yellow on dark_red",
}
FIXED_LINES = 6
"""Lines a card always shows (title, branch, two of GPU, loss curve, run); the pane gets the rest."""
BORDER = 2


def badge(state: str) -> Text:
    return Text(f" {state} ", style=STATE_STYLES.get(state, "reverse"))


def pane_lines_for(card_height: int) -> int:
    """How many of the pane's last lines a card of ``card_height`` rows has room for."""
    return max(0, card_height - BORDER - FIXED_LINES)


class AgentCard(Widget):
    """A card. The selection is a class (``-selected``), not focus: moving it restyles two
    cards instead of re-running the key bar and focus chain over the whole screen."""

    class Selected(Message):
        """The person clicked the card: the screen moves its selection here."""

        def __init__(self, card: AgentCard) -> None:
            super().__init__()
            self.card = card

        @property
        def control(self) -> AgentCard:
            return self.card

    view: reactive[AgentView | None] = reactive(None)
    """What the org's snapshot says of the agent."""
    gpu_source: reactive[str] = reactive("none")
    """Where GPU readings come from (nvml, replay, none): the gauge says why one is missing."""
    pane: reactive[str] = reactive("")
    """The last lines of the agent's pane."""
    commit: reactive[str] = reactive("")
    """The last commit on the agent's branch."""

    def __init__(self, view: AgentView, *, gpu_source: str = "none") -> None:
        # The state class is given here, not added after: each class change restyles the card.
        super().__init__(id=f"card-{view.name}", classes=f"agent-card -{view.status}")
        self.agent = view.name
        self.set_reactive(AgentCard.view, view)
        self.set_reactive(AgentCard.gpu_source, gpu_source)

    def watch_view(self, old: AgentView | None, new: AgentView | None) -> None:
        if old is not None and new is not None and old.status != new.status:
            self.remove_class(f"-{old.status}")
            self.add_class(f"-{new.status}")

    def on_click(self) -> None:
        self.post_message(self.Selected(self))

    def render(self) -> RenderableType:
        view = self.view
        if view is None:
            return ""
        width = max(10, self.size.width)
        title = Text(view.name, style="bold") + Text(f"  {view.role} · {view.backend}", style="dim")
        if view.unread:
            title += Text(f"  ✉ {view.unread}", style="bold yellow")
        if view.restarts:
            title += Text(f"  ↻{view.restarts}", style="dim")
        state = badge(view.status)
        title.truncate(max(1, width - state.cell_len - 1), overflow="ellipsis")
        head = title + Text(" " * max(1, width - title.cell_len - state.cell_len)) + state
        branch = Text(f"⎇ {view.branch or 'no branch'}", style="cyan")
        if self.commit:
            branch += Text(f"  {self.commit}", style="dim")
        lines = [head, branch, gpu_gauge(view.gpu, view.gpu_view, self.gpu_source)]
        lines += [loss_line(view, width), run_line(view)]
        shown = max(0, self.size.height - FIXED_LINES)
        if shown:
            lines += [Text(line, style="dim") for line in (self.pane or "").splitlines()[-shown:]]
        rows = [row for line in lines for row in line.split("\n", allow_blank=True)]
        for row in rows:  # one line each, cut rather than wrapped: the card keeps its shape
            row.truncate(width, overflow="ellipsis")
        return Text("\n").join(rows)


def loss_line(view: AgentView, width: int) -> Text:
    """The whole run's loss curve, then where it is now and the best it reached."""
    if view.loss_now is None:
        return Text("loss: no step yet" if view.run_id else "loss: no run yet", style="dim")
    numbers = Text(f" {view.loss_now:.3f}", style="bold")
    if view.loss_best is not None:
        numbers += Text(f" best {view.loss_best:.3f}", style="green")
    return sparkline(view.loss, max(4, width - cell_len(numbers.plain))) + numbers


def run_line(view: AgentView) -> Text:
    """The latest eval, what its model tokens cost, the agent's jobs in the queue (and on the
    cluster), then its latest run."""
    text = Text(view.last_eval, style="bold")
    if view.spend is not None:
        text += Text((" · " if text else "") + view.spend.money_label, style="bold magenta")
    if jobs := job_counts(view):
        text += Text((" · " if text else "") + jobs, style="bold cyan")
    if cluster := cluster_jobs(view):
        text += Text(" · " + cluster, style="cyan")
    if view.run_id:
        text += Text((" · " if text else "") + view.run_id, style="dim")
    return text


def job_counts(view: AgentView) -> str:
    """``2 queued · 1 running``; empty when the agent has no job waiting or running."""
    parts = [f"{view.jobs_queued} queued"] if view.jobs_queued else []
    parts += [f"{view.jobs_running} running"] if view.jobs_running else []
    return " · ".join(parts)


def cluster_jobs(view: AgentView) -> str:
    """``slurm 12 RUNNING · slurm 13 PENDING (Resources) +2``; empty off a cluster."""
    named = [job.label for job in view.cluster_jobs[:CARD_CLUSTER_JOBS]]
    more = len(view.cluster_jobs) - len(named)
    return " · ".join(named) + (f" +{more}" if more > 0 else "")
