"""Read state never depends on a sender's clock: future ids, skewed hosts, deleted files."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui import board
from orgtui.board import Message, store
from orgtui.board.message import iso
from orgtui.cli import main
from orgtui.paths import OrgPaths
from tests.board.conftest import ORG_TOML

YEAR_S = 365 * 24 * 3600
NOW_NS = 1_800_000_000 * 10**9  # a fixed "now" (2027): the tests never read the real clock


def place(org: OrgPaths, sender: str, subject: str, when: datetime, *, time: str = "") -> Message:
    """A message written by a host whose clock said ``when`` (id and time both from it)."""
    message_id = board.new_id(sender, when)
    message = Message(
        message_id, sender, ("bob",), subject, message_id, "note", time or iso(when), ""
    )
    org.board_dir.mkdir(parents=True, exist_ok=True)
    (org.board_dir / f"{message_id}.md").write_text(board.render(message))
    return board.read_message(org, message_id)


def skew(monkeypatch: pytest.MonkeyPatch, offset_s: int) -> None:
    """The poster's clock ``offset_s`` away from now, as a fresh process (no last stamp)."""
    monkeypatch.setattr(store, "clock_ns", lambda: NOW_NS + offset_s * 10**9)
    monkeypatch.setattr(store, "_last_stamp", 0)


def post(org: OrgPaths, subject: str, sender: str = "ada") -> Message:
    return board.post(org, sender=sender, to=["bob"], subject=subject, body="")


def ids(items: list[Message]) -> list[str]:
    return [m.id for m in items]


def test_a_message_from_2999_hides_no_later_mail(
    org: OrgPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    before = post(org, "before")
    future = place(org, "carol", "from the future", datetime(2999, 1, 1, tzinfo=UTC))
    assert ids(board.unread(org, "bob")) == [before.id, future.id]
    assert board.mark_read(org, "bob") == [before.id, future.id]
    later = [post(org, f"later {i}") for i in range(3)]
    assert ids(board.unread(org, "bob")) == ids(later)
    future.path.unlink()  # deleting the culprit changes nothing for the others
    assert ids(board.unread(org, "bob")) == ids(later)
    board.mark_read(org, "bob", [later[1].id])
    assert ids(board.unread(org, "bob")) == [later[0].id, later[2].id]
    assert main(["inbox", "--root", str(org.root), "--as", "bob", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in shown["messages"]] == [later[0].id, later[2].id]
    assert ids(board.unread(org, "bob")) == []


def test_a_future_time_field_with_a_normal_id_hides_nothing(org: OrgPaths) -> None:
    odd = place(org, "carol", "odd", datetime.now(UTC), time="2999-12-31T23:59:59.999999Z")
    board.mark_read(org, "bob")
    after = post(org, "after")
    assert ids(board.unread(org, "bob")) == [after.id]
    assert board.read_state(org, "bob").is_read(odd)


@pytest.mark.parametrize("offset_s", [100 * YEAR_S, 3600, -3600, -30 * YEAR_S])
def test_a_skewed_poster_then_a_correct_one(
    org: OrgPaths, monkeypatch: pytest.MonkeyPatch, offset_s: int
) -> None:
    skew(monkeypatch, offset_s)
    skewed = post(org, "skewed", sender="carol")
    board.mark_read(org, "bob")
    skew(monkeypatch, 0)
    fine = post(org, "fine")
    skew(monkeypatch, -offset_s)  # and the other way round
    opposite = post(org, "opposite", sender="carol")
    assert set(ids(board.unread(org, "bob"))) == {fine.id, opposite.id}
    assert board.read_state(org, "bob").is_read(skewed)


def test_an_older_cursor_is_honoured_then_folded_away(org: OrgPaths) -> None:
    old = place(org, "carol", "old", datetime(2020, 1, 1, tzinfo=UTC))
    recent = post(org, "recent")
    cursor = board.new_id("ada", datetime(2021, 1, 1, tzinfo=UTC))
    org.agent_dir("bob").mkdir(parents=True)
    (org.agent_dir("bob") / "cursor").write_text(cursor + "\n")
    assert ids(board.unread(org, "bob")) == [recent.id]  # the upgrade re-announces nothing
    assert board.mark_read(org, "bob", []) == []
    assert not (org.agent_dir("bob") / "cursor").exists()
    assert board.read_state(org, "bob").read == {old.id}
    assert ids(board.unread(org, "bob")) == [recent.id]


def test_receipts_drop_ids_whose_file_left_the_board(org: OrgPaths) -> None:
    kept, gone = post(org, "kept"), post(org, "gone")
    board.mark_read(org, "bob")
    gone.path.unlink()  # type: ignore[union-attr]
    post(org, "new")
    board.mark_read(org, "bob", [])
    assert board.read_state(org, "bob").read == {kept.id}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ada", "carol"]),
            st.integers(min_value=-50 * YEAR_S, max_value=900 * YEAR_S),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_unread_is_exactly_what_arrived_since_each_read_whatever_the_clocks(
    steps: list[tuple[str, int, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as monkeypatch:
        org = OrgPaths(Path(tmp))
        (org.root / "org.toml").write_text(ORG_TOML)
        unread: set[str] = set()
        for sender, offset_s, read_after in steps:
            skew(monkeypatch, offset_s)
            unread.add(post(org, f"{offset_s}", sender=sender).id)
            if read_after:
                board.mark_read(org, "bob")
                unread.clear()
            assert set(ids(board.unread(org, "bob"))) == unread
