"""The ledger on any task: the metric, its direction and the cost axis come from [ledger].

A classifier's validation accuracy (higher is better) against wall- or GPU-seconds, end to
end through the reader, the verdicts, the controls and the ``compare``/``ledger``/``report``
verbs, and the org.toml keys that name them.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.commands.ledger import report_json, row_json
from orgtui.config import ConfigError, DisciplineSpec, load_config
from orgtui.ledger import Ledger, load_run, load_runs
from orgtui.ledger.controls import plan_controls
from orgtui.ledger.measure import DEFAULT, Measure
from orgtui.ledger.runner import run_meta, trainer_env
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job, parse_job
from tests.conftest import run_orgtui
from tests.ledger.synth import accuracy, power_law, write_run, write_variant

ACC = Measure("val_acc", "max", "wall_seconds")
SEEDS_NOISE = (0.0, 0.004, -0.004)
ORG_TOML = """\
[org]
name = "lab"
task = "classify the spirals"

[defaults]
backend = "shell"
gpus = "none"

[[agent]]
name = "ada"
role = "researcher"

[ledger]
baseline = "base"
{extra}
"""
ACC_TOML = ORG_TOML.format(extra='metric = "val_acc"\ndirection = "max"\ncost = "wall_seconds"')


def acc_variant(
    runs_dir: Path, variant: str, offset: float, noises: tuple[float, ...] = SEEDS_NOISE, **kwargs
) -> None:
    write_variant(
        runs_dir,
        variant,
        3,
        noises=noises,
        curve=accuracy(offset),
        metric="val_acc",
        cost="wall_seconds",
        **kwargs,
    )


@pytest.fixture
def acc_org(tmp_path: Path) -> OrgPaths:
    """base, better (+0.03 accuracy) and worse (-0.03), three paired seeds each, 1 s runs."""
    (tmp_path / "org.toml").write_text(ACC_TOML)
    paths = OrgPaths(tmp_path)
    acc_variant(paths.runs_dir, "base", 0.0)
    # each seed moves both sides alike (paired), with a little of its own on top
    acc_variant(paths.runs_dir, "better", 0.03, (0.001, 0.004, -0.005))
    acc_variant(paths.runs_dir, "worse", -0.03, (-0.001, 0.005, -0.004))
    return paths


# ------------------------------------------------------------------------ the org.toml keys


@pytest.mark.parametrize(
    ("line", "key", "says"),
    [
        ('metric = "Val-Acc"', "ledger.metric", "the eval key the trainer writes"),
        ('metric = ""', "ledger.metric", "the eval key the trainer writes"),
        ('metric = "flops"', "ledger.metric", "not one of"),
        ("metric = 3", "ledger.metric", "expected a string"),
        ('direction = "higher"', "ledger.direction", "allowed: min, max"),
        ('direction = "maximize"', "ledger.direction", "allowed: min, max"),
        ('cost = "gpu_hours"', "ledger.cost", "allowed: flops, gpu_seconds, wall_seconds"),
        ("cost = 1", "ledger.cost", "expected a string"),
        ('metrc = "val_acc"', "ledger.metrc", "did you mean 'metric'?"),
    ],
)
def test_bad_ledger_measure_is_a_config_error_naming_the_key(tmp_path, line, key, says):
    (tmp_path / "org.toml").write_text(ORG_TOML.format(extra=line))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert f"org.toml: {key}:" in str(error.value) and says in str(error.value)


def test_the_measure_defaults_to_bpb_at_matched_flops(tmp_path):
    (tmp_path / "org.toml").write_text(ORG_TOML.format(extra=""))
    spec = load_config(tmp_path).ledger
    assert Measure.of(spec) == DEFAULT == Measure("val_bpb", "min", "flops")
    (tmp_path / "org.toml").write_text(ACC_TOML)
    assert Measure.of(load_config(tmp_path).ledger) == ACC


# ------------------------------------------------------------------------ reading runs


def test_a_run_is_read_on_the_tasks_metric_and_seconds(acc_org):
    run = next(r for r in load_runs(acc_org) if r.run_id == "better-s1")
    assert (run.metric, run.cost_unit) == ("val_acc", "wall_seconds")
    assert run.usable and len(run.evals) == 5
    assert [cost for _, cost, _ in run.evals] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert run.evals[-1][2] == pytest.approx(accuracy(0.03)(1.0) + 0.004)
    assert run.final_value == pytest.approx(run.evals[-1][2])
    assert run.final_val_bpb is None and run.cost == pytest.approx(1.0)
    # the same files read for the default measure: no val_bpb, so no eval curve
    assert not load_run(acc_org.run_dir("better-s1")).evals


def test_seconds_come_from_time_when_there_is_no_elapsed_s_and_gpu_seconds_count_gpus(tmp_path):
    runs = tmp_path / "runs"
    for clock, gpus, unit in (
        ("time", None, "wall_seconds"),
        ("time", 4, "gpu_seconds"),
        ("elapsed_s", 2, "gpu_seconds"),
        ("elapsed_s", None, "gpu_seconds"),
    ):
        name = f"{clock.replace('_', '')}-{gpus}-{unit.split('_')[0]}"
        write_run(
            runs, name, variant="v", seed=0, curve=accuracy(), metric="val_acc",
            cost=unit, clock=clock, gpus=gpus,
        )  # fmt: skip
        run = load_run(runs / name, Measure("val_acc", "max", unit))
        per_gpu = (gpus or 1) if unit == "gpu_seconds" else 1
        assert run.evals[-1][1] == pytest.approx(1.0 * per_gpu), name
        assert run.cost == pytest.approx(1.0 * per_gpu) and not run.problems


def test_an_impossible_value_invalidates_only_a_metric_whose_range_is_known(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "neg", variant="v", seed=0, curve=accuracy(-2.0), metric="val_acc",
              cost="wall_seconds")  # fmt: skip
    acc = load_run(runs / "neg", ACC)
    assert acc.invalid and "val_acc" in acc.invalid and not acc.usable
    write_run(runs, "score", variant="v", seed=0, curve=accuracy(-2.0), metric="score",
              cost="wall_seconds")  # fmt: skip
    score = load_run(runs / "score", Measure("score", "max", "wall_seconds"))
    assert score.usable and score.invalid is None and score.evals[-1][2] < 0


# ------------------------------------------------------------------------ verdicts


def test_higher_accuracy_is_an_improvement_and_lower_a_regression_at_matched_seconds(acc_org):
    ledger = Ledger.load(acc_org)
    assert ledger.measure == ACC
    better, worse = ledger.compare("base", "better"), ledger.compare("base", "worse")
    assert better.verdict == "improvement" and better.delta == pytest.approx(0.03, abs=1e-3)
    assert worse.verdict == "regression" and worse.delta == pytest.approx(-0.03, abs=1e-3)
    for c in (better, worse):
        assert c.test == "paired" and c.matched_cost == pytest.approx(1.0)
        assert 0 < c.p_value < 0.05 and c.noise > 0
        # no bpb and no FLOPs here: the original names give nothing rather than a wrong number
        assert c.delta_bpb is None and c.matched_flops is None and c.flops_ratio is None
    assert ledger.verified_gains() == {"better": pytest.approx(0.03, abs=1e-3)}
    report = ledger.report()
    assert report.best_variant == "better" and report.best_gain == pytest.approx(0.03, abs=1e-3)


def test_a_min_metric_keeps_lower_is_better_on_seconds(tmp_path):
    runs = tmp_path / "runs"
    for variant, offset in (("base", 0.0), ("lower", -0.05), ("higher", 0.05)):
        write_variant(runs, variant, 3, curve=power_law(offset=offset), metric="val_loss",
                      cost="wall_seconds")  # fmt: skip
    measure = Measure("val_loss", "min", "wall_seconds")
    ledger = Ledger([load_run(d, measure) for d in sorted(runs.iterdir())], "base",
                    measure=measure)  # fmt: skip
    assert ledger.compare("base", "lower").verdict == "improvement"
    assert ledger.compare("base", "higher").verdict == "regression"


def test_more_seconds_is_compared_at_matched_seconds_and_flagged(tmp_path):
    (tmp_path / "org.toml").write_text(ACC_TOML)
    paths = OrgPaths(tmp_path)
    acc_variant(paths.runs_dir, "base", 0.0)
    # the same model trained three times as long: better at its end, equal at matched seconds
    acc_variant(paths.runs_dir, "longer", 0.0, steps=300)
    result = Ledger.load(paths).compare("base", "longer")
    assert result.matched_cost == pytest.approx(1.0) and result.cost_ratio == pytest.approx(3.0)
    assert "compute_mismatch x3.0" in result.flags
    assert result.verdict == "within_noise" and abs(result.delta) < 1e-9


def test_runs_read_for_another_measure_are_read_again(acc_org):
    stale = load_runs(acc_org, DEFAULT)
    assert all(not r.evals for r in stale)
    ledger = Ledger.load(acc_org, runs=stale)
    assert ledger.compare("base", "better").verdict == "improvement"


# ------------------------------------------------------------------------ controls


def test_a_matched_control_on_seconds_passes_max_cost_and_its_unit(acc_org):
    acc_variant(acc_org.runs_dir, "long", 0.05, steps=300)
    ledger = Ledger.load(acc_org)
    claim = [
        Job(id=f"j{s}", variant="long", seed=s, command=("python", "-m", "ringclf.train"),
            run_id=f"long-s{s}", commit="abc123", batch="b1")
        for s in range(3)
    ]  # fmt: skip
    spec = DisciplineSpec(baseline_command="python -m ringclf.train")
    plan = plan_controls(ledger, [], claim, spec, "abc123", 0.0)
    matched = [j for j in plan.jobs if j.reason == "matched"]
    assert matched and {j.variant for j in matched} == {"base-at-long"}
    for job in matched:
        assert job.max_flops is None and job.cost_unit == "wall_seconds"
        assert job.max_cost == pytest.approx(3.0)
        assert parse_job(json.loads(json.dumps(job.to_json()))) == job
        env = trainer_env(acc_org, job, acc_org.run_dir(job.run_id))
        assert env["ORGTUI_MAX_COST"] == "3" and env["ORGTUI_COST_UNIT"] == "wall_seconds"
        assert "ORGTUI_MAX_FLOPS" not in env
        assert run_meta(job)["max_cost"] == pytest.approx(3.0)
    assert "base at long's compute (base-at-long)" in (plan.announcement or "")


def test_a_bad_cost_unit_in_a_job_file_is_refused():
    job = Job(id="j1", variant="v", seed=0, command=("x",), run_id="v-s0", commit=None)
    with pytest.raises(ValueError, match="cost_unit 'parsecs'"):
        parse_job(job.to_json() | {"cost_unit": "parsecs"})


# ------------------------------------------------------------------------ the verbs


def orgtui(root: Path, *args: str) -> dict | str:
    out = run_orgtui(*args, root=root, cwd=root, env=dict(os.environ), timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if "--json" in args else out.stdout


def test_compare_ledger_and_report_speak_the_tasks_metric(acc_org):
    root = acc_org.root
    compare = orgtui(root, "compare", "base", "better", "--json")
    assert compare["metric"] == "val_acc" and compare["direction"] == "max"
    assert compare["cost_unit"] == "wall_seconds" and compare["verdict"] == "improvement"
    assert compare["delta"] == pytest.approx(0.03, abs=1e-3)
    assert not {"delta_bpb", "noise_bpb", "matched_flops", "flops_ratio"} & set(compare)
    text = orgtui(root, "compare", "base", "worse")
    assert "verdict: regression" in text and "delta val_acc -0.03" in text
    assert "(higher is better)" in text and "at 1 wall-seconds" in text

    table = orgtui(root, "ledger", "--json")
    assert [table["metric"], table["direction"], table["cost_unit"]] == [
        "val_acc", "max", "wall_seconds"
    ]  # fmt: skip
    rows = {row["variant"]: row for row in table["variants"]}
    assert rows["better"]["mean"] == pytest.approx(accuracy(0.03)(1.0), abs=1e-3)
    assert rows["better"]["at_cost"] == pytest.approx(1.0) and "mean_bpb" not in rows["better"]
    text = orgtui(root, "ledger")
    assert "val_acc ↑ (mean ± sd)" in text and "wall-s" in text and "bpb" not in text

    report = orgtui(root, "report", "--json")
    assert report["metric"] == "val_acc" and report["best_variant"] == "better"
    assert report["best_gain"] == pytest.approx(0.03, abs=1e-3)
    assert "best_improvement_bpb" not in report and "money" in report
    text = orgtui(root, "report")
    assert "best verified improvement: val_acc +0.03" in text
    assert "(higher is better) (better over base)" in text


def test_the_default_keeps_the_original_json_keys(tmp_path):
    (tmp_path / "org.toml").write_text(ORG_TOML.format(extra=""))
    paths = OrgPaths(tmp_path)
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "good", 3, curve=power_law(offset=-0.05))
    ledger = Ledger.load(paths)
    row = next(r for r in ledger.table() if r.variant == "good")
    data = row_json(row, ledger.measure)
    assert data["mean_bpb"] == data["mean"] and data["at_flops"] == data["at_cost"]
    report = report_json(ledger.report())
    assert report["best_improvement_bpb"] == report["best_gain"] == pytest.approx(0.05)
    assert report["per_agent"]["ada"]["best_improvement_bpb"] == pytest.approx(0.05)


# ------------------------------------------------------------------------ hostile values

HOSTILE = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-1", "1e20", '"0.9"',
    '"NaN"', "true", "null", "[]", "{}", "1" + "0" * 400,
]  # fmt: skip
literal = st.one_of(
    st.sampled_from(HOSTILE),
    st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=6).map(json.dumps),
)
measures = st.sampled_from(
    [ACC, Measure("score", "max", "gpu_seconds"), Measure("val_loss", "min", "wall_seconds")]
)


def finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite(v) for v in value)
    return True


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    measure=measures,
    hostile=st.lists(
        st.tuples(
            st.sampled_from(["base", "v1"]),
            st.integers(0, 2),
            st.sampled_from(["metric", "final", "elapsed_s", "time"]),
            literal,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_hostile_values_in_the_metric_never_crash_nor_give_p_zero(measure, hostile):
    with tempfile.TemporaryDirectory() as top:
        runs = Path(top) / "runs"
        for variant in ("base", "v1"):
            write_variant(runs, variant, 3, noises=SEEDS_NOISE, curve=accuracy(), gpus=1,
                          metric=measure.metric, cost=measure.cost)  # fmt: skip
        for variant, seed, where, value in hostile:
            metrics = runs / f"{variant}-s{seed}" / "metrics.jsonl"
            text = metrics.read_text()
            if where == "final":  # the run's own run_end
                final = f'"{measure.final_key}": {value}'
                pattern = re.compile(rf'"{measure.final_key}": [^,}}]+')
                metrics.write_text(pattern.sub(lambda _, final=final: final, text))
                continue
            if where == "metric":
                line = f'"{measure.metric}": {value}, "elapsed_s": 1.0'  # at the matched point
            else:  # a hostile clock on an otherwise good eval
                line = f'"{measure.metric}": 0.7, "{where}": {value}'
            metrics.write_text(text + f'{{"event": "eval", "step": 7, {line}}}\n')
        loaded = [load_run(d, measure) for d in sorted(runs.iterdir())]
        for run in loaded:
            assert finite([run.evals, run.final_value, run.cost, run.seconds, run.gpu_hours])
        ledger = Ledger(loaded, "base", measure=measure)
        result = ledger.compare("base", "v1")
        assert result.p_value is None or 0 < result.p_value <= 1
        assert result.verdict != "improvement" or result.p_value is not None
        json.dumps(result.to_json(), allow_nan=False)
        json.dumps([row_json(r, measure) for r in ledger.table()], allow_nan=False)
        json.dumps(report_json(ledger.report()), allow_nan=False)


# ------------------------------------------------------------------------ the TUI's ledger


async def test_the_ledger_screen_names_the_tasks_metric_and_cost(acc_org):
    from textual.widgets import DataTable, Static

    from orgtui.tui.app import OrgApp
    from orgtui.tui.screens.ledger import LedgerScreen
    from tests.tui.conftest import NOW, SIZE, settle
    from tests.tui.test_keys import shows

    app = OrgApp(acc_org.root, "tui-test", live=False, clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        assert await shows(pilot, LedgerScreen)
        table = pilot.app.screen.query_one(DataTable)
        for _ in range(200):  # the rows come from a worker thread
            if table.row_count:
                break
            await pilot.pause(0.05)
        headers = [str(column.label) for column in table.columns.values()]
        assert headers[2:5] == ["val_acc ↑ mean ± sd", "at wall-s", "wall-s"]
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert rows["better"][2].startswith(f"{accuracy(0.03)(1.0):.4g}"[:4])
        assert str(rows["better"][6]) == "improvement" and str(rows["worse"][6]) == "regression"
        title = str(pilot.app.screen.query_one("#ledger-title", Static).render())
        assert "best verified improvement val_acc +0.03" in title and "bpb" not in title
