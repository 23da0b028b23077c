"""Pre-registration: a proposal goes to the chief, a reply decides it, runs link to it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orgtui import board, process
from orgtui.config import load_config
from orgtui.ledger import Ledger
from tests.conftest import git, run_orgtui
from tests.supervisor.helpers import orgtui

ORG = """
[org]
name = "t"
task = "test"
[defaults]
backend = "shell"
gpus = "none"
[[agent]]
name = "chief"
role = "chief_scientist"
[[agent]]
name = "ada"
role = "researcher"
[process.review]
required = true
[ledger]
baseline = "base"
"""


@pytest.fixture
def org(git_repo: Path) -> Path:
    (git_repo / "org.toml").write_text(ORG)
    (git_repo / ".gitignore").write_text(".org/\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "org")
    return git_repo


def test_proposal_goes_to_the_chief_and_a_reply_decides_it(org: Path) -> None:
    out = orgtui(
        org,
        "unused",
        "propose",
        "--as",
        "ada",
        "--variant",
        "nocap",
        "--hypothesis",
        "the softcap is not needed",
        "--budget-flops",
        "2e13",
    ).stdout
    config = load_config(org)
    (proposal,) = board.messages(config.paths)
    assert proposal.id in out and proposal.to == ("chief",) and proposal.kind == "question"
    assert "baseline: base" in proposal.body and "seeds: 3" in proposal.body
    assert "budget: 2e+13 FLOPs per run" in proposal.body
    assert process.proposal_status(config, proposal.id) == "pending"
    board.post(
        config.paths,
        sender="ada",
        to=["chief"],
        subject="approved?",
        body="self-approve",
        reply_to=proposal.id,
        known_agents=config.agent_names,
    )
    assert process.proposal_status(config, proposal.id) == "pending"  # only a chief decides
    board.post(
        config.paths,
        sender="chief",
        to=["ada"],
        subject="approved",
        body="go",
        reply_to=proposal.id,
        known_agents=config.agent_names,
    )
    assert process.proposal_status(config, proposal.id) == "approved"


def test_a_single_seed_proposal_is_refused(org: Path) -> None:
    out = orgtui(
        org, "unused", "propose", "--variant", "x", "--hypothesis", "h", "--seeds", "1", check=False
    )
    assert out.returncode == 2 and "at least 2 seeds" in out.stderr


def test_ledger_flags_runs_without_a_proposal(org: Path) -> None:
    for extra in (["--variant", "base"], ["--variant", "nocap", "--proposal", "p1"]):
        run_orgtui(
            "run",
            "--no-post",
            *extra,
            "--",
            sys.executable,
            "-c",
            "pass",
            root=org,
            cwd=org,
            check=True,
            capture_output=True,
        )
    rows = {
        r["variant"]: r for r in json.loads(orgtui(org, "u", "ledger", "--json").stdout)["variants"]
    }
    assert "no_proposal" in rows["base"]["flags"]
    assert Ledger.load(load_config(org).paths).runs[1].proposal == "p1"
