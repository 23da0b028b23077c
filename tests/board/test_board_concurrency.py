"""Concurrent writers never lose, tear or reorder a sender's messages."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from orgtui import board
from orgtui.board import Malformed
from orgtui.paths import OrgPaths

WRITER = """
import sys
from pathlib import Path
from orgtui import board
from orgtui.paths import OrgPaths
paths = OrgPaths(Path(sys.argv[1]))
sender, count = sys.argv[2], int(sys.argv[3])
agents = [f"w{i}" for i in range(8)] + ["bob"]
for i in range(count):
    board.post(paths, sender=sender, to=["bob", "all"], subject=f"{sender} #{i}",
               body=f"{sender} message {i}\\n" + "x" * (i * 37 % 4000), known_agents=agents)
"""


def _start_writers(root: Path, senders: list[str], count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-c", WRITER, str(root), sender, str(count)])
        for sender in senders
    ]


def test_eight_writers_by_hundred_messages_with_a_reader_watching(org: OrgPaths) -> None:
    senders = [f"w{i}" for i in range(8)]
    stop = threading.Event()
    seen_malformed: list[Malformed] = []
    listings = [0]

    def reader() -> None:
        while not stop.is_set():
            for item in board.list_messages(org):
                if isinstance(item, Malformed):
                    seen_malformed.append(item)
            listings[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    procs = _start_writers(org.root, senders, 100)
    try:
        codes = [proc.wait(timeout=120) for proc in procs]
    finally:
        stop.set()
        thread.join()
    assert codes == [0] * 8
    assert seen_malformed == []
    assert listings[0] > 1
    items = board.list_messages(org)
    assert len(items) == 800
    assert all(isinstance(item, board.Message) for item in items)
    assert len({item.id for item in items}) == 800
    for sender in senders:
        mine = [m for m in board.messages(org) if m.sender == sender]
        assert [m.subject for m in mine] == [f"{sender} #{i}" for i in range(100)]
        assert all(m.body.startswith(f"{sender} message {i}\n") for i, m in enumerate(mine))
    assert len(board.unread(org, "bob")) == 800
    assert [p.name for p in org.board_dir.iterdir() if p.name.startswith(".")] == []


def test_concurrent_posts_through_the_cli(org: OrgPaths) -> None:
    (org.root / "org.toml").write_text(
        (org.root / "org.toml").read_text() + '\n[[agent]]\nname = "dan"\nrole = "researcher"\n'
    )
    senders = ["ada", "bob", "carol", "dan"]
    script = (
        "import subprocess, sys\n"
        "for i in range(5):\n"
        "    subprocess.run([sys.executable, '-m', 'orgtui', 'post', '--root', sys.argv[1],\n"
        "        '--as', sys.argv[2], '--to', 'all', '--subject', f'{sys.argv[2]} #{i}',\n"
        "        '--body', 'hello'], check=True, stdout=subprocess.DEVNULL)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(org.root), sender])
        for sender in senders
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 4
    found = board.list_messages(org)
    assert len(found) == 20 and all(isinstance(m, board.Message) for m in found)
    for sender in senders:
        mine = [m.subject for m in board.messages(org) if m.sender == sender]
        assert mine == [f"{sender} #{i}" for i in range(5)]
