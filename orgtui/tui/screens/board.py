"""The board screen: every message, filters, the selected message in full, compose and reply."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from orgtui.tui.data import MessageView, OrgSnapshot
from orgtui.tui.widgets.board_table import BoardTable


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
        ("escape", "app.pop_screen", "Back"),
        ("c", "compose", "Compose"),
        ("R", "reply", "Reply"),
        ("slash", "focus_filter", "Filter"),
    ]

    def __init__(self, snapshot: OrgSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def compose(self) -> ComposeResult:
        yield Static("Board — filter: from:NAME kind:KIND thread:T or words", classes="panel-title")
        yield Input(placeholder="filter", id="board-filter")
        with Horizontal(id="board-body"):
            yield BoardTable(id="board-table")
            with VerticalScroll(id="message-view"):
                yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.show_snapshot(self.snapshot)
        self.query_one(BoardTable).focus()

    def show_snapshot(self, snapshot: OrgSnapshot) -> None:
        self.snapshot = snapshot
        text = self.query_one("#board-filter", Input).value
        self.query_one(BoardTable).show(m for m in snapshot.messages if keep(m, text))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_snapshot(self.snapshot)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        message = self.current()
        if message is None:
            return
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
        self.app.mark_read(message.id)  # type: ignore[attr-defined]

    def current(self) -> MessageView | None:
        table = self.query_one(BoardTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((m for m in self.snapshot.messages if m.id == key), None)

    def action_focus_filter(self) -> None:
        self.query_one("#board-filter", Input).focus()

    def action_compose(self) -> None:
        self.app.compose_message()  # type: ignore[attr-defined]

    def action_reply(self) -> None:
        message = self.current()
        if message and not message.malformed:
            self.app.compose_message(  # type: ignore[attr-defined]
                to=message.sender, subject=f"Re: {message.subject}", reply_to=message.id
            )
