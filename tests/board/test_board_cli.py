"""``orgtui post / inbox / read / board``: identity, output, exit codes and bad arguments."""

from __future__ import annotations

import io
import json

import pytest

from orgtui import board
from orgtui.cli import main
from orgtui.paths import OrgPaths


def run(org: OrgPaths, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv[:1], "--root", str(org.root), *argv[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def ok(org: OrgPaths, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(org, capsys, *argv)
    assert code == 0, err
    return out


def test_post_inbox_read_cycle(org: OrgPaths, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(org, capsys, "post", "--as", "ada", "--to", "bob", "-s", "hi", "-b", "yo")
    message_id = out.strip()
    assert board.is_valid_id(message_id)
    out = ok(org, capsys, "inbox", "--as", "bob", "--peek", "--json")
    data = json.loads(out)
    assert data["unread"] == 1 and data["messages"][0]["id"] == message_id
    out = ok(org, capsys, "inbox", "--as", "bob")
    assert "subject: hi" in out and "(new)" in out and "yo" in out
    out = ok(org, capsys, "inbox", "--as", "bob")
    assert "no unread messages" in out
    out = ok(org, capsys, "inbox", "--as", "bob", "--all", "--json")
    assert json.loads(out)["messages"][0]["read"] is True
    out = ok(org, capsys, "read", message_id, "--json")
    assert json.loads(out)["body"] == "yo\n"


def test_identity_from_environment_and_human_default(
    org: OrgPaths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = ok(org, capsys, "post", "--to", "ada", "-s", "from the person", "-b", "x")
    assert board.read_message(org, out.strip()).sender == "human"
    monkeypatch.setenv("ORGTUI_AGENT", "carol")
    out = ok(org, capsys, "post", "--to", "ada,human", "-s", "from carol", "-b", "x")
    message = board.read_message(org, out.strip())
    assert message.sender == "carol" and message.to == ("ada", "human")


def test_body_from_stdin_with_reply_and_refs(
    org: OrgPaths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = board.post(org, sender="ada", to=["bob"], subject="q", body="?")
    monkeypatch.setattr("sys.stdin", io.StringIO("answer from stdin\nsk-ant-api03-SECRETSECRET\n"))
    code, out, err = run(
        org,
        capsys,
        "post",
        "--as",
        "bob",
        "--to",
        "ada",
        "-s",
        "a",
        "--reply-to",
        parent.id,
        "--ref",
        "run-7",
        "--ref",
        "deadbeef",
        "--kind",
        "result",
    )
    assert code == 0 and "redacted 1 secret" in err
    reply = board.read_message(org, out.strip())
    assert reply.thread == parent.id and reply.refs == ("run-7", "deadbeef")
    assert reply.body == "answer from stdin\n[redacted]\n" and reply.kind == "result"


def test_board_listing_filters_and_shows_malformed(
    org: OrgPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    first = board.post(org, sender="ada", to=["all"], subject="plan", body="")
    board.post(org, sender="bob", to=["ada"], subject="re", body="", reply_to=first.id)
    board.post(org, sender="carol", to=["ada"], subject="data", body="", kind="result")
    (org.board_dir / "junk.md").write_text("hello")
    out = ok(org, capsys, "board", "--json")
    items = json.loads(out)
    assert len(items) == 4
    [bad] = [i for i in items if i.get("malformed")]
    assert "does not start with a +++" in bad["reason"]
    plan = next(i for i in items if i.get("subject") == "plan")
    assert plan["delivery"] == {"bob": "delivered", "carol": "delivered", "human": "delivered"}
    out = ok(org, capsys, "board", "--thread", first.id, "--json")
    assert [i["subject"] for i in json.loads(out)] == ["plan", "re"]
    out = ok(org, capsys, "board", "--from", "carol", "--json")
    assert [i["subject"] for i in json.loads(out)] == ["data"]
    out = ok(org, capsys, "board", "--kind", "result")
    assert "data" in out and "plan" not in out
    out = ok(org, capsys, "board")
    assert "junk.md  MALFORMED: does not start" in out and "bob:delivered" in out


BAD_ARGS = [
    (["post", "--as", "ada", "--to", "zed", "-s", "x", "-b", "y"], "unknown recipient 'zed'"),
    (["post", "--as", "ada", "--to", "../bob", "-s", "x", "-b", "y"], "invalid recipient"),
    (["post", "--as", "ada", "--to", "bob", "-s", "", "-b", "y"], "empty subject"),
    (["post", "--as", "ada", "--to", "bob", "-s", "x", "-b", "y", "-k", "rumor"], "invalid kind"),
    (["post", "--as", "../ada", "--to", "bob", "-s", "x", "-b", "y"], "invalid identity"),
    (["post", "--as", "all", "--to", "bob", "-s", "x", "-b", "y"], "invalid identity"),
    (["post", "--as", "ada", "--to", "bob", "-s", "x", "-b", "y", "--thread", "a/b"], "thread"),
    (["post", "--as", "ada", "--to", "bob", "-s", "x", "-b", "y", "--reply-to", ".."], "invalid"),
    (["post", "--as", "ada", "--to", "bob", "-s", "x", "-b", "y", "--ref", "a b"], "invalid ref"),
    (["post", "--as", "ada", "--to", ",", "-s", "x", "-b", "y"], "no recipient"),
    (["post", "--as", "ada", "--to", "bob", "-s", "x", "-b", "z" * 262145], "body too large"),
    (["read", "../../org.toml"], "invalid message id"),
    (["read", "20261124T221501.123456Z-ada-abcdef"], "no message"),
    (["board", "--kind", "gossip"], "invalid --kind"),
    (["inbox", "--as", "Bob"], "invalid identity"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_ARGS)
def test_bad_arguments_exit_2_with_a_message_and_write_nothing(
    org: OrgPaths, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _out, err = run(org, capsys, *argv)
    assert code == 2
    assert message in err
    assert board.list_messages(org) == []


def test_missing_body_on_a_terminal_is_an_error(
    org: OrgPaths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    code, _, err = run(org, capsys, "post", "--as", "ada", "--to", "bob", "-s", "x")
    assert code == 2 and "no body" in err


def test_board_on_a_terminal_renders_a_table_with_malformed_rows(
    org: OrgPaths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    board.post(org, sender="ada", to=["bob"], subject="key [redacted] inside", body="")
    (org.board_dir / "junk.md").write_text("hello")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    out = ok(org, capsys, "board")
    assert "key [redacted] inside" in out  # markup-looking text is shown literally
    assert "malformed" in out and "does not start with a +++" in out
    assert "bob:delivered" in out
