"""Pane-content detectors against labelled pane fixtures (tests/fixtures/panes/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgtui.supervisor.detectors import detect

PANES = Path(__file__).resolve().parent.parent / "fixtures" / "panes"
FIXTURES = sorted(PANES.glob("*.txt"))


def test_every_cli_and_state_has_a_fixture() -> None:
    names = {f.name.rsplit("-", 1)[0] for f in FIXTURES}
    for cli in ("claude", "codex"):
        for state in ("idle", "working", "waiting"):
            assert f"{cli}-{state}" in names


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_detector_reads_the_state_the_fixture_is_named_after(fixture: Path) -> None:
    cli, state, _origin = fixture.stem.split("-")
    expected = None if state == "unknown" else state
    backend = "claude" if cli == "shell" else cli
    assert detect(backend, fixture.read_text()) == expected


def test_other_backends_have_no_detector() -> None:
    assert detect("builtin", (PANES / "claude-working-handmade.txt").read_text()) is None


def test_only_the_bottom_of_the_pane_counts() -> None:
    old_dialog = (PANES / "claude-waiting-handmade.txt").read_text()
    later = (
        "\n".join(["● output line"] * 40) + "\n" + (PANES / "claude-idle-handmade.txt").read_text()
    )
    assert detect("claude", old_dialog + later) == "idle"
