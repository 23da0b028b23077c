"""One agent: its live pane (about once a second), its latest run's whole loss curve against
the same variant's other seeds (grey), its runs, what its model tokens cost by model, its
messages and commits."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from orgtui.snapshot import AgentView, Feed, OrgSnapshot
from orgtui.tui.messages import TakeOverRequested
from orgtui.tui.widgets.keybar import KeyBar
from orgtui.views import SpendView

PANE_LINES = 40
SPEND_MODELS = 8
"""Models the spend table lists, most tokens first; it counts the rest."""
MODEL_COLUMN = 24
"""A longer model name is cut to this many characters in the spend table."""


class AgentScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "takeover", "Take over", id="takeover"),
    ]

    def __init__(self, agent: str, feed: Feed) -> None:
        super().__init__()
        self.agent = agent
        self.feed = feed
        self.view: AgentView | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="agent-title", classes="panel-title")
        with Horizontal(id="agent-body"):
            yield Static(id="agent-pane")
            with Vertical(id="agent-side"):
                yield PlotextPlot(id="agent-plot")
                yield Static(id="agent-runs")
                spend = Static(id="agent-spend")
                spend.display = False  # until the agent has used a model
                yield spend
                yield Static(id="agent-messages")
                yield Static(id="agent-commits")
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self.show_snapshot)
        self.refresh_pane()
        self.set_interval(1.0, self.refresh_pane)

    def action_takeover(self) -> None:
        self.post_message(TakeOverRequested(self.agent))

    def refresh_pane(self) -> None:
        self.read_activity(self.view.pane_id if self.view else None)

    @work(thread=True, exclusive=True, group="pane")
    def read_activity(self, pane_id: str | None) -> None:
        """The pane, the agent's runs and commits: tmux, files and git, off the event loop."""
        pane = self.feed.pane_text(pane_id, PANE_LINES) if pane_id else ""
        every = self.feed.runs()
        runs = [r for r in every if r.agent == self.agent]
        seeds = [r for r in every if runs and r.variant == runs[-1].variant and r is not runs[-1]]
        commits = self.feed.commits(self.agent, 8)
        self.app.call_from_thread(self.show_activity, pane, runs, seeds, commits)

    def show_snapshot(self, snapshot: OrgSnapshot | None) -> None:
        self.view = snapshot.agent(self.agent) if snapshot else None
        title = f"{self.agent}"
        if view := self.view:
            title += f" — {view.role} · {view.backend} · {view.status} · ⎇ {view.branch or '—'}"
        self.query_one("#agent-title", Static).update(title)
        self.show_spend(self.view.spend if self.view else None)
        mine = [
            m for m in (snapshot.messages if snapshot else ()) if self.agent in (m.sender, *m.to)
        ]
        text = Text("Messages\n", style="bold")
        for m in mine[-8:]:
            text += Text(f"  {m.sender} → {', '.join(m.to)}: {m.subject}\n")
        self.query_one("#agent-messages", Static).update(text)

    def show_spend(self, spend: SpendView | None) -> None:
        """Its model tokens by kind and their money, a row per model; nothing before any."""
        widget = self.query_one("#agent-spend", Static)
        widget.display = spend is not None
        if spend is not None:
            widget.update(spend_text(spend))

    def show_activity(
        self, pane: str, runs: list[Any], seeds: list[Any], commits: list[str]
    ) -> None:
        self.query_one("#agent-pane", Static).update(Text(pane or "(no pane output)", no_wrap=True))
        self.plot_loss(runs[-1] if runs else None, seeds)
        from orgtui.ledger.measure import Measure  # loaded already by the snapshot's worker

        lines = Text("Runs\n", style="bold")
        for run in runs[-8:]:
            measure = Measure(metric=run.metric)
            value = measure.fmt(run.evals[-1][2]) if run.evals else "—"
            lines += Text(f"  {run.run_id}  {run.status}  {measure.label} {value}\n")
        self.query_one("#agent-runs", Static).update(
            lines if runs else Text("Runs: none yet", style="dim")
        )
        text = Text("Commits\n", style="bold")
        for line in commits:
            text += Text(f"  {line}\n")
        self.query_one("#agent-commits", Static).update(text)

    def plot_loss(self, run: Any, seeds: list[Any]) -> None:
        """The latest run's whole train loss; the same variant's other seeds in grey below it."""
        widget = self.query_one(PlotextPlot)
        plot = widget.plt
        plot.clear_data()
        if run is None:
            plot.title("train loss: no run yet")
        else:
            plot.title(f"train loss of {run.run_id} (grey: other {run.variant} seeds)")
            for other in seeds:
                if other.train:
                    steps, losses = zip(*((s, loss) for s, _, loss in other.train), strict=True)
                    plot.plot(list(steps), list(losses), color="gray")
            if run.train:
                steps, losses = zip(*((s, loss) for s, _, loss in run.train), strict=True)
                plot.plot(list(steps), list(losses), color="green", label=run.variant)
        widget.refresh()


def spend_text(spend: SpendView) -> Text:
    """``orgtui spend``'s rows for one agent: tokens by kind and money, a row per model."""
    from orgtui.spend.amounts import count

    rows = spend.models[:SPEND_MODELS]
    width = min(MODEL_COLUMN, max([len("model"), *(len(row.model) for row in rows)]))
    text = Text("Spend ", style="bold") + Text(spend.money_label, style="bold magenta")
    heads = "".join(f"{head:>8}" for head in ("input", "output", "cache-w", "cache-r"))
    text += Text(f"\n  {'model':<{width}}{heads} {'money':>10}", style="dim")
    for row in rows:
        name = row.model if len(row.model) <= width else row.model[: width - 1] + "…"
        tokens = (row.input, row.output, row.cache_write, row.cache_read)
        kinds = "".join(f"{count(n):>8}" for n in tokens)
        text += Text(f"\n  {name:<{width}}{kinds} {row.money_label:>10}")
    if len(spend.models) > len(rows):
        text += Text(f"\n  +{len(spend.models) - len(rows)} more models", style="dim")
    if spend.unpriced:
        text += Text("\n  * leaves out models with no price", style="dim")
    return text
