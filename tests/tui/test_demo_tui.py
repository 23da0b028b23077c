"""`orgtui demo` watched in the TUI: the story plays inside it, on a real org.

The story is shortened (a fast playbook: the chief posts its plan when the test tells it to,
cy starts working on it) so the test stays short and waits on no clock; the whole story runs
in tests/process/test_demo.py, headless.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orgtui import board
from orgtui.demo import PLAYBOOKS, narrate, run_demo
from orgtui.paths import OrgPaths
from orgtui.snapshot import Narrator
from orgtui.tui.app import OrgApp
from orgtui.tui.widgets.agent_card import AgentCard
from orgtui.tui.widgets.board_list import BoardList
from tests.conftest import run_orgtui

CHIEF = """
[[step]]
action = "wait_message"
from = "human"
subject = "begin"
timeout = 120

[[step]]
action = "post"
to = ["all"]
kind = "directive"
thread = "softcap"
subject = "plan: softcap removal, judged at matched FLOPs"
body = "cy: run the baseline."
"""
CY = """
[[step]]
action = "wait_message"
from = "chief"
kind = "directive"
timeout = 120

[[step]]
action = "sleep"
seconds = 60
"""
WAITS = """
[[step]]
action = "wait_message"
from = "chief"
subject = "never sent"
timeout = 600
"""


def fast_story(where: Path) -> Path:
    where.mkdir()
    shutil.copy(PLAYBOOKS / "demo-org.toml", where / "demo-org.toml")
    for name, text in (("chief", CHIEF), ("cy", CY), ("ada", WAITS), ("bo", WAITS)):
        (where / f"{name}.toml").write_text(text)
    return where


async def wait_until(pilot, check, what: str, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        if found := check():
            return found
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_demo_opens_at_once_and_plays_in_the_tui(
    tmp_path: Path, tmux_socket: str
) -> None:
    opened: list[tuple[Path, str, Narrator | None]] = []
    said: list[str] = []

    def open_tui(root: Path, socket: str, narrator: Narrator | None) -> int:
        opened.append((root, socket, narrator))
        return 0

    target = tmp_path / "demo"
    code = run_demo(
        target,
        socket=tmux_socket,
        open_tui=open_tui,
        playbooks=fast_story(tmp_path / "story"),
        say=said.append,
    )
    try:
        assert code == 0 and opened == [(target.resolve(), tmux_socket, narrate)]
        app = OrgApp(target, tmux_socket, live=True, narrator=narrate)
        async with app.run_test(size=(160, 45)) as pilot:
            card = await wait_until(pilot, lambda: app.main_screen.query("#card-cy"), "cy's card")
            cy: AgentCard = card.first()
            # The TUI is up before the story has begun: cy is waiting for the plan.
            # (the first read is the seats alone: the story comes with the whole snapshot)
            await wait_until(
                pilot, lambda: cy.view.status == "idle" and app.snapshot.complete, "cy idle"
            )
            assert not app.snapshot.messages
            assert app.snapshot.story is not None and "0/8" in app.snapshot.story.line
            shown = app.main_screen.query_one("#main-board", BoardList)
            assert shown.lines == ()
            # The chief posts its plan: it arrives on the board, cy goes to work, the story moves.
            board.post(OrgPaths(target), sender="human", to=["chief"], subject="begin", body=".")
            await wait_until(pilot, lambda: len(shown.lines) == 2, "the plan on the board")
            await wait_until(pilot, lambda: cy.view.status == "working", "cy working")
            plan = shown.lines[1].plain
            assert "chief → all  " in plan and "plan: softcap removal" in plan
            story = app.main_screen.query_one("#story")
            await wait_until(
                pilot,
                lambda: (
                    "1/8 the chief posts the plan" in app.snapshot.story.line
                    and "1/8" in str(story.render())
                ),
                "the status line at step 1",
            )
        # A second `orgtui demo` reopens this one instead of refusing or rebuilding it.
        again = run_demo(target, socket=tmux_socket, open_tui=open_tui, say=said.append)
        assert again == 0 and len(opened) == 2 and said[-1].startswith("reopening the demo")
        assert (target / "playbooks" / "chief.toml").read_text() == CHIEF
    finally:
        run_orgtui("down", root=target, socket=tmux_socket)
