"""Adopting from the ledger screen: the gate's verdict first, in a real git repo with runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input

from orgtui.board import messages
from orgtui.ledger import stored_baseline
from orgtui.paths import OrgPaths
from orgtui.tui.app import OrgApp
from orgtui.tui.screens.dialogs import AdoptDialog
from orgtui.tui.screens.ledger import LedgerScreen
from tests.conftest import git
from tests.ledger.test_adopt import ORG_TOML, runs, variant_commit
from tests.tui.conftest import NOW, SIZE, settle
from tests.tui.test_keys import shows


@pytest.fixture
def research(git_repo: Path) -> dict[str, str]:
    """An org in a git repo: ``base`` at main, ``nocap`` a clear improvement, ``tweak`` within
    the noise, each with three seeds run from its own commit."""
    (git_repo / "org.toml").write_text(ORG_TOML)
    (git_repo / "model.py").write_text("softcap = 15\n")
    (git_repo / ".gitignore").write_text(".org/\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "org")
    git(git_repo, "branch", "prog/p")
    shas = {
        "base": git(git_repo, "rev-parse", "main"),
        "nocap": variant_commit(git_repo, "feat/p/ada", "softcap = None\n"),
        "tweak": variant_commit(git_repo, "feat/p/bob", "softcap = 16\n"),
    }
    runs(git_repo, "base", 3, shas["base"], 0.0)
    runs(git_repo, "nocap", 3, shas["nocap"], -0.1)
    runs(git_repo, "tweak", 3, shas["tweak"], -0.001)
    return shas


def make(root: Path) -> OrgApp:
    return OrgApp(root, "tui-test", live=False, clock=lambda: NOW)


async def open_dialog(pilot, variant: str) -> AdoptDialog:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("l")
    assert await shows(pilot, LedgerScreen)
    await settle(pilot)
    table = pilot.app.screen.query_one(DataTable)
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    table.move_cursor(row=names.index(variant))
    await pilot.press("a")
    assert await shows(pilot, AdoptDialog)
    await pilot.pause()
    return pilot.app.screen


def text(dialog: AdoptDialog, selector: str) -> str:
    return str(dialog.query_one(selector).render())


async def test_a_refused_variant_shows_the_verdict_and_what_is_missing(
    git_repo: Path, research: dict[str, str]
) -> None:
    app = make(git_repo)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "tweak")
        assert "tweak vs base: verdict: within_noise" in text(dialog, "#adopt-verdict")
        gate = text(dialog, "#adopt-gate")
        assert "The gate refuses" in gate and "a difference beyond the noise" in gate
        assert not dialog.query("#adopt") and dialog.query_one("#override", Button)
        reason = dialog.query_one("#adopt-reason", Input)
        assert not reason.display
        await pilot.click("#override")  # asks for the reason
        await pilot.pause()
        assert reason.display and str(dialog.query_one("#override", Button).label) == (
            "Adopt anyway"
        )
        await pilot.click("#override")  # no reason given: refused, the dialog stays
        await pilot.pause()
        assert app.screen is dialog
        await pilot.press("escape")
        assert await shows(pilot, LedgerScreen)
        await settle(pilot)
    assert git(git_repo, "rev-parse", "prog/p") == research["base"]
    assert stored_baseline(OrgPaths(git_repo)) is None and messages(OrgPaths(git_repo)) == []


async def test_override_with_a_reason_adopts_and_posts_it(
    git_repo: Path, research: dict[str, str]
) -> None:
    app = make(git_repo)
    async with app.run_test(size=SIZE) as pilot:
        await open_dialog(pilot, "tweak")
        await pilot.click("#override")
        await pilot.pause()
        await pilot.press(*"needed for the sweep", "enter")
        assert await shows(pilot, LedgerScreen)
        await settle(pilot)
    assert git(git_repo, "rev-parse", "prog/p") == research["tweak"]
    (post,) = messages(OrgPaths(git_repo))
    assert post.sender == "human" and "reason: needed for the sweep" in post.body


async def test_an_allowed_adopt_merges_and_moves_the_baseline(
    git_repo: Path, research: dict[str, str]
) -> None:
    app = make(git_repo)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "nocap")
        assert "nocap vs base: verdict: improvement" in text(dialog, "#adopt-verdict")
        gate = text(dialog, "#adopt-gate")
        assert "The gate passes" in gate and research["nocap"][:12] in gate
        assert not dialog.query("#override")
        await pilot.click("#adopt")
        assert await shows(pilot, LedgerScreen)
        for _ in range(200):  # the merge runs in a worker; the table follows once it is done
            await settle(pilot)
            if stored_baseline(OrgPaths(git_repo)) == "nocap":
                break
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        verdicts = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[6]) for i in range(3)}
        assert verdicts["nocap"] == "baseline"
        assert "baseline nocap" in str(app.screen.query_one("#ledger-title").render())
    assert git(git_repo, "rev-parse", "prog/p") == research["nocap"]
    state = json.loads(OrgPaths(git_repo).ledger_state.read_text())
    assert state["adopted"][0]["variant"] == "nocap" and state["adopted"][0]["override"] is None


async def test_the_baseline_itself_is_not_offered(git_repo: Path, research: dict[str, str]) -> None:
    app = make(git_repo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        assert await shows(pilot, LedgerScreen)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        table.move_cursor(row=names.index("base"))
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, LedgerScreen)
    assert git(git_repo, "rev-parse", "prog/p") == research["base"]
