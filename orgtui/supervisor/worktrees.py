"""The only module that talks to git (GitPython): the research repo, branches and worktrees."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
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


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """The same fallback for ``commit-tree`` and ``merge``, which take no ``--author``.

    Only what neither the config nor the environment already says is filled in.
    """
    if not _identity(repo):
        return {}
    fallback = {
        "GIT_AUTHOR_NAME": "orgtui",
        "GIT_AUTHOR_EMAIL": "orgtui@localhost",
        "GIT_COMMITTER_NAME": "orgtui",
        "GIT_COMMITTER_EMAIL": "orgtui@localhost",
    }
    return {key: value for key, value in fallback.items() if not os.environ.get(key)}


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


# ------------------------------------------------------------------- provenance and adoption

SNAPSHOT_REF_PREFIX = "refs/orgtui/"
"""The only refs :func:`snapshot_tree` writes: orgtui's own, apart from branches and tags."""
_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
MERGE_TREE_GIT = (2, 38)
"""``git merge-tree --write-tree`` (a merge without a work tree) came with git 2.38."""
_REV_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/^~-]{0,199}")


def _check_ref_format(repo: git.Repo, ref: str, *flags: str) -> bool:
    status, _out, _err = repo.git.check_ref_format(
        *flags, ref, with_extended_output=True, with_exceptions=False
    )
    return status == 0


def _check_ref(repo: git.Repo, ref: object) -> str:
    """``ref`` if it is a well-formed ref under ``refs/orgtui/``, else a GitError."""
    if (
        not isinstance(ref, str)
        or not ref.startswith(SNAPSHOT_REF_PREFIX)
        or not _REF_RE.fullmatch(ref)
        or not _check_ref_format(repo, ref)
    ):
        raise GitError(
            f"bad ref {ref!r}: orgtui writes only refs under {SNAPSHOT_REF_PREFIX} "
            "made of letters, digits, '.', '_', '-' and '/' (e.g. refs/orgtui/runs/<run id>)"
        )
    return ref


def _check_branch(repo: git.Repo, branch: object) -> str:
    """``branch`` if it is a plain local branch name (``prog/p``, ``feat/p/ada``)."""
    if (
        not isinstance(branch, str)
        or not _REF_RE.fullmatch(branch)
        or not _check_ref_format(repo, branch, "--branch")
        or not _check_ref_format(repo, f"refs/heads/{branch}")
    ):
        raise GitError(
            f"bad branch name {branch!r}: use letters, digits, '.', '_', '-' and '/' "
            "(e.g. prog/<program>)"
        )
    return branch


def _resolve_commit(repo: git.Repo, commit: object) -> str:
    """The full sha of ``commit`` (a sha, a branch, a ref), or a GitError naming it."""
    if isinstance(commit, str) and _REV_RE.fullmatch(commit):
        status, out, _err = repo.git.rev_parse(
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{commit}^{{commit}}",
            with_extended_output=True,
            with_exceptions=False,
        )
        if status == 0 and out.strip():
            return out.strip()
    raise GitError(f"{repo.working_dir}: no commit {commit!r} in this repository")


def resolve_commit(root: Path, commit: str) -> str:
    """The full sha of ``commit`` (a sha, short or full, a branch, a ref) in the repo at ``root``.

    Raises:
        GitError: no such commit (or not a commit at all: a tree, a hostile string).
    """
    return _resolve_commit(open_repo(root), commit)


def snapshot_tree(worktree: Path, refs: Sequence[str], message: str) -> str:
    """A commit of ``worktree`` as it is now (untracked, non-ignored files too), child of HEAD.

    Built in a temporary index, so the worktree, its index and its branch are untouched: a
    run started from a dirty tree still names the exact code it ran. The commit is kept from
    garbage collection under each of ``refs`` (``refs/orgtui/runs/<run id>``); returns its sha.

    Raises:
        GitError: not a repository, no commit yet, a ref outside ``refs/orgtui/``.
    """
    repo = open_repo(worktree)
    checked = [_check_ref(repo, ref) for ref in refs]
    if not repo.head.is_valid():
        raise GitError(f"{worktree}: no commit yet to snapshot on; commit something first")
    with tempfile.TemporaryDirectory(prefix="orgtui-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")} | _identity_env(repo)
        try:
            repo.git.read_tree("HEAD", env=env)
            repo.git.add("-A", env=env)
            tree = repo.git.write_tree(env=env)
            sha = repo.git.commit_tree(tree, "-p", "HEAD", "-m", message, env=env).strip()
            for ref in checked:
                repo.git.update_ref("-m", "orgtui snapshot", ref, sha)
        except git.GitCommandError as error:
            raise GitError(
                f"{worktree}: cannot snapshot the tree: {error.stderr.strip()}"
            ) from None
    return sha


def add_checkout(root: Path, commit: str, dest: Path) -> None:
    """A detached worktree of ``commit`` at ``dest``: a run's exact code, apart from any branch.

    Raises:
        GitError: unknown commit, or ``dest`` in the way.
    """
    repo = open_repo(root)
    sha = _resolve_commit(repo, commit)
    target = Path(dest).absolute()
    repo.git.worktree("prune")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        repo.git.worktree("add", "--detach", "--", str(target), sha)
    except git.GitCommandError as error:
        raise GitError(f"git worktree add {target} {sha[:12]}: {error.stderr.strip()}") from None


def remove_checkout(root: Path, dest: Path) -> None:
    """Remove a checkout made by :func:`add_checkout`, changes and all; a missing one is fine."""
    repo = open_repo(root)
    target = Path(dest).absolute()
    if target.exists():
        try:
            repo.git.worktree("remove", "--force", "--", str(target))
        except git.GitCommandError as error:
            raise GitError(f"git worktree remove {target}: {error.stderr.strip()}") from None
    repo.git.worktree("prune")


def branch_head(root: Path, branch: str) -> str | None:
    """The sha of local ``branch``; None when there is no such branch."""
    repo = open_repo(root)
    _check_branch(repo, branch)
    status, out, _err = repo.git.rev_parse(
        "--verify",
        "--quiet",
        f"refs/heads/{branch}^{{commit}}",
        with_extended_output=True,
        with_exceptions=False,
    )
    return out.strip() if status == 0 and out.strip() else None


def _checked_out_at(repo: git.Repo, branch: str) -> Path | None:
    """The work tree (the repo's own or a ``git worktree``) that has ``branch`` checked out."""
    path: str | None = None
    for line in repo.git.worktree("list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = line.removeprefix("worktree ")
        elif line == f"branch refs/heads/{branch}" and path is not None:
            return Path(path)
    return None


def _merge_tree(repo: git.Repo, branch: str, head: str, commit: str) -> str:
    """The tree of merging ``commit`` into ``branch`` (at ``head``), written without a work tree or index.

    Raises:
        GitError: the merge conflicts (the conflicting files named); nothing was changed.
    """
    if tuple(repo.git.version_info[:2]) < MERGE_TREE_GIT:
        raise GitError(
            f"merging into {branch} where no work tree has it checked out needs git >= "
            f"{'.'.join(map(str, MERGE_TREE_GIT))} (this is {git_version()}): check {branch} "
            "out in a worktree, or upgrade git"
        )
    status, out, err = repo.git.merge_tree(
        "--write-tree",
        "--name-only",
        "--no-messages",
        head,
        commit,
        with_extended_output=True,
        with_exceptions=False,
    )
    lines = out.splitlines()
    if status == 0 and lines:
        return lines[0].strip()
    if status == 1:
        files = sorted({line for line in lines[1:] if line.strip()})
        raise GitError(
            f"merging {commit[:12]} into {branch} conflicts in {', '.join(files) or '?'}: "
            f"merge {branch} into the branch of {commit[:12]}, resolve, commit, then try again"
        )
    raise GitError(f"git merge-tree {head[:12]} {commit[:12]}: {err.strip()}")


def merge_into(root: Path, branch: str, commit: str, message: str) -> str:
    """Merge ``commit`` into local ``branch`` and return the branch's new head.

    A fast-forward when the branch is an ancestor of ``commit``; a merge commit otherwise.
    Where the branch is checked out (the repo itself or a worktree) the merge happens there,
    so that work tree follows; a branch checked out nowhere is merged without a work tree.

    Raises:
        GitError: no such branch or commit, a conflict (nothing changed), or the branch is
            checked out in a work tree with uncommitted changes.
    """
    repo = open_repo(root)
    _check_branch(repo, branch)
    sha = _resolve_commit(repo, commit)
    head = branch_head(root, branch)
    if head is None:
        raise GitError(f"{root}: no branch {branch!r} to merge into")
    if repo.is_ancestor(sha, head):
        return head  # already in
    fast_forward = repo.is_ancestor(head, sha)
    tree = None if fast_forward else _merge_tree(repo, branch, head, sha)
    where = _checked_out_at(repo, branch)
    if where is not None:
        _merge_in_worktree(where, branch, sha, message, fast_forward)
    else:
        new = sha
        if tree is not None:
            new = repo.git.commit_tree(
                tree, "-p", head, "-p", sha, "-m", message, env=_identity_env(repo)
            ).strip()
        repo.git.update_ref("-m", message, f"refs/heads/{branch}", new, head)
    merged = branch_head(root, branch)
    assert merged is not None
    return merged


def _merge_in_worktree(where: Path, branch: str, sha: str, message: str, ff: bool) -> None:
    work = open_repo(where)
    if work.is_dirty(untracked_files=False):
        raise GitError(
            f"{where}: {branch} is checked out here with uncommitted changes; "
            "commit or stash them, then adopt again"
        )
    args = ["--ff-only"] if ff else ["--no-ff", "--no-edit", "-m", message]
    try:
        work.git.merge("--no-verify", *args, sha, env=_identity_env(work))
    except git.GitCommandError as error:
        with contextlib.suppress(git.GitCommandError):
            work.git.merge("--abort")
        raise GitError(
            f"{where}: git merge {sha[:12]} into {branch}: {error.stderr.strip()}"
        ) from None


def disk_usage(path: Path) -> int:
    """Bytes under ``path`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
