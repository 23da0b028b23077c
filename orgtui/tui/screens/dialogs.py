"""Modal dialogs: compose a message, hand off, add an agent, filter, confirm, adopt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, Static, TextArea

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


class ConfirmDialog(ModalScreen[bool]):
    """Yes or no before something that cannot be undone; esc is no."""

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(self, title: str, text: str, confirm: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text), classes="dialog-title")
            yield Static(Text(self.text))
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm, variant="error", id="ok")
                yield Button("Keep (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "ok")

    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass(frozen=True)
class AdoptChoice:
    """Adopt ``variant``; ``override`` is the reason given for adopting against the gate."""

    variant: str
    override: str | None = None


class AdoptDialog(ModalScreen[AdoptChoice | None]):
    """The gate's verdict on a variant before adopting it: what it says, its flags, what is
    missing. When the gate refuses, adopting anyway takes a stated reason (posted to all)."""

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(
        self, variant: str, verdict: str, missing: list[str], allowed: bool, commit: str | None
    ) -> None:
        super().__init__()
        self.variant = variant
        self.verdict = verdict
        self.missing = missing
        self.allowed = allowed
        self.commit = commit

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="adopt-dialog"):
            yield Static(Text(f"Adopt {self.variant}?"), classes="dialog-title")
            yield Static(Text(self.verdict), id="adopt-verdict")
            yield Static(self._gate(), id="adopt-gate")
            yield Input(
                placeholder="why adopt against the verdict (posted to the board)",
                id="adopt-reason",
            )
            with Horizontal(classes="dialog-buttons"):
                if self.allowed:
                    yield Button("Adopt", variant="primary", id="adopt")
                else:
                    yield Button("Override...", variant="warning", id="override")
                yield Button("Cancel (esc)", id="cancel")

    def _gate(self) -> Text:
        if self.allowed:
            commit = (self.commit or "")[:12]
            return Text(
                f"\nThe gate passes: commit {commit} is merged into the program branch and "
                f"{self.variant} becomes the baseline.",
                style="green",
            )
        text = Text("\nThe gate refuses. Missing:\n", style="bold red")
        for item in self.missing:
            text += Text(f"  • {item}\n")
        return text

    def on_mount(self) -> None:
        self.query_one("#adopt-reason", Input).display = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        reason = self.query_one("#adopt-reason", Input)
        if event.button.id == "override" and not reason.display:
            reason.display = True  # the first press asks for the reason, the second adopts
            reason.focus()
            event.button.label = "Adopt anyway"
        elif event.button.id == "override":
            self._adopt_anyway()
        elif event.button.id == "adopt":
            self.dismiss(AdoptChoice(self.variant))
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._adopt_anyway()

    def _adopt_anyway(self) -> None:
        reason = self.query_one("#adopt-reason", Input).value.strip()
        if not reason:
            self.notify("adopting against the verdict needs a reason", severity="error")
            return
        self.dismiss(AdoptChoice(self.variant, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
