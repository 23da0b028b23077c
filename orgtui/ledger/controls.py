"""Controls the ledger schedules itself, so a claim never rests on an agent remembering them.

When a request's seeds are done, :func:`plan_controls` says which control jobs the claim
needs, within the ``[discipline]`` limits:

- ``baseline``: no usable baseline run at the program branch's commit (and none queued):
  ``min_seeds`` baseline seeds there, on the claim's seeds so they pair;
- ``replicate``: fewer than ``min_seeds`` seeds of the claimed variant: new seeds, same code;
- ``matched``: the claim and the baseline ran different compute (curves that do not overlap,
  or ``compute_mismatch``): the shorter side again at the longer side's compute (FLOPs, or
  seconds on a seconds cost axis), on its seeds.

Planning is pure: the supervisor's scheduler submits the jobs, posts the announcement on the
claim's thread and, once they are done, posts :func:`final_verdict` there.
"""

from __future__ import annotations

import hashlib
import math
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from orgtui.config import DisciplineSpec
from orgtui.ledger import stats
from orgtui.ledger.runner import MAX_SEED, new_run_id
from orgtui.ledger.runs import Run
from orgtui.ledger.verdicts import Comparison, Ledger, describe
from orgtui.names import MAX_NAME_LENGTH, is_valid_name
from orgtui.queue.jobs import PRIORITY, Job, JobKind, new_job_id


@dataclass(frozen=True)
class ControlPlan:
    """The control jobs for one claim, ready for ``orgtui.queue.jobs.submit``."""

    jobs: tuple[Job, ...] = ()
    announcement: str | None = None
    """For the claim's thread, e.g. "the ledger scheduled 2 replicates of wide"; None when
    nothing was scheduled."""
    skipped: tuple[str, ...] = ()
    """What the rules asked for but was not scheduled, and why."""


@dataclass(frozen=True)
class _Want:
    """The jobs one rule asks for, before the budget."""

    reason: str
    label: str
    """How the announcement counts them: "{n} replicate(s) of wide"."""
    variant: str
    seeds: tuple[int, ...]
    command: tuple[str, ...]
    commit: str | None
    hours_each: float
    branch: str | None = None
    snapshot_ref: str | None = None
    dirty: bool = False
    max_cost: float | None = None
    """A matched run's budget on the ledger's cost axis."""


@dataclass
class _Context:
    """What every rule reads: the ledger, the queue, the claim and the limits."""

    ledger: Ledger
    queue: list[Job]
    claim: list[Job]
    spec: DisciplineSpec
    program_commit: str | None
    skipped: list[str] = field(default_factory=list)

    @property
    def variant(self) -> str:
        return self.claim[0].variant

    def pending(self, variant: str) -> list[Job]:
        return [j for j in self.queue if j.variant == variant and not j.state.finished]

    def usable(self, variant: str) -> list[Run]:
        return [r for r in self.ledger.variants.get(variant, []) if r.usable]

    def used_seeds(self, variant: str) -> set[int]:
        """Every seed a variant ran or will run, whatever became of it."""
        runs = {r.seed for r in self.ledger.variants.get(variant, [])}
        jobs = {j.seed for j in self.queue + self.claim if j.variant == variant}
        return runs | jobs


def control_batch(claim_batch: str) -> str:
    """The batch of a claim's controls: one per claim, so it is never planned twice."""
    name = f"c-{claim_batch}"
    if is_valid_name(name):
        return name
    return "c-" + hashlib.sha256(claim_batch.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def matched_variant(short: str, long: str) -> str:
    """``<short>-at-<long>``: the short side rerun at the long side's compute (a valid name)."""
    name = f"{short}-at-{long}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    room = (MAX_NAME_LENGTH - len("-at-") - len(digest) - 1) // 2
    return f"{short[:room]}-at-{long[:room]}-{digest}"


def plan_controls(
    ledger: Ledger,
    queue: Sequence[Job],
    claim: Sequence[Job],
    spec: DisciplineSpec,
    program_commit: str | None,
    spent_auto_hours: float,
) -> ControlPlan:
    """The controls one claim (the finished jobs of one request) needs, within the budget."""
    jobs = [j for j in claim if isinstance(j, Job)]
    if not spec.auto or not jobs:
        return ControlPlan()
    own = [j for j in jobs if j.variant == jobs[0].variant]
    context = _Context(ledger, [j for j in queue if isinstance(j, Job)], own, spec, program_commit)
    replicates = _replicates(context)
    wants = [replicates]
    if context.variant != ledger.baseline:
        planned = set(replicates.seeds) if replicates else set()
        wants = [_baseline(context, planned), replicates, _matched(context, planned)]
    planned_jobs, labels = _within_budget(
        [w for w in wants if w is not None], context, spent_auto_hours
    )
    return ControlPlan(
        jobs=tuple(planned_jobs),
        announcement="the ledger scheduled " + _join(labels) if labels else None,
        skipped=tuple(context.skipped),
    )


# ------------------------------------------------------------------------------- the rules


def _replicates(context: _Context) -> _Want | None:
    """Seeds of the claimed variant up to ``min_seeds``, with the claim's own code."""
    variant, spec = context.variant, context.spec
    have = {r.seed for r in context.usable(variant)} | {j.seed for j in context.pending(variant)}
    missing = spec.min_seeds - len(have)
    if missing <= 0:
        return None
    template = context.claim[0]
    return _Want(
        reason="replicate",
        label=f"{{n}} replicate{{s}} of {variant}",
        variant=variant,
        seeds=tuple(_new_seeds(context.used_seeds(variant), missing)),
        command=template.command,
        commit=template.commit,
        hours_each=_hours(context.ledger, context.ledger.variants.get(variant, [])),
        branch=template.branch,
        snapshot_ref=template.snapshot_ref,
        dirty=template.dirty,
    )


def _baseline(context: _Context, planned: set[int]) -> _Want | None:
    """``min_seeds`` baseline seeds at the program's commit when it has none there."""
    baseline, ledger, spec = context.ledger.baseline, context.ledger, context.spec
    if baseline is None:
        context.skipped.append("baseline seeds: no baseline set (`orgtui baseline VARIANT`)")
        return None
    runs = ledger.variants.get(baseline, [])
    if any(_same_commit(r.commit, context.program_commit) for r in context.usable(baseline)):
        return None
    if context.pending(baseline):
        return None
    if context.program_commit is None:  # nothing to check out: the run could not be repeated
        context.skipped.append(
            f"baseline seeds of {baseline}: the program branch has no commit to run them at"
        )
        return None
    command = _baseline_command(spec, runs)
    if not command:
        context.skipped.append(
            f"{spec.min_seeds} baseline seeds of {baseline}: no command to run them; "
            "set [discipline] baseline_command in org.toml"
        )
        return None
    claim_seeds = {r.seed for r in context.usable(context.variant)}
    claim_seeds |= {j.seed for j in context.pending(context.variant)} | planned
    seeds = sorted(s for s in claim_seeds if 0 <= s <= MAX_SEED)[: spec.min_seeds]
    seeds += _new_seeds(set(seeds), spec.min_seeds - len(seeds))
    return _Want(
        reason="baseline",
        label=f"{{n}} baseline seed{{s}} ({baseline})",
        variant=baseline,
        seeds=tuple(seeds),
        command=command,
        commit=context.program_commit,
        hours_each=_hours(ledger, runs),
    )


def _matched(context: _Context, planned: set[int]) -> _Want | None:
    """The side with less compute, again at the other side's cost, on the other's seeds."""
    ledger, variant, baseline = context.ledger, context.variant, context.ledger.baseline
    if baseline is None or not context.usable(baseline) or not context.usable(variant):
        return None
    comparison = ledger.compare(baseline, variant)
    if not _compute_differs(comparison):
        return None
    finals = {v: _mean_cost(context.usable(v)) for v in (baseline, variant)}
    if not all(math.isfinite(f) and f > 0 for f in finals.values()):
        context.skipped.append(
            f"matched run of {variant} and {baseline}: their final "
            f"{ledger.measure.cost_label} are unknown"
        )
        return None
    short, long = sorted((baseline, variant), key=finals.__getitem__)
    name = matched_variant(short, long)
    if name in ledger.variants or any(j.variant == name for j in context.queue):
        return None
    long_seeds = {r.seed for r in context.usable(long)} | {j.seed for j in context.pending(long)}
    long_seeds |= planned if long == variant else set()
    cap = context.spec.seeds_when_matching
    seeds = sorted(s for s in long_seeds if 0 <= s <= MAX_SEED)[:cap] or list(range(cap))
    source = _source(context, short)
    if source is None:
        context.skipped.append(
            f"matched run {name}: no command of {short} to rerun; "
            "set [discipline] baseline_command in org.toml"
        )
        return None
    command, commit, branch, snapshot, dirty = source
    return _Want(
        reason="matched",
        label=f"{{n}} run{{s}} of {short} at {long}'s compute ({name})",
        variant=name,
        seeds=tuple(seeds),
        command=command,
        commit=commit,
        hours_each=_hours(ledger, context.usable(short), scale_to=finals[long]),
        branch=branch,
        snapshot_ref=snapshot,
        dirty=dirty,
        max_cost=finals[long],
    )


def _compute_differs(comparison: Comparison) -> bool:
    """Curves that do not overlap, or a ``compute_mismatch`` flag."""
    no_overlap = comparison.verdict == "not_comparable" and comparison.n_a and comparison.n_b
    return bool(no_overlap) or any(f.startswith("compute_mismatch") for f in comparison.flags)


def _source(
    context: _Context, variant: str
) -> tuple[tuple[str, ...], str | None, str | None, str | None, bool] | None:
    """Command, commit, branch, snapshot and dirtiness to rerun ``variant`` with."""
    if variant == context.variant:
        job = context.claim[0]
        return job.command, job.commit, job.branch, job.snapshot_ref, job.dirty
    runs = sorted(context.usable(variant), key=lambda r: r.started)
    latest = next((r for r in reversed(runs) if r.command), None)
    if latest is not None:
        return latest.command, latest.commit, None, None, latest.dirty
    command = _baseline_command(context.spec, [])
    return (command, context.program_commit, None, None, False) if command else None


# ------------------------------------------------------------------------------- helpers


def _same_commit(a: str | None, b: str | None) -> bool:
    """Whether two commit names are the same commit (one may be abbreviated); any commit
    counts when the program's is unknown."""
    if b is None:
        return True
    return a is not None and bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))


def _baseline_command(spec: DisciplineSpec, runs: list[Run]) -> tuple[str, ...]:
    """``[discipline] baseline_command``, else the command of the baseline's latest run."""
    if spec.baseline_command:
        try:
            return tuple(shlex.split(spec.baseline_command))
        except ValueError:  # unbalanced quotes: no command, and the skip names the key
            return ()
    latest = sorted((r for r in runs if r.command), key=lambda r: r.started)
    return latest[-1].command if latest else ()


def _new_seeds(used: set[int], count: int) -> list[int]:
    """The ``count`` smallest seeds not in ``used``."""
    seeds: list[int] = []
    candidate = 0
    while len(seeds) < count:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds


def _mean_cost(runs: list[Run]) -> float:
    values = [r.cost for r in runs]
    return stats.mean(values) if values else math.nan


def _mean_hours(runs: Iterable[Run]) -> float | None:
    hours = [r.gpu_hours for r in runs if r.finished and r.wall_s is not None]
    hours = [h for h in hours if math.isfinite(h) and h >= 0]
    return stats.mean(hours) if hours else None


def _hours(ledger: Ledger, runs: list[Run], scale_to: float | None = None) -> float:
    """A job's estimated GPU-hours: the mean of the runs it copies (scaled to ``scale_to``
    on the cost axis), else the mean of every finished run, else 0."""
    own = _mean_hours(runs)
    if own is not None and scale_to is not None:
        ratio = scale_to / _mean_cost(runs) if _mean_cost(runs) > 0 else math.nan
        own = own * ratio if math.isfinite(ratio) and ratio > 0 else None
    if own is not None and math.isfinite(own):
        return own
    return _mean_hours(ledger.runs) or 0.0


def _within_budget(
    wants: list[_Want], context: _Context, spent: float
) -> tuple[list[Job], list[str]]:
    """The wanted jobs in order, until the next one would pass ``max_auto_gpu_hours``."""
    limit = context.spec.max_auto_gpu_hours
    spent = max(0.0, spent) if math.isfinite(spent) else math.inf  # unknown: nothing fits
    jobs: list[Job] = []
    labels: list[str] = []
    full = False
    for want in wants:
        taken = []
        for seed in want.seeds:
            full = full or spent + want.hours_each > limit + 1e-12
            if full:
                break
            spent += want.hours_each
            taken.append(_job(want, seed, context))
        jobs += taken
        if taken:
            labels.append(_count(want.label, len(taken)))
        if left := want.seeds[len(taken) :]:
            context.skipped.append(
                f"{_count(want.label, len(left))}, seeds {', '.join(map(str, left))}: over the "
                f"[discipline] max_auto_gpu_hours budget of {limit:g} h "
                f"(spent and planned {spent:.3g} h, about {want.hours_each:.3g} h a run)"
            )
    return jobs, labels


def _job(want: _Want, seed: int, context: _Context) -> Job:
    first = context.claim[0]
    unit = context.ledger.measure.cost
    flops = unit == "flops"
    return Job(
        id=new_job_id(),
        variant=want.variant,
        seed=seed,
        command=want.command,
        run_id=_run_id(want.variant, seed),
        commit=want.commit,
        agent=None,
        branch=want.branch,
        dirty=want.dirty,
        snapshot_ref=want.snapshot_ref,
        kind=JobKind.CONTROL,
        priority=PRIORITY[JobKind.CONTROL],
        batch=control_batch(first.batch),
        thread=first.thread or first.variant,
        max_flops=want.max_cost if flops else None,
        max_cost=want.max_cost if not flops else None,
        cost_unit=unit if want.max_cost is not None and not flops else None,
        reason=want.reason,
    )


def _run_id(variant: str, seed: int) -> str:
    """A run id from the runner's rule, its variant part cut so the id stays a valid name."""
    run_id = new_run_id(variant, seed)
    over = len(run_id) - MAX_NAME_LENGTH
    return run_id if over <= 0 else new_run_id(variant[: len(variant) - over], seed)


def _count(label: str, n: int) -> str:
    return label.format(n=n, s="" if n == 1 else "s")


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# ------------------------------------------------------------------------------- the verdict


def final_verdict(ledger: Ledger, claim: Sequence[Job], controls: Sequence[Job]) -> tuple[str, str]:
    """Subject and body for the claim's thread once its controls are done: the verdicts that
    now stand, citing the controls' run ids."""
    variant = claim[0].variant if claim else controls[0].variant if controls else "unknown"
    baseline = ledger.baseline
    lines: list[str] = []
    subject = f"{variant}: final verdict"
    if variant not in ledger.variants:
        lines.append(f"no runs of {variant} recorded")
    elif baseline is None or baseline not in ledger.variants:
        lines.append("no verdict: no baseline runs to compare with")
    elif variant == baseline:
        n = len([r for r in ledger.variants[variant] if r.usable])
        subject = f"{variant} (the baseline): {n} usable seed{'' if n == 1 else 's'}"
    else:
        comparison = ledger.compare(baseline, variant)
        subject = f"{variant}: {comparison.verdict}"
        lines.append(describe(comparison))
        matched = _matched_comparison(ledger, baseline, variant)
        if matched is not None:
            subject += f" (matched compute: {matched.verdict})"
            lines += ["", "at matched compute:", describe(matched)]
    lines += ["", "claim runs: " + (", ".join(j.run_id for j in claim) or "none")]
    if controls:
        lines.append("controls the ledger scheduled:")
        lines += [
            f"- {j.reason or 'control'}: {j.variant} seed {j.seed}, run {j.run_id} ({j.state})"
            for j in controls
        ]
    return subject, "\n".join(lines).strip()


def _matched_comparison(ledger: Ledger, baseline: str, variant: str) -> Comparison | None:
    """The comparison with a matched-compute control's runs, when there are any."""
    if (name := matched_variant(baseline, variant)) in ledger.variants:
        return ledger.compare(name, variant)
    if (name := matched_variant(variant, baseline)) in ledger.variants:
        return ledger.compare(baseline, name)
    return None
