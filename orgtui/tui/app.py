"""``orgtui``: the Textual app over one org.

It only reads ``.org/`` (in workers) and sends commands (control socket, else the CLI): closing
it, killing it or opening it twice never touches an agent.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from orgtui.tui.data import Feed, OrgSnapshot, environment_without_tmux
from orgtui.tui.screens.dialogs import (
    ComposeDialog,
    Draft,
    FilterDialog,
    Handoff,
    HandoffDialog,
    NewAgent,
    NewAgentDialog,
)
from orgtui.tui.screens.main import MainScreen

PANE_PREVIEW_LINES = 3
REFRESH_EVERY_S = 2.0
PANE_EVERY_S = 1.0
COMMIT_EVERY_S = 15.0


@dataclass(frozen=True)
class KeyAction:
    """A remappable key: ``[keys] <action> = "<key>"`` in org.toml."""

    action: str
    key: str
    label: str
    help: str
    agent: bool = False  # acts on the selected agent (main screen only)


KEY_ACTIONS = (
    KeyAction(
        "takeover",
        "enter",
        "Take over",
        "take over the agent: its tmux window; detach (prefix d) to come back",
        True,
    ),
    KeyAction(
        "suspend", "s", "Suspend", "suspend / resume the agent (SIGSTOP its processes)", True
    ),
    KeyAction("park", "p", "Park", "park the agent: WIP commit, window closed, seat kept", True),
    KeyAction(
        "handoff",
        "h",
        "Hand off",
        "hand off: another backend in the same seat, or the work to another agent",
        True,
    ),
    KeyAction(
        "restart",
        "r",
        "Restart",
        "restart the agent (resumes its session where the backend can)",
        True,
    ),
    KeyAction(
        "agent", "a", "Agent", "the agent's screen: live pane, runs, messages, commits", True
    ),
    KeyAction("message", "m", "Message", "write to the selected agent", True),
    KeyAction("new_agent", "n", "New", "spawn a new agent (name, role, backend, GPU)"),
    KeyAction("board", "b", "Board", "the board: threads, filters, read, compose, reply"),
    KeyAction("ledger", "l", "Ledger", "the ledger: variants, verdicts, flags, progress"),
    KeyAction("gpus", "g", "GPUs", "GPU utilisation history"),
    KeyAction("standup", "u", "Standup", "call a standup now"),
    KeyAction("filter", "slash", "Filter", "filter agents by name, role, backend or state"),
    KeyAction(
        "start_supervisor", "U", "Start sup.", "start the supervisor (orgtui up) when it is down"
    ),
    KeyAction("toggle_dark", "ctrl+t", "Theme", "switch between the dark and the light theme"),
    KeyAction("help", "question_mark", "Help", "this list"),
    KeyAction("quit", "q", "Quit (agents keep running)", "quit the TUI — agents keep running"),
)
MOVES = (("up,k", -1, 0), ("down,j", 1, 0), ("left", 0, -1), ("right", 0, 1))


def run_suspended(app: App, argv: list[str]) -> None:
    """Take over: hand the terminal to ``argv`` (tmux attach) and come back when it returns."""
    with app.suspend():
        subprocess.run(argv, env=environment_without_tmux())


class OrgApp(App[None]):
    """The whole org on one screen."""

    CSS_PATH = "app.tcss"
    TITLE = "orgtui"
    # Priority: the scrolling card container would otherwise take the arrows for itself.
    # On other screens check_action turns them off, and the focused widget gets them.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"move({rows}, {cols})", show=False, priority=True)
        for key, rows, cols in MOVES
    ]
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        root: Path,
        socket: str | None = None,
        *,
        keys: dict[str, str] | None = None,
        live: bool = True,
        clock: Callable[[], float] = time.time,
        takeover_runner: Callable[[App, list[str]], None] = run_suspended,
        commander: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        super().__init__()
        self.feed = Feed(root, socket)
        self.live = live
        self.clock = clock
        self.takeover_runner = takeover_runner
        self.commander = commander or self._send
        self.snapshot: OrgSnapshot | None = None
        self.filter_text = ""
        self.key_of = {k.action: (keys or {}).get(k.action, k.key) for k in KEY_ACTIONS}
        for spec in KEY_ACTIONS:
            self.bind(
                self.key_of[spec.action],
                spec.action,
                description=spec.label,
                show=spec.action not in ("toggle_dark", "start_supervisor"),
            )

    # -- lifecycle -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        self.refresh_snapshot()
        if self.live:
            self.watch_org()
            self.set_interval(REFRESH_EVERY_S, self.refresh_snapshot)
            self.set_interval(PANE_EVERY_S, self.refresh_panes)
            self.set_interval(COMMIT_EVERY_S, self.refresh_commits)

    @property
    def main(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    @work(exclusive=True, group="watch")
    async def watch_org(self) -> None:
        """Refresh as soon as anything under .org/ changes (inotify; polling where it lacks)."""
        from watchfiles import awatch

        org_dir = self.feed.paths.org_dir
        org_dir.mkdir(parents=True, exist_ok=True)
        async for _changes in awatch(org_dir, debounce=50, step=10, recursive=True):
            self.refresh_snapshot()

    @work(thread=True, exclusive=True, group="snapshot")
    def refresh_snapshot(self) -> None:
        snapshot = self.feed.snapshot(now=self.clock())
        self.call_from_thread(self.show_snapshot, snapshot)

    def show_snapshot(self, snapshot: OrgSnapshot) -> None:
        first = self.snapshot is None
        self.snapshot = snapshot
        main = self.main
        if main is not None and main.is_mounted:
            main.show(snapshot, self.filter_text)
            if first and self.live:
                self.refresh_panes()
                self.refresh_commits()
        show = getattr(self.screen, "show_snapshot", None)  # the board screen follows too
        if show is not None:
            show(snapshot)

    @work(thread=True, exclusive=True, group="panes")
    def refresh_panes(self) -> None:
        """Pane previews, fetched only for the cards on screen."""
        main = self.main
        if main is None or self.screen is not main:
            return
        for card in main.cards:
            view = card.view
            if view is None or not view.pane_id or not card.display or card.region.height == 0:
                continue
            text = self.feed.pane_text(view.pane_id, PANE_PREVIEW_LINES)
            self.call_from_thread(setattr, card, "pane", text)

    @work(thread=True, exclusive=True, group="commits")
    def refresh_commits(self) -> None:
        main = self.main
        if main is None:
            return
        for card in main.cards:
            commits = self.feed.commits(card.agent, 1)
            self.call_from_thread(setattr, card, "commit", commits[0] if commits else "")

    # -- commands --------------------------------------------------------------------------
    def _send(self, payload: dict[str, Any]) -> str:
        """Through the supervisor's control socket; with no supervisor, the CLI's fallbacks."""
        from orgtui.supervisor.control import ControlError, request

        try:
            answer = request(self.feed.paths, payload, timeout=15.0)
        except ControlError:
            return self._cli(payload)
        if not answer.get("ok"):
            raise RuntimeError(str(answer.get("error")))
        return f"{payload['verb']} {payload.get('agent', '')}: done"

    def _cli(self, payload: dict[str, Any]) -> str:
        verb, agent = payload["verb"], payload.get("agent")
        argv = [verb, *([agent] if agent else [])]
        for flag in ("backend", "to", "role", "gpu"):
            if payload.get(flag) is not None:
                argv += [f"--{flag}", str(payload[flag])]
        return (self.run_orgtui(argv).splitlines() or [f"{verb}: done"])[-1]

    def run_orgtui(self, args: list[str]) -> str:
        """``orgtui ARGS`` on this org (blocking: call from a worker); its output, or raise."""
        result = subprocess.run(self.cli_argv(*args), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError((result.stderr or result.stdout).strip())
        return result.stdout.strip()

    def cli_argv(self, *args: str) -> list[str]:
        argv = [sys.executable, "-m", "orgtui", *args, "--root", str(self.feed.root)]
        return argv + (["--socket", self.feed.socket] if self.feed.socket else [])

    @work(thread=True, group="command")
    def command(self, payload: dict[str, Any]) -> None:
        try:
            said = self.commander(payload)
        except Exception as error:  # any failure is shown, the TUI carries on
            self.call_from_thread(self.notify, str(error), title=payload["verb"], severity="error")
            return
        self.call_from_thread(self.notify, said, title=payload["verb"])
        self.call_from_thread(self.refresh_snapshot)

    # -- which actions apply where ---------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Agent keys act on the main screen (take over also from an agent's own screen)."""
        if action == "takeover" and getattr(self.screen, "agent", None):
            return True  # from an agent's own screen
        agent_actions = {k.action for k in KEY_ACTIONS if k.agent} | {"move", "filter", "new_agent"}
        return action not in agent_actions or isinstance(self.screen, MainScreen)

    def selected_agent(self) -> str | None:
        main = self.main
        card = main.selected() if main else None
        if card is None:
            self.notify("no agent selected", severity="warning")
        return card.agent if card else None

    # -- actions ---------------------------------------------------------------------------
    def action_move(self, rows: int, cols: int) -> None:
        if self.main:
            self.main.move(rows, cols)

    def action_takeover(self) -> None:
        agent = (
            self.selected_agent()
            if isinstance(self.screen, MainScreen)
            else getattr(self.screen, "agent", None)
        )
        if not agent:
            return
        self.takeover_runner(self, self.cli_argv("attach", agent))
        self.refresh_snapshot()

    def action_suspend(self) -> None:
        agent = self.selected_agent()
        if agent and self.snapshot:
            status = next((a.status for a in self.snapshot.agents if a.name == agent), "")
            self.command({"verb": "resume" if status == "suspended" else "suspend", "agent": agent})

    def action_park(self) -> None:
        if agent := self.selected_agent():
            self.command({"verb": "park", "agent": agent})

    def action_restart(self) -> None:
        if agent := self.selected_agent():
            self.command({"verb": "restart", "agent": agent})

    def action_handoff(self) -> None:
        agent = self.selected_agent()
        if not agent or not self.snapshot:
            return

        def done(choice: Handoff | None) -> None:
            if choice:
                self.command(
                    {
                        "verb": "handoff",
                        "agent": agent,
                        "backend": choice.backend,
                        "to": choice.to_agent,
                    }
                )

        self.push_screen(HandoffDialog(agent, [a.name for a in self.snapshot.agents]), done)

    def action_new_agent(self) -> None:
        roles = sorted(
            p.stem for p in self.feed.paths.roles_dir.glob("*.md") if p.stem != "protocol"
        )

        def done(new: NewAgent | None) -> None:
            if new:
                self.command(
                    {
                        "verb": "spawn",
                        "agent": new.name,
                        "role": new.role,
                        "backend": new.backend,
                        "gpu": new.gpu,
                    }
                )

        self.push_screen(NewAgentDialog(roles), done)

    def action_message(self) -> None:
        if agent := self.selected_agent():
            self.compose_message(to=agent)

    def compose_message(self, to: str = "", subject: str = "", reply_to: str | None = None) -> None:
        names = [a.name for a in self.snapshot.agents] if self.snapshot else []
        dialog = ComposeDialog([*names, "all"], to=to, subject=subject, reply_to=reply_to)
        self.push_screen(dialog, self.post_draft)

    def post_draft(self, draft: Draft | None) -> None:
        if draft is None:
            return
        from orgtui import board
        from orgtui.errors import OrgtuiError

        known = [a.name for a in self.snapshot.agents] if self.snapshot else None
        try:
            message = board.post(
                self.feed.paths,
                sender="human",
                to=draft.to,
                subject=draft.subject,
                body=draft.body,
                reply_to=draft.reply_to,
                known_agents=known,
            )
        except OrgtuiError as error:
            self.notify(str(error), title="not sent", severity="error")
            return
        self.notify(f"sent {message.id} to {', '.join(message.to)}", title="message")
        self.refresh_snapshot()

    def mark_read(self, message_id: str) -> None:
        from orgtui import board
        from orgtui.errors import OrgtuiError

        with contextlib.suppress(OrgtuiError, OSError):  # a read mark is a nicety, not an error
            board.mark_read(self.feed.paths, "human", [message_id])

    # Screens other than the main one are imported when first opened: plotext and the
    # ledger are not needed for the first frame.
    def action_board(self) -> None:
        from orgtui.tui.screens.board import BoardScreen

        if self.snapshot and not isinstance(self.screen, BoardScreen):
            self.push_screen(BoardScreen(self.snapshot))

    def action_ledger(self) -> None:
        from orgtui.tui.screens.ledger import LedgerScreen

        if not isinstance(self.screen, LedgerScreen):
            self.push_screen(LedgerScreen())

    def action_gpus(self) -> None:
        from orgtui.tui.screens.gpus import GpuScreen

        if not isinstance(self.screen, GpuScreen):
            self.push_screen(GpuScreen())

    def action_agent(self) -> None:
        from orgtui.tui.screens.agent import AgentScreen

        if agent := self.selected_agent():
            self.push_screen(AgentScreen(agent))

    def action_standup(self) -> None:
        self.run_cli(["standup", "--now"], "standup")

    def action_start_supervisor(self) -> None:
        self.run_cli(["up"], "up")

    @work(thread=True, group="command")
    def run_cli(self, args: list[str], title: str) -> None:
        try:
            text, severity = self.run_orgtui(args) or f"{title}: done", "information"
        except RuntimeError as error:
            text, severity = str(error), "error"
        self.call_from_thread(self.notify, text, title=title, severity=severity)
        self.call_from_thread(self.refresh_snapshot)

    def action_filter(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.filter_text = text
                if self.snapshot and self.main:
                    self.main.show(self.snapshot, text)

        self.push_screen(FilterDialog(self.filter_text), done)

    def action_help(self) -> None:
        from orgtui.tui.screens.help import HelpScreen

        keys = [(self.key_of[k.action], k.help) for k in KEY_ACTIONS]
        keys += [
            ("arrows, j / k", "move between agents"),
            ("tab", "next widget"),
            ("esc", "back to the main screen"),
        ]
        self.push_screen(HelpScreen(keys))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
