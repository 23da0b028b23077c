"""Variants compared the way a careful reviewer would: at matched compute, against seed noise.

What is compared is the org's :class:`Measure` (``[ledger]``): the task's eval metric, which
way is better, and the compute axis (FLOPs by default, or wall- or GPU-seconds).

The rules (docs/ledger.md has them with a worked example):

- Only finished, healthy runs with an eval curve count; crashed, killed and still-running
  seeds are left out of the numbers and flagged, and so are runs whose metrics hold an
  impossible result (``invalid_metrics``). Values the reader had to drop (NaN, out of range)
  are flagged ``bad_values``; the numbers here are only ever computed from finite ones.
- Both variants are read at the same compute: the largest cost every counted run of both
  reached, interpolating linearly between evals. No extrapolation: when the curves do not
  overlap the verdict is ``not_comparable``.
- A seed fixes both the init and the data order, so runs of two variants with the same seed
  are paired: with two or more shared seeds the test is the paired t-test on the per-seed
  differences, which removes the seed-to-seed spread both sides share. Otherwise it is
  Welch's t-test on the seeds of both sides; with a single seed on one side, the spread of
  the other side's (or the baseline's) seeds stands in; with no replicates anywhere there is
  no noise estimate and the verdict can never be ``improvement``.
- Seeds without spread are not evidence: a variant whose seeds all give the same value (a
  trainer ignoring its seed) is flagged ``no_seed_variance`` and judged ``within_noise``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from orgtui.atomic import atomic_write_json
from orgtui.errors import OrgtuiError
from orgtui.ledger import stats
from orgtui.ledger.measure import DEFAULT, Measure
from orgtui.ledger.runs import Run, load_runs
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths

VERDICTS = ("improvement", "regression", "within_noise", "not_comparable")
VERDICT_STYLE = {
    "improvement": "bold green",
    "regression": "bold red",
    "within_noise": "yellow",
    "not_comparable": "magenta",
}
"""Rich styles of the verdicts, shared by the CLI table and the TUI."""
MISMATCH_TOLERANCE = 1.10


class LedgerError(OrgtuiError):
    """A ledger question that cannot be answered (an unknown variant, a bad baseline)."""


@dataclass(frozen=True)
class Comparison:
    """The verdict on ``b`` against ``a``; ``delta`` = b - a in the metric, which is better
    when its sign is the measure's direction (negative for ``min``, positive for ``max``)."""

    a: str
    b: str
    verdict: str
    delta: float | None
    noise: float | None
    p_value: float | None
    matched_cost: float | None
    cost_ratio: float | None
    """b's final cost over a's."""
    n_a: int
    n_b: int
    flags: tuple[str, ...] = ()
    test: str | None = None
    """Which test gave the noise: ``paired``, ``welch``, ``reference`` (one side's single seed
    against borrowed spread) or None (no noise estimate)."""
    n_pairs: int = 0
    paired_seeds: tuple[int, ...] = ()
    """The seeds both sides ran, when the test is ``paired``."""
    measure: Measure = DEFAULT

    @property
    def delta_bpb(self) -> float | None:
        return self.delta if self.measure.metric == "val_bpb" else None

    @property
    def noise_bpb(self) -> float | None:
        return self.noise if self.measure.metric == "val_bpb" else None

    @property
    def matched_flops(self) -> float | None:
        return self.matched_cost if self.measure.cost == "flops" else None

    @property
    def flops_ratio(self) -> float | None:
        return self.cost_ratio if self.measure.cost == "flops" else None

    def to_json(self) -> dict[str, Any]:
        """The generic keys, and for val bpb at matched FLOPs also the original ones
        (``delta_bpb``, ``noise_bpb``, ``matched_flops``, ``flops_ratio``)."""
        data = asdict(self)
        del data["measure"]
        head = {"a": self.a, "b": self.b, "verdict": self.verdict} | self.measure.to_json()
        extra = {"flags": list(self.flags), "paired_seeds": list(self.paired_seeds)}
        return head | data | aliases(self.measure, self) | extra


ALIASES = {
    "metric": {"delta": "delta_bpb", "noise": "noise_bpb", "mean": "mean_bpb", "sd": "sd_bpb"},
    "cost": {"matched_cost": "matched_flops", "cost_ratio": "flops_ratio", "at_cost": "at_flops"},
}
"""The JSON keys of the original bpb-and-FLOPs ledger, kept beside the generic ones when the
measure is val bpb (``metric``) or FLOPs (``cost``), so existing readers keep working."""


def aliases(measure: Measure, record: Any) -> dict[str, Any]:
    """The original keys of ``record``'s generic fields that ``measure`` still gives."""
    names = dict(ALIASES["metric"]) if measure.metric == "val_bpb" else {}
    names |= ALIASES["cost"] if measure.cost == "flops" else {}
    return {old: getattr(record, new) for new, old in names.items() if hasattr(record, new)}


@dataclass(frozen=True)
class VariantRow:
    """One line of ``orgtui ledger``."""

    variant: str
    n_seeds: int
    mean: float | None
    """The metric's mean over seeds at ``at_cost``."""
    sd: float | None
    at_cost: float | None
    tokens: int
    flops: float
    cost: float
    """Mean final cost on the cost axis (the FLOPs again with FLOPs)."""
    gpu_hours: float
    wall_s: float
    verdict: str | None
    flags: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """The org's progress: the best verified improvement against what it cost."""

    baseline: str | None
    best_variant: str | None
    best_gain: float | None
    """How much better than the baseline, in the metric (positive = better, either way)."""
    gpu_hours: float
    wall_s: float
    per_agent: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per agent: ``gpu_hours``, ``runs``, ``best_variant`` and ``best_gain``."""
    progress: tuple[tuple[float, float, float], ...] = ()
    measure: Measure = DEFAULT

    @property
    def best_improvement_bpb(self) -> float | None:
        return self.best_gain if self.measure.metric == "val_bpb" else None


def variant_flags(runs: list[Run], require_proposal: bool = False) -> list[str]:
    """Flags that belong to one variant's runs, whatever they are compared with."""
    flags: list[str] = []
    if require_proposal and any(run.proposal is None for run in runs):
        flags.append("no_proposal")
    if any(run.dirty for run in runs):
        flags.append("dirty_tree")
    if any(run.status in ("crash", "killed") for run in runs):
        flags.append("crashed")
    if any(run.status == "running" for run in runs):
        flags.append("still_running")
    if any(run.invalid for run in runs):
        flags.append("invalid_metrics")
    if any(run.problems for run in runs):
        flags.append("bad_values")
    configs = {json.dumps(run.experiment_config(), sort_keys=True) for run in runs if run.config}
    if len(configs) > 1:
        flags.append("config_drift")
    return flags


def _max_eval_cost(run: Run) -> float:
    return run.evals[-1][1]


def _curve(run: Run) -> list[tuple[float, float]]:
    return [(cost, value) for _, cost, value in run.evals]


def _matched_cost(runs: list[Run]) -> float | None:
    """The largest cost every run reached; None when some run's curve starts beyond it."""
    if not runs:
        return None
    matched = min(_max_eval_cost(r) for r in runs)
    return None if matched < max(r.evals[0][1] for r in runs) else matched


def _values_at(runs: list[Run], cost: float) -> list[tuple[int, float]] | None:
    """(seed, metric value) of each run at ``cost``; None when any run cannot be read there."""
    values = [(r.seed, stats.interpolate(_curve(r), cost)) for r in runs]
    if any(v is None for _, v in values):
        return None
    return values  # type: ignore[return-value]


def _by_seed(values: list[tuple[int, float]]) -> dict[int, float]:
    """One value per seed: the mean when a seed ran more than once."""
    groups: dict[int, list[float]] = {}
    for seed, value in values:
        groups.setdefault(seed, []).append(value)
    return {seed: stats.mean(group) for seed, group in groups.items()}


def _final_cost(runs: list[Run]) -> float:
    return stats.mean([run.cost for run in runs]) if runs else 0.0


def _cost_ratio(final_a: float, final_b: float) -> float | None:
    """b's cost over a's; None when either is unknown or the ratio is not a finite number."""
    if final_a <= 0 or final_b <= 0:
        return None
    ratio = final_b / final_a
    return ratio if math.isfinite(ratio) and ratio > 0 else None


class Ledger:
    """Every run of an org, grouped by variant, with the baseline they are judged against."""

    def __init__(
        self,
        runs: list[Run],
        baseline: str | None = None,
        alpha: float = 0.05,
        require_proposal: bool = False,
        measure: Measure = DEFAULT,
    ):
        self.runs = runs
        self.baseline = baseline
        self.alpha = alpha
        self.require_proposal = require_proposal
        self.measure = measure
        self.variants: dict[str, list[Run]] = {}
        for run in runs:
            self.variants.setdefault(run.variant, []).append(run)

    @classmethod
    def load(
        cls,
        paths: OrgPaths,
        baseline: str | None = None,
        alpha: float | None = None,
        runs: list[Run] | None = None,
    ) -> Ledger:
        """Runs from ``.org/runs`` (or ``runs``, already read: read again when they were read
        for another measure than org.toml's); baseline from the argument, ``orgtui baseline``,
        org.toml."""
        config = _config(paths)
        spec = config.ledger if config else None
        measure = Measure.of(spec) if spec else DEFAULT
        baseline = baseline or stored_baseline(paths) or (spec.baseline if spec else None)
        if alpha is None:
            alpha = spec.alpha if spec else 0.05
        required = bool(config and config.review.required)
        if runs is None or any(not _read_for(run, measure) for run in runs):
            runs = load_runs(paths, measure)
        return cls(runs, baseline, alpha, require_proposal=required, measure=measure)

    @property
    def compute_unit(self) -> str:
        """``CPU`` when every run that names its device (``device`` in its config) ran on the
        CPU, else ``GPU``: the hours the ledger counts are then CPU-hours, and say so."""
        devices = {
            str(run.config["device"]).split(":")[0] for run in self.runs if run.config.get("device")
        }
        return "CPU" if devices == {"cpu"} else "GPU"

    def _runs_of(self, variant: str) -> list[Run]:
        if variant not in self.variants:
            known = ", ".join(sorted(self.variants)) or "none yet"
            raise LedgerError(f"no runs of variant {variant!r} (variants: {known})")
        return self.variants[variant]

    def compare(self, a: str, b: str) -> Comparison:
        """The verdict on variant ``b`` against variant ``a``."""
        runs_a, runs_b = self._runs_of(a), self._runs_of(b)
        flags = list(
            dict.fromkeys(
                variant_flags(runs_a, self.require_proposal)
                + variant_flags(runs_b, self.require_proposal)
            )
        )
        baseline_runs = [r for r in self.variants.get(self.baseline or "", []) if r.usable]
        if not baseline_runs:
            flags.insert(0, "no_baseline")
        good_a = [r for r in runs_a if r.usable]
        good_b = [r for r in runs_b if r.usable]
        final_a, final_b = _final_cost(good_a or runs_a), _final_cost(good_b or runs_b)
        ratio = _cost_ratio(final_a, final_b)
        if ratio is not None and max(ratio, 1 / ratio) > MISMATCH_TOLERANCE:
            flags.append(f"compute_mismatch x{max(ratio, 1 / ratio):.1f}")
        if len(good_a) == 1 or len(good_b) == 1:
            flags.append("single_seed")

        def verdict(name: str, **numbers: Any) -> Comparison:
            empty = dict(delta=None, noise=None, p_value=None, matched_cost=None)
            return Comparison(
                a,
                b,
                name,
                **(empty | numbers),
                cost_ratio=ratio,
                n_a=len(good_a),
                n_b=len(good_b),
                flags=tuple(flags),
                n_pairs=len(numbers.get("paired_seeds", ())),
                measure=self.measure,
            )

        matched = _matched_cost(good_a + good_b) if good_a and good_b else None
        if matched is None:
            return verdict("not_comparable")
        seeds_a, seeds_b = _values_at(good_a, matched), _values_at(good_b, matched)
        if seeds_a is None or seeds_b is None:
            return verdict("not_comparable")
        values_a, values_b = [v for _, v in seeds_a], [v for _, v in seeds_b]
        if any(len(v) >= 2 and not stats.has_spread(v) for v in (values_a, values_b)):
            flags.append("no_seed_variance")
        test, kind, shared = self._test(seeds_a, seeds_b, matched)
        numbers: dict[str, Any] = dict(
            delta=stats.mean(values_b) - stats.mean(values_a),
            matched_cost=matched,
            test=kind,
            paired_seeds=shared,
        )
        if test is None:  # no replicates anywhere, or no spread: nothing can be verified
            return verdict("within_noise", **numbers)
        numbers |= dict(noise=test.half_width, p_value=test.p_value, delta=test.delta)
        if test.p_value >= self.alpha or "no_seed_variance" in flags:
            return verdict("within_noise", **numbers)
        better = self.measure.gain(test.delta) > 0
        return verdict("improvement" if better else "regression", **numbers)

    def _test(
        self, a: list[tuple[int, float]], b: list[tuple[int, float]], matched: float
    ) -> tuple[stats.TTest | None, str | None, tuple[int, ...]]:
        """The test, its name, and the seeds it paired: paired when both sides share two or
        more seeds and their differences have a spread, else unpaired."""
        by_seed_a, by_seed_b = _by_seed(a), _by_seed(b)
        shared = tuple(sorted(by_seed_a.keys() & by_seed_b.keys()))
        if len(shared) >= 2:
            test = stats.paired(
                [by_seed_a[s] for s in shared], [by_seed_b[s] for s in shared], self.alpha
            )
            if test is not None:
                return test, "paired", shared
        values_a, values_b = [v for _, v in a], [v for _, v in b]
        if len(values_a) >= 2 and len(values_b) >= 2:
            test = stats.welch(values_a, values_b, self.alpha)
            return test, "welch" if test else None, ()
        if len(values_a) >= 2:
            reference = values_a
        else:
            reference = values_b if len(values_b) >= 2 else self._baseline_values(matched)
        test = stats.with_reference_noise(values_a, values_b, reference, self.alpha)
        return test, "reference" if test else None, ()

    def _baseline_values(self, cost: float) -> list[float]:
        runs = [r for r in self.variants.get(self.baseline or "", []) if r.usable]
        values = [stats.interpolate(_curve(r), cost) for r in runs]
        return [v for v in values if v is not None]

    def table(self) -> list[VariantRow]:
        """One row per variant, read at the cost of its comparison with the baseline."""
        rows = []
        for name, runs in self.variants.items():
            good = [r for r in runs if r.usable]
            comparison = None
            if self.baseline in self.variants and name != self.baseline:
                comparison = self.compare(self.baseline, name)
            at = comparison.matched_cost if comparison else None
            if at is None and good and comparison is None:
                at = min(_max_eval_cost(r) for r in good)
            values = [stats.interpolate(_curve(r), at) for r in good] if at else []
            values = [v for v in values if v is not None]
            flags = (
                comparison.flags
                if comparison
                else tuple(variant_flags(runs, self.require_proposal))
            )
            if comparison is None and len(good) == 1:
                flags += ("single_seed",)
            if comparison is None and len(values) >= 2 and not stats.has_spread(values):
                flags += ("no_seed_variance",)
            rows.append(
                VariantRow(
                    variant=name,
                    n_seeds=len(good),
                    mean=stats.mean(values) if values else None,
                    sd=stats.sd(values) if len(values) >= 2 else None,
                    at_cost=at if values else None,
                    tokens=max((r.tokens for r in runs), default=0),
                    flops=stats.mean([r.flops for r in good or runs]) if runs else 0.0,
                    cost=_final_cost(good or runs),
                    gpu_hours=sum(r.gpu_hours for r in runs),
                    wall_s=sum(r.wall_s or 0.0 for r in runs),
                    verdict=comparison.verdict if comparison else None,
                    flags=flags,
                    agents=tuple(sorted({r.agent for r in runs if r.agent})),
                )
            )
        return sorted(rows, key=lambda row: (row.variant != self.baseline, row.variant))

    def verified_gains(self) -> dict[str, float]:
        """How much better than the baseline (in the metric, positive) each variant whose
        verdict is ``improvement`` is."""
        if self.baseline not in self.variants:
            return {}
        gains = {}
        for name in self.variants:
            if name == self.baseline:
                continue
            comparison = self.compare(self.baseline, name)
            if comparison.verdict == "improvement" and comparison.delta is not None:
                gains[name] = self.measure.gain(comparison.delta)
        return gains

    def best_improvement(self) -> tuple[str | None, float | None]:
        """The variant that beats the baseline by the most, with a verified verdict."""
        return _best_of(self.verified_gains())

    def report(self) -> Report:
        """Best verified improvement, and how it grew with GPU-hours and wall time."""
        finished = sorted(
            (r for r in self.runs if r.finished), key=lambda r: r.started + (r.wall_s or 0.0)
        )
        progress = []
        hours = 0.0
        # A run with no known start (0.0) has no place on the clock: it is left off the wall time.
        first = min((r.started for r in self.runs if r.started), default=0.0)
        for i, run in enumerate(finished):
            hours += run.gpu_hours
            partial = Ledger(
                finished[: i + 1], self.baseline, self.alpha, self.require_proposal, self.measure
            )
            _, gain = partial.best_improvement()
            elapsed = run.started + (run.wall_s or 0.0) - first if run.started else None
            if elapsed is None:  # no start time: it happened no later than the last one known
                elapsed = progress[-1][1] if progress else 0.0
            progress.append((hours, max(0.0, elapsed), gain or 0.0))
        per_agent: dict[str, dict[str, Any]] = {}
        for run in self.runs:
            entry = per_agent.setdefault(
                run.agent or "human",
                {"gpu_hours": 0.0, "runs": 0, "best_variant": None, "best_gain": None},
            )
            entry["gpu_hours"] += run.gpu_hours
            entry["runs"] += 1
        gains = self.verified_gains()
        best_variant, best_gain = _best_of(gains)
        for entry_agent, entry in per_agent.items():
            for name in {r.variant for r in self.runs if (r.agent or "human") == entry_agent}:
                gain = gains.get(name)
                if gain is not None and (entry["best_gain"] is None or gain > entry["best_gain"]):
                    entry["best_variant"], entry["best_gain"] = name, gain
        ends = [r.started + (r.wall_s or 0.0) for r in finished if r.started]
        return Report(
            baseline=self.baseline,
            best_variant=best_variant,
            best_gain=best_gain,
            gpu_hours=sum(r.gpu_hours for r in self.runs),
            wall_s=max(ends) - first if ends else 0.0,
            per_agent=per_agent,
            progress=tuple(progress),
            measure=self.measure,
        )


def describe(comparison: Comparison) -> str:
    """One paragraph a reader can act on: the verdict, its numbers and the test behind them."""
    parts = [f"verdict: {comparison.verdict}"]
    measure = comparison.measure
    if comparison.delta is not None and measure.metric == "val_bpb":
        parts.append(f"delta {comparison.delta:+.4f} bpb")
    elif comparison.delta is not None:
        parts.append(
            f"delta {measure.metric} {measure.fmt(comparison.delta, '+')} ({measure.better})"
        )
    if comparison.noise is not None:
        parts.append(f"noise ±{measure.fmt(comparison.noise)}")
    if comparison.p_value is not None:
        parts.append(f"p={comparison.p_value:.3f}")
    if comparison.matched_cost is not None:
        parts.append(f"at {comparison.matched_cost:.3g} {measure.cost_label}")
    parts.append(f"seeds {comparison.n_a} vs {comparison.n_b}")
    if comparison.verdict != "not_comparable":
        parts.append(_test_text(comparison))
    text = f"{comparison.b} vs {comparison.a}: " + ", ".join(parts)
    if comparison.flags:
        text += "\nflags: " + ", ".join(comparison.flags)
    return text


def _test_text(comparison: Comparison) -> str:
    if comparison.test == "paired":
        return "paired over seeds " + ",".join(str(s) for s in comparison.paired_seeds)
    if comparison.test == "welch":
        return "unpaired (Welch)"
    if comparison.test == "reference":
        return "unpaired (noise borrowed from replicated seeds)"
    return "no test (no noise estimate)"


def _best_of(gains: dict[str, float]) -> tuple[str | None, float | None]:
    if not gains:
        return None, None
    best = max(gains, key=gains.__getitem__)
    return best, gains[best]


def _config(paths: OrgPaths) -> Any:
    """The org's config, or None when there is no readable org.toml."""
    from orgtui.config import load_config

    if not paths.config_file.is_file():
        return None
    try:
        return load_config(paths.root)
    except OrgtuiError:
        return None


def stored_baseline(paths: OrgPaths) -> str | None:
    """The baseline set with ``orgtui baseline`` (it overrides org.toml)."""
    try:
        value = json.loads(paths.ledger_state.read_text(encoding="utf-8")).get("baseline")
    except (OSError, ValueError, AttributeError):
        return None
    return value if is_valid_name(value) else None


def store_baseline(paths: OrgPaths, variant: str) -> None:
    if not is_valid_name(variant):
        raise LedgerError(f"bad variant name {variant!r}: use [a-z0-9][a-z0-9_-]*")
    paths.org_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(paths.ledger_state, ledger_state(paths) | {"baseline": variant})


def ledger_state(paths: OrgPaths) -> dict[str, Any]:
    """``.org/ledger.json`` as a dict (empty when missing or not a JSON object): every write
    keeps the keys it does not set (``orgtui adopt``'s ``adopted`` history)."""
    try:
        value = json.loads(paths.ledger_state.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_for(run: Run, measure: Measure) -> bool:
    """Whether ``run`` was read for ``measure``'s metric and cost axis."""
    return run.metric == measure.metric and run.cost_unit == measure.cost
