"""Fixtures shared by every test: real git repos in tmp_path and private tmux servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A fresh git repository with one commit, on branch main."""
    repo = tmp_path / "research"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("research repo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    """A private tmux server name (``tmux -L NAME``), killed after the test."""
    name = f"orgtui-test-{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


def orgtui_bin() -> str:
    """The installed console script, or ``python -m orgtui`` as a fallback."""
    found = shutil.which("orgtui")
    return found or f"{os.sys.executable} -m orgtui"
