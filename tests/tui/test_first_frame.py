"""The first frame: composed with the cards it has room for when the seats are read in time,
the rest mounted after it; an org whose seats are slow to read opens empty, then fills."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import orgtui.tui.app as app_module
from orgtui.snapshot import Feed
from orgtui.tui.widgets.agent_card import AgentCard
from tests.tui.conftest import NOW, build_org, settle

AGENTS = 64
ORG_ORDER = ["chief", "ada", "bo", "cy", "r00", "r01", "r02", "r03"]


@pytest.fixture
def big_org(tmp_path: Path) -> Path:
    build_org(tmp_path, agents=AGENTS, supervisor_pid=os.getpid())
    return tmp_path


def names(app: app_module.OrgApp) -> list[str]:
    return [card.agent for card in app.main_screen.query(AgentCard)]


async def test_the_first_frame_is_drawn_with_the_cards_it_has_room_for(
    big_org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "FIRST_READ_WAIT_S", 60.0)  # the read is always in time
    app = app_module.OrgApp(big_org, live=False, clock=lambda: NOW)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.main_screen
        first = list(screen.query(AgentCard))  # as the first frame drew them: nothing awaited
        room = screen.visible_slots()
        assert 0 < room <= len(first) < AGENTS  # not all 64: the rest come in batches after
        assert all(card.region.height for card in first[:room])
        assert first[0].has_class("-selected") and screen.selected_name == first[0].agent
        assert sum(card.has_class("-selected") for card in first) == 1
        assert "lab" in str(screen.query_one("#org-header").render())
        await settle(pilot)
        order = [a.name for a in Feed(big_org).roster().agents]
        assert names(app) == order  # every card, once, in org.toml's order
        assert [c.agent for c in screen.query(".-selected")] == [order[0]]
        assert not screen.query_one("#banner").display  # the supervisor (this pid) is alive
        assert app.snapshot is not None and app.snapshot.complete


async def test_seats_slow_to_read_open_an_empty_screen_then_fill_it(
    big_org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    roster = Feed.roster

    def slow_roster(self: Feed, now: float | None = None):  # type: ignore[no-untyped-def]
        assert release.wait(30), "the test never released the read"
        return roster(self, now)

    monkeypatch.setattr(Feed, "roster", slow_roster)
    monkeypatch.setattr(app_module, "FIRST_READ_WAIT_S", 0.05)
    app = app_module.OrgApp(big_org, live=False, clock=lambda: NOW)
    async with app.run_test(size=(160, 45)) as pilot:
        assert app.snapshot is None and names(app) == []  # the screen did not wait for it
        release.set()
        await settle(pilot)
        assert names(app) == [a.name for a in Feed(big_org).roster().agents]
        assert [c.agent for c in app.main_screen.query(".-selected")] == [names(app)[0]]


async def test_cards_follow_org_toml_whatever_order_the_seats_were_read_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read follows state.json (reversed here, one agent never seated); the next
    brings org.toml's order and the missing agent, in its place."""
    paths = build_org(tmp_path, agents=8, supervisor_pid=os.getpid())
    state = json.loads(paths.state_file.read_text())
    state["agents"] = dict(reversed([*state["agents"].items()][1:]))  # no seat for "chief"
    paths.state_file.write_text(json.dumps(state))
    monkeypatch.setattr(app_module, "FIRST_READ_WAIT_S", 60.0)
    app = app_module.OrgApp(tmp_path, live=False, clock=lambda: NOW)
    async with app.run_test(size=(160, 45)) as pilot:
        seated = list(reversed(ORG_ORDER[1:]))
        assert names(app) == seated[: len(names(app))]  # the first frame: state.json's order
        await settle(pilot)
        assert names(app) == ORG_ORDER
        assert app.main_screen.query_one("#card-chief", AgentCard).view.status == "dead"
        assert [c.agent for c in app.main_screen.query(".-selected")] == ["chief"]  # the first


async def test_the_cards_keep_focus_and_page_down_scrolls_them(big_org: Path) -> None:
    app = app_module.OrgApp(big_org, live=False, clock=lambda: NOW)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        grid = app.main_screen.query_one("#cards")
        assert app.focused is grid and grid.has_class("-overflowing")
        await pilot.press("pagedown")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        assert grid.scroll_y > 0
