"""`orgtui demo --headless` end to end: the whole story on the CPU, judged by the ledger."""

from __future__ import annotations

import json
from pathlib import Path

from orgtui import board
from orgtui.paths import OrgPaths
from tests.conftest import run_orgtui
from tests.supervisor.helpers import tmux


def test_demo_headless_end_to_end(tmp_path: Path, tmux_socket: str) -> None:
    target = tmp_path / "orgtui-demo"
    out = run_orgtui(
        "demo",
        "--headless",
        "--dir",
        str(target),
        "--timeout",
        "400",
        socket=tmux_socket,
        timeout=480,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    paths = OrgPaths(target)
    messages = board.messages(paths)
    kinds = [(m.sender, m.kind) for m in messages]
    assert ("chief", "directive") in kinds
    assert ("cy", "result") in kinds and ("ada", "result") in kinds and ("bo", "result") in kinds
    assert ("supervisor", "standup") in kinds
    assert {m.sender for m in messages if m.kind == "standup"} >= {"supervisor", "ada", "bo", "cy"}
    digest = next(m for m in messages if m.subject == "standup digest")
    assert digest.to == ("chief",) and "wide" in digest.body
    (conclusion,) = [m for m in messages if "conclusion" in m.subject]
    assert conclusion.sender == "chief" and conclusion.id == max(
        m.id for m in messages if m.sender != "supervisor"
    )
    # Stopping the org is not a death: no "died" or "failed" system message.
    assert not [m.subject for m in messages if m.kind == "system"]

    def compare(a: str, b: str) -> dict:
        result = run_orgtui("compare", a, b, "--json", root=target, check=True)
        return json.loads(result.stdout)

    wide = compare("baseline", "wide")  # researcher B's "win"
    assert wide["verdict"] != "improvement"
    assert any(flag.startswith("compute_mismatch x") for flag in wide["flags"])
    assert wide["flops_ratio"] > 3
    nocap = compare("baseline", "nocap")
    assert (nocap["n_a"], nocap["n_b"]) == (3, 3)
    assert nocap["noise_bpb"] > 0 and nocap["verdict"] in (
        "within_noise",
        "improvement",
        "regression",
    )
    assert f"nocap vs baseline: verdict: {nocap['verdict']}" in conclusion.body
    # What the person saw: progress, then the final ledger and report; the org is stopped.
    assert "7/7 runs" in out.stdout and "best verified improvement" in out.stdout
    assert "compute_mismatch" in out.stdout
    assert tmux(tmux_socket, "list-sessions") == ""


def test_live_demo_repo_swaps_in_real_agents(tmp_path: Path) -> None:
    from orgtui.config import load_config
    from orgtui.demo import build_repo

    build_repo(tmp_path / "live", live=True)
    config = load_config(tmp_path / "live")
    assert [(a.name, a.backend) for a in config.agents] == [
        ("chief", "claude"),
        ("ada", "codex"),
        ("bo", "builtin"),
        ("cy", "claude"),
    ]
    assert all(a.playbook is None and a.gpu == i for i, a in enumerate(config.agents))
    assert config.gpu.source == "auto"
