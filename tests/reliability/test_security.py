"""The control socket belongs to its owner; API keys never land on disk."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orgtui.paths import OrgPaths
from tests.conftest import init_repo, run_orgtui, wait_for
from tests.supervisor.helpers import orgtui, supervisor_up, write_org

NOBODY = 65534
PLANTED = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-PLANTEDplantedPLANTED0123456789abcdef",
    "OPENAI_API_KEY": "sk-proj-PLANTEDplantedPLANTED0123456789abcdef",
    "HF_TOKEN": "hf_PLANTEDplantedPLANTED0123456789",
}


def as_nobody(sock_path: Path) -> str:
    """Connect from a child that has dropped to uid nobody; what happened, as text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no cleanup, just the socket
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(str(sock_path))
                time.sleep(0.3)  # a slow client still gets the refusal as its answer, not EPIPE
                s.sendall(b'{"verb": "suspend", "agent": "ada"}\n')
                result = s.makefile("rb").readline().decode()
        except OSError as error:
            result = f"OSError {error.errno}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        return pipe.read()


@pytest.fixture
def open_repo() -> Iterator[Path]:
    """A git repo another user can reach (pytest's own temp dirs are private to us)."""
    top = Path(tempfile.mkdtemp(prefix="orgtui-sec-"))
    top.chmod(0o755)
    yield init_repo(top / "research")
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_control_socket_refuses_other_users(open_repo: Path, tmux_socket: str) -> None:
    git_repo = open_repo
    write_org(git_repo, {"ada": "exec sleep 600"})
    orgtui(git_repo, tmux_socket, "up")
    try:
        wait_for(lambda: supervisor_up(git_repo), "the supervisor", timeout=30)
        sock = OrgPaths(git_repo).control_socket
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        os.chmod(sock.parent, 0o755)  # .org/ reachable: only the socket's own mode is left
        assert as_nobody(sock) == "OSError 13"  # the file mode stops it
        os.chmod(sock, 0o666)  # even with the mode opened by mistake, the peer check refuses
        answer = json.loads(as_nobody(sock))
        assert answer == {"ok": False, "error": "refused: not the socket owner"}
        status = json.loads(orgtui(git_repo, tmux_socket, "status", "--json").stdout)
        assert next(a for a in status["agents"] if a["name"] == "ada")["status"] != "suspended"
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)


def grep_tree(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {n[:12]}…" for n in needles if n.encode() in data]
    return found


def test_planted_keys_never_reach_disk(git_repo: Path, tmux_socket: str) -> None:
    # Agents that try hard to leak: they post their keys and print them in their panes.
    leak = (
        'orgtui post --to all --subject "keys $OPENAI_API_KEY" '
        '--body "anthropic=$ANTHROPIC_API_KEY openai=$OPENAI_API_KEY hf=$HF_TOKEN"; '
        "env | grep -c KEY; exec sleep 600"
    )
    write_org(git_repo, {"ada": leak, "bo": leak})
    run_orgtui("up", root=git_repo, socket=tmux_socket, env=os.environ | PLANTED, check=True)
    paths = OrgPaths(git_repo)
    try:
        wait_for(
            lambda: len(list(paths.board_dir.glob("*.md"))) >= 2, "the leaking posts", timeout=60
        )
        orgtui(git_repo, tmux_socket, "suspend", "ada")
        orgtui(git_repo, tmux_socket, "down", "--park")  # WIP commits of every worktree
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)
    needles = list(PLANTED.values())
    assert grep_tree(paths.org_dir, needles) == []
    history = subprocess.run(
        ["git", "-C", str(git_repo), "log", "-p", "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [n for n in needles if n in history] == []
    bodies = " ".join(p.read_text() for p in paths.board_dir.glob("*.md"))
    assert bodies.count("[redacted]") >= 6  # three keys in each of two messages


# Keys the first redaction let through: short after the prefix, split by an invisible
# character or a line break, or passed to a trainer as an argument.
SLIPPERY = {
    "short": "sk-Q7x",
    "zero-width": "sk-ant-api03-ZW\u200bSPLIT\u2060planted0123456789",
    "wrapped": "sk-proj-WRAPPEDplanted\nCONTINUED0123456789",
}


def test_slippery_keys_in_posts_and_run_arguments_never_reach_disk(git_repo: Path) -> None:
    write_org(git_repo, {"ada": "exec sleep 600"})
    (git_repo / ".gitignore").write_text(".org/\n")
    subprocess.run(["git", "-C", str(git_repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(git_repo), "commit", "-qm", "org"], check=True)
    body = " | ".join(f"{name}: {key}" for name, key in SLIPPERY.items())
    post = run_orgtui("post", "--to", "ada", "--subject", "keys", "--body", body, root=git_repo)
    assert post.returncode == 0, post.stderr
    argument = "PLANTEDargumentSECRET42"
    script = "import sys; print('got', sys.argv[1:])"
    run = run_orgtui(
        "run", "--variant", "v", "--no-post", "--", sys.executable, "-c", script,
        "--api-key", argument, f"OPENAI_API_KEY={argument}x",
        root=git_repo, cwd=git_repo,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert argument not in run.stdout
    pieces = [argument, "Q7x", "SPLIT", "planted0123456789", "CONTINUED0123456789"]
    assert grep_tree(OrgPaths(git_repo).org_dir, pieces) == []
