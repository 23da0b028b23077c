"""The main screen: a reflowing grid of agent cards, the board beside it, the org's header.

It owns the selection and the keys that act on the selected agent; what those keys ask for
(a verb, a take-over, the agent's screen, a message) goes up to the app as a message.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from orgtui.snapshot import AgentView, OrgSnapshot, uptime
from orgtui.tui.messages import ComposeRequested, TakeOverRequested
from orgtui.tui.screens.dialogs import (
    FilterDialog,
    Handoff,
    HandoffDialog,
    NewAgent,
    NewAgentDialog,
)
from orgtui.tui.widgets.agent_card import AgentCard
from orgtui.tui.widgets.board_table import BoardTable

CARD_WIDTH = 46
WIDE_ENOUGH_FOR_SIDE_BOARD = 150
MOVES = (("up,k", -1, 0), ("down,j", 1, 0), ("left", 0, -1), ("right", 0, 1))


def matches(view: AgentView, text: str) -> bool:
    text = text.lower()
    return any(text in field.lower() for field in (view.name, view.role, view.backend, view.status))


class MainScreen(Screen):
    """What the person watches: every agent at a glance."""

    # Priority: the scrolling card container would otherwise take the arrows for itself.
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"move({rows}, {cols})", show=False, priority=True)
            for key, rows, cols in MOVES
        ),
        Binding(
            "enter",
            "takeover",
            "Take over",
            id="takeover",
            tooltip="take over the agent: its tmux window; detach (prefix d) to come back",
        ),
        Binding(
            "s",
            "suspend",
            "Suspend",
            id="suspend",
            tooltip="suspend / resume the agent (SIGSTOP its processes)",
        ),
        Binding(
            "p",
            "park",
            "Park",
            id="park",
            tooltip="park the agent: WIP commit, window closed, seat kept",
        ),
        Binding(
            "h",
            "handoff",
            "Hand off",
            id="handoff",
            tooltip="hand off: another backend in the same seat, or the work to another agent",
        ),
        Binding(
            "r",
            "restart",
            "Restart",
            id="restart",
            tooltip="restart the agent (resumes its session where the backend can)",
        ),
        Binding(
            "a",
            "agent",
            "Agent",
            id="agent",
            tooltip="the agent's screen: live pane, runs, messages, commits",
        ),
        Binding("m", "message", "Message", id="message", tooltip="write to the selected agent"),
        Binding(
            "n",
            "new_agent",
            "New",
            id="new_agent",
            tooltip="spawn a new agent (name, role, backend, GPU)",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            id="filter",
            tooltip="filter agents by name, role, backend or state",
        ),
    ]

    class VerbRequested(Message):
        """Run an org verb (suspend, park, spawn...) on an agent."""

        def __init__(self, verb: str, agent: str, **options: Any) -> None:
            super().__init__()
            self.verb = verb
            self.agent = agent
            self.options = options

    class AgentOpened(Message):
        """Show the agent's own screen."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    filter_text: reactive[str] = reactive("")
    """Only cards whose name, role, backend or state contain it are shown."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: OrgSnapshot | None = None
        self.selected_name: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="org-header")
        yield Static(id="banner")
        with Horizontal(id="main-body"):
            yield VerticalScroll(id="cards")
            with Vertical(id="board-panel"):
                yield Static("Board", classes="panel-title")
                yield BoardTable(compact=True, id="main-board")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self._reflow()
        self.watch(self.app, "snapshot", self.show)
        self.watch(self.app, "panes", self._show_panes)
        self.watch(self.app, "commits", self._show_commits)

    def on_resize(self) -> None:
        self._reflow()

    def _reflow(self) -> None:
        """Columns follow the width; the board moves below the cards on narrow terminals."""
        wide = self.size.width >= WIDE_ENOUGH_FOR_SIDE_BOARD
        body = self.query_one("#main-body")
        body.set_class(not wide, "-stacked")
        cards = self.query_one("#cards")
        width = cards.size.width or self.size.width
        cards.styles.grid_size_columns = max(1, width // CARD_WIDTH)

    # -- what is shown ---------------------------------------------------------------------
    @property
    def cards(self) -> list[AgentCard]:
        return list(self.query(AgentCard))

    def visible_panes(self) -> dict[str, str]:
        """Agent name -> pane id, for the cards on screen (only those get a preview)."""
        return {
            card.agent: card.view.pane_id
            for card in self.cards
            if card.view and card.view.pane_id and card.display and card.region.height
        }

    def show(self, snapshot: OrgSnapshot | None) -> None:
        """Bring the screen up to ``snapshot``: add, update and remove cards; header; board."""
        if snapshot is None:
            return
        self.snapshot = snapshot
        self._header(snapshot)
        container = self.query_one("#cards", VerticalScroll)
        existing = {card.agent: card for card in self.cards}
        for view in snapshot.agents:
            card = existing.get(view.name)
            if card is None:
                card = AgentCard(view, gpu_source=snapshot.gpu_source)
                container.mount(card)
                existing[view.name] = card
            else:
                card.gpu_source = snapshot.gpu_source
                card.view = view
        names = {v.name for v in snapshot.agents}
        for name, card in existing.items():
            if name not in names:
                card.remove()
        self._apply_filter()
        self.query_one("#main-board", BoardTable).show(snapshot.messages[-30:])

    def watch_filter_text(self) -> None:
        self._apply_filter()

    def _apply_filter(self) -> None:
        for card in self.cards:
            card.display = card.view is not None and (
                not self.filter_text or matches(card.view, self.filter_text)
            )
        current = self.selected()
        if current is not None and not current.has_class("-selected"):
            self.select(current.agent)

    def _show_panes(self, panes: dict[str, str]) -> None:
        for card in self.cards:
            card.pane = panes.get(card.agent, "")

    def _show_commits(self, commits: dict[str, str]) -> None:
        for card in self.cards:
            card.commit = commits.get(card.agent, "")

    def _header(self, s: OrgSnapshot) -> None:
        now = s.taken
        header = Text(f" {s.name} ", style="bold reverse") + Text(f"  {s.task}  ", style="italic")
        header += Text(
            f"\n uptime {uptime(s.supervisor_started if s.supervisor_alive else None, now)}"
            f" · agents {len(s.agents)}"
            f" · working {sum(a.status == 'working' for a in s.agents)}"
            f" · GPU-hours {s.gpu_hours:.2f}"
            f" · best verified: {s.best_improvement}"
        )
        if s.problems:
            header += Text("\n " + " | ".join(s.problems), style="bold red")
        self.query_one("#org-header", Static).update(header)
        banner = self.query_one("#banner", Static)
        banner.display = not s.supervisor_alive
        if not s.supervisor_alive:
            banner.update(
                "The supervisor is down: no restarts, no nudges, no GPU samples. Agents that run "
                "keep running. Press U to start it (orgtui up)."
            )

    # -- the selection ---------------------------------------------------------------------
    def selected(self) -> AgentCard | None:
        cards = [c for c in self.cards if c.display]
        chosen = next((c for c in cards if c.agent == self.selected_name), None)
        return chosen or (cards[0] if cards else None)

    def select(self, name: str) -> None:
        """Move the selection to ``name``'s card and bring it into view."""
        for card in self.query(".-selected"):
            card.remove_class("-selected")
        self.selected_name = name
        card = self.selected()
        if card is not None:
            card.add_class("-selected")
            card.scroll_visible(animate=False)

    def on_agent_card_selected(self, event: AgentCard.Selected) -> None:
        self.select(event.card.agent)

    def _selected_view(self) -> AgentView | None:
        card = self.selected()
        if card is None or card.view is None:
            self.notify("no agent selected", severity="warning")
            return None
        return card.view

    # -- actions: each asks the app for something ------------------------------------------
    def action_move(self, rows: int, cols: int) -> None:
        """Move the selection by rows and columns of the grid."""
        cards = [c for c in self.cards if c.display]
        if not cards:
            return
        columns = max(1, int(self.query_one("#cards").styles.grid_size_columns or 1))
        current = self.selected()
        index = cards.index(current) if current in cards else 0
        index = max(0, min(len(cards) - 1, index + rows * columns + cols))
        self.select(cards[index].agent)

    def action_takeover(self) -> None:
        if view := self._selected_view():
            self.post_message(TakeOverRequested(view.name))

    def action_suspend(self) -> None:
        if view := self._selected_view():
            verb = "resume" if view.status == "suspended" else "suspend"
            self.post_message(self.VerbRequested(verb, view.name))

    def action_park(self) -> None:
        if view := self._selected_view():
            self.post_message(self.VerbRequested("park", view.name))

    def action_restart(self) -> None:
        if view := self._selected_view():
            self.post_message(self.VerbRequested("restart", view.name))

    def action_handoff(self) -> None:
        view = self._selected_view()
        if view is None or self.snapshot is None:
            return
        agent = view.name

        def chosen(choice: Handoff | None) -> None:
            if choice:
                self.post_message(
                    self.VerbRequested("handoff", agent, backend=choice.backend, to=choice.to_agent)
                )

        names = [a.name for a in self.snapshot.agents]
        self.app.push_screen(HandoffDialog(agent, names), chosen)

    def action_new_agent(self) -> None:
        def chosen(new: NewAgent | None) -> None:
            if new:
                self.post_message(
                    self.VerbRequested(
                        "spawn", new.name, role=new.role, backend=new.backend, gpu=new.gpu
                    )
                )

        roles = list(self.snapshot.roles) if self.snapshot else []
        self.app.push_screen(NewAgentDialog(roles), chosen)

    def action_agent(self) -> None:
        if view := self._selected_view():
            self.post_message(self.AgentOpened(view.name))

    def action_message(self) -> None:
        if view := self._selected_view():
            self.post_message(ComposeRequested(to=view.name))

    def action_filter(self) -> None:
        def chosen(text: str | None) -> None:
            if text is not None:
                self.filter_text = text

        self.app.push_screen(FilterDialog(self.filter_text), chosen)
