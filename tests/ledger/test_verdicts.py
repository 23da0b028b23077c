"""The ledger's verdicts and flags on the cases that fooled the seeds' agents."""

from __future__ import annotations

import pytest

from orgtui.ledger import Ledger, LedgerError, load_runs
from orgtui.paths import OrgPaths
from tests.ledger.synth import power_law, write_run, write_variant


@pytest.fixture
def paths(tmp_path) -> OrgPaths:
    return OrgPaths(tmp_path)


def ledger(paths: OrgPaths, baseline: str | None = "base") -> Ledger:
    return Ledger(load_runs(paths), baseline=baseline)


def test_bigger_model_trained_longer_is_not_an_improvement_at_matched_flops(paths):
    # The seeds' mistake: "wide" costs 2x FLOPs per token and trains 1.5x the steps, so its
    # final loss is lower, but at the same compute it is slightly worse.
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(
        paths.runs_dir, "wide", 3, curve=power_law(offset=0.02), flops_per_token=2e6, steps=150
    )
    led = ledger(paths)
    finals = {r.variant: r.final_val_bpb for r in led.runs if r.seed == 0}
    assert finals["wide"] < finals["base"]  # looks better on final loss...
    result = led.compare("base", "wide")
    assert result.verdict != "improvement"  # ...but not at matched FLOPs
    assert "compute_mismatch x3.0" in result.flags
    assert result.flops_ratio == pytest.approx(3.0)
    assert result.matched_flops == pytest.approx(100 * 512 * 1e6)
    # Worse by the curve offset, give or take the linear interpolation between evals.
    assert result.delta_bpb == pytest.approx(0.02, abs=0.01)


def test_true_improvement_with_three_seeds_each(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "better", 3, curve=power_law(offset=-0.1))
    result = ledger(paths).compare("base", "better")
    assert result.verdict == "improvement"
    assert result.delta_bpb == pytest.approx(-0.1, abs=1e-9)
    assert result.p_value < 0.05
    assert 0 < result.noise_bpb < 0.1
    assert (result.n_a, result.n_b) == (3, 3)
    assert result.flags == ()


def test_regression_is_called_a_regression(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "worse", 3, curve=power_law(offset=0.1))
    assert ledger(paths).compare("base", "worse").verdict == "regression"


def test_difference_inside_seed_noise(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law(), noises=(0.0, 0.03, -0.03))
    write_variant(
        paths.runs_dir, "nocap", 3, curve=power_law(offset=-0.005), noises=(0.0, 0.03, -0.03)
    )
    result = ledger(paths).compare("base", "nocap")
    assert result.verdict == "within_noise"
    assert result.delta_bpb < 0  # better on average, yet not verified
    assert result.noise_bpb > abs(result.delta_bpb)
    assert result.p_value > 0.05


def test_single_seed_win_without_replicates_is_never_an_improvement(paths):
    write_variant(paths.runs_dir, "base", 1, curve=power_law())
    write_variant(paths.runs_dir, "lucky", 1, curve=power_law(offset=-0.2))
    result = ledger(paths).compare("base", "lucky")
    assert result.verdict == "within_noise"
    assert "single_seed" in result.flags
    assert result.noise_bpb is None and result.p_value is None
    assert result.delta_bpb == pytest.approx(-0.2)


def test_single_seed_borrows_noise_from_the_baseline_replicates(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "big-win", 1, curve=power_law(offset=-0.3))
    write_variant(paths.runs_dir, "small", 1, curve=power_law(offset=-0.004))
    led = ledger(paths)
    big = led.compare("base", "big-win")
    assert big.verdict == "improvement" and "single_seed" in big.flags
    assert led.compare("base", "small").verdict == "within_noise"


def test_crashed_seed_is_flagged_and_left_out(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "b", 2, curve=power_law(offset=-0.1))
    write_run(
        paths.runs_dir, "b-s2", variant="b", seed=2, curve=power_law(), steps=30, status="crash"
    )
    result = ledger(paths).compare("base", "b")
    assert "crashed" in result.flags
    assert result.n_b == 2
    assert result.verdict == "improvement"


def test_dirty_tree_run_is_flagged(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "hack", 3, curve=power_law(offset=-0.1), dirty=True)
    assert "dirty_tree" in ledger(paths).compare("base", "hack").flags


def test_config_drift_within_a_variant(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_run(paths.runs_dir, "v-s0", variant="v", seed=0, curve=power_law())
    write_run(
        paths.runs_dir,
        "v-s1",
        variant="v",
        seed=1,
        curve=power_law(),
        config={"depth": 4, "softcap": 15.0},
    )
    result = ledger(paths).compare("base", "v")
    assert "config_drift" in result.flags
    base_row = ledger(paths).table()[0]
    assert base_row.variant == "base" and "config_drift" not in base_row.flags  # seeds only


def test_non_overlapping_curves_are_not_comparable(paths):
    write_variant(paths.runs_dir, "base", 2, curve=power_law(), steps=40)
    # Evals of "late" start beyond the last eval of base (eval every 50 of 100 steps at 4x).
    write_variant(
        paths.runs_dir, "late", 2, curve=power_law(), steps=100, eval_every=100, flops_per_token=4e6
    )
    result = ledger(paths).compare("base", "late")
    assert result.verdict == "not_comparable"
    assert result.delta_bpb is None and result.matched_flops is None


def test_truncated_tail_and_still_running_run(paths):
    write_variant(paths.runs_dir, "base", 2, curve=power_law())
    write_run(
        paths.runs_dir,
        "base-s2",
        variant="base",
        seed=2,
        curve=power_law(),
        status=None,
        truncate_tail=True,
    )
    led = ledger(paths)
    running = next(r for r in led.runs if r.run_id == "base-s2")
    assert running.status == "running" and running.malformed is None
    assert len(running.train) == 100
    row = led.table()[0]
    assert row.variant == "base" and row.n_seeds == 2
    assert "still_running" in row.flags


def test_no_baseline_flag(paths):
    write_variant(paths.runs_dir, "x", 2, curve=power_law())
    write_variant(paths.runs_dir, "y", 2, curve=power_law(offset=-0.1))
    result = ledger(paths, baseline=None).compare("x", "y")
    assert result.flags[0] == "no_baseline"
    assert result.verdict == "improvement"


def test_unknown_variant_names_the_known_ones(paths):
    write_variant(paths.runs_dir, "base", 1, curve=power_law())
    with pytest.raises(LedgerError, match=r"no runs of variant 'nope' \(variants: base\)"):
        ledger(paths).compare("base", "nope")


def test_garbage_run_dir_is_reported_not_raised(paths):
    bad = paths.runs_dir / "junk"
    bad.mkdir(parents=True)
    (bad / "metrics.jsonl").write_bytes(b"\x00\xffnot json\n[1, 2]\n")
    (run,) = load_runs(paths)
    assert run.malformed and "no run_start" in run.malformed
    assert run.status == "crash"


def test_report_tracks_best_verified_improvement_against_cost(paths):
    write_variant(paths.runs_dir, "base", 3, curve=power_law(), started=1000.0)
    write_variant(paths.runs_dir, "good", 3, curve=power_law(offset=-0.1), started=2000.0)
    write_variant(paths.runs_dir, "noise", 3, curve=power_law(offset=-0.001), started=3000.0)
    report = ledger(paths).report()
    assert report.best_variant == "good"
    assert report.best_improvement_bpb == pytest.approx(0.1)
    assert [p[2] for p in report.progress][:3] == [0.0, 0.0, 0.0]
    assert report.progress[-1][2] == pytest.approx(0.1)
    assert report.gpu_hours == pytest.approx(9 * 1.0 / 3600)
    assert report.per_agent["ada"]["runs"] == 9


def test_a_run_being_started_is_running_not_crashed(paths):
    import json

    from orgtui.ledger import load_run

    fresh = paths.runs_dir / "v-s0-new"
    fresh.mkdir(parents=True)  # `orgtui run` made the directory; nothing written yet
    assert load_run(fresh).status == "running"
    (fresh / "run.json").write_text(json.dumps({"variant": "v", "pid": 2**22 + 12345}))
    assert load_run(fresh).status == "crash"  # its trainer is gone without a word
    (fresh / "run.json").write_text(json.dumps({"variant": "v", "exit_code": 0}))
    assert load_run(fresh).status == "ok"  # a trainer that keeps no metrics finished fine


def test_an_empty_metrics_file_of_a_live_run_is_running_not_malformed(paths):
    """The moment between the trainer creating metrics.jsonl and writing run_start."""
    run_dir = paths.runs_dir / "fresh"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_bytes(b"")
    (run,) = load_runs(paths)
    assert run.status == "running" and run.malformed is None


@pytest.mark.parametrize(
    ("devices", "unit"),
    [
        (["cpu", "cpu"], "CPU"),
        (["cpu", None], "CPU"),  # a run that does not say is not counted either way
        (["cpu", "cuda:0"], "GPU"),
        (["cuda"], "GPU"),
        ([None], "GPU"),  # nothing says: the hours are GPU-hours, as they always were
        ([], "GPU"),
    ],
)
def test_hours_are_labelled_by_the_device_the_runs_report(devices, unit):
    from orgtui.ledger.runs import Run

    runs = [
        Run(f"r{i}", "v", i, config={"device": device} if device else {})
        for i, device in enumerate(devices)
    ]
    assert Ledger(runs).compute_unit == unit
