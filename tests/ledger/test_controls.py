"""The controls the ledger schedules itself: which, with what code, within which budget."""

from __future__ import annotations

import math
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.config import DisciplineSpec
from orgtui.ledger.controls import (
    ControlPlan,
    control_batch,
    final_verdict,
    matched_variant,
    plan_controls,
)
from orgtui.ledger.runs import Run
from orgtui.ledger.verdicts import Ledger
from orgtui.names import MAX_NAME_LENGTH, is_valid_name
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import PRIORITY, Job, JobKind, JobState, parse_job, read_queue, submit

PROGRAM = "c0ffee0000000000000000000000000000000000"
TRAIN = ("python", "-m", "nanochat.train", "--preset", "tiny")
SPREAD = (0.0, 0.012, -0.009, 0.004, -0.006)


def run(
    variant: str,
    seed: int,
    *,
    bpb: float = 3.0,
    flops: float = 1e12,
    first_eval: float | None = None,
    wall_s: float = 36.0,
    commit: str | None = PROGRAM,
    command: tuple[str, ...] = TRAIN,
    started: float = 1_700_000_000.0,
    status: str = "ok",
) -> Run:
    value = bpb + SPREAD[seed % len(SPREAD)]
    first = flops / 2 if first_eval is None else first_eval
    return Run(
        run_id=f"{variant[:40]}-s{seed}",
        variant=variant,
        seed=seed,
        commit=commit,
        status=status,
        started=started + seed,
        wall_s=wall_s,
        flops=flops,
        evals=((50, first, value + 0.2), (100, flops, value)),
        command=command,
    )


def job(
    variant: str, seed: int, *, state: JobState = JobState.DONE, batch: str = "b1", **kw
) -> Job:
    defaults = dict(
        command=(*TRAIN, "--width", "128"),
        commit="feedbeef",
        branch="feat/p/bo",
        snapshot_ref=None,
        agent="bo",
        thread="m-claim",
    )
    return Job(
        id=f"j{variant[:20]}-{seed}-{state}",
        variant=variant,
        seed=seed,
        run_id=f"{variant[:40]}-s{seed}-r",
        state=state,
        batch=batch,
        **(defaults | kw),
    )


def spec(**kw) -> DisciplineSpec:
    return DisciplineSpec(**({"min_seeds": 3, "max_auto_gpu_hours": 1.0} | kw))


def plan(runs, claim, queue=(), spent=0.0, commit=PROGRAM, **kw) -> ControlPlan:
    ledger = Ledger(list(runs), baseline="base")
    return plan_controls(ledger, list(queue), list(claim), spec(**kw), commit, spent)


def baseline(n: int = 3, **kw) -> list[Run]:
    return [run("base", seed, **kw) for seed in range(n)]


def by_reason(result: ControlPlan) -> dict[str, list[Job]]:
    groups: dict[str, list[Job]] = {}
    for j in result.jobs:
        groups.setdefault(j.reason, []).append(j)
    return groups


def assert_submittable(result: ControlPlan, tmp_path) -> None:
    """Every planned job is a control that the queue writes and reads back unchanged."""
    paths = OrgPaths(tmp_path)
    written = submit(paths, list(result.jobs))
    read = read_queue(paths)
    assert sorted(j.id for j in read) == sorted(j.id for j in written)
    for j in read:
        assert isinstance(j, Job), j
        assert j.kind == JobKind.CONTROL and j.priority == PRIORITY[JobKind.CONTROL]
        assert j.agent is None and j.state == JobState.QUEUED


def test_single_seed_claim_gets_replicates_with_its_own_code(tmp_path):
    claim = [job("wide", 0, snapshot_ref="refs/orgtui/runs/wide-s0-r", dirty=True)]
    result = plan([*baseline(), run("wide", 0, bpb=2.9)], claim)
    assert [j.reason for j in result.jobs] == ["replicate", "replicate"]
    assert [j.seed for j in result.jobs] == [1, 2]
    for j in result.jobs:
        assert j.variant == "wide" and j.command == claim[0].command
        assert (j.commit, j.branch, j.snapshot_ref, j.dirty) == (
            "feedbeef",
            "feat/p/bo",
            "refs/orgtui/runs/wide-s0-r",
            True,
        )
        assert j.batch == control_batch("b1") == "c-b1" and j.thread == "m-claim"
        assert j.run_id.startswith(f"wide-s{j.seed}-") and is_valid_name(j.run_id)
    assert len({j.id for j in result.jobs}) == 2
    assert result.announcement == "the ledger scheduled 2 replicates of wide"
    assert result.skipped == ()
    assert_submittable(result, tmp_path)


def test_replicate_seeds_skip_every_seed_ever_used_and_count_queued_ones():
    runs = [*baseline(), run("wide", 0), run("wide", 1, status="crash")]
    queued = [job("wide", 5, state=JobState.QUEUED, batch="b2")]
    result = plan(runs, [job("wide", 0), job("wide", 1)], queue=queued)
    # usable seed 0 + queued seed 5 = 2 of 3: one more, a seed never used (not crashed 1)
    assert [(j.reason, j.seed) for j in result.jobs] == [("replicate", 2)]


def test_missing_baseline_at_the_program_commit_gets_paired_seeds():
    runs = [*baseline(commit="old0000"), run("wide", 0)]
    result = plan(runs, [job("wide", 0)])
    groups = by_reason(result)
    assert [j.seed for j in groups["baseline"]] == [0, 1, 2]  # the claim's 0 and its replicates
    for j in groups["baseline"]:
        assert j.variant == "base" and j.commit == PROGRAM and j.command == TRAIN
        assert j.snapshot_ref is None and j.branch is None and not j.dirty
    assert result.announcement == (
        "the ledger scheduled 3 baseline seeds (base) and 2 replicates of wide"
    )


def test_no_program_commit_schedules_no_baseline_and_says_why():
    result = plan([run("wide", 0)], [job("wide", 0)], commit=None)
    assert "baseline" not in by_reason(result)
    assert any("no commit to run them at" in reason for reason in result.skipped)


def test_an_abbreviated_program_commit_matches_the_baseline_runs():
    result = plan([*baseline(), run("wide", 0)], [job("wide", 0)], commit=PROGRAM[:7])
    assert "baseline" not in by_reason(result)


def test_baseline_command_from_the_config_wins_and_a_missing_one_is_named():
    command = "python -m nanochat.train --preset tiny --data 'my data'"
    result = plan([run("wide", 0)], [job("wide", 0)], baseline_command=command)
    assert by_reason(result)["baseline"][0].command == tuple(shlex.split(command))
    assert by_reason(result)["baseline"][0].command[-1] == "my data"
    result = plan([run("wide", 0)], [job("wide", 0)])
    assert "baseline" not in by_reason(result)
    assert any("[discipline] baseline_command" in s for s in result.skipped)
    result = plan([run("wide", 0)], [job("wide", 0)], baseline_command="python 'unclosed")
    assert any("[discipline] baseline_command" in s for s in result.skipped)


def test_a_queued_baseline_is_not_scheduled_again():
    queued = [job("base", 0, state=JobState.RUNNING, batch="b0")]
    result = plan([run("wide", 0)], [job("wide", 0)], queue=queued, baseline_command="x")
    assert "baseline" not in by_reason(result)


def test_compute_mismatch_reruns_the_short_side_at_the_long_sides_flops(tmp_path):
    wide = [run("wide", s, flops=2e12, wall_s=72.0) for s in range(4)]
    result = plan([*baseline(), *wide], [job("wide", s) for s in range(4)])
    [*matched] = by_reason(result)["matched"]
    assert {j.variant for j in matched} == {"base-at-wide"}
    assert [j.seed for j in matched] == [0, 1, 2]  # wide's seeds, capped at min_seeds
    assert all(j.max_flops == pytest.approx(2e12) for j in matched)
    assert all(j.command == TRAIN and j.commit == PROGRAM for j in matched)  # base's code
    assert result.announcement == (
        "the ledger scheduled 3 runs of base at wide's compute (base-at-wide)"
    )
    assert_submittable(result, tmp_path)


def test_matched_seeds_follow_matched_seeds_and_the_claims_planned_replicates():
    result = plan([*baseline(), run("wide", 0, flops=2e12)], [job("wide", 0)], matched_seeds=2)
    groups = by_reason(result)
    assert [j.seed for j in groups["replicate"]] == [1, 2]
    assert [j.seed for j in groups["matched"]] == [0, 1]


def test_curves_that_do_not_overlap_rerun_the_claim_with_its_own_code():
    # wide stopped before base's first eval: not comparable at all.
    wide = [run("wide", s, flops=1e11, first_eval=5e10) for s in range(3)]
    claim = [job("wide", s, snapshot_ref="refs/orgtui/runs/x") for s in range(3)]
    result = plan([*baseline(first_eval=4e11), *wide], claim)
    [*matched] = by_reason(result)["matched"]
    assert {j.variant for j in matched} == {"wide-at-base"}
    assert all(j.max_flops == pytest.approx(1e12) for j in matched)
    assert all(
        j.command == claim[0].command and j.snapshot_ref == "refs/orgtui/runs/x" for j in matched
    )


def test_matched_run_is_not_scheduled_twice():
    wide = [run("wide", s, flops=2e12) for s in range(3)]
    claim = [job("wide", s) for s in range(3)]
    queued = [job("base-at-wide", 0, state=JobState.QUEUED, batch="c-b0")]
    assert plan([*baseline(), *wide], claim, queue=queued).jobs == ()
    done = [run("base-at-wide", 0, flops=2e12)]
    assert plan([*baseline(), *wide, *done], claim).jobs == ()


def test_the_baseline_itself_only_gets_replicates():
    runs = [run("base", 0, commit="old0000"), run("other", 0, flops=3e12)]
    result = plan(runs, [job("base", 0)])
    assert [(j.reason, j.variant) for j in result.jobs] == [("replicate", "base")] * 2


def test_budget_stops_adding_jobs_and_lists_the_rest():
    # each run took half an hour; matched ones at twice the FLOPs would take an hour
    runs = [*baseline(commit="old", wall_s=1800.0), run("wide", 0, wall_s=1800.0)]
    result = plan(runs, [job("wide", 0)])
    assert [j.reason for j in result.jobs] == ["baseline", "baseline"]
    assert len(result.skipped) == 2
    assert "1 baseline seed (base), seeds 2" in result.skipped[0]
    assert "2 replicates of wide, seeds 1, 2" in result.skipped[1]
    assert all("max_auto_gpu_hours" in s for s in result.skipped)
    assert result.announcement == "the ledger scheduled 2 baseline seeds (base)"


def test_matched_hours_scale_with_the_flops_asked_for():
    wide = [run("wide", s, flops=4e12, wall_s=1800.0) for s in range(3)]
    runs = [*baseline(wall_s=450.0), *wide]  # base: 1/8 h a run, 1/2 h at wide's FLOPs
    result = plan(runs, [job("wide", s) for s in range(3)], max_auto_gpu_hours=1.0)
    assert len(result.jobs) == 2 and "1 run of base" in result.skipped[0]


@pytest.mark.parametrize("spent", [0.995, 5.0, math.nan, math.inf])
def test_a_spent_budget_schedules_nothing(spent):
    result = plan([*baseline(), run("wide", 0)], [job("wide", 0)], spent=spent)
    assert result.jobs == () and result.announcement is None
    assert result.skipped and "max_auto_gpu_hours" in result.skipped[0]


def test_unknown_costs_fall_back_to_the_mean_of_all_runs():
    runs = [*baseline(wall_s=3600.0 * 0.4), run("wide", 0, wall_s=None)]  # type: ignore[arg-type]
    result = plan(runs, [job("wide", 0)])
    assert len(result.jobs) == 2  # 0.4 h each: two fit in 1 h


def test_auto_off_or_no_claim_plans_nothing():
    assert plan([run("wide", 0)], [job("wide", 0)], auto=False) == ControlPlan()
    assert plan([run("wide", 0)], []) == ControlPlan()


def test_planning_again_after_submitting_adds_nothing(tmp_path):
    runs = [*baseline(commit="old"), run("wide", 0, flops=2e12)]
    claim = [job("wide", 0)]
    first = plan(runs, claim)
    assert {j.reason for j in first.jobs} == {"baseline", "replicate", "matched"}
    again = plan(runs, claim, queue=first.jobs)
    assert again.jobs == () and again.announcement is None


def test_hostile_values_plan_valid_jobs_or_say_why_not(tmp_path):
    long = "w" * MAX_NAME_LENGTH
    runs = [
        *baseline(),
        run(long, 0, flops=math.nan),
        Run(run_id="huge", variant=long, seed=2**63, status="ok", evals=((1, 1.0, 3.0),)),
    ]
    claim = [job(long, 2**32 - 1, batch="x" * 4000)]
    result = plan(runs, claim)
    assert result.jobs
    for j in result.jobs:
        assert is_valid_name(j.variant) and is_valid_name(j.run_id) and is_valid_name(j.batch)
        assert 0 <= j.seed <= 2**32 - 1
    assert [j.seed for j in by_reason(result)["replicate"]] == [1]  # seeds 0 and 2**63 count
    assert_submittable(result, tmp_path)
    # NaN final FLOPs: the matched run is skipped with a reason, never a NaN budget
    wide = [run("wide", s, flops=math.nan) for s in range(3)]
    assert plan([*baseline(), *wide], [job("wide", 0)]).jobs == ()


def test_matched_names_stay_valid_near_the_length_limit():
    for short, long in [("a" * 64, "b" * 64), ("base", "w" * 61), ("x" * 30, "y" * 30)]:
        name = matched_variant(short, long)
        assert is_valid_name(name) and len(name) <= MAX_NAME_LENGTH
    assert matched_variant("base", "wide") == "base-at-wide"
    assert matched_variant("a" * 64, "b" * 64) != matched_variant("a" * 64, "b" * 63 + "c")


@given(st.text(max_size=200))
def test_control_batch_is_a_deterministic_valid_name(batch):
    assert is_valid_name(control_batch(batch))
    assert control_batch(batch) == control_batch(batch)


finite_or_not = st.one_of(
    st.floats(min_value=1e6, max_value=1e20), st.sampled_from([0.0, math.nan, math.inf])
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base_seeds=st.lists(st.integers(0, 2**63), max_size=4, unique=True),
    wide_seeds=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4, unique=True),
    base_flops=finite_or_not,
    wide_flops=finite_or_not,
    wall=st.one_of(st.floats(0.0, 1e6), st.none()),
    budget=st.floats(0.0, 10.0),
    spent=st.one_of(st.floats(-1.0, 10.0), st.sampled_from([math.nan, math.inf])),
    min_seeds=st.integers(1, 6),
)
def test_any_ledger_gives_valid_jobs_within_budget(
    base_seeds, wide_seeds, base_flops, wide_flops, wall, budget, spent, min_seeds
):
    runs = [run("base", s, flops=base_flops, wall_s=wall) for s in base_seeds]  # type: ignore[arg-type]
    runs += [run("wide", s, flops=wide_flops, wall_s=wall) for s in wide_seeds]  # type: ignore[arg-type]
    claim = [job("wide", s) for s in wide_seeds]
    result = plan(
        runs,
        claim,
        spent=spent,
        min_seeds=min_seeds,
        max_auto_gpu_hours=budget,
        baseline_command="python train.py",
    )
    seen = set()
    for j in result.jobs:
        assert parse_job(j.to_json()) == j.with_changes(extra={})
        assert (j.variant, j.seed) not in seen
        seen.add((j.variant, j.seed))
        assert j.reason in ("baseline", "replicate", "matched")
        assert j.max_flops is None or (math.isfinite(j.max_flops) and j.max_flops > 0)
    replicated = {s for v, s in seen if v == "wide"}
    assert not replicated & set(wide_seeds)
    assert len(replicated) + len(wide_seeds) <= max(min_seeds, len(wide_seeds))
    if not math.isfinite(spent) or spent > budget + 1e-9:
        assert result.jobs == ()
    assert (result.announcement is None) == (result.jobs == ())


def test_final_verdict_cites_the_controls_and_the_matched_comparison():
    wide = [run("wide", s, bpb=2.95 + 0.002 * s, flops=2e12) for s in range(3)]
    matched = [run("base-at-wide", s, flops=2e12) for s in range(3)]
    ledger = Ledger([*baseline(), *wide, *matched], baseline="base")
    claim = [job("wide", 0)]
    controls = [
        job("wide", s, state=JobState.DONE, kind=JobKind.CONTROL, reason="replicate")
        for s in (1, 2)
    ] + [
        job("base-at-wide", s, kind=JobKind.CONTROL, reason="matched", state=JobState.FAILED)
        for s in range(3)
    ]
    subject, body = final_verdict(ledger, claim, controls)
    comparison = ledger.compare("base", "wide")
    assert subject == f"wide: {comparison.verdict} (matched compute: improvement)"
    assert "wide vs base-at-wide: verdict: improvement" in body
    assert "paired over seeds 0,1,2" in body
    assert "compute_mismatch x2.0" in body
    for j in controls:
        assert j.run_id in body
    assert "(failed)" in body and "claim runs: wide-s0-r" in body


def test_final_verdict_without_a_baseline_or_runs_says_so():
    ledger = Ledger([run("wide", 0)], baseline=None)
    subject, body = final_verdict(ledger, [job("wide", 0)], [])
    assert subject == "wide: final verdict" and "no baseline" in body
    subject, body = final_verdict(Ledger([], baseline="base"), [job("gone", 0)], [])
    assert "no runs of gone" in body
    subject, _ = final_verdict(Ledger(baseline(), baseline="base"), [job("base", 0)], [])
    assert subject == "base (the baseline): 3 usable seeds"
