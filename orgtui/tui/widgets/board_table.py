"""The board as a table: newest last, unread (for the person) in bold yellow, malformed in red."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable

from orgtui.views import MessageView


class BoardTable(DataTable):
    """Latest messages; the row key is the message id."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self._shown: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.add_columns("time", "from → to", "kind", "thread", "subject")

    def show(self, messages: Iterable[MessageView]) -> None:
        """Redraw only when the set of messages or their read marks changed."""
        items = list(messages)
        key = tuple(f"{m.id}:{m.unread}" for m in items)
        if key == self._shown:
            return
        self._shown = key
        at_end = self.cursor_row >= self.row_count - 1
        self.clear()
        for m in items:
            style = "bold red" if m.malformed else "bold yellow" if m.unread else ""
            when = m.time[11:19] if len(m.time) >= 19 else m.time
            who = f"{m.sender} → {', '.join(m.to)}"
            subject = f"malformed: {m.malformed}" if m.malformed else m.subject
            cells = [when, who, m.kind, m.thread, subject]
            self.add_row(*(Text(str(c), style=style) for c in cells), key=m.id)
        if at_end and self.row_count:
            self.move_cursor(row=self.row_count - 1)
