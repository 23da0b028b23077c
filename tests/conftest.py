"""Fixtures shared by every test: real git repos in tmp_path and private tmux servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI replays the same examples every run (a red build must mean a regression, not a newly
# drawn example); a developer's run explores new ones each time. No deadline: an example that
# is slow on a loaded machine is not a failure (tests never assert wall-clock times).
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# One thread for every torch the tests start (trainers in subprocesses, and the workers' own):
# the suite runs two workers on as many cores, and torch's default of a thread per core made
# concurrent trainers spin against each other for several times the CPU. Jobs on the queue's
# CPU slots get one a slot anyway; a test that is about threads sets its own.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's org, tmux server or git identity."""
    for var in ("ORGTUI_ROOT", "ORGTUI_AGENT", "ORGTUI_TMUX_SOCKET", "TMUX", "TMUX_PANE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "orgtui test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@orgtui.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "orgtui test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@orgtui.invalid")


ORGTUI = [sys.executable, "-m", "orgtui"]
"""orgtui as this test run installed it, whatever PATH says."""


def run_orgtui(
    *args: str, root: Path | None = None, socket: str | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``orgtui VERB --root ROOT [--socket S] REST...`` as a person types it, output captured.

    The options go right after the verb so that a ``--`` in ``REST`` (``orgtui run``) keeps
    them on orgtui's side. ``kwargs`` go to ``subprocess.run`` (env, input, cwd, check...).
    """
    where = [*(["--root", str(root)] if root else []), *(["--socket", socket] if socket else [])]
    argv = [*ORGTUI, *args[:1], *where, *args[1:]]
    return subprocess.run(argv, **{"capture_output": True, "text": True, "timeout": 120} | kwargs)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def init_repo(repo: Path) -> Path:
    """Make ``repo`` a fresh git repository with one commit, on branch main."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("research repo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A fresh git repository with one commit, on branch main."""
    return init_repo(tmp_path / "research")


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    """A private tmux server name (``tmux -L NAME``), killed after the test."""
    name = f"orgtui-test-{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)
