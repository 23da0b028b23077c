"""The main screen's view of the board: its latest lines, newest last, as one piece of text.

Read-only (the board screen, ``b``, is where messages are opened and answered), so it needs
none of a ``DataTable``'s machinery, whose start alone costs the first frame about 20 ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from orgtui.views import MessageView


WHO_WIDTH = 18


def board_line(m: MessageView) -> Text:
    """``hh:mm:ss  from → to  subject``: unread (for the person) bold yellow, malformed red."""
    style = "bold red" if m.malformed else "bold yellow" if m.unread else ""
    when = m.time[11:19] if len(m.time) >= 19 else m.time
    who = f"{m.sender} → {', '.join(m.to)}"
    who = who if len(who) <= WHO_WIDTH else who[: WHO_WIDTH - 1] + "…"
    subject = f"malformed: {m.malformed}" if m.malformed else m.subject
    return Text(f"{when:8}  {who:{WHO_WIDTH}}  {subject}", style=style)


class BoardList(Static):
    """The last messages that fit, redrawn only when they or their read marks change."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: tuple[Text, ...] = ()
        self._shown: tuple[str, ...] = ()

    def show(self, messages: Sequence[MessageView]) -> None:
        key = tuple(f"{m.id}:{m.unread}" for m in messages)
        if key == self._shown:
            return
        self._shown = key
        self.lines = tuple(board_line(m) for m in messages)
        self.refresh()

    def render(self) -> Text:
        rows = list(self.lines[-max(1, self.size.height) :]) if self.lines else []
        if not rows:
            return Text("no messages yet", style="dim")
        for row in rows:
            row.truncate(max(1, self.size.width), overflow="ellipsis")
        return Text("\n").join(rows)
