"""``board.watch`` yields messages as they land, with inotify and with polling."""

from __future__ import annotations

import asyncio

import pytest

from orgtui import board
from orgtui.paths import OrgPaths


async def _first_batch(org: OrgPaths, *, polling: bool) -> list[board.Message | board.Malformed]:
    stop = asyncio.Event()
    got: list[board.Message | board.Malformed] = []

    async def consume() -> None:
        async for batch in board.watch(org, stop_event=stop, force_polling=polling):
            got.extend(batch)
            if any(isinstance(i, board.Message) for i in got):
                stop.set()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)  # let the watcher start
    (org.board_dir / ".scratch.tmp").write_text("temp files are not reported")
    sent = board.post(org, sender="ada", to=["bob"], subject="live", body="now")
    await asyncio.wait_for(task, timeout=10)
    assert sent in got
    return got


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watch_yields_a_new_message(org: OrgPaths, polling: bool) -> None:
    got = asyncio.run(_first_batch(org, polling=polling))
    assert all(item.path.name.endswith(".md") for item in got)  # type: ignore[union-attr]


def test_watch_polls_when_asked_by_environment(
    org: OrgPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGTUI_FORCE_POLLING", "1")
    assert board._force_polling()
    asyncio.run(_first_batch(org, polling=True))


def test_watch_falls_back_to_polling_when_inotify_fails(
    org: OrgPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    import watchfiles

    real_awatch = watchfiles.awatch
    modes: list[bool] = []

    def flaky_awatch(*args: object, force_polling: bool = False, **kwargs: object):  # type: ignore[no-untyped-def]
        modes.append(force_polling)
        if not force_polling:
            raise OSError(28, "OS file watch limit reached")
        return real_awatch(*args, force_polling=force_polling, **kwargs)

    monkeypatch.setattr(watchfiles, "awatch", flaky_awatch)
    asyncio.run(_first_batch(org, polling=False))
    assert modes == [False, True]
