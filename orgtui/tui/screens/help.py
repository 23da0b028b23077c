"""Every key, as bound right now (org.toml ``[keys]`` remaps them)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(title="orgtui keys", show_header=True, expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("what it does")
        for key, text in self.keys:
            table.add_row(key, text)
        with VerticalScroll(classes="dialog"):
            yield Static(table)
            yield Static('Remap any key in org.toml, e.g. [keys] takeover = "t". Esc closes.')
