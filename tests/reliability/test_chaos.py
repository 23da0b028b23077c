"""Real processes under faults: the supervisor killed mid-traffic, a client dropped, a crash
loop, a full disk, a corrupt state file. Agents and messages must come through intact."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from orgtui import board
from orgtui.paths import OrgPaths
from tests.conftest import run_orgtui, wait_for
from tests.supervisor.helpers import orgtui, state, supervisor_up, tmux, write_org

POSTS_PER_AGENT = 25


def poster(count: int) -> str:
    """An agent that posts ``count`` messages as fast as it can, then stays."""
    return (
        f"for i in $(seq 1 {count}); do {sys.executable} -m orgtui post --to all "
        '--subject "m$i" --body "from $ORGTUI_AGENT #$i" || echo FAILED; done; exec sleep 600'
    )


def intact(paths: OrgPaths) -> tuple[int, int]:
    """(messages that parse, files that do not)."""
    items = board.list_messages(paths)
    return sum(isinstance(i, board.Message) for i in items), sum(
        not isinstance(i, board.Message) for i in items
    )


def test_supervisor_kill9_mid_traffic_then_corrupt_state(git_repo: Path, tmux_socket: str) -> None:
    agents = {name: poster(POSTS_PER_AGENT) for name in ("ada", "bo", "cy")}
    agents["dee"] = "exec sleep 600"
    write_org(git_repo, agents)
    paths = OrgPaths(git_repo)
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor", timeout=30)
        pids = wait_for(
            lambda: (
                (p := {n: r.get("pane_pid") for n, r in state(git_repo)["agents"].items()})
                and all(p.values())
                and p
            ),
            "four agents",
            timeout=30,
        )
        # The person posts too, from this process, while the agents post from theirs.
        sent_here: list[str] = []

        def person() -> None:
            for i in range(POSTS_PER_AGENT):
                sent_here.append(
                    board.post(
                        paths,
                        sender="human",
                        to=["all"],
                        subject=f"h{i}",
                        body="from the person",
                        known_agents=list(agents),
                    ).id
                )

        writer = threading.Thread(target=person)
        writer.start()
        wait_for(lambda: intact(paths)[0] >= 10, "traffic under way", timeout=60)
        supervisor_pid = state(git_repo)["supervisor"]["pid"]
        os.kill(supervisor_pid, signal.SIGKILL)
        writer.join()
        total = 3 * POSTS_PER_AGENT + POSTS_PER_AGENT
        wait_for(lambda: intact(paths)[0] >= total, f"{total} messages", timeout=120)

        orgtui(git_repo, tmux_socket, "up")  # a new supervisor adopts
        wait_for(lambda: supervisor_up(git_repo), "the new supervisor", timeout=30)
        adopted = state(git_repo)["agents"]
        assert {n: r["pane_pid"] for n, r in adopted.items()} == pids
        assert all(r["restarts"] == 0 for r in adopted.values())

        # Garbage in state.json, supervisor killed again: rebuilt from tmux, not fatal.
        os.kill(state(git_repo)["supervisor"]["pid"], signal.SIGKILL)
        paths.state_file.write_bytes(b"\x00\xff{not json")
        orgtui(git_repo, tmux_socket, "up")
        wait_for(lambda: set(state(git_repo)["agents"]) == set(agents), "state rebuilt", timeout=30)
        assert {n: r["pane_pid"] for n, r in state(git_repo)["agents"].items()} == pids
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)
    good, bad = intact(paths)
    assert (good, bad) == (total, 0)
    bodies = {m.body.strip() for m in board.messages(paths)}
    for name in ("ada", "bo", "cy"):
        assert {f"from {name} #{i}" for i in range(1, POSTS_PER_AGENT + 1)} <= bodies
    assert not list(paths.board_dir.glob(".*.tmp"))


def test_ssh_drop_and_crash_loop_do_not_hurt_the_others(git_repo: Path, tmux_socket: str) -> None:
    write_org(git_repo, {"steady": poster(10), "quiet": "exec sleep 600", "crashy": "exit 1"})
    orgtui(git_repo, tmux_socket, "up")
    outer = f"{tmux_socket}-term"
    try:
        pids = wait_for(
            lambda: (
                (a := state(git_repo)["agents"])
                and a["steady"].get("pane_pid")
                and a["quiet"].get("pane_pid")
                and (a["steady"]["pane_pid"], a["quiet"]["pane_pid"])
            ),
            "agents",
            timeout=30,
        )
        # A person attached over SSH: a tmux client in a terminal (another tmux server's pane).
        attach = f"tmux -L {tmux_socket} attach -t =orgtui-t:=quiet"
        subprocess.run(
            [
                "tmux",
                "-L",
                outer,
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
                f"env -u TMUX {attach}",
            ],
            check=True,
        )
        wait_for(lambda: tmux(tmux_socket, "list-clients").strip(), "the client", timeout=15)
        subprocess.run(["tmux", "-L", outer, "kill-server"], check=True)  # the SSH drop
        wait_for(lambda: not tmux(tmux_socket, "list-clients").strip(), "client gone", timeout=15)

        wait_for(
            lambda: state(git_repo)["agents"]["crashy"]["status"] == "failed",
            "the crash loop to end in failed",
            timeout=60,
        )
        wait_for(
            lambda: sum(m.sender == "steady" for m in board.messages(OrgPaths(git_repo))) == 10,
            "steady's posts",
            timeout=60,
        )
        agents = state(git_repo)["agents"]
        assert (agents["steady"]["pane_pid"], agents["quiet"]["pane_pid"]) == pids
        assert agents["steady"]["restarts"] == agents["quiet"]["restarts"] == 0
        for pid in pids:
            os.kill(pid, 0)
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True)
        orgtui(git_repo, tmux_socket, "down", check=False)


ENOSPC_SITE = """
import errno, os
def _full(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.fsync = _full
"""


def test_disk_full_is_a_clear_error_and_loses_nothing(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_org(git_repo, {"ada": "sleep 1"})
    paths = OrgPaths(git_repo)
    before = [
        board.post(
            paths, sender="human", to=["ada"], subject=f"s{i}", body="kept", known_agents=["ada"]
        )
        for i in range(3)
    ]

    # In process: the write layer fails with ENOSPC.
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(board.BoardError, match=r"No space left on device.*nothing was posted"):
        board.post(
            paths, sender="human", to=["ada"], subject="lost?", body="x", known_agents=["ada"]
        )
    monkeypatch.undo()
    # Through the CLI, with the failure injected into the child interpreter.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(ENOSPC_SITE)
    env = os.environ | {"PYTHONPATH": str(site)}
    out = run_orgtui(
        "post",
        "--to",
        "ada",
        "--subject",
        "full",
        "--body",
        "x",
        root=git_repo,
        env=env,
    )
    assert out.returncode == 2
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    assert [m.id for m in board.messages(paths)] == [m.id for m in before]
    assert all(m.body == "kept\n" for m in board.messages(paths))
    assert not list(paths.board_dir.glob(".*"))  # no temp file left behind
    # The same for a run record written by the ledger's runner.
    out = run_orgtui("baseline", "base", root=git_repo, env=env)
    assert out.returncode == 2 and "No space left on device" in out.stderr
    assert not paths.ledger_state.exists()
