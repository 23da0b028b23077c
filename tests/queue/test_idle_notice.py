"""Idle GPUs in a real supervisor: one notice when a GPU idles with the queue empty, none
repeated after a supervisor restart, none for a busy GPU."""

from __future__ import annotations

import json
import time
from pathlib import Path

from orgtui import board
from orgtui.paths import OrgPaths
from tests.conftest import git, wait_for
from tests.supervisor.helpers import orgtui, supervisor_up, write_org


def write_trace(path: Path) -> None:
    """GPU 0 never works, GPU 1 always does: ten minutes of frames a second apart."""
    rows = []
    for step in range(600):
        for index, util in ((0, 0), (1, 90)):
            rows.append(
                {
                    "t": 1_000_000.0 + step,
                    "index": index,
                    "name": "H100",
                    "util": util,
                    "mem_used": 0,
                    "mem_total": 80 << 30,
                    "procs": [],
                }
            )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def idle_notices(paths: OrgPaths) -> list[board.Message]:
    return [m for m in board.messages(paths) if m.subject == "idle GPUs"]


def test_an_idle_gpu_is_reported_once_across_a_restart(tmp_path: Path, tmux_socket: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_trace(repo / "trace.jsonl")
    extra = (
        '[gpu]\nsource = "replay:trace.jsonl"\nsample_every = 0.2\n'
        "[discipline]\nidle_minutes = 0.05\n"  # 3 s
    )
    write_org(repo, {"a1": "sleep 1000"}, gpus="auto", extra=extra)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "org")
    paths = OrgPaths(repo)
    orgtui(repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(repo), "the supervisor", 60)
    wait_for(lambda: idle_notices(paths), "the idle notice", 60)
    (notice,) = idle_notices(paths)
    assert "GPU 0 has been idle" in notice.body and "GPU 1" not in notice.body
    assert notice.to == ("human",)  # no chief in this org

    orgtui(repo, tmux_socket, "down")
    orgtui(repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(repo), "the supervisor again", 60)
    time.sleep(6)  # two idle windows: a repost would have come by now
    assert len(idle_notices(paths)) == 1
    orgtui(repo, tmux_socket, "down")
