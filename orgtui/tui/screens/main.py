"""The main screen: a reflowing grid of agent cards, the board beside it, the org's header,
the story being told (``orgtui demo``) above and the ledger's latest verdicts below.

It owns the selection and the keys that act on the selected agent; what those keys ask for
(a verb, a take-over, the agent's screen, a message) goes up to the app as a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from orgtui.snapshot import AgentView, OrgSnapshot, uptime
from orgtui.tui.messages import ComposeRequested, TakeOverRequested
from orgtui.tui.widgets.agent_card import AgentCard, pane_lines_for
from orgtui.tui.widgets.board_list import BoardList
from orgtui.tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from orgtui.tui.screens.dialogs import Handoff, NewAgent
    from orgtui.views import Narration, VerdictView

CARD_WIDTH = 46
CARD_HEIGHT = 11
CARD_BATCH = 16
TALLEST_CARD = 30
"""On a tall terminal cards grow up to this many rows, the extra ones showing more pane."""
WIDE_ENOUGH_FOR_SIDE_BOARD = 150
BOARD_WIDTH = 60
STACKED_BOARD_HEIGHT = 9
"""Rows the board takes below the cards on a narrow terminal (app.tcss)."""
CARDS_PADDING = 2
"""Columns the card area's padding takes (app.tcss, ``#cards``)."""
HEADER_AND_KEYS = 3
"""Rows the header (two lines) and the key bar take."""
MOVES = (("up,k", -1, 0), ("down,j", 1, 0), ("left", 0, -1), ("right", 0, 1))


def matches(view: AgentView, text: str) -> bool:
    text = text.lower()
    return any(text in field.lower() for field in (view.name, view.role, view.backend, view.status))


def grid_shape(shown: int, width: int, area_height: int) -> tuple[int, int, bool]:
    """Columns and card height for ``shown`` cards in the card area, and whether they overflow
    it (a scroll bar)."""
    columns = max(1, width // CARD_WIDTH)
    rows = -(-max(shown, 1) // columns)
    height = min(TALLEST_CARD, max(CARD_HEIGHT, area_height // rows))
    return columns, height, rows * height > area_height


class CardGrid(VerticalScroll):
    """The cards, scrolled (page up / down when focused). Its focus changes nothing drawn: no
    ``:focus`` rule matches it or a card, so gaining or losing it (at start, around every
    dialog) does not restyle every card under it as Textual would."""

    def watch_has_focus(self, _has_focus: bool) -> None:
        return


def hidden_strip(id: str) -> Static:
    """A strip shown only when it has something to say, composed hidden (hiding it once
    mounted would cost the first frame a restyle)."""
    strip = Static(id=id)
    strip.display = False
    return strip


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
    grid: CardGrid
    """The cards' container (composed with the first frame's cards)."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: OrgSnapshot | None = None
        self.selected_name: str | None = None
        self.card_height = CARD_HEIGHT
        self._filling = False
        """Cards past the first frame's are being mounted, a batch at a time."""
        self._chosen = False
        """The person has moved the selection (else it follows the first card)."""

    def compose(self) -> ComposeResult:
        yield Static(id="org-header")
        yield hidden_strip("banner")
        with Horizontal(id="main-body"):
            first = self._first_cards()
            # With the scroll bar it will need from the first layout on: appearing after it,
            # the bar would narrow every card, to be laid out and painted again.
            overflowing = grid_shape(len(first), *self._card_area())[2]
            self.grid = CardGrid(*first, id="cards", classes="-overflowing" if overflowing else "")
            yield self.grid
            # Its title in its own border: every container line is painted, even under others.
            board = BoardList(id="main-board")
            board.border_title = "Board"
            yield board
        yield KeyBar()

    def _first_cards(self) -> list[AgentCard]:
        """The cards the first frame shows, when the seats were read before the screen was
        composed (``OrgApp.on_load``): laid out and painted with it, in one pass."""
        snapshot = self.app.snapshot
        if snapshot is None or not snapshot.agents:
            return []
        cards = [
            AgentCard(view, gpu_source=snapshot.gpu_source)
            for view in snapshot.agents[: self.first_slots()]
        ]
        self.selected_name = cards[0].agent
        cards[0].add_class("-selected", update=False)
        self._filling = len(cards) < len(snapshot.agents)  # the rest once it is drawn
        return cards

    def on_mount(self) -> None:
        self._reflow()
        self.watch(self.app, "snapshot", self.show)
        self.watch(self.app, "panes", self._show_panes)
        self.watch(self.app, "commits", self._show_commits)
        if self._filling:
            self.call_after_refresh(self._mount_cards, CARD_BATCH)

    def on_resize(self) -> None:
        self._reflow()

    def _reflow(self) -> None:
        """Columns follow the width, card height the rows left free; the board moves below the
        cards on narrow terminals. Before the first layout the card area is reckoned from the
        terminal, so that the first frame is laid out once, with the columns it keeps."""
        wide = self.app.size.width >= WIDE_ENOUGH_FOR_SIDE_BOARD
        body = self.query_one("#main-body")
        body.set_class(not wide, "-stacked")
        cards = self.grid
        shown = sum(1 for card in self.cards if card.display)
        columns, height, overflowing = grid_shape(shown, *(cards.size or self._card_area()))
        if cards.styles.grid_size_columns != columns:
            cards.styles.grid_size_columns = columns
        if self.card_height != height:
            self.card_height = height
            cards.styles.grid_rows = str(height)
        cards.set_class(overflowing, "-overflowing")

    def _card_area(self) -> tuple[int, int]:
        """The card area's width and height before the first layout: the terminal less the
        board (beside the cards on a wide one, below them on a narrow one), their padding, the
        header and the key bar."""
        size = self.app.size
        if size.width >= WIDE_ENOUGH_FOR_SIDE_BOARD:
            return size.width - BOARD_WIDTH - CARDS_PADDING, size.height - HEADER_AND_KEYS
        return size.width - CARDS_PADDING, size.height - HEADER_AND_KEYS - STACKED_BOARD_HEIGHT

    @property
    def pane_lines(self) -> int:
        """Lines of each agent's pane the cards have room for now."""
        return pane_lines_for(self.card_height)

    # -- what is shown ---------------------------------------------------------------------
    @property
    def cards(self) -> list[AgentCard]:
        """The cards, in order (the grid's children: no selector query over the screen)."""
        return [card for card in self.grid.children if isinstance(card, AgentCard)]

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
        self._story(snapshot.story)
        self._verdicts(snapshot.verdicts)
        existing = {card.agent: card for card in self.cards}
        for view in snapshot.agents:
            if card := existing.get(view.name):
                card.gpu_source = snapshot.gpu_source
                card.view = view
        if not self._filling:  # else the batches under way reach the new cards too
            self._mount_cards(self.first_slots() if not existing else CARD_BATCH)
        names = {v.name for v in snapshot.agents}
        for name, card in existing.items():
            if name not in names:
                card.remove()
        self._keep_order()
        self._apply_filter()
        self.call_after_refresh(self._reflow)  # once the strips above and below have settled
        self.query_one("#main-board", BoardList).show(snapshot.messages[-60:])

    def visible_slots(self) -> int:
        """How many cards the card area shows without scrolling (the screen's height before
        the first layout, a little more than that area)."""
        cards = self.grid
        columns = max(1, (cards.size.width or self.size.width) // CARD_WIDTH)
        height = cards.size.height or self.size.height
        return columns * -(-height // self.card_height)

    def first_slots(self) -> int:
        """Cards the first frame shows, reckoned from the terminal before the first layout."""
        width, height = self._card_area()
        return max(1, width // CARD_WIDTH) * -(-height // CARD_HEIGHT)

    def _mount_cards(self, count: int) -> None:
        """Mount up to ``count`` cards the snapshot has and the screen lacks, in one mount
        (one restyle, one layout). The first frame gets the cards it shows; the rest follow
        in batches once it is drawn, so 64 agents open as fast as a few."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        mounted = {card.agent for card in self.cards}
        missing = [view for view in snapshot.agents if view.name not in mounted]
        if not missing:
            self._filling = False
            return
        batch = [AgentCard(view, gpu_source=snapshot.gpu_source) for view in missing[:count]]
        self.grid.mount_all(batch)
        self._keep_order()
        self._filling = len(missing) > count
        if self._filling:
            self.call_after_refresh(self._mount_cards, CARD_BATCH)
        self._apply_filter()
        self.call_after_refresh(self._reflow)

    def _keep_order(self) -> None:
        """Cards in the snapshot's order whatever order they came in: the first read follows
        state.json, the next org.toml, and an agent seated later is mounted after the others."""
        if self.snapshot is None:
            return
        rank = {view.name: i for i, view in enumerate(self.snapshot.agents)}
        container = self.grid
        ordered = sorted(self.cards, key=lambda card: rank.get(card.agent, len(rank)))
        moved = False
        for index, card in enumerate(ordered):
            if container.children[index] is not card:
                container.move_child(card, before=index)
                moved = True
        if moved and not self._chosen:  # the selection stays on the first card until moved
            self.select(ordered[0].agent)

    def watch_filter_text(self) -> None:
        self._apply_filter()
        self._reflow()

    def _apply_filter(self) -> None:
        for card in self.cards:
            shown = card.view is not None and (
                not self.filter_text or matches(card.view, self.filter_text)
            )
            if card.display != shown:
                card.display = shown
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
        )
        if s.idle_gpus:
            count = len(s.idle_gpus)
            header += Text(" · ") + Text(
                f"{count} idle GPU{'s' if count > 1 else ''}", style="bold yellow"
            )
        if s.complete:
            header += Text(f" · {s.hours_label} {s.gpu_hours:.2f}")
            if s.spend is not None:
                header += Text(f" · spend {s.spend.money_label}")
            header += Text(f" · best verified: {s.best_improvement}")
        else:
            header += Text(" · reading runs, board and ledger…", style="dim")
        warning = s.engine.warning if s.engine is not None else None
        if warning:  # jobs stay queued; running ones are not known to end
            header += Text("\n ") + Text(warning, style="bold yellow")
        if s.problems:
            header += Text("\n " + " | ".join(s.problems), style="bold red")
        strip = self.query_one("#org-header", Static)
        strip.set_class(bool(warning), "-engine-down")
        strip.update(header)
        banner = self.query_one("#banner", Static)
        banner.display = not s.supervisor_alive
        if not s.supervisor_alive:
            banner.update(
                "The supervisor is down: no restarts, no nudges, no GPU samples. Agents that run "
                "keep running. Press U to start it (orgtui up)."
            )

    def _strip(self, id: str, shown: bool, **where: str) -> Static | None:
        """The strip ``id`` when it has something to say: mounted the first time it has
        (``where``: beside which widget), so the first frame lays out none it does not show."""
        strip = self.query_one_optional(f"#{id}", Static)
        if strip is None and shown:
            strip = Static(id=id)
            self.mount(strip, **where)
        if strip is not None:
            strip.display = shown
        return strip if shown else None

    def _story(self, story: Narration | None) -> None:
        strip = self._strip("story", story is not None, before="#main-body")
        if strip is None or story is None:
            return
        text = Text(" ▶ " + story.line, style="bold red" if story.problem else "bold")
        if story.detail:
            text += Text("\n" + story.detail.strip())
        strip.update(text)

    def _verdicts(self, verdicts: tuple[VerdictView, ...]) -> None:
        strip = self._strip("verdicts", bool(verdicts), after="#main-body")
        if strip is None:
            return
        from orgtui.ledger.verdicts import VERDICT_STYLE  # loaded already by the snapshot's worker

        text = Text(" Ledger  ", style="bold")
        for v in verdicts:
            text += Text(f"{v.variant} vs {v.baseline}: ") + Text(
                v.verdict, style=VERDICT_STYLE.get(v.verdict, "bold")
            )
            if v.delta:
                text += Text(f" {v.delta}")
            if v.flags:
                text += Text(f"  {', '.join(v.flags)}", style="red")
            text += Text("   ")
        strip.update(text)

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
        self._chosen = True
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
        columns = max(1, int(self.grid.styles.grid_size_columns or 1))
        current = self.selected()
        index = cards.index(current) if current in cards else 0
        index = max(0, min(len(cards) - 1, index + rows * columns + cols))
        self._chosen = True
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
        from orgtui.tui.screens.dialogs import HandoffDialog

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
        from orgtui.tui.screens.dialogs import NewAgentDialog

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
        from orgtui.tui.screens.dialogs import FilterDialog

        def chosen(text: str | None) -> None:
            if text is not None:
                self.filter_text = text

        self.app.push_screen(FilterDialog(self.filter_text), chosen)
