"""``orgtui spend``, the report's cost figures, and a budget that stops a seat in real tmux
(a private -L server) until ``orgtui resume --raise-budget`` brings it back."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from orgtui.atomic import atomic_write_json
from orgtui.board import messages
from orgtui.paths import OrgPaths
from orgtui.spend.budget import CHECK_EVERY_S
from tests.conftest import run_orgtui, wait_for
from tests.ledger.synth import power_law, write_variant
from tests.supervisor.helpers import FAST, agent_states, orgtui, pane_pid, supervisor_up

LAB = """\
[org]
name = "lab"
task = "t"
[defaults]
gpus = "none"
[ledger]
baseline = "base"
[prices."house-model"]
input = 2.0
output = 4.0
cache_write = 0
cache_read = 0
[budget]
money = 100.0
[budget.agent."ada"]
money = 5.0
[[agent]]
name = "boss"
role = "chief_scientist"
backend = "shell"
[[agent]]
name = "ada"
backend = "shell"
[[agent]]
name = "bob"
backend = "shell"
"""


def _spend(paths: OrgPaths, agent: str, models: dict[str, dict[str, int]]) -> None:
    """The seat's spend.json as the collector writes it."""
    paths.agent_dir(agent).mkdir(parents=True, exist_ok=True)
    atomic_write_json(paths.spend_file(agent), {"models": models, "sources": {}, "updated": 1.0})


def _retag(run_dirs: list[Path], agent: str) -> None:
    """Say another agent ran these runs (synth writes ada into run_start)."""
    for run_dir in run_dirs:
        metrics = run_dir / "metrics.jsonl"
        lines = metrics.read_text().splitlines()
        first = json.loads(lines[0]) | {"agent": agent}
        metrics.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    (tmp_path / "org.toml").write_text(LAB)
    paths = OrgPaths(tmp_path)
    _spend(paths, "ada", {"claude-sonnet-4-5-20250929": {"input": 1_000_000, "output": 100_000}})
    _spend(paths, "bob", {"gpt-5": {"input": 2_000_000}, "mystery-9": {"output": 7}})
    _spend(paths, "boss", {"house-model": {"input": 500_000, "output": 250_000}})
    runs = paths.runs_dir
    write_variant(runs, "base", 3, curve=power_law())  # ada's
    write_variant(runs, "good", 3, curve=power_law(offset=-0.05))  # ada's
    _retag(write_variant(runs, "better", 3, curve=power_law(offset=-0.08)), "bob")
    _retag(write_variant(runs, "worse", 3, curve=power_law(offset=0.05)), "bob")
    return tmp_path


RUN_HOURS = 1.0 / 3600  # synth runs last 1 s each


def test_spend_json_per_agent_and_total(lab: Path) -> None:
    out = run_orgtui("spend", "--json", root=lab)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    agents = {a["name"]: a for a in data["agents"]}
    assert list(agents) == ["boss", "ada", "bob"]
    ada, bob, boss = agents["ada"], agents["bob"], agents["boss"]
    assert ada["tokens"] == {
        "input": 1_000_000, "output": 100_000, "cache_write": 0, "cache_read": 0,
        "total": 1_100_000,
    }  # fmt: skip
    assert ada["money"] == pytest.approx(3.0 + 1.5)  # a dated snapshot priced as its model
    assert boss["money"] == pytest.approx(1.0 + 1.0)  # org.toml's own price
    assert bob["money"] == pytest.approx(2.5) and bob["unpriced_models"] == ["mystery-9"]
    assert [m["money"] for m in bob["models"]] == [pytest.approx(2.5), None]
    assert ada["gpu_hours"] == pytest.approx(6 * RUN_HOURS)
    assert bob["gpu_hours"] == pytest.approx(6 * RUN_HOURS) and boss["gpu_hours"] == 0
    total = data["total"]
    assert total["money"] == pytest.approx(9.0) and total["unpriced_models"] == ["mystery-9"]
    assert total["tokens"]["total"] == 1_100_000 + 2_000_007 + 750_000
    assert data["verified_improvements"] == 2  # good and better
    per = data["per_verified_improvement"]
    assert per["money"] == pytest.approx(4.5) and per["gpu_hours"] == pytest.approx(6 * RUN_HOURS)
    budgets = {(b["agent"], b["unit"]): b for b in data["budgets"]}
    assert budgets[("ada", "money")]["fraction"] == pytest.approx(0.9)
    assert budgets[(None, "money")]["spent"] == pytest.approx(9.0)
    assert data["compute_unit"] == "GPU" and data["prices_as_of"]


def test_spend_text_says_no_price_and_what_the_total_leaves_out(lab: Path) -> None:
    out = run_orgtui("spend", root=lab).stdout
    mystery = next(line for line in out.splitlines() if "mystery-9" in line)
    assert "no price" in mystery and "$" not in mystery
    assert "money leaves out the tokens of models with no price: mystery-9" in out
    assert "per verified improvement (2): $4.50" in out
    assert "budget ada money: $4.50 of $5.00 (90%)" in out


def test_report_adds_gain_per_dollar_and_each_improvements_cost(lab: Path) -> None:
    data = json.loads(run_orgtui("report", "--json", root=lab).stdout)
    assert data["best_variant"] == "better"
    assert data["verified_gain_per_dollar"] == pytest.approx(0.08 / 9.0, rel=1e-3)
    costs = {c["variant"]: c for c in data["improvement_costs"]}
    assert list(costs) == ["better", "good"]
    # bob produced one improvement: all his spend; ada produced one (base is the baseline)
    assert costs["better"]["agents"] == ["bob"]
    assert costs["better"]["money"] == pytest.approx(2.5)
    assert costs["better"]["unpriced_models"] == ["mystery-9"]
    assert costs["better"]["gpu_hours"] == pytest.approx(6 * RUN_HOURS)
    assert costs["better"]["variant_gpu_hours"] == pytest.approx(3 * RUN_HOURS)
    assert costs["good"]["tokens"]["total"] == 1_100_000
    text = run_orgtui("report", root=lab).stdout
    assert "verified gain per dollar:" in text
    assert "  better: 0.0800 bpb by bob: $2.50, 2M tokens" in text


def test_report_and_spend_without_money_stay_finite(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text(LAB)
    spend = json.loads(run_orgtui("spend", "--json", root=tmp_path).stdout)
    assert spend["total"]["money"] == 0 and spend["verified_improvements"] == 0
    assert spend["per_verified_improvement"] == {"money": None, "tokens": None, "gpu_hours": None}
    report = json.loads(run_orgtui("report", "--json", root=tmp_path).stdout)
    assert report["verified_gain_per_dollar"] is None and report["improvement_costs"] == []


def test_spend_refuses_a_bad_price_table(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text(LAB.replace("input = 2.0", "input = -2.0"))
    out = run_orgtui("spend", root=tmp_path)
    assert out.returncode == 2
    assert 'org.toml: prices."house-model".input: found -2.0' in out.stderr


def test_raise_budget_refuses_bad_input_before_touching_anything(lab: Path) -> None:
    bad = run_orgtui("resume", "ada", "--raise-budget", "ten", root=lab)
    assert bad.returncode == 2 and "--raise-budget 'ten': expected money" in bad.stderr
    unknown = run_orgtui("resume", "carol", "--raise-budget", "10", root=lab)
    assert unknown.returncode == 2 and "no agent named 'carol'" in unknown.stderr
    own = run_orgtui("resume", "ada", "--raise-budget", "10", root=lab, env=_as("ada"))
    assert own.returncode == 2 and "ada cannot raise its own budget" in own.stderr
    assert not OrgPaths(lab).budget_state.exists()


def _as(agent: str) -> dict[str, str]:
    return {**os.environ, "ORGTUI_AGENT": agent}


# -- must show: a budget that acts, in real tmux ----------------------------------------------

SEAT_ORG = f"""\
[org]
name = "t"
program = "p1"
task = "test"
[defaults]
gpus = "none"
{FAST}
[budget.agent."ada"]
money = 5.0
[[agent]]
name = "boss"
role = "chief_scientist"
backend = "command"
command = "sleep 1000"
[[agent]]
name = "ada"
role = "researcher"
backend = "command"
command = "sleep 1000"
"""


def _agent_proc(socket: str, name: str) -> psutil.Process:
    wrapper = psutil.Process(pane_pid(socket, name))
    return wait_for(
        lambda: [c for c in wrapper.children(recursive=True) if c.name() == "sleep"],
        f"{name}'s process",
    )[0]


def _budget_posts(repo: Path) -> list[str]:
    return [
        f"{m.subject}\n{m.body}"
        for m in messages(OrgPaths(repo))
        if m.sender == "supervisor" and m.kind == "system" and m.subject.startswith("budget")
    ]


def _dollars(repo: Path, dollars: float) -> None:
    output = round(dollars / 15.0 * 1e6)  # claude-sonnet-4-5's output: $15 per million
    _spend(OrgPaths(repo), "ada", {"claude-sonnet-4-5": {"output": output}})


@pytest.mark.timeout(120)
def test_a_spent_budget_suspends_the_seat_and_a_raise_brings_it_back(
    git_repo: Path, tmux_socket: str
) -> None:
    (git_repo / "org.toml").write_text(SEAT_ORG)
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the supervisor")
    ada, boss = _agent_proc(tmux_socket, "ada"), _agent_proc(tmux_socket, "boss")

    _dollars(git_repo, 4.2)
    (warning,) = wait_for(lambda: _budget_posts(git_repo), "the 80% warning")
    assert "ada has spent $4.20 of its money budget of $5.00 (84%)" in warning
    assert ada.status() != psutil.STATUS_STOPPED

    _dollars(git_repo, 5.4)
    wait_for(lambda: ada.status() == psutil.STATUS_STOPPED, "ada stopped (state T)")
    wait_for(lambda: agent_states(git_repo)["ada"] == "suspended", "ada suspended")
    why = wait_for(lambda: _budget_posts(git_repo)[1:], "the board saying why")[0]
    assert why.startswith("budget: ada was suspended")
    assert "ada has spent $5.40 of its money budget of $5.00 (108%)" in why
    assert boss.status() != psutil.STATUS_STOPPED  # only the seat over its budget

    # a restarted supervisor neither repeats the notice nor acts again
    os.kill(int(json.loads((git_repo / ".org/state.json").read_text())["supervisor"]["pid"]),
            signal.SIGTERM)  # fmt: skip
    wait_for(lambda: not supervisor_up(git_repo), "the supervisor to stop")
    orgtui(git_repo, tmux_socket, "up")
    wait_for(lambda: supervisor_up(git_repo), "the new supervisor")
    time.sleep(CHECK_EVERY_S + 1.0)  # a budget check or two
    assert len(_budget_posts(git_repo)) == 2
    assert ada.status() == psutil.STATUS_STOPPED

    out = orgtui(git_repo, tmux_socket, "resume", "ada", "--raise-budget", "10").stdout
    assert "ada's money budget raised from $5.00 to $15.00" in out
    wait_for(lambda: ada.status() in ("sleeping", "running"), "ada running again")
    lift = [m for m in messages(OrgPaths(git_repo)) if "raised and resumed" in m.subject]
    assert len(lift) == 1 and lift[0].sender == "human" and lift[0].kind == "system"
    assert "ada's money budget raised from $5.00 to $15.00" in lift[0].body
    assert set(lift[0].to) == {"ada", "boss", "human"}
    _dollars(git_repo, 5.5)  # spend moves on, well under the new limit
    time.sleep(CHECK_EVERY_S + 1.0)
    assert ada.status() in ("sleeping", "running")
    assert agent_states(git_repo)["ada"] != "suspended"
    orgtui(git_repo, tmux_socket, "down")


def test_spend_counts_the_records_written_since_the_last_look_without_a_supervisor(
    tmp_path: Path,
) -> None:
    (tmp_path / "org.toml").write_text(LAB)
    paths = OrgPaths(tmp_path)
    paths.agent_dir("ada").mkdir(parents=True)
    usage = paths.agent_dir("ada") / "usage.jsonl"
    line = {"id": "c1", "model": "gpt-5", "input_tokens": 1000, "output_tokens": 10}
    usage.write_text(json.dumps(line) + "\n")

    def ada_tokens() -> dict[str, int]:
        out = run_orgtui("spend", "--json", root=tmp_path)
        assert out.returncode == 0, out.stderr
        return next(a for a in json.loads(out.stdout)["agents"] if a["name"] == "ada")["tokens"]

    assert (ada_tokens()["input"], ada_tokens()["output"]) == (1000, 10)  # asked twice: once
    with usage.open("a") as f:
        f.write(json.dumps(line | {"id": "c2", "input_tokens": 7}) + "\n")
    assert ada_tokens()["input"] == 1007
