"""A table of bad inputs across org.toml, board files, metrics files, CLI arguments and the
control socket: each gets its clear message (exit 2 at the CLI) and nothing crashes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

import pytest

from orgtui import board
from orgtui.ledger import Ledger, load_runs
from orgtui.ledger.runs import STALE_AFTER_S, load_run
from orgtui.paths import OrgPaths
from tests.conftest import run_orgtui, wait_for
from tests.supervisor.helpers import orgtui, supervisor_up, write_org

BASE = '[org]\nname = "t"\ntask = "x"\n[defaults]\nbackend = "shell"\ngpus = "none"\n[[agent]]\nname = "ada"\nrole = "researcher"\n'

ORG_TOML_CASES = {
    "syntax error": ("[org\nname=1", "line 1: TOML syntax error"),
    "unknown backend": (
        BASE.replace('"shell"', '"claud"'),
        "defaults.backend: found 'claud'; allowed: claude",
    ),
    "duplicate agent": (
        BASE + '[[agent]]\nname = "ada"\nrole = "researcher"\n',
        "agent[1].name: duplicate agent name 'ada'",
    ),
    "bad agent name": (
        BASE.replace('name = "ada"', 'name = "Ada!"'),
        "agent[0].name: found 'Ada!'",
    ),
    "path in name": (
        BASE.replace('name = "ada"', 'name = "../ada"'),
        "agent[0].name: found '../ada'",
    ),
    "unknown section": (BASE + "[org2]\nx=1\n", "org2: unknown key; allowed here: org"),
    "negative gpu": (
        BASE + '[[agent]]\nname = "bo"\nrole = "researcher"\ngpu = -1\n',
        "agent[1].gpu: found -1",
    ),
    "unknown role": (
        BASE.replace('role = "researcher"', 'role = "wizard"'),
        "no roles/wizard.md",
    ),
    "bad duration": (
        BASE + '[process.standup]\nevery = "soon"\n',
        "process.standup.every: found 'soon'",
    ),
    "alpha out of range": (
        BASE + "[ledger]\nalpha = 2\n",
        "ledger.alpha: found 2; expected a number between",
    ),
    "bad gpu source": (BASE + '[gpu]\nsource = "nvm"\n', "did you mean 'nvml'?"),
    "wrong type": (BASE.replace('task = "x"', "task = 3"), "org.task: found 3; expected a string"),
}


@pytest.mark.parametrize("case", list(ORG_TOML_CASES))
def test_org_toml(case: str, tmp_path: Path) -> None:
    text, expected = ORG_TOML_CASES[case]
    (tmp_path / "org.toml").write_text(text)
    out = run_orgtui("check", root=tmp_path)
    assert out.returncode == 2
    assert expected in out.stderr and str(tmp_path / "org.toml") in out.stderr
    assert "Traceback" not in out.stderr


CLI_CASES = {
    "unknown recipient": (
        ["post", "--to", "zed", "--subject", "s", "--body", "b"],
        "unknown recipient 'zed'",
    ),
    "bad kind": (
        ["post", "--to", "ada", "--subject", "s", "--kind", "rant", "--body", "b"],
        "invalid kind 'rant'",
    ),
    "empty subject": (["post", "--to", "ada", "--subject", " ", "--body", "b"], "empty subject"),
    "forged identity": (
        ["post", "--as", "../x", "--to", "ada", "--subject", "s", "--body", "b"],
        "invalid identity '../x'",
    ),
    "path as message id": (["read", "../../etc/passwd"], "invalid message id '../../etc/passwd'"),
    "path as variant": (["run", "--variant", "../x", "--", "true"], "invalid variant '../x'"),
    "zero seeds": (
        ["run", "--variant", "v", "--seeds", "0", "--", "true"],
        "--seeds must be at least 1",
    ),
    "no command": (["run", "--variant", "v"], "nothing to run"),
    "control char in baseline": (["baseline", "a\x01b"], "bad variant name"),
    "unknown agent": (["suspend", "zed"], "no agent named 'zed'"),
    "path as new agent": (
        ["spawn", "../x", "--role", "researcher", "--backend", "shell"],
        "invalid agent name '../x'",
    ),
    "unknown variant": (["compare", "a", "b"], "no runs of variant 'a'"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_arguments(case: str, git_repo: Path) -> None:
    write_org(git_repo, {"ada": "sleep 1"})
    args, expected = CLI_CASES[case]
    out = run_orgtui(*args, root=git_repo, cwd=git_repo)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr and "Traceback" not in out.stderr
    assert not list(OrgPaths(git_repo).board_dir.glob("*.md"))  # nothing half-done


def test_huge_body_is_refused_whole(git_repo: Path) -> None:
    write_org(git_repo, {"ada": "sleep 1"})
    out = run_orgtui(
        "post", "--to", "ada", "--subject", "big", root=git_repo, input="x" * (300 * 1024)
    )
    assert out.returncode == 2 and "body too large" in out.stderr
    assert not OrgPaths(git_repo).board_dir.exists() or not list(
        OrgPaths(git_repo).board_dir.iterdir()
    )


BOARD_FILES = {
    "no front matter": "just text\n",
    "unclosed front matter": "+++\nid = 'x'\n",
    "bad toml": "+++\nid = \n+++\nbody\n",
    "missing keys": "+++\nsubject = 'hi'\n+++\nbody\n",
    "binary": "\x00\xff\xfe garbage",
    "id mismatch": '+++\nid = "20261125T000000.000000Z-ada-aaaaaa"\nfrom = "ada"\nto = ["all"]\nsubject = "s"\nthread = "t"\nkind = "note"\ntime = "2026-11-25T00:00:00.000000Z"\n+++\nbody\n',
}


def test_malformed_board_files_are_listed_never_fatal(git_repo: Path) -> None:
    write_org(git_repo, {"ada": "sleep 1"})
    paths = OrgPaths(git_repo)
    good = board.post(
        paths, sender="human", to=["ada"], subject="fine", body="ok", known_agents=["ada"]
    )
    for i, text in enumerate(BOARD_FILES.values()):
        (paths.board_dir / f"20261125T00000{i}.000000Z-zed-bad{i:03d}.md").write_bytes(
            text.encode("utf-8", "surrogateescape")
        )
    items = board.list_messages(paths)
    malformed = [i for i in items if isinstance(i, board.Malformed)]
    assert len(malformed) == len(BOARD_FILES) and all(m.reason for m in malformed)
    assert [m.id for m in board.messages(paths)] == [good.id]
    out = run_orgtui("board", "--json", root=git_repo)
    assert out.returncode == 0
    listed = json.loads(out.stdout)
    assert sum(1 for entry in listed if entry.get("malformed")) == len(BOARD_FILES)


METRICS = {
    "empty file": b"",
    "garbage": b"\x00\x01\x02 not json at all\n",
    "a list per line": b"[1, 2, 3]\n",
    "no run_start": b'{"event": "train", "step": 1, "loss": 3.0}\n',
    "torn tail": b'{"event": "run_start", "run_id": "r", "variant": "v", "seed": 0, "config": {}, "time": 1}\n{"event": "eval", "step": 1, "flo',
}


def test_bad_metrics_files_never_break_the_ledger(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    for i, data in enumerate(METRICS.values()):
        run_dir = paths.runs_dir / f"bad-{i}"
        run_dir.mkdir(parents=True)
        (run_dir / "metrics.jsonl").write_bytes(data)
    runs = {r.run_id: r for r in load_runs(paths)}
    assert len(runs) == len(METRICS)
    # all but the torn tail and the empty file, which a live trainer may have just created
    assert sum(1 for r in runs.values() if r.malformed) == 3
    assert runs["bad-0"].status == "running" and not runs["bad-0"].malformed
    old = time.time() - STALE_AFTER_S - 60  # nobody wrote it for longer than a run may idle
    os.utime(paths.runs_dir / "bad-0" / "metrics.jsonl", (old, old))
    assert load_run(paths.runs_dir / "bad-0").malformed
    table = Ledger(list(runs.values())).table()
    assert {row.variant for row in table} == {"unknown", "v"}


CONTROL_CASES = {
    "malformed json": (b"{not json\n", "bad request"),
    "not an object": (b"[1, 2]\n", "bad request: not an object"),
    "unknown verb": (b'{"verb": "explode"}\n', "unknown verb 'explode'"),
    "no verb": (b"{}\n", "a string 'verb'"),
    "verb without agent": (b'{"verb": "suspend"}\n', "needs an agent"),
    "unknown agent": (b'{"verb": "suspend", "agent": "zed"}\n', "zed"),
    "path as agent": (b'{"verb": "restart", "agent": "../../x"}\n', "../../x"),
    "nul in agent": (b'{"verb": "park", "agent": "a\\u0000b"}\n', "no agent named 'a\\x00b'"),
    "huge payload": (b'{"verb": "ping", "pad": "' + b"x" * (2 << 20) + b'"}\n', "request over"),
}


def ask(sock_path: Path, data: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        with contextlib.suppress(BrokenPipeError):  # a huge line: the answer is already queued
            s.sendall(data)
        reply = s.makefile("rb").readline()
    return json.loads(reply)


def test_control_socket_bad_requests_leave_the_supervisor_alive(
    git_repo: Path, tmux_socket: str
) -> None:
    write_org(git_repo, {"ada": "exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor", timeout=30)
        sock = OrgPaths(git_repo).control_socket
        for case, (data, expected) in CONTROL_CASES.items():
            answer = ask(sock, data)
            assert answer["ok"] is False, case
            assert expected in answer["error"], (case, answer)
        assert ask(sock, b'{"verb": "ping"}\n')["ok"] is True
        assert supervisor_up(git_repo)
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)
