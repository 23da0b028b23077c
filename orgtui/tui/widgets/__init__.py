"""Widgets of the TUI: agent cards, state badges, GPU gauges, the board list."""
