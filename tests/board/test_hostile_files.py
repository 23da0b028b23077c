"""What anyone can drop into ``.org/``: special files, huge files, bad bytes.

Every reader (list, inbox, mark_read, nudges, the CLI verbs) shows them as malformed or
ignores them, never opens a non-plain file, never hangs and never prints a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from orgtui import board
from orgtui.board import Malformed, Message
from orgtui.paths import OrgPaths
from tests.conftest import ORGTUI, run_orgtui

MID = "20261124T221501.123456Z-ada-abcdef"


def fifo(path: Path) -> None:
    os.mkfifo(path)


def unix_socket(path: Path) -> None:
    here = Path.cwd()
    os.chdir(path.parent)  # a short relative name: tmp paths can pass sun_path's 107 bytes
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path.name)
        server.close()
    finally:
        os.chdir(here)


def directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.md").write_text("+++\n")


def zero_link(path: Path) -> None:
    path.symlink_to("/dev/zero")


def message_link(path: Path) -> None:
    path.symlink_to(path.parent / "elsewhere.txt")


def huge(path: Path) -> None:
    with open(path, "wb") as handle:
        handle.truncate(8 << 30)  # sparse: 8 GiB to read, none on disk


SPECIAL: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (fifo, "a FIFO"),
    "socket": (unix_socket, "a socket"),
    "directory": (directory, "a directory"),
    "symlink to /dev/zero": (zero_link, "a symbolic link"),
    "symlink to a file": (message_link, "a symbolic link"),
    "huge file": (huge, "file too large"),
}


@pytest.fixture
def hostile(org: OrgPaths) -> tuple[Message, list[Path]]:
    """A good message for bob beside one of every special file, each under a message name."""
    good = board.post(org, sender="ada", to=["bob"], subject="good", body="still here")
    (org.board_dir / "elsewhere.txt").write_text("not listed")
    made = []
    for index, (make, _) in enumerate(SPECIAL.values()):
        path = org.board_dir / f"20261124T22150{index}.123456Z-ada-zzzzz{index}.md"
        make(path)
        made.append(path)
    return good, made


def test_special_files_are_malformed_without_being_opened(
    org: OrgPaths, hostile: tuple[Message, list[Path]]
) -> None:
    good, made = hostile
    items = board.list_messages(org)
    assert good in items
    reasons = {item.path: item.reason for item in items if isinstance(item, Malformed)}
    assert set(reasons) == set(made)
    for path, (_, words) in zip(made, SPECIAL.values(), strict=True):
        assert words in reasons[path], (path, reasons[path])
    assert board.unread(org, "bob") == [good]
    assert board.nudge_due(org, "bob") == [good.id]
    board.record_nudge(org, "bob", [good.id])
    assert board.mark_read(org, "bob") == [good.id]
    assert board.unread(org, "bob") == []
    for path in made:
        with pytest.raises(board.BoardError, match="malformed"):
            board.read_message(org, path.name.removesuffix(".md"))


@pytest.mark.parametrize(
    "argv",
    [["board"], ["board", "--json"], ["inbox", "--as", "bob"], ["inbox", "--all", "--json"]],
    ids=" ".join,
)
def test_cli_verbs_list_special_files_and_exit_0(
    org: OrgPaths, hostile: tuple[Message, list[Path]], argv: list[str]
) -> None:
    good, made = hostile
    out = run_orgtui(*argv, root=org.root, timeout=60, env={**os.environ, "ORGTUI_AGENT": "bob"})
    assert (out.returncode, out.stderr) == (0, "")
    assert "still here" in out.stdout or good.id in out.stdout
    if argv == ["board", "--json"]:
        listed = json.loads(out.stdout)
        assert sum(1 for item in listed if item.get("malformed")) == len(made)


def test_read_of_a_special_file_is_a_clear_error(
    org: OrgPaths, hostile: tuple[Message, list[Path]]
) -> None:
    _, made = hostile
    out = run_orgtui("read", made[0].name.removesuffix(".md"), root=org.root, timeout=60)
    assert out.returncode == 2 and "a FIFO" in out.stderr and "Traceback" not in out.stderr


def test_a_board_that_is_not_a_directory_is_one_malformed_entry(org: OrgPaths) -> None:
    org.org_dir.mkdir()
    org.board_dir.write_text("oops")
    [item] = board.list_messages(org)
    assert isinstance(item, Malformed) and "cannot be listed" in item.reason
    assert board.unread(org, "bob") == [] and board.mark_read(org, "bob") == []
    out = run_orgtui("board", "--json", root=org.root, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["malformed"] is True
    out = run_orgtui("post", "--as", "ada", "--to", "bob", "-s", "x", "-b", "y", root=org.root)
    assert out.returncode == 2 and "cannot write the message" in out.stderr


@pytest.mark.parametrize("name", ["read.json", "nudged.json", "cursor"])
@pytest.mark.parametrize("make", [fifo, zero_link, directory], ids=["fifo", "zero", "dir"])
def test_special_receipt_files_count_as_nothing_read(
    org: OrgPaths, name: str, make: Callable[[Path], None]
) -> None:
    sent = board.post(org, sender="ada", to=["bob"], subject="s", body="")
    org.agent_dir("bob").mkdir(parents=True)
    make(org.agent_dir("bob") / name)
    assert board.unread(org, "bob") == [sent]
    assert board.nudge_due(org, "bob") == [sent.id]
    out = run_orgtui("inbox", "--as", "bob", "--peek", "--json", root=org.root, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["unread"] == 1


def test_a_special_lock_file_is_refused_not_waited_on(org: OrgPaths) -> None:
    sent = board.post(org, sender="ada", to=["bob"], subject="s", body="")
    org.agent_dir("bob").mkdir(parents=True)
    os.mkfifo(org.agent_dir("bob") / ".board.lock")
    with pytest.raises(board.BoardError, match="not a plain file"):
        board.mark_read(org, "bob")
    out = run_orgtui("inbox", "--as", "bob", root=org.root, timeout=60)
    assert out.returncode == 2 and ".board.lock" in out.stderr and "subject: s" in out.stdout
    assert board.unread(org, "bob") == [sent]


# ---------------------------------------------------------------------------- bytes


def test_bytes_that_are_not_utf8_in_a_post_become_replacement_characters(org: OrgPaths) -> None:
    argv = [b"post", b"--root", os.fsencode(org.root), b"--as", b"ada", b"--to", b"bob"]
    out = subprocess.run(
        [*map(os.fsencode, ORGTUI), *argv, b"-s", b"caf\xe9 \xff"],
        input=b"body \xff\xfe ok\n\x80",
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stderr == b"", out.stderr
    message = board.read_message(org, out.stdout.decode().strip())
    assert message.subject == "caf\ufffd \ufffd"
    assert message.body == "body \ufffd\ufffd ok\n\ufffd\n"
    out = subprocess.run(
        [*map(os.fsencode, ORGTUI), *argv, b"-s", b"x", b"-b", b"\xc3(\xa0"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert board.read_message(org, out.stdout.decode().strip()).body == "\ufffd(\ufffd\n"


def test_a_file_with_bad_bytes_is_shown_as_malformed(org: OrgPaths) -> None:
    good = board.post(org, sender="ada", to=["bob"], subject="good", body="")
    text = board.render(Message(MID, "ada", ("bob",), "s", MID, "note", good.time, "x"))
    (org.board_dir / f"{MID}.md").write_bytes(text.encode() + b"\xff\xfe body\n")
    [bad] = [i for i in board.list_messages(org) if isinstance(i, Malformed)]
    assert "not valid UTF-8" in bad.reason
    out = run_orgtui("board", root=org.root, timeout=60)
    assert out.returncode == 0 and "MALFORMED: not valid UTF-8" in out.stdout


# ---------------------------------------------------------------------------- closed stdout


@pytest.mark.parametrize(
    "verb",
    [
        "board",
        "board --json",
        "board --kind note",
        "inbox --as bob --all",
        "inbox --as bob --peek --json",
    ],
)
def test_a_closed_stdout_is_a_quiet_exit(org: OrgPaths, verb: str) -> None:
    org.board_dir.mkdir(parents=True)
    for index in range(1500):  # far more than a pipe holds
        message_id = f"20261124T22{index // 60 % 60:02d}{index % 60:02d}.000000Z-ada-{index:06d}"
        message = Message(
            message_id, "ada", ("bob",), f"subject {index} " + "s" * 150, message_id, "note",
            "2026-11-24T22:15:01.123456Z", "body " * 60,
        )  # fmt: skip
        (org.board_dir / f"{message_id}.md").write_text(board.render(message))
    command = " ".join(ORGTUI) + f" {verb} --root {org.root}"
    out = subprocess.run(
        ["bash", "-c", f"{command} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (out.stdout, out.stderr) == ("0\n", "")


# ---------------------------------------------------------------------------- modes


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_org_files_are_private_whatever_the_umask(org: OrgPaths) -> None:
    old = os.umask(0)
    try:
        org.org_dir.mkdir(mode=0o755)  # made by an older orgtui or another module
        sent = board.post(org, sender="ada", to=["bob"], subject="s", body="")
        board.mark_read(org, "bob")
        board.record_nudge(org, "bob", [])
    finally:
        os.umask(old)
    assert mode(org.org_dir) == mode(org.board_dir) == 0o700
    assert mode(org.agents_dir) == mode(org.agent_dir("bob")) == 0o700
    assert mode(sent.path) == 0o600  # type: ignore[arg-type]
    for name in ("read.json", "nudged.json", ".board.lock"):
        assert mode(org.agent_dir("bob") / name) == 0o600, name


def test_atomic_writes_make_private_files_and_directories(tmp_path: Path) -> None:
    from orgtui.atomic import append_line, atomic_write_text, ensure_private_dir

    above = mode(tmp_path)
    old = os.umask(0o002)
    try:
        atomic_write_text(tmp_path / "a" / "b" / "state.json", "{}")
        append_line(tmp_path / "c" / "log.jsonl", "{}")
        shared = tmp_path / "d"
        shared.mkdir(mode=0o777)
        ensure_private_dir(shared / "e" / "f")
        ensure_private_dir(shared)
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == mode(tmp_path / "c") == 0o700
    assert mode(tmp_path / "a" / "b" / "state.json") == mode(tmp_path / "c" / "log.jsonl") == 0o600
    assert mode(shared / "e") == mode(shared / "e" / "f") == mode(shared) == 0o700
    assert mode(tmp_path) == above  # directories above a private one are left alone
