"""Modal dialogs: compose a message, hand off, add an agent, filter, confirm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, TextArea

BACKENDS = ("claude", "codex", "builtin", "scripted", "shell", "command")


@dataclass(frozen=True)
class Draft:
    """A message the person wrote."""

    to: tuple[str, ...]
    subject: str
    body: str
    reply_to: str | None = None


class ComposeDialog(ModalScreen[Draft | None]):
    """Write a message; recipients complete from the org's agents."""

    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "cancel", "Cancel"),
        ("ctrl+s", "send", "Send"),
    ]

    def __init__(
        self, recipients: list[str], *, to: str = "", subject: str = "", reply_to: str | None = None
    ) -> None:
        super().__init__()
        self.recipients = recipients
        self.initial = (to, subject)
        self.reply_to = reply_to

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Message" + (" (reply)" if self.reply_to else ""), classes="dialog-title")
            yield Input(
                self.initial[0],
                placeholder="to: agent[,agent] or all",
                id="to",
                suggester=SuggestFromList(self.recipients, case_sensitive=False),
            )
            yield Input(self.initial[1], placeholder="subject", id="subject")
            yield TextArea(id="body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send (ctrl+s)", variant="primary", id="send")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_send() if event.button.id == "send" else self.action_cancel()

    def action_send(self) -> None:
        to = tuple(t.strip() for t in self.query_one("#to", Input).value.split(",") if t.strip())
        subject = self.query_one("#subject", Input).value.strip()
        if not to or not subject:
            self.notify("a recipient and a subject are needed", severity="error")
            return
        body = self.query_one("#body", TextArea).text
        self.dismiss(Draft(to, subject, body, self.reply_to))

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Handoff:
    """Hand an agent's seat to another backend, or its work to another agent."""

    backend: str | None = None
    to_agent: str | None = None


class HandoffDialog(ModalScreen[Handoff | None]):
    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(self, agent: str, agents: list[str]) -> None:
        super().__init__()
        self.agent = agent
        self.others = [a for a in agents if a != agent]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Hand off {self.agent}", classes="dialog-title")
            yield Label("to another backend (same seat, same worktree):")
            yield Select([(b, b) for b in BACKENDS], prompt="backend", id="backend")
            yield Label("or its work to another agent:")
            yield Select([(a, a) for a in self.others], prompt="agent", id="agent")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Hand off", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        backend = self.query_one("#backend", Select).value
        agent = self.query_one("#agent", Select).value
        backend = backend if isinstance(backend, str) else None  # unset: Select.NULL
        agent = agent if isinstance(agent, str) else None
        if not backend and not agent:
            self.notify("choose a backend or an agent", severity="error")
            return
        self.dismiss(Handoff(backend, agent))

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class NewAgent:
    name: str
    role: str
    backend: str
    gpu: int | None


class NewAgentDialog(ModalScreen[NewAgent | None]):
    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(self, roles: list[str]) -> None:
        super().__init__()
        self.roles = roles or ["researcher"]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New agent", classes="dialog-title")
            yield Input(placeholder="name (a-z, 0-9, - and _)", id="name")
            yield Select([(r, r) for r in self.roles], value=self.roles[0], id="role")
            yield Select([(b, b) for b in BACKENDS], value="shell", id="backend")
            yield Input(placeholder="GPU index (empty: none)", id="gpu", type="integer")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Spawn", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        from orgtui.names import is_valid_name

        name = self.query_one("#name", Input).value.strip()
        if not is_valid_name(name):
            self.notify(f"bad name {name!r}: use [a-z0-9][a-z0-9_-]*", severity="error")
            return
        gpu_text = self.query_one("#gpu", Input).value.strip()
        self.dismiss(
            NewAgent(
                name=name,
                role=str(self.query_one("#role", Select).value),
                backend=str(self.query_one("#backend", Select).value),
                gpu=int(gpu_text) if gpu_text else None,
            )
        )

    def action_cancel(self) -> None:
        self.dismiss(None)


class FilterDialog(ModalScreen[str | None]):
    """A substring over agent names, roles, backends and states; empty clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Filter agents (name, role, backend or state; empty: all)")
            yield Input(self.current, id="filter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
