"""Bad input to `orgtui trial` is refused before anything starts: task files, budgets, designs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orgtui.cli import main
from orgtui.config import ConfigError
from orgtui.tasks import TaskError, load_task
from orgtui.trial import plan_trial
from orgtui.trial.budget import BudgetError, parse_budget

FIXTURES = Path(__file__).parent / "fixtures"
LUCK = FIXTURES / "luck" / "tasks" / "luck.toml"
GOOD = {
    "name": '"t"',
    "source": '"src"',
    "metric": '"val_acc"',
    "direction": '"max"',
    "cost": '"wall_seconds"',
    "command": '["python", "-m", "src.train"]',
}


def write_task(root: Path, fields: dict[str, str]) -> Path:
    (root / "src").mkdir(exist_ok=True)
    (root / "tasks").mkdir(exist_ok=True)
    file = root / "tasks" / "t.toml"
    file.write_text("[task]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()))
    return file


def test_the_fixture_task_loads():
    task = load_task(LUCK)
    assert (task.metric, task.direction, task.cost, task.seeds) == ("val_bpb", "min", "flops", 3)
    assert task.source == (FIXTURES / "luck" / "luckytrain").resolve()
    assert task.better(2.0, 1.9) == pytest.approx(0.1)


@pytest.mark.parametrize("key", ["name", "source", "metric", "direction", "cost", "command"])
def test_a_task_missing_a_key_names_file_and_key(tmp_path, key):
    file = write_task(tmp_path, {k: v for k, v in GOOD.items() if k != key})
    with pytest.raises(TaskError) as error:
        load_task(file)
    assert str(file) in str(error.value) and f"task.{key}" in str(error.value)


def test_bad_values_are_refused_across_a_seeded_sample(tmp_path):
    bad = {
        "direction": ['"up"', '"MIN"', "1", '""'],
        "cost": ['"seconds"', '"flop"', "true"],
        "command": ['"python -m x"', "[]", "[1, 2]", '["ok", ""]'],
        "seeds": ["1", "0", "-3", "65", "true", '"3"', "2.5"],
        "metric": ['"Val Acc"', '""', "3"],
    }
    rng = random.Random(21)
    for _ in range(40):
        key = rng.choice(sorted(bad))
        fields = GOOD | {key: rng.choice(bad[key])}
        with pytest.raises(TaskError, match=f"task.{key}"):
            load_task(write_task(tmp_path, fields))


def test_unknown_task_name_lists_the_known_ones():
    with pytest.raises(TaskError, match="no such task file"):
        load_task("no-such-task")


@pytest.mark.parametrize(
    ("text", "unit", "amount"),
    [
        ("4m", "wall_s", 240.0),
        ("90s", "wall_s", 90.0),
        ("0.5gpuh", "gpu_hours", 0.5),
        ("$2", "money", 2.0),
    ],
)
def test_budgets_parse(text, unit, amount):
    budget = parse_budget(text)
    assert (budget.unit, budget.amount) == (unit, amount)


@pytest.mark.parametrize("text", ["0", "0m", "0gpuh", "$0", "-1m", "-0.5gpuh", "0.0s"])
def test_a_zero_or_negative_budget_is_refused(text):
    with pytest.raises(BudgetError, match="above zero"):
        parse_budget(text)


@given(st.text(max_size=12))
def test_any_budget_text_parses_or_says_why(text):
    try:
        budget = parse_budget(text)
    except BudgetError as error:
        assert "--budget" in str(error)
    else:
        assert budget.amount > 0


def test_a_design_failing_check_stops_the_trial_before_anything_starts(tmp_path, capsys):
    design = tmp_path / "broken.toml"
    design.write_text(
        (FIXTURES / "tuned.toml").read_text().replace("[compute]", "[compute]\nslotz = 2")
    )
    with pytest.raises(ConfigError, match="slotz"):
        plan_trial([design], str(LUCK), "1m", 1, tmp_path / "trials")
    code = main(
        ["trial", str(design), "--task", str(LUCK), "--budget", "1m", "--dir", str(tmp_path / "t")]
    )
    assert code == 2 and "slotz" in capsys.readouterr().err
    assert not (tmp_path / "trials").exists() and not (tmp_path / "t").exists()


def test_cli_refuses_zero_budget_and_missing_metric(tmp_path, capsys):
    task = write_task(tmp_path, {k: v for k, v in GOOD.items() if k != "metric"})
    design = str(FIXTURES / "tuned.toml")
    assert (
        main(["trial", design, "--task", str(task), "--budget", "1m", "--dir", str(tmp_path / "a")])
        == 2
    )
    assert "task.metric" in capsys.readouterr().err
    assert (
        main(["trial", design, "--task", str(LUCK), "--budget", "0", "--dir", str(tmp_path / "b")])
        == 2
    )
    assert "above zero" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
