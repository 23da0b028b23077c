"""One agent on the main screen: who it is, what state it is in, what it costs, how it learns.

A card is a single widget that renders one rich ``Group``: with 64 agents on screen, one widget
per card instead of one per line keeps layout and restyling cheap (see benchmarks/tui.py).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from orgtui.snapshot import AgentView
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
PANE_LINES = 3


def badge(state: str) -> Text:
    return Text(f" {state} ", style=STATE_STYLES.get(state, "reverse"))


class AgentCard(Widget):
    """A card. The selection is a class (``-selected``), not focus: moving it restyles two
    cards instead of re-running the footer and focus chain over the whole screen."""

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
        super().__init__(id=f"card-{view.name}", classes="agent-card")
        self.agent = view.name
        self.set_reactive(AgentCard.view, view)
        self.set_reactive(AgentCard.gpu_source, gpu_source)
        self.add_class(f"-{view.status}")

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
        head = Table.grid(expand=True)
        head.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        head.add_column(justify="right", no_wrap=True)
        title = Text(view.name, style="bold") + Text(f"  {view.role} · {view.backend}", style="dim")
        if view.unread:
            title += Text(f"  ✉ {view.unread}", style="bold yellow")
        if view.restarts:
            title += Text(f"  ↻{view.restarts}", style="dim")
        head.add_row(title, badge(view.status))
        branch = Text(f"⎇ {view.branch or 'no branch'}", style="cyan")
        if self.commit:
            branch += Text(f"  {self.commit}", style="dim")
        width = max(10, self.size.width)
        loss = Text(f"loss {view.loss[-1]:.3f}") if view.loss else Text("no run yet", style="dim")
        if view.last_bpb is not None:
            loss += Text(f" · bpb {view.last_bpb:.4f}", style="bold")
        if view.run_id:
            loss += Text(f" · {view.run_id}", style="dim")
        lines = (self.pane or "").splitlines()[-PANE_LINES:]
        pane = Text("\n".join(lines), style="dim")
        for line in (branch, loss, pane):
            line.no_wrap = True
            line.overflow = "ellipsis"
        return Group(
            head,
            branch,
            gpu_gauge(view.gpu, view.gpu_view, self.gpu_source),
            sparkline(view.loss, width),
            loss,
            pane,
        )
