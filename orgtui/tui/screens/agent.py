"""One agent: its live pane (about once a second), its runs with loss curves, messages, commits."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from orgtui.snapshot import AgentView, Feed, OrgSnapshot
from orgtui.tui.messages import TakeOverRequested

PANE_LINES = 40


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
                yield Static(id="agent-messages")
                yield Static(id="agent-commits")
        yield Footer()

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
        runs = [r for r in self.feed.runs() if r.agent == self.agent]
        commits = self.feed.commits(self.agent, 8)
        self.app.call_from_thread(self.show_activity, pane, runs, commits)

    def show_snapshot(self, snapshot: OrgSnapshot | None) -> None:
        self.view = snapshot.agent(self.agent) if snapshot else None
        title = f"{self.agent}"
        if view := self.view:
            title += f" — {view.role} · {view.backend} · {view.status} · ⎇ {view.branch or '—'}"
        self.query_one("#agent-title", Static).update(title)
        mine = [
            m for m in (snapshot.messages if snapshot else ()) if self.agent in (m.sender, *m.to)
        ]
        text = Text("Messages\n", style="bold")
        for m in mine[-8:]:
            text += Text(f"  {m.sender} → {', '.join(m.to)}: {m.subject}\n")
        self.query_one("#agent-messages", Static).update(text)

    def show_activity(self, pane: str, runs: list[Any], commits: list[str]) -> None:
        self.query_one("#agent-pane", Static).update(Text(pane or "(no pane output)", no_wrap=True))
        plot = self.query_one(PlotextPlot).plt
        plot.clear_data()
        plot.title("train loss of its runs")
        for run in runs[-5:]:
            if run.train:
                plot.plot(
                    [s for s, _, _ in run.train],
                    [loss for _, _, loss in run.train],
                    label=run.variant,
                )
        self.query_one(PlotextPlot).refresh()
        lines = Text("Runs\n", style="bold")
        for run in runs[-8:]:
            bpb = f"{run.evals[-1][2]:.4f}" if run.evals else "—"
            lines += Text(f"  {run.run_id}  {run.status}  bpb {bpb}\n")
        self.query_one("#agent-runs", Static).update(
            lines if runs else Text("Runs: none yet", style="dim")
        )
        text = Text("Commits\n", style="bold")
        for line in commits:
            text += Text(f"  {line}\n")
        self.query_one("#agent-commits", Static).update(text)
