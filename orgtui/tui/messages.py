"""Requests that several screens send up to the app.

A message that only one widget posts is nested in that widget (``AgentCard.Selected``,
``BoardScreen.MessageOpened``); these two are asked for from more than one screen, so their
handlers (``on_take_over_requested``, ``on_compose_requested``) live once, on the app.
"""

from __future__ import annotations

from textual.message import Message


class TakeOverRequested(Message):
    """Hand the terminal to an agent's tmux window until the person detaches."""

    def __init__(self, agent: str) -> None:
        super().__init__()
        self.agent = agent


class ComposeRequested(Message):
    """Open the compose dialog, maybe addressed already (a reply names what it answers)."""

    def __init__(self, to: str = "", subject: str = "", reply_to: str | None = None) -> None:
        super().__init__()
        self.to = to
        self.subject = subject
        self.reply_to = reply_to
