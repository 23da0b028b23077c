"""The only module that talks to git (GitPython): the research repo, branches and worktrees."""

from __future__ import annotations

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


def is_git_repo(root: Path) -> bool:
    try:
        git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return True


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
