"""The org's lock files (state.json's and the queue's) under hostile replacements: a FIFO or a
link in a lock file's place is refused with its path named, never waited on forever."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from orgtui.atomic import NotRegularFile, exclusive_lock
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import queue_lock
from orgtui.supervisor.state import org_lock


def plant(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
@pytest.mark.parametrize(
    ("lock", "where"),
    [(org_lock, lambda p: p.lock_file), (queue_lock, lambda p: p.queue_lock)],
)
def test_a_special_file_in_a_locks_place_is_refused(tmp_path: Path, lock, where, kind) -> None:
    paths = OrgPaths(tmp_path)
    plant(where(paths), kind)
    with pytest.raises(NotRegularFile, match="not a plain file") as raised, lock(paths):
        pass
    assert str(where(paths)) in str(raised.value)


def test_the_lock_excludes_a_second_holder_until_released(tmp_path: Path) -> None:
    path = tmp_path / "private" / "x.lock"
    order: list[str] = []
    held = threading.Event()

    def second() -> None:
        held.wait()
        with exclusive_lock(path):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with exclusive_lock(path):
        held.set()
        thread.join(0.3)  # it must still be waiting
        order.append("first")
    thread.join()
    assert order == ["first", "second"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_not_regular_file_is_an_os_error() -> None:
    assert issubclass(NotRegularFile, OSError)
