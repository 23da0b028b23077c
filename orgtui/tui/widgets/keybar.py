"""The key bar at the bottom of every screen: one line of text, not a widget per key.

Textual's ``Footer`` mounts a widget for each key and restyles each of them on start; with a
dozen keys that alone cost more than drawing 64 agent cards (benchmarks/tui.py).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class KeyBar(Static):
    """The screen's shown keys, as the person types them (org.toml remaps included)."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $panel;
        color: $text-muted;
    }
    """

    _shown = ""

    def on_mount(self) -> None:
        self.show_keys()
        # Remapped keys (org.toml's, read after the first frame) and bindings that come and go.
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.show_keys())

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def show_keys(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        seen = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            text += Text(f" {self.app.get_key_display(binding)} ", style="bold reverse")
            text += Text(f" {binding.description}  ")
        if text.plain != self._shown:
            self._shown = text.plain
            self.update(text)
