"""``orgtui adopt``: the ledger's gate in front of the program branch, in a real git repo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui import cli
from orgtui.board import messages
from orgtui.ledger import store_baseline, stored_baseline
from orgtui.ledger.adopt import BLOCKING_FLAGS, AdoptError, AdoptRefused, adopt, check_adopt
from orgtui.paths import OrgPaths
from tests.conftest import git, run_orgtui
from tests.ledger.synth import power_law, write_run, write_variant

ORG_TOML = """\
[org]
name = "lab"
program = "p"
task = "remove the softcap"

[[agent]]
name = "chief"
role = "chief_scientist"
backend = "shell"

[[agent]]
name = "ada"
role = "researcher"
backend = "shell"

[ledger]
baseline = "base"
"""


@pytest.fixture
def org(git_repo: Path) -> Path:
    """An org on ``main``, ``prog/p`` at its first commit, and a variant commit on a branch."""
    (git_repo / "org.toml").write_text(ORG_TOML)
    (git_repo / "model.py").write_text("softcap = 15\n")
    (git_repo / ".gitignore").write_text(".org/\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "org")
    git(git_repo, "branch", "prog/p")
    return git_repo


def variant_commit(repo: Path, branch: str, text: str) -> str:
    """A commit on ``branch`` (made from main) changing model.py; main stays checked out."""
    git(repo, "checkout", "-q", "-b", branch, "main")
    (repo / "model.py").write_text(text)
    git(repo, "commit", "-qam", f"{branch}: {text.strip()}")
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return sha


def set_provenance(run_dirs: list[Path], commit: str | None, dirty: bool = False) -> None:
    """Record ``commit`` (or none) in each run's ``run_start``, as the trainer writes it."""
    for run_dir in run_dirs:
        metrics = run_dir / "metrics.jsonl"
        lines = metrics.read_text().splitlines()
        start = json.loads(lines[0]) | {"commit": commit, "dirty": dirty}
        metrics.write_text("\n".join([json.dumps(start), *lines[1:]]) + "\n")


SPREADS = {"base": (0.0, 0.01, -0.01), "nocap": (0.005, -0.01, 0.01), "tweak": (0.01, -0.01, 0.0)}
"""Each seed's offset per variant: shuffled, so paired seeds differ by more than the offset."""


def runs(
    org: Path, variant: str, seeds: int, commit: str | None, offset: float, dirty: bool = False
) -> list[Path]:
    noises = SPREADS.get(variant, SPREADS["base"])[:seeds]
    dirs = write_variant(
        OrgPaths(org).runs_dir, variant, seeds, curve=power_law(offset=offset), noises=noises
    )
    set_provenance(dirs, commit, dirty)
    return dirs


@pytest.fixture
def ledger(org: Path) -> dict[str, str]:
    """Baseline at main, ``nocap`` a clear improvement, ``tweak`` within noise."""
    shas = {
        "base": git(org, "rev-parse", "main"),
        "nocap": variant_commit(org, "feat/p/ada", "softcap = None\n"),
        "tweak": variant_commit(org, "feat/p/bob", "softcap = 16\n"),
    }
    runs(org, "base", 3, shas["base"], 0.0)
    runs(org, "nocap", 3, shas["nocap"], -0.1)
    runs(org, "tweak", 3, shas["tweak"], -0.001)
    return shas


def orgtui(root: Path, *args: str, **env: str):
    return run_orgtui(*args, root=root, cwd=root, env=os.environ | env)


def adoptions(org: Path) -> list[dict]:
    return json.loads(OrgPaths(org).ledger_state.read_text()).get("adopted", [])


def test_adopt_refuses_a_variant_within_noise(org: Path, ledger: dict[str, str]):
    prog = git(org, "rev-parse", "prog/p")
    out = orgtui(org, "adopt", "tweak")
    assert out.returncode == 2, out.stderr
    assert "tweak vs base: verdict: within_noise" in out.stdout
    assert "a difference beyond the noise" in out.stdout
    assert "--override" in out.stdout
    assert git(org, "rev-parse", "prog/p") == prog
    assert stored_baseline(OrgPaths(org)) is None
    assert messages(OrgPaths(org)) == []


def test_adopt_merges_an_improvement_and_moves_the_baseline(org: Path, ledger: dict[str, str]):
    paths = OrgPaths(org)
    paths.org_dir.mkdir(exist_ok=True)
    paths.ledger_state.write_text(json.dumps({"baseline": "base", "note": "kept"}))
    out = orgtui(org, "adopt", "nocap", ORGTUI_AGENT="ada")
    assert out.returncode == 0, out.stderr
    assert "adopted nocap" in out.stdout and "verdict: improvement" in out.stdout
    head = git(org, "rev-parse", "prog/p")
    assert head == ledger["nocap"]  # prog/p had not moved: a fast-forward
    assert git(org, "show", "prog/p:model.py") == "softcap = None"
    assert git(org, "rev-parse", "HEAD") == ledger["base"]  # main and its tree untouched
    state = json.loads(paths.ledger_state.read_text())
    assert state["baseline"] == "nocap" and state["note"] == "kept"
    (record,) = state["adopted"]
    assert set(record) == {
        "variant",
        "commit",
        "merged",
        "previous_baseline",
        "verdict",
        "override",
        "time",
    }
    assert record["variant"] == "nocap" and record["commit"] == ledger["nocap"]
    assert record["merged"] == head and record["previous_baseline"] == "base"
    assert record["verdict"] == "improvement" and record["override"] is None
    (post,) = messages(paths)
    assert post.subject == "adopted nocap" and post.kind == "result"
    assert post.sender == "ada" and post.to == ("chief",) and post.thread == "nocap"
    assert "verdict: improvement" in post.body and ledger["nocap"][:12] in post.body
    assert ledger["nocap"] in post.refs
    store_baseline(paths, "nocap")  # `orgtui baseline` keeps the history
    assert len(adoptions(org)) == 1
    # the new baseline is what later variants are judged against; adopting it again is nothing
    again = orgtui(org, "adopt", "nocap")
    assert again.returncode == 1 and "already the baseline" in again.stderr


def test_adopt_makes_a_merge_commit_when_the_program_moved_on(org: Path, ledger: dict[str, str]):
    git(org, "checkout", "-q", "prog/p")
    (org / "data.py").write_text("shards = 4\n")
    git(org, "add", "data.py")
    git(org, "commit", "-qm", "program moved on")
    moved = git(org, "rev-parse", "HEAD")
    git(org, "checkout", "-q", "main")
    done = adopt(OrgPaths(org), "nocap")
    parents = git(org, "rev-list", "--parents", "-n1", "prog/p").split()[1:]
    assert parents == [moved, ledger["nocap"]] and done.merged_head != ledger["nocap"]
    assert git(org, "log", "-1", "--format=%s", "prog/p") == "orgtui adopt nocap: improvement"
    assert done.previous_baseline == "base" and done.program_branch == "prog/p"
    (post,) = messages(OrgPaths(org))
    assert post.sender == "human"


def test_override_adopts_and_posts_its_reason(org: Path, ledger: dict[str, str]):
    out = orgtui(org, "adopt", "tweak", "--override", "the chief needs it for the next sweep")
    assert out.returncode == 0, out.stderr
    assert git(org, "rev-parse", "prog/p") == ledger["tweak"]
    assert stored_baseline(OrgPaths(org)) == "tweak"
    (post,) = messages(OrgPaths(org))
    assert "reason: the chief needs it for the next sweep" in post.body
    assert "verdict: within_noise" in post.body  # the verdict it overrode
    assert "a difference beyond the noise" in post.body
    (record,) = adoptions(org)
    assert record["override"] == "the chief needs it for the next sweep"
    assert record["verdict"] == "within_noise"


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
def test_override_needs_a_reason(org: Path, ledger: dict[str, str], reason: str):
    out = orgtui(org, "adopt", "tweak", "--override", reason)
    assert out.returncode == 1 and "--override needs a reason" in out.stderr
    assert git(org, "rev-parse", "prog/p") == ledger["base"]


def test_json_output(org: Path, ledger: dict[str, str]):
    refused = orgtui(org, "adopt", "tweak", "--json")
    assert refused.returncode == 2
    data = json.loads(refused.stdout)
    assert data["adopted"] is False and data["comparison"]["verdict"] == "within_noise"
    assert data["missing"]
    done = orgtui(org, "adopt", "nocap", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["adopted"] is True and data["commit"] == ledger["nocap"]
    assert data["merged_head"] == git(org, "rev-parse", "prog/p")


def test_a_dirty_tree_improvement_is_refused(org: Path):
    base = git(org, "rev-parse", "main")
    runs(org, "base", 3, base, 0.0)
    runs(org, "nocap", 3, variant_commit(org, "feat/p/ada", "x = 1\n"), -0.1, dirty=True)
    check = check_adopt(OrgPaths(org), "nocap")
    assert check.comparison is not None and check.comparison.verdict == "improvement"
    assert "dirty_tree" in check.comparison.flags and not check.allowed
    assert check.missing == (BLOCKING_FLAGS["dirty_tree"],)
    out = orgtui(org, "adopt", "nocap")
    assert out.returncode == 2
    assert "verdict: improvement" in out.stdout and "clean runs: commit your changes" in out.stdout
    assert git(org, "rev-parse", "prog/p") == base


def test_a_seed_still_running_holds_an_improvement_back(org: Path, ledger: dict[str, str]):
    runs_dir = OrgPaths(org).runs_dir
    late = write_run(runs_dir, "nocap-s3", variant="nocap", seed=3, curve=power_law(), status=None)
    set_provenance([late], ledger["nocap"])
    check = check_adopt(OrgPaths(org), "nocap")
    assert check.comparison is not None and check.comparison.verdict == "improvement"
    assert check.missing == (BLOCKING_FLAGS["still_running"],) and not check.allowed
    assert check.commit == ledger["nocap"]


def test_too_few_seeds_says_how_many(org: Path):
    runs(org, "base", 3, git(org, "rev-parse", "main"), 0.0)
    runs(org, "nocap", 1, variant_commit(org, "feat/p/ada", "x = 1\n"), -0.001)
    check = check_adopt(OrgPaths(org), "nocap")
    assert check.comparison is not None and check.comparison.verdict == "within_noise"
    assert any("at least 3 seeds" in item for item in check.missing)


def test_without_a_baseline_the_gate_asks_for_one(org: Path):
    (org / "org.toml").write_text(ORG_TOML.replace('baseline = "base"', ""))
    runs(org, "nocap", 3, variant_commit(org, "feat/p/ada", "x = 1\n"), -0.1)
    check = check_adopt(OrgPaths(org), "nocap")
    assert check.comparison is None and check.missing == (BLOCKING_FLAGS["no_baseline"],)
    with pytest.raises(AdoptRefused) as refused:
        adopt(OrgPaths(org), "nocap")
    assert refused.value.comparison is None and "a baseline" in refused.value.missing[0]


def test_seeds_from_different_commits_are_named(org: Path):
    runs(org, "base", 3, git(org, "rev-parse", "main"), 0.0)
    dirs = runs(org, "nocap", 3, variant_commit(org, "feat/p/ada", "x = 1\n"), -0.1)
    other = variant_commit(org, "feat/p/bob", "x = 2\n")
    set_provenance(dirs[:1], other)
    check = check_adopt(OrgPaths(org), "nocap")
    assert not check.allowed and check.commit is None
    assert other[:12] in check.missing[-1] and "one commit for every seed" in check.missing[-1]
    with pytest.raises(AdoptError, match="one commit for every seed"):
        adopt(OrgPaths(org), "nocap", override="ship it")


@pytest.mark.parametrize(
    ("variant", "error"),
    [
        ("ghost", "no runs of variant 'ghost' to adopt"),
        ("base", "base is already the baseline"),
        ("nocommit", "no commit recorded for the runs of nocommit"),
        ("Bad/Name", "invalid variant 'Bad/Name'"),
    ],
)
def test_nothing_to_adopt_is_a_clear_error(org: Path, variant: str, error: str):
    runs(org, "base", 3, git(org, "rev-parse", "main"), 0.0)
    runs(org, "nocommit", 3, None, -0.1)
    out = orgtui(org, "adopt", variant)
    assert out.returncode == 1 and error in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert git(org, "rev-parse", "prog/p") == git(org, "rev-parse", "main")


def test_a_commit_missing_from_the_repo_changes_nothing(org: Path):
    runs(org, "base", 3, git(org, "rev-parse", "main"), 0.0)
    runs(org, "nocap", 3, "abc123", -0.1)  # a run made in some other repository
    out = orgtui(org, "adopt", "nocap")
    assert out.returncode == 2 and "no commit 'abc123'" in out.stderr
    assert stored_baseline(OrgPaths(org)) is None and messages(OrgPaths(org)) == []


def test_a_conflict_changes_nothing(org: Path, ledger: dict[str, str]):
    git(org, "checkout", "-q", "prog/p")
    (org / "model.py").write_text("softcap = 30\n")
    git(org, "commit", "-qam", "conflicting")
    moved = git(org, "rev-parse", "HEAD")
    out = orgtui(org, "adopt", "nocap")
    assert out.returncode == 2 and "conflicts in model.py" in out.stderr
    assert git(org, "rev-parse", "prog/p") == moved
    assert git(org, "status", "--porcelain") == ""
    assert stored_baseline(OrgPaths(org)) is None and messages(OrgPaths(org)) == []


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    variant=st.text(max_size=80)
    | st.sampled_from(["-", "--", "-h", "--json", "base", "BASE", "nocap\n", "../x", "a" * 65])
)
def test_any_variant_argument_is_a_clear_error_or_a_refusal(
    org: Path, ledger: dict[str, str], capsys: pytest.CaptureFixture[str], variant: str
):
    prog = git(org, "rev-parse", "prog/p")
    try:
        code = cli.main(["adopt", "--root", str(org), variant])
    except SystemExit as exit:  # argparse took it for an option: usage, not a traceback
        assert exit.code in (0, 2)
        return
    finally:
        out, err = capsys.readouterr()
    assert code in (1, 2), (variant, out, err)
    assert err.startswith("orgtui: ") or "missing:" in out
    assert git(org, "rev-parse", "prog/p") == prog


@settings(max_examples=200, deadline=None)
@given(variant=st.text(max_size=80) | st.binary(max_size=20).map(lambda b: b.decode("latin-1")))
def test_check_adopt_raises_only_adopt_error(tmp_path_factory, variant: str):
    paths = OrgPaths(tmp_path_factory.mktemp("org"))
    with pytest.raises(AdoptError):
        check_adopt(paths, variant)
