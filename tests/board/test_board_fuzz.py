"""A fuzzed board: posts from skewed clocks, hand-written front matter, random bytes, special
files and deletions, interleaved with reads through the API and the CLI.

Against a model of what each reader has read: ``list_messages``, ``unread``, ``mark_read``,
``nudge_due``, ``orgtui board --json`` and ``orgtui inbox`` never raise, every file shows up
once, and a well-formed message is never missing from its recipient's inbox until read.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orgtui import board
from orgtui.board import Message, store
from orgtui.cli import main
from orgtui.paths import OrgPaths
from tests.board.conftest import ORG_TOML

READERS = ("ada", "bob", "carol", "human")
NAMES = st.sampled_from(["ada", "bob", "carol", "human", "zed", "all", "supervisor"])
EPOCH = datetime(1970, 1, 2, tzinfo=UTC)
WHEN = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)
SCALAR = st.one_of(
    st.text(max_size=30), st.integers(), st.booleans(), st.floats(allow_nan=False), st.none()
)
SPECIAL_KINDS = ("fifo", "socket", "directory", "zero link", "dangling link", "huge")


def _valid_head(sender: str, to: list[str], when: datetime, stamp: datetime) -> dict[str, object]:
    message_id = board.new_id(sender, when)
    return {
        "id": message_id,
        "from": sender,
        "to": to,
        "subject": "hand written",
        "thread": message_id,
        "kind": "note",
        "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


class Board(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="board-fuzz-"))
        self.org = OrgPaths(self.tmp)
        (self.tmp / "org.toml").write_text(ORG_TOML)
        self.org.board_dir.mkdir(parents=True)
        self.read: dict[str, set[str]] = {name: set() for name in READERS}
        self.posted: set[str] = set()
        self.used: set[str] = set()
        self.real_clock = store.clock_ns
        self.real_last_stamp = store._last_stamp

    def teardown(self) -> None:
        # both: a future last stamp would push every later post in this process into the future
        store.clock_ns = self.real_clock  # type: ignore[method-assign]
        store._last_stamp = self.real_last_stamp
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _fresh(self, name: str) -> Path | None:
        """A board path never used before in this run (ids are never reused on a board)."""
        if name in self.used or not name or name.startswith(".") or "/" in name:
            return None
        self.used.add(name)
        return self.org.board_dir / name

    # ------------------------------------------------------------------------ writers

    @rule(
        sender=st.sampled_from(["ada", "bob", "carol", "human"]),
        to=st.lists(
            st.sampled_from(["ada", "bob", "all", "human", "supervisor"]), min_size=1, max_size=3
        ),
        offset=st.integers(min_value=-50 * 365 * 86400, max_value=900 * 365 * 86400),
    )
    def post(self, sender: str, to: list[str], offset: int) -> None:
        now = 1_800_000_000 * 10**9 + offset * 10**9
        store.clock_ns = lambda: now  # type: ignore[method-assign]
        store._last_stamp = 0
        sent = board.post(self.org, sender=sender, to=to, subject="posted", body="b")
        self.used.add(sent.path.name)  # type: ignore[union-attr]
        self.posted.add(sent.id)

    @rule(
        sender=st.sampled_from(["ada", "bob", "zed"]),
        to=st.lists(NAMES, min_size=1, max_size=3),
        when=WHEN,
        stamp=WHEN,
        body=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
    )
    def write_valid(
        self, sender: str, to: list[str], when: datetime, stamp: datetime, body: str
    ) -> None:
        head = _valid_head(sender, to, when, stamp)
        path = self._fresh(f"{head['id']}.md")
        if path is not None:
            path.write_text(f"+++\n{tomli_w.dumps(head)}+++\n{body.replace(chr(0), '')}")
            assert isinstance(board.load(path), Message), board.load(path)

    @rule(
        when=WHEN,
        changes=st.dictionaries(
            st.sampled_from(["id", "from", "to", "subject", "thread", "kind", "time", "refs", "x"]),
            st.one_of(SCALAR, st.lists(SCALAR, max_size=3)),
            max_size=3,
        ),
        drop=st.sets(st.sampled_from(["id", "from", "to", "subject", "kind"]), max_size=2),
    )
    def write_front_matter(
        self, when: datetime, changes: dict[str, object], drop: set[str]
    ) -> None:
        head = _valid_head("ada", ["bob"], when, when)
        path = self._fresh(f"{head['id']}.md")
        head.update(changes)
        for key in drop:
            head.pop(key, None)
        with contextlib.suppress(TypeError, ValueError):
            text = f"+++\n{tomli_w.dumps({k: v for k, v in head.items() if v is not None})}+++\n"
            if path is not None:
                path.write_text(text, errors="surrogatepass")

    @rule(
        name=st.text(min_size=1, max_size=12),
        fence=st.booleans(),
        data=st.binary(max_size=2048),
    )
    def write_bytes(self, name: str, fence: bool, data: bytes) -> None:
        path = self._fresh(name.replace("\x00", "") + ".md")
        if path is not None:
            with contextlib.suppress(OSError, UnicodeEncodeError):
                path.write_bytes(b"+++\n" * fence + data)

    @rule(kind=st.sampled_from(SPECIAL_KINDS), name=st.integers(0, 10**6))
    def make_special(self, kind: str, name: int) -> None:
        path = self._fresh(f"{board.new_id('ada', EPOCH + timedelta(seconds=name))}.md")
        if path is None:
            return
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            with contextlib.chdir(path.parent), socket.socket(socket.AF_UNIX) as server:
                server.bind(path.name)
        elif kind == "directory":
            path.mkdir()
        elif kind == "zero link":
            path.symlink_to("/dev/zero")
        elif kind == "dangling link":
            path.symlink_to(path.parent / "nowhere")
        else:
            with open(path, "wb") as handle:
                handle.truncate(1 << 31)

    @precondition(lambda self: self.used)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.used)))
        path = self.org.board_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # ------------------------------------------------------------------------ readers

    def expected_unread(self, reader: str) -> list[str]:
        return [
            m.id
            for m in board.messages(self.org)
            if m.addressed_to(reader) and m.id not in self.read[reader]
        ]

    @rule(reader=st.sampled_from(READERS))
    def mark_all_read(self, reader: str) -> None:
        expected = self.expected_unread(reader)
        assert board.mark_read(self.org, reader) == expected
        self.read[reader].update(expected)

    @rule(reader=st.sampled_from(READERS), data=st.data())
    def mark_some_read(self, reader: str, data: st.DataObject) -> None:
        mine = [m.id for m in board.messages(self.org) if m.addressed_to(reader)]
        chosen = data.draw(st.lists(st.sampled_from(mine), max_size=3)) if mine else []
        board.mark_read(self.org, reader, chosen)
        self.read[reader].update(chosen)

    @rule(reader=st.sampled_from(READERS))
    def nudge(self, reader: str) -> None:
        due = board.nudge_due(self.org, reader)
        assert set(due) <= set(self.expected_unread(reader))
        board.record_nudge(self.org, reader, due)
        assert board.nudge_due(self.org, reader) == []

    @rule(reader=st.sampled_from(READERS))
    def cli_inbox(self, reader: str) -> None:
        expected = self.expected_unread(reader)
        code, out = self.cli("inbox", "--as", reader, "--json")
        assert code == 0
        assert [m["id"] for m in json.loads(out)["messages"]] == expected
        self.read[reader].update(expected)

    @rule()
    def cli_board(self) -> None:
        code, out = self.cli("board", "--json")
        assert code == 0
        assert len(json.loads(out)) == len(board.list_messages(self.org))

    def cli(self, *argv: str) -> tuple[int, str]:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main([argv[0], "--root", str(self.org.root), *argv[1:]])
        return code, buffer.getvalue()

    # ------------------------------------------------------------------------ invariants

    @invariant()
    def nothing_is_lost(self) -> None:
        listed = board.list_messages(self.org)
        names = sorted(p.name for p in self.org.board_dir.iterdir() if p.name[0] != ".")
        assert sorted(item.path.name for item in listed) == [n for n in names if n.endswith(".md")]
        ids = {item.id for item in listed if isinstance(item, Message)}
        on_board = {i for i in self.posted if (self.org.board_dir / f"{i}.md").exists()}
        assert on_board <= ids  # a posted message always parses
        for reader in READERS:
            assert [m.id for m in board.unread(self.org, reader)] == self.expected_unread(reader)


Board.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_board_survives_anything = Board.TestCase
