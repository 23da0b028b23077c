"""``orgtui``: the Textual app over one org.

- A view: it reads ``.org/`` through ``orgtui.snapshot.Feed`` and asks the supervisor's verb
  table (``supervisor.verbs.send``) for every change; closing it, killing it or opening it
  twice never touches an agent.
- Nothing that blocks runs on the event loop: snapshots, pane captures, commits, verbs,
  posts and read receipts all run in ``@work(thread=True)`` workers.
- The snapshot, pane previews and last commits are reactives that screens watch; screens
  and cards send requests up as messages.
- The first frame waits for no more than the seats (``Feed.roster``, read in a worker while
  the app loads, for up to ``FIRST_READ_WAIT_S``) and is composed with the cards it shows:
  one layout and one paint instead of an empty screen first; the board, runs, GPUs and
  ledger follow in the next read, and cards past the first screen are mounted in batches
  after it (benchmarks/tui.py holds this to a bare Textual app).
- A story told over the org (``orgtui demo``'s narrator) is read with each snapshot.
- Running another orgtui command line (``orgtui attach``, ``orgtui up``) is injected by the
  caller (``orgtui.commands.tui``): this package starts no process itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.keys import format_key
from textual.reactive import reactive
from textual.screen import Screen

from orgtui.snapshot import Feed, Narrator, OrgSnapshot
from orgtui.tui.messages import ComposeRequested, TakeOverRequested
from orgtui.tui.screens.main import MainScreen

if TYPE_CHECKING:
    from orgtui.supervisor.verbs import Reply, Request
    from orgtui.tui.screens.board import BoardScreen
    from orgtui.tui.screens.dialogs import Draft

REFRESH_EVERY_S = 2.0
PANE_EVERY_S = 1.0
COMMIT_EVERY_S = 15.0
FIRST_READ_WAIT_S = 0.5
"""How long the start waits for the seats; a slower read opens the screen empty, the cards
arriving when it ends."""

TakeoverRunner = Callable[[App[Any], list[str]], None]
"""Hands the terminal to a command line (``orgtui attach``) and returns when it ends."""
CliRunner = Callable[[list[str]], str]
"""Runs an orgtui command line to its end; its output, or an OrgtuiError with its message."""
Commander = Callable[["Request"], "Reply"]
"""Sends one verb to the org (the supervisor's socket, else directly under the lock)."""

KEY_NAMES = {"enter": "enter", "pageup": "page up", "pagedown": "page down"}
"""Keys whose name reads better than Textual's symbol for them (``⏎``, ``pgup``)."""

EXTRA_HELP = (
    ("arrows, j / k", "move between agents"),
    ("tab", "next widget"),
    ("esc", "back to the main screen"),
)


class OrgApp(App[None]):
    """The whole org on one screen."""

    CSS_PATH = "app.tcss"
    TITLE = "orgtui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "board", "Board", id="board", tooltip="the board: threads, read, reply"),
        Binding(
            "l",
            "ledger",
            "Ledger",
            id="ledger",
            tooltip="the ledger: variants, verdicts, flags, progress",
        ),
        Binding("g", "gpus", "GPUs", id="gpus", tooltip="GPU utilisation history"),
        Binding(
            "Q",
            "queue",
            "Queue",
            id="queue",
            tooltip="the experiment queue: slots, jobs, estimated finish; cancel a job",
        ),
        Binding("u", "standup", "Standup", id="standup", tooltip="call a standup now"),
        Binding(
            "U",
            "start_supervisor",
            "Start sup.",
            show=False,
            id="start_supervisor",
            tooltip="start the supervisor (orgtui up) when it is down",
        ),
        Binding(
            "ctrl+t",
            "toggle_dark",
            "Theme",
            show=False,
            id="toggle_dark",
            tooltip="switch between the dark and the light theme",
        ),
        Binding("question_mark", "help", "Help", id="help", tooltip="this list"),
        Binding(
            "q",
            "quit",
            "Quit (agents keep running)",
            id="quit",
            tooltip="quit the TUI — agents keep running",
        ),
    ]

    snapshot: reactive[OrgSnapshot | None] = reactive(None)
    """The org as last read from ``.org/``; None until the first read."""
    panes: reactive[dict[str, str]] = reactive(dict)
    """Agent name -> the last lines of its pane, for the cards on screen."""
    commits: reactive[dict[str, str]] = reactive(dict)
    """Agent name -> its last commit."""

    def __init__(
        self,
        root: Path,
        socket: str | None = None,
        *,
        keys: dict[str, str] | None = None,
        live: bool = True,
        clock: Callable[[], float] = time.time,
        takeover_runner: TakeoverRunner | None = None,
        cli_runner: CliRunner | None = None,
        commander: Commander | None = None,
        narrator: Narrator | None = None,
        warm_up: Callable[[], None] | None = None,
    ) -> None:
        """The app over the org at ``root``.

        Args:
            root: the org's directory (where org.toml is).
            socket: the tmux server (``-L``) the org runs on; None: the one state.json records.
            keys: binding id -> key, e.g. ``{"takeover": "t"}``; None: org.toml's ``[keys]``,
                applied when the org is first read in full (after the first frame).
            live: follow ``.org/`` and the panes; False draws one snapshot (tests, screenshots).
            clock: the time the header's uptime is counted to.
            takeover_runner, cli_runner: run ``orgtui attach`` / ``orgtui up``; None: not offered.
            commander: sends verbs; default ``supervisor.verbs.send`` on this org.
            narrator: tells a story over each snapshot (``orgtui demo``), shown above the cards.
            warm_up: run on the event loop once the first frame is drawn (the tmux library,
                which needs the terminal's own stdout while it is imported).
        """
        super().__init__()
        self.feed = Feed(root, socket, narrator)
        self.live = live
        self.clock = clock
        self.takeover_runner = takeover_runner
        self.cli_runner = cli_runner
        self.commander: Commander = commander or self._send
        self.keys = dict(keys or {})
        self._keys_from_org = keys is None
        self._warm_up = warm_up
        self.main_screen = MainScreen()
        self.set_keymap(self.keys)
        self._seats_read = asyncio.Event()

    def get_default_screen(self) -> Screen:
        return self.main_screen

    def get_key_display(self, binding: Binding) -> str:
        """A key as the person types it: ``?``, ``/``, ``ctrl+t``, ``enter``."""
        return human_key(binding.key.split(",")[0].strip())

    # -- reading the org -------------------------------------------------------------------
    async def on_load(self) -> None:
        # Before the first screen is composed, so that it is composed with the cards; the
        # event loop is not blocked meanwhile (the read is a worker thread).
        if not gc.get_freeze_count():
            # Once a process: what is alive now (modules, classes, functions: Textual's, rich's,
            # ours) lives as long as the app, and the collector stops walking it again; its
            # first full collection would otherwise fall on the first frame (about 20 ms).
            gc.freeze()
        self.refresh_snapshot()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._seats_read.wait(), FIRST_READ_WAIT_S)

    def on_mount(self) -> None:
        if self._warm_up is not None:
            self.call_after_refresh(self._warm_up)
        if self.live:
            self.call_after_refresh(self.watch_org)  # watchfiles: imported after the first frame
            self.set_interval(REFRESH_EVERY_S, self.refresh_snapshot)
            self.set_interval(PANE_EVERY_S, self.refresh_panes)
            self.set_interval(COMMIT_EVERY_S, self.refresh_commits)

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
        if self.snapshot is None:  # the first frame: the seats first, the rest once it is drawn
            self.call_from_thread(self._set_snapshot, self.feed.roster(now=self.clock()))
            return
        snapshot = self.feed.snapshot(now=self.clock())
        self.call_from_thread(self._set_snapshot, snapshot)

    def _set_snapshot(self, snapshot: OrgSnapshot) -> None:
        self.snapshot = snapshot
        self._seats_read.set()
        if not snapshot.complete:
            self.call_after_refresh(self.refresh_snapshot)

    def watch_snapshot(self, old: OrgSnapshot | None, new: OrgSnapshot | None) -> None:
        if self._keys_from_org and new is not None and new.complete and new.keys != self.keys:
            self.keys = dict(new.keys)
            self.set_keymap(self.keys)
        first = new is not None and new.complete and (old is None or not old.complete)
        if first and self.live:
            # after the main screen has drawn the first cards: previews go to visible ones
            self.call_after_refresh(self.refresh_panes)
            self.call_after_refresh(self.refresh_commits)

    def refresh_panes(self) -> None:
        """Pane previews, captured only for the cards on screen, as many lines as they show."""
        main = self.main_screen
        if self.screen is main and main.pane_lines and (targets := main.visible_panes()):
            self.capture_panes(targets, main.pane_lines)

    @work(thread=True, exclusive=True, group="panes")
    def capture_panes(self, targets: dict[str, str], lines: int) -> None:
        texts = {name: self.feed.pane_text(pane_id, lines) for name, pane_id in targets.items()}
        self.call_from_thread(self._set_panes, texts)

    def _set_panes(self, texts: dict[str, str]) -> None:
        self.panes = {**self.panes, **texts}

    def refresh_commits(self) -> None:
        if self.snapshot is not None:
            self.read_commits([a.name for a in self.snapshot.agents])

    @work(thread=True, exclusive=True, group="commits")
    def read_commits(self, agents: list[str]) -> None:
        last = {name: next(iter(self.feed.commits(name, 1)), "") for name in agents}
        self.call_from_thread(self._set_commits, last)

    def _set_commits(self, last: dict[str, str]) -> None:
        self.commits = last

    # -- verbs -----------------------------------------------------------------------------
    def _send(self, request: Request) -> Reply:
        from orgtui.supervisor.verbs import send

        return send(self.feed.root, self.feed.socket, request, timeout=15.0)

    def on_main_screen_verb_requested(self, event: MainScreen.VerbRequested) -> None:
        self.run_verb(event.verb, event.agent, event.options)

    @work(thread=True, group="command")
    def run_verb(self, verb: str, agent: str, options: dict[str, Any]) -> None:
        from orgtui.supervisor.verbs import Request

        try:
            reply = self.commander(Request(verb, agent, options))
        except Exception as error:  # any failure is shown, the TUI carries on
            self._tell(verb, str(error), error=True)
        else:
            if reply.ok:
                self._tell(verb, reply.said or f"{verb} {agent}: done")
            else:
                self._tell(verb, reply.error or f"{verb} {agent}: failed", error=True)
        self.call_from_thread(self.refresh_snapshot)

    def _tell(self, title: str, text: str, *, error: bool = False) -> None:
        """Notify from a worker thread."""
        severity = "error" if error else "information"
        self.call_from_thread(self.notify, text, title=title, severity=severity)

    def cli_argv(self, *args: str) -> list[str]:
        """``orgtui ARGS`` on this org, as a command line for the injected runners."""
        argv = [sys.executable, "-m", "orgtui", *args, "--root", str(self.feed.root)]
        return argv + (["--socket", self.feed.socket] if self.feed.socket else [])

    def on_take_over_requested(self, event: TakeOverRequested) -> None:
        if self.takeover_runner is None:
            self.notify("take-over is not available here", severity="warning")
            return
        self.takeover_runner(self, self.cli_argv("attach", event.agent))
        self.refresh_snapshot()

    def action_start_supervisor(self) -> None:
        self.run_cli(["up"], "up")

    @work(thread=True, group="command")
    def run_cli(self, args: list[str], title: str) -> None:
        from orgtui.errors import OrgtuiError

        if self.cli_runner is None:
            self._tell(title, f"`orgtui {' '.join(args)}` is not available here", error=True)
            return
        try:
            out = self.cli_runner(self.cli_argv(*args))
        except OrgtuiError as error:
            self._tell(title, str(error), error=True)
        else:
            self._tell(title, (out.splitlines() or [f"{title}: done"])[-1])
        self.call_from_thread(self.refresh_snapshot)

    def action_standup(self) -> None:
        self.call_standup()

    @work(thread=True, group="command")
    def call_standup(self) -> None:
        from orgtui import process
        from orgtui.config import load_config
        from orgtui.errors import OrgtuiError

        try:
            message = process.call_standup(load_config(self.feed.root))
        except (OrgtuiError, OSError) as error:
            self._tell("standup", str(error), error=True)
            return
        self._tell("standup", f"standup called: {message.id}")

    # -- the board -------------------------------------------------------------------------
    def on_compose_requested(self, event: ComposeRequested) -> None:
        from orgtui.tui.screens.dialogs import ComposeDialog

        names = [a.name for a in self.snapshot.agents] if self.snapshot else []
        dialog = ComposeDialog(
            [*names, "all"], to=event.to, subject=event.subject, reply_to=event.reply_to
        )

        def written(draft: Draft | None) -> None:
            if draft is not None:
                self.post_draft(draft, names or None)

        self.push_screen(dialog, written)

    @work(thread=True, group="board")
    def post_draft(self, draft: Draft, known: list[str] | None) -> None:
        from orgtui import board
        from orgtui.errors import OrgtuiError

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
        except (OrgtuiError, OSError) as error:
            self._tell("not sent", str(error), error=True)
            return
        self._tell("message", f"sent {message.id} to {', '.join(message.to)}")

    def on_board_screen_message_opened(self, event: BoardScreen.MessageOpened) -> None:
        self.mark_read(event.message.id)

    @work(thread=True, group="board")
    def mark_read(self, message_id: str) -> None:
        from orgtui import board
        from orgtui.errors import OrgtuiError

        try:
            board.mark_read(self.feed.paths, "human", [message_id])
        except (OrgtuiError, OSError):
            return  # a read mark is a nicety, not an error

    # -- other screens ---------------------------------------------------------------------
    # Imported when first opened: plotext and the ledger are not needed for the first frame.
    def on_main_screen_agent_opened(self, event: MainScreen.AgentOpened) -> None:
        from orgtui.tui.screens.agent import AgentScreen

        self.push_screen(AgentScreen(event.agent, self.feed))

    def action_board(self) -> None:
        from orgtui.tui.screens.board import BoardScreen

        if self.snapshot and not isinstance(self.screen, BoardScreen):
            self.push_screen(BoardScreen())

    def action_ledger(self) -> None:
        from orgtui.tui.screens.ledger import LedgerScreen

        if not isinstance(self.screen, LedgerScreen):
            self.push_screen(LedgerScreen(self.feed.paths))

    def action_gpus(self) -> None:
        from orgtui.tui.screens.gpus import GpuScreen

        if not isinstance(self.screen, GpuScreen):
            self.push_screen(GpuScreen(self.feed.paths))

    def action_queue(self) -> None:
        from orgtui.tui.screens.queue import QueueScreen

        if not isinstance(self.screen, QueueScreen):
            self.push_screen(QueueScreen(self.feed.paths))

    def help_rows(self) -> list[tuple[str, str]]:
        """Every key as bound now (org.toml remaps included), as the person types it."""
        from orgtui.tui.screens.ledger import LedgerScreen
        from orgtui.tui.screens.queue import QueueScreen

        rows = []
        screens = [*MainScreen.BINDINGS, *self.BINDINGS, *LedgerScreen.BINDINGS]
        for binding in [*screens, *QueueScreen.BINDINGS]:
            if isinstance(binding, Binding) and binding.id:
                keys = self.keys.get(binding.id, binding.key).split(",")
                shown = [self.get_key_display(binding.with_key(key.strip())) for key in keys]
                rows.append((" / ".join(shown), binding.tooltip))
        return rows + list(EXTRA_HELP)

    def action_help(self) -> None:
        from orgtui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_rows()))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"


def human_key(key: str) -> str:
    """``question_mark`` -> ``?``, ``ctrl+t`` -> ``ctrl+t``, ``escape`` -> ``esc``."""
    *modifiers, name = key.split("+")
    return "+".join([*modifiers, KEY_NAMES.get(name) or format_key(name)])
