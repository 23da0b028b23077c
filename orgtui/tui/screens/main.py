"""The main screen: a reflowing grid of agent cards, the board beside it, the org's header."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from orgtui.tui.data import AgentView, OrgSnapshot, uptime
from orgtui.tui.widgets.agent_card import AgentCard
from orgtui.tui.widgets.board_table import BoardTable

CARD_WIDTH = 46
WIDE_ENOUGH_FOR_SIDE_BOARD = 150


def matches(view: AgentView, text: str) -> bool:
    text = text.lower()
    return any(text in field.lower() for field in (view.name, view.role, view.backend, view.status))


class MainScreen(Screen):
    """What the person watches: every agent at a glance."""

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
        snapshot = getattr(self.app, "snapshot", None)
        if snapshot is not None:  # the first snapshot may arrive before this screen mounts
            self.show(snapshot, getattr(self.app, "filter_text", ""))

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

    @property
    def cards(self) -> list[AgentCard]:
        return list(self.query(AgentCard))

    selected_name: str | None = None

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

    def show(self, snapshot: OrgSnapshot, filter_text: str = "") -> None:
        """Bring the screen up to ``snapshot``: add, update and remove cards; header; board."""
        self._header(snapshot)
        container = self.query_one("#cards", VerticalScroll)
        existing = {card.agent: card for card in self.cards}
        wanted = [v for v in snapshot.agents if not filter_text or matches(v, filter_text)]
        for view in snapshot.agents:
            card = existing.get(view.name)
            if card is None:
                card = AgentCard(view, gpu_source=snapshot.gpu_source)
                container.mount(card)
                existing[view.name] = card
            else:
                card.gpu_source = snapshot.gpu_source
                card.view = view
            card.display = view in wanted
        for name, card in existing.items():
            if name not in {v.name for v in snapshot.agents}:
                card.remove()
        self.query_one("#main-board", BoardTable).show(snapshot.messages[-30:])
        current = self.selected()
        if current is not None and not current.has_class("-selected"):
            self.select(current.agent)

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

    def move(self, delta_rows: int, delta_cols: int) -> None:
        """Move the selection by rows and columns of the grid."""
        cards = [c for c in self.cards if c.display]
        if not cards:
            return
        columns = max(1, int(self.query_one("#cards").styles.grid_size_columns or 1))
        current = self.selected()
        index = cards.index(current) if current in cards else 0
        index = max(0, min(len(cards) - 1, index + delta_rows * columns + delta_cols))
        self.select(cards[index].agent)
