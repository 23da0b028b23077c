"""The board screen: every message, filters, the selected message in full, compose and reply.

A message counts as read once the person opens it (enter), replies to it, or leaves the
cursor on it for ``OPEN_AFTER_S``: scrolling past a row writes no read receipt.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from orgtui.snapshot import OrgSnapshot
from orgtui.tui.messages import ComposeRequested
from orgtui.tui.widgets.board_table import BoardTable
from orgtui.tui.widgets.keybar import KeyBar
from orgtui.views import MessageView


def keep(message: MessageView, text: str) -> bool:
    """Filter words: ``from:ada``, ``kind:result``, ``thread:x``, or free text."""
    for word in text.lower().split():
        key, _, value = word.partition(":")
        if value and key == "from" and message.sender != value:
            return False
        if value and key == "kind" and message.kind != value:
            return False
        if value and key == "thread" and value not in message.thread.lower():
            return False
        if not value and word not in f"{message.sender} {message.subject} {message.body}".lower():
            return False
    return True


class BoardScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "compose", "Compose", id="board.compose"),
        Binding("R", "reply", "Reply", id="board.reply"),
        Binding("slash", "focus_filter", "Filter", id="board.filter"),
    ]

    OPEN_AFTER_S: ClassVar[float] = 0.8
    """A highlighted message counts as opened after the cursor stays this long on it."""

    class MessageOpened(Message):
        """The person read a message: the app records the read receipt."""

        def __init__(self, message: MessageView) -> None:
            super().__init__()
            self.message = message

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: OrgSnapshot | None = None
        self._opened: set[str] = set()
        self._open_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("Board — filter: from:NAME kind:KIND thread:T or words", classes="panel-title")
        yield Input(placeholder="filter", id="board-filter")
        with Horizontal(id="board-body"):
            yield BoardTable(id="board-table")
            with VerticalScroll(id="message-view"):
                yield Static(id="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self.show_snapshot)
        self.query_one(BoardTable).focus()

    def show_snapshot(self, snapshot: OrgSnapshot | None) -> None:
        if snapshot is None:
            return
        self.snapshot = snapshot
        text = self.query_one("#board-filter", Input).value
        self.query_one(BoardTable).show(m for m in snapshot.messages if keep(m, text))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_snapshot(self.snapshot)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        message = self.current()
        if message is None:
            return
        if self._open_timer is not None:
            self._open_timer.stop()
        self._open_timer = self.set_timer(self.OPEN_AFTER_S, lambda: self._open(message))
        if message.malformed:
            body = Text(f"{message.subject}\nmalformed: {message.malformed}", style="red")
            self.query_one("#message", Static).update(body)
            return
        head = Text(f"{message.subject}\n", style="bold")
        head += Text(
            f"{message.sender} → {', '.join(message.to)} · {message.kind} · "
            f"{message.time} · thread {message.thread}\n",
            style="dim",
        )
        self.query_one("#message", Static).update(
            Group(head, Markdown(message.body or "_(empty)_"))
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if message := self.current():
            self._open(message)

    def _open(self, message: MessageView) -> None:
        """Announce a read once per message and screen, and only for one still unread."""
        if message.unread and not message.malformed and message.id not in self._opened:
            self._opened.add(message.id)
            self.post_message(self.MessageOpened(message))

    def current(self) -> MessageView | None:
        table = self.query_one(BoardTable)
        if not table.row_count or self.snapshot is None:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((m for m in self.snapshot.messages if m.id == key), None)

    def action_focus_filter(self) -> None:
        self.query_one("#board-filter", Input).focus()

    def action_compose(self) -> None:
        self.post_message(ComposeRequested())

    def action_reply(self) -> None:
        message = self.current()
        if message and not message.malformed:
            self._open(message)
            self.post_message(
                ComposeRequested(
                    to=message.sender, subject=f"Re: {message.subject}", reply_to=message.id
                )
            )
