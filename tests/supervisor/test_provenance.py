"""Provenance in real git repos: snapshots of dirty trees, detached checkouts, merges."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git as gitpython
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.supervisor.worktrees import (
    GitError,
    add_checkout,
    branch_head,
    ensure_worktree,
    merge_into,
    remove_checkout,
    snapshot_tree,
)
from tests.conftest import git

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def untouched(repo: Path) -> tuple[str, str, str, bytes]:
    """Everything a snapshot must leave as it was: HEAD, branch, status and the index."""
    index = git(repo, "rev-parse", "--git-path", "index")
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "-q", "HEAD"),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        (repo / index).read_bytes(),
    )


@pytest.fixture
def dirty(git_repo: Path) -> Path:
    """A repo with a modified, a deleted, a new, a staged and an ignored file."""
    commit_file(git_repo, ".gitignore", "*.log\n", "ignore logs")
    commit_file(git_repo, "gone.txt", "soon deleted\n", "gone")
    (git_repo / "README.md").write_text("changed, not committed\n")
    (git_repo / "gone.txt").unlink()
    (git_repo / "new.py").write_text("print('untracked')\n")
    (git_repo / "staged.txt").write_text("staged only\n")
    git(git_repo, "add", "staged.txt")
    (git_repo / "train.log").write_text("ignored\n")
    return git_repo


def test_snapshot_holds_the_dirty_tree_and_touches_nothing(dirty: Path):
    before = untouched(dirty)
    sha = snapshot_tree(dirty, ["refs/orgtui/runs/r1", "refs/orgtui/jobs/j1"], "snapshot r1")
    assert untouched(dirty) == before
    assert git(dirty, "rev-parse", "refs/orgtui/runs/r1") == sha
    assert git(dirty, "rev-parse", "refs/orgtui/jobs/j1") == sha
    assert git(dirty, "rev-parse", f"{sha}^") == before[0]
    assert git(dirty, "log", "-1", "--format=%s", sha) == "snapshot r1"
    files = set(git(dirty, "ls-tree", "-r", "--name-only", sha).splitlines())
    assert files == {".gitignore", "README.md", "new.py", "staged.txt"}
    assert git(dirty, "show", f"{sha}:README.md") == "changed, not committed"
    assert git(dirty, "show", f"{sha}:new.py") == "print('untracked')"


def test_snapshot_of_a_clean_tree_has_heads_tree(git_repo: Path):
    sha = snapshot_tree(git_repo, ["refs/orgtui/runs/clean"], "clean")
    assert git(git_repo, "rev-parse", f"{sha}^{{tree}}") == git(
        git_repo, "rev-parse", "HEAD^{tree}"
    )


def test_snapshot_in_an_agent_worktree(git_repo: Path, tmp_path: Path):
    worktree = tmp_path / "wt" / "ada"
    branch, _ = ensure_worktree(git_repo, "p", "ada", worktree)
    (worktree / "idea.py").write_text("x = 1\n")
    before = untouched(worktree)
    sha = snapshot_tree(worktree, ["refs/orgtui/runs/ada-1"], "ada's run")
    assert untouched(worktree) == before
    assert git(worktree, "symbolic-ref", "HEAD") == f"refs/heads/{branch}"
    # the ref is shared by every worktree: the main repo can check the snapshot out
    assert git(git_repo, "show", "refs/orgtui/runs/ada-1:idea.py") == "x = 1"
    assert git(git_repo, "rev-parse", "refs/orgtui/runs/ada-1") == sha


def test_snapshot_without_a_git_identity_uses_orgtuis(
    dirty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("EMAIL", "")
    sha = snapshot_tree(dirty, ["refs/orgtui/runs/anon"], "anon")
    assert git(dirty, "log", "-1", "--format=%an <%ae> / %cn <%ce>", sha) == (
        "orgtui <orgtui@localhost> / orgtui <orgtui@localhost>"
    )


def test_a_checkout_of_the_snapshot_has_the_dirty_content(dirty: Path, tmp_path: Path):
    sha = snapshot_tree(dirty, ["refs/orgtui/runs/r2"], "r2")
    dest = tmp_path / "checkouts" / "r2"
    add_checkout(dirty, sha, dest)
    assert (dest / "README.md").read_text() == "changed, not committed\n"
    assert (dest / "new.py").is_file() and not (dest / "gone.txt").exists()
    assert git(dest, "rev-parse", "HEAD") == sha
    detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=dest)
    assert detached.returncode == 1
    (dest / "scratch.txt").write_text("left by the run\n")
    remove_checkout(dirty, dest)
    assert not dest.exists()
    assert str(dest) not in git(dirty, "worktree", "list")
    remove_checkout(dirty, dest)  # already gone: fine
    add_checkout(dirty, "refs/orgtui/runs/r2", dest)  # a ref is a commit too
    assert git(dest, "rev-parse", "HEAD") == sha


def test_checkout_of_an_unknown_commit_is_a_clear_error(git_repo: Path, tmp_path: Path):
    with pytest.raises(GitError, match="no commit 'deadbeef'"):
        add_checkout(git_repo, "deadbeef", tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_checkout_over_an_existing_directory_is_a_git_error(git_repo: Path, tmp_path: Path):
    dest = tmp_path / "c"
    dest.mkdir()
    (dest / "keep").write_text("mine\n")
    with pytest.raises(GitError, match="git worktree add"):
        add_checkout(git_repo, "HEAD", dest)
    assert (dest / "keep").read_text() == "mine\n"


def test_branch_head(git_repo: Path):
    assert branch_head(git_repo, "main") == git(git_repo, "rev-parse", "HEAD")
    assert branch_head(git_repo, "prog/none") is None


# ------------------------------------------------------------------------------- merges


@pytest.fixture
def forked(git_repo: Path) -> tuple[Path, str, str]:
    """``prog/p`` at the first commit, ``main`` moved on: (repo, prog head, main head)."""
    git(git_repo, "branch", "prog/p")
    base = git(git_repo, "rev-parse", "HEAD")
    feature = commit_file(git_repo, "model.py", "softcap = None\n", "remove the softcap")
    return git_repo, base, feature


def test_merge_fast_forwards_a_branch_checked_out_nowhere(forked):
    repo, _base, feature = forked
    before = untouched(repo)
    assert merge_into(repo, "prog/p", feature, "adopt nocap") == feature
    assert branch_head(repo, "prog/p") == feature
    assert untouched(repo) == before
    assert merge_into(repo, "prog/p", feature, "again") == feature  # already in: nothing to do


def test_merge_makes_a_merge_commit_without_a_work_tree(forked):
    repo, _base, feature = forked
    git(repo, "checkout", "-q", "prog/p")
    other = commit_file(repo, "data.py", "shards = 4\n", "program moved on")
    git(repo, "checkout", "-q", "main")
    before = untouched(repo)
    head = merge_into(repo, "prog/p", feature, "orgtui adopt nocap: improvement")
    assert untouched(repo) == before
    assert branch_head(repo, "prog/p") == head
    assert git(repo, "rev-list", "--parents", "-n1", head).split()[1:] == [other, feature]
    assert git(repo, "log", "-1", "--format=%s", head) == "orgtui adopt nocap: improvement"
    assert git(repo, "show", f"{head}:model.py") == "softcap = None"
    assert git(repo, "show", f"{head}:data.py") == "shards = 4"


def test_a_conflict_names_the_files_and_changes_nothing(forked):
    repo, _base, feature = forked
    git(repo, "checkout", "-q", "prog/p")
    other = commit_file(repo, "model.py", "softcap = 30\n", "conflicting")
    git(repo, "checkout", "-q", "main")
    with pytest.raises(GitError, match=r"conflicts in model\.py"):
        merge_into(repo, "prog/p", feature, "adopt")
    assert branch_head(repo, "prog/p") == other


def test_merge_into_the_checked_out_branch_updates_its_work_tree(forked):
    repo, _base, feature = forked
    git(repo, "checkout", "-q", "prog/p")
    other = commit_file(repo, "data.py", "shards = 4\n", "program moved on")
    head = merge_into(repo, "prog/p", feature, "adopt nocap")
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "rev-list", "--parents", "-n1", head).split()[1:] == [other, feature]
    assert (repo / "model.py").read_text() == "softcap = None\n"
    assert git(repo, "status", "--porcelain") == ""


def test_fast_forward_in_a_linked_worktree(forked, tmp_path: Path):
    repo, _base, feature = forked
    worktree = tmp_path / "prog-wt"
    git(repo, "worktree", "add", "-q", str(worktree), "prog/p")
    assert merge_into(repo, "prog/p", feature, "adopt") == feature
    assert git(worktree, "rev-parse", "HEAD") == feature
    assert (worktree / "model.py").read_text() == "softcap = None\n"


def test_merge_refuses_a_checked_out_branch_with_uncommitted_changes(forked, tmp_path: Path):
    repo, base, feature = forked
    worktree = tmp_path / "prog-wt"
    git(repo, "worktree", "add", "-q", str(worktree), "prog/p")
    (worktree / "README.md").write_text("half-done edit\n")
    with pytest.raises(GitError, match="uncommitted changes"):
        merge_into(repo, "prog/p", feature, "adopt")
    assert branch_head(repo, "prog/p") == base
    assert (worktree / "README.md").read_text() == "half-done edit\n"


def test_an_old_git_says_why_it_cannot_merge_off_a_work_tree(
    forked, monkeypatch: pytest.MonkeyPatch
):
    repo, _base, feature = forked
    git(repo, "checkout", "-q", "prog/p")
    commit_file(repo, "data.py", "shards = 4\n", "program moved on")
    moved = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    monkeypatch.setattr(gitpython.Git, "version_info", property(lambda _self: (2, 37, 1)))
    with pytest.raises(GitError, match=r"needs git >= 2\.38 \(this is 2\.37\.1\)"):
        merge_into(repo, "prog/p", feature, "adopt")
    assert branch_head(repo, "prog/p") == moved


def test_merge_into_a_missing_branch_or_of_a_missing_commit(forked):
    repo, _base, feature = forked
    with pytest.raises(GitError, match="no branch 'prog/q'"):
        merge_into(repo, "prog/q", feature, "adopt")
    with pytest.raises(GitError, match="no commit"):
        merge_into(repo, "prog/p", "0" * 40, "adopt")


# ------------------------------------------------------------------------------- hostile input

VALID_REF_TAIL = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")


@FUZZ
@given(ref=st.text(max_size=40))
def test_snapshot_writes_only_refs_under_refs_orgtui(git_repo: Path, ref: str):
    refs_before = git(git_repo, "for-each-ref", "--format=%(refname)")
    try:
        sha = snapshot_tree(git_repo, [ref], "fuzz")
    except GitError as error:
        assert "bad ref" in str(error)
        assert git(git_repo, "for-each-ref", "--format=%(refname)") == refs_before
        return
    assert ref.startswith("refs/orgtui/")
    assert git(git_repo, "rev-parse", ref) == sha
    git(git_repo, "update-ref", "-d", ref)


@FUZZ
@given(tail=st.text(max_size=30) | VALID_REF_TAIL)
def test_snapshot_refs_under_the_prefix_are_checked_too(git_repo: Path, tail: str):
    ref = f"refs/orgtui/{tail}"
    ok = "\0" not in ref and subprocess.run(["git", "check-ref-format", ref]).returncode == 0
    try:
        snapshot_tree(git_repo, ["refs/orgtui/good", ref], "fuzz")
    except GitError as error:
        assert "bad ref" in str(error)
        assert git(git_repo, "for-each-ref", "refs/orgtui/") == ""  # none written, not even good
        return
    assert ok
    git(git_repo, "update-ref", "-d", ref)
    git(git_repo, "update-ref", "-d", "refs/orgtui/good")


@FUZZ
@given(branch=st.text(max_size=30) | st.sampled_from(["-x", "--all", "a..b", "x.lock", "@", "/a"]))
def test_hostile_branch_names_are_git_errors(forked, branch: str):
    repo, base, feature = forked
    try:
        head = branch_head(repo, branch)
    except GitError as error:
        assert "bad branch name" in str(error)
        with pytest.raises(GitError):
            merge_into(repo, branch, feature, "fuzz")
    else:
        assert head is None or branch in ("main", "prog/p")
    assert branch_head(repo, "prog/p") == base


@FUZZ
@given(commit=st.text(max_size=30) | st.sampled_from(["--help", "-h", "HEAD~9", "main^{tree}"]))
def test_hostile_commits_are_git_errors(git_repo: Path, tmp_path: Path, commit: str):
    dest = tmp_path / "c"
    try:
        add_checkout(git_repo, commit, dest)
    except GitError as error:
        assert "no commit" in str(error)
        assert not dest.exists()
    else:
        remove_checkout(git_repo, dest)
