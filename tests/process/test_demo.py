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
    # Stopping the org is not a death: no "died" or "failed" system message; the one notice
    # is the ledger announcing, on the claim's thread, the controls it scheduled for bo's claim.
    (notice,) = [m for m in messages if m.kind == "system"]
    assert notice.subject.startswith("ledger: ") and notice.thread == "softcap"
    assert "2 replicates of wide" in notice.subject and "bo" in notice.to
    (final,) = [m for m in messages if m.sender == "supervisor" and m.subject.startswith("wide:")]
    assert final.kind == "result" and final.thread == "softcap" and final.body in conclusion.body

    def compare(a: str, b: str) -> dict:
        result = run_orgtui("compare", a, b, "--json", root=target, check=True)
        return json.loads(result.stdout)

    wide = compare("baseline", "wide")  # researcher B's "win", replicated by the ledger
    assert wide["verdict"] != "improvement" and wide["n_b"] == 3 and wide["test"] == "paired"
    assert any(flag.startswith("compute_mismatch x") for flag in wide["flags"])
    assert wide["flops_ratio"] > 3
    matched = compare("baseline-at-wide", "wide")  # the ledger's own matched-compute run
    assert matched["n_a"] == 1 and matched["flops_ratio"] < 1.1
    nocap = compare("baseline", "nocap")
    assert (nocap["n_a"], nocap["n_b"]) == (3, 3) and nocap["test"] == "paired"
    assert "config_drift" not in nocap["flags"]  # each job ran in its own checkout
    assert nocap["noise_bpb"] > 0 and nocap["verdict"] in (
        "within_noise",
        "improvement",
        "regression",
    )
    assert f"nocap vs baseline: verdict: {nocap['verdict']}" in conclusion.body
    # What the person saw: progress, then the final ledger and report; the org is stopped.
    assert "10/10 runs" in out.stdout and "best verified improvement" in out.stdout
    assert "CPU-hours" in out.stdout and "GPU-h" not in out.stdout  # honest units on a CPU
    assert "ledger: 3 runs" in out.stdout  # the controls' cost is the ledger's, not a person's
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


def test_the_status_line_narrates_each_beat_of_the_story() -> None:
    """`narrate` over the story's messages and runs as they accumulate: each beat in turn, the
    runs counted, the chief's conclusion in full at the end, a failed playbook in red."""
    from types import SimpleNamespace

    from orgtui.demo import narrate
    from orgtui.snapshot import AgentView, OrgSnapshot
    from orgtui.views import MessageView

    def message(sender: str, subject: str, body: str = "") -> MessageView:
        return MessageView("id", sender, ("all",), subject, "result", "softcap", "", body=body)

    def run(variant: str, finished: bool = True) -> SimpleNamespace:
        return SimpleNamespace(variant=variant, finished=finished)

    def told(messages, runs, detail: str = ""):  # type: ignore[no-untyped-def]
        agent = AgentView("cy", "researcher", "scripted", "idle", detail=detail)
        snapshot = OrgSnapshot(
            "demo", "", "", None, True, None, (agent,), tuple(messages), 0.0, "", "none"
        )
        return narrate(snapshot, runs)

    story = [
        ([], [], "0/8"),
        ([message("chief", "plan: softcap removal")], [], "1/8"),
        ([], [run("baseline", False)], "2/8"),
        ([message("chief", "baseline ready: go")], [run("baseline")] * 2, "3/8"),
        ([], [run("nocap", False)], "4/8"),
        ([], [run("wide", False)], "5/8 bo trains"),
        ([message("bo", "wide: a clear win?")], [run("nocap")], "5/8 bo claims"),
        ([message("supervisor", "ledger: the ledger scheduled 2")], [], "6/8 the ledger"),
        ([message("supervisor", "standup: what did you do")], [], "7/8 the chief calls"),
        ([message("supervisor", "standup digest")], [], "7/8 the supervisor"),
        ([message("supervisor", "wide: regression")], [], "7/8 the ledger posts"),
    ]
    messages: list[MessageView] = []
    runs: list[SimpleNamespace] = []
    for new_messages, new_runs, expected in story:
        messages += new_messages
        runs += new_runs
        line = told(messages, runs)
        assert line.line.startswith(expected) and not line.problem, (expected, line)
        assert f"{sum(r.finished for r in runs)}/10 runs done" in line.line
    end = told([*messages, message("chief", "conclusion: softcap", "nocap: within_noise")], runs)
    assert end.line.startswith("8/8") and end.detail == "nocap: within_noise"
    failed = told(messages, runs, detail="playbook failed: step 2")
    assert failed.problem and "cy: playbook failed: step 2" in failed.line
