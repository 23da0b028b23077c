"""Snapshots of the main, board, ledger and queue screens on the fixed synthetic org.

Update after an intended visual change with ``pytest tests/tui --snapshot-update`` and review
the SVG diff.
"""

from __future__ import annotations

from tests.tui.conftest import SIZE, settle


def test_main_screen(make_app, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle)


def test_main_screen_120x40(make_app, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=settle)


def test_main_screen_tall_200x55(make_app, snap_compare) -> None:
    """Cards grow into the height (more of each pane); the verdicts strip sits at the bottom."""
    assert snap_compare(make_app(), terminal_size=(200, 55), run_before=settle)


def test_main_screen_narrow(make_app, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settle)


def test_board_screen(make_app, snap_compare) -> None:
    async def open_board(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_board)


def test_ledger_screen(make_app, snap_compare) -> None:
    async def open_ledger(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_ledger)


def test_queue_screen(make_app, org_root, snap_compare) -> None:
    """Slots, a running job with its estimate, queued ones in order, a finished and a broken file."""
    from tests.tui.test_queue import fill_queue

    fill_queue(org_root)

    async def open_queue(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("Q")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_queue)
