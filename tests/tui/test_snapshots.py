"""Snapshots of the main, board and ledger screens on the fixed synthetic org.

Update after an intended visual change with ``pytest tests/tui --snapshot-update`` and review
the SVG diff.
"""

from __future__ import annotations

SIZE = (160, 45)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for the first snapshot (its worker may not have started yet on a loaded machine),
    then for every worker, then for the screen to settle."""
    for _ in range(400):
        main = pilot.app.main
        if pilot.app.snapshot is not None and main is not None and main.selected_name:
            break
        await pilot.pause(0.025)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.05)


def test_main_screen(make_app, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle)


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
