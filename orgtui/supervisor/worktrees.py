"""The only module that talks to git (GitPython): the research repo, branches and worktrees."""

from __future__ import annotations

import contextlib
from pathlib import Path

import git

from orgtui.errors import OrgtuiError


class GitError(OrgtuiError):
    """A git operation orgtui needs failed; the message says which and why."""


def open_repo(root: Path) -> git.Repo:
    """The research repo at ``root`` (it must be the top of a git work tree)."""
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(
            f"{root}: not a git repository; run `git init` (and commit something) first"
        ) from None


def ensure_program_branch(root: Path, program: str) -> str:
    """Create ``prog/<program>`` at HEAD if missing; returns the branch name.

    A repo without any commit gets an initial empty commit first, since a branch needs one.
    """
    repo = open_repo(root)
    branch = f"prog/{program}"
    if not repo.head.is_valid():
        repo.git.commit("--allow-empty", "-m", "orgtui: initial commit", *_identity(repo))
    if branch not in [head.name for head in repo.heads]:
        repo.create_head(branch, repo.head.commit)
    return branch


def _identity(repo: git.Repo) -> list[str]:
    """``--author`` for orgtui's own commits when the user has no git identity configured."""
    reader = repo.config_reader()
    if reader.has_option("user", "email"):
        return []
    return ["--author", "orgtui <orgtui@localhost>"]


def init_repo(root: Path, message: str, name: str, email: str) -> None:
    """A new repository at ``root`` on ``main`` with everything in it committed as ``name``."""
    try:
        repo = git.Repo.init(root, initial_branch="main")
        repo.git.add("-A")
        repo.git(c=[f"user.name={name}", f"user.email={email}"]).commit("-q", "-m", message)
    except git.GitCommandError as error:
        raise GitError(f"{root}: cannot create the repository: {error.stderr.strip()}") from None


def git_version() -> str:
    return ".".join(str(part) for part in git.Git().version_info)


def feature_branch(program: str, agent: str) -> str:
    return f"feat/{program}/{agent}"


def ensure_worktree(root: Path, program: str, agent: str, worktree: Path) -> tuple[str, bool]:
    """``worktree`` checked out on ``feat/<program>/<agent>`` (forked from ``prog/<program>``).

    Returns (branch, created). An existing worktree is left exactly as it is.
    """
    repo = open_repo(root)
    base = ensure_program_branch(root, program)
    branch = feature_branch(program, agent)
    if (worktree / ".git").exists():
        return branch, False
    repo.git.worktree("prune")
    worktree.parent.mkdir(parents=True, exist_ok=True)
    try:
        if branch in [head.name for head in repo.heads]:
            repo.git.worktree("add", str(worktree), branch)
        else:
            repo.git.worktree("add", "-b", branch, str(worktree), base)
    except git.GitCommandError as error:
        raise GitError(f"git worktree add {worktree}: {error.stderr.strip()}") from None
    return branch, True


def tree_state(path: Path) -> tuple[str | None, str | None, bool]:
    """(branch, commit, dirty) of the work tree holding ``path``; Nones outside git.

    Dirty means tracked files changed: untracked scratch files do not make a run unrepeatable.
    """
    try:
        repo = git.Repo(path, search_parent_directories=True)
        commit = repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None, None, False
    branch = None if repo.head.is_detached else repo.active_branch.name
    return branch, commit, repo.is_dirty(untracked_files=False)


def wip_commit(worktree: Path, message: str) -> str | None:
    """Commit everything in ``worktree`` (untracked included) when dirty; returns the sha."""
    try:
        repo = git.Repo(worktree)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if not repo.is_dirty(untracked_files=True):
        return None
    repo.git.add("-A")
    repo.git.commit("-m", message, "--no-verify", *_identity(repo))
    return repo.head.commit.hexsha


def recent_commits(worktree: Path, count: int = 10) -> list[str]:
    """``<short sha> <subject>`` of the last commits on the worktree's branch."""
    try:
        repo = git.Repo(worktree)
        out = repo.git.log(f"-{count}", "--format=%h %s")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return []
    return [line for line in out.splitlines() if line.strip()]


def remove_worktree(root: Path, worktree: Path) -> None:
    """Remove a worktree (its branch survives); commit its work first with ``wip_commit``."""
    repo = open_repo(root)
    try:
        repo.git.worktree("remove", "--force", str(worktree))
    except git.GitCommandError as error:
        raise GitError(f"git worktree remove {worktree}: {error.stderr.strip()}") from None
    repo.git.worktree("prune")


def disk_usage(path: Path) -> int:
    """Bytes under ``path`` (symlinks not followed)."""
    import os

    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
