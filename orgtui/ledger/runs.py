"""Read run directories: ``metrics.jsonl`` written by the trainer, ``run.json`` by ``orgtui run``.

Reading is forgiving on purpose: a run still being written has no ``run_end`` and maybe a
half-written last line, a crashed trainer may stop anywhere, and a person (or a broken
trainer) may drop anything in by hand: NaN losses, ``1e400`` tokens, strings for numbers,
negative FLOPs, random bytes. None of that may break the ledger, the TUI or the supervisor,
so every problem becomes a field of the :class:`Run` instead of an exception:

- a value that is not a finite number, or lies outside what its metric can take
  (:data:`RANGES`; the eval metric's from :meth:`Measure.bounds`), is read as missing and
  named in ``Run.problems``;
- an impossible *result* (a negative bpb: a metric whose range is known) also sets
  ``Run.invalid``: the trainer's measurement is broken, so the run never counts towards a
  verdict.

What is read as the result and the compute is the org's :class:`Measure` (``[ledger]``):
the eval metric, and the cost axis each eval is placed on: its ``flops``, or the seconds
since the run started (``elapsed_s``, else ``time`` minus run_start's), times the run's GPUs
for ``gpu_seconds``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from orgtui.ledger.measure import DEFAULT, Measure, measure_of
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths
from orgtui.procs import pid_alive

METRICS_FILE = "metrics.jsonl"
META_FILE = "run.json"
STALE_AFTER_S = 900.0
MAX_LINE_BYTES = 1 << 20
"""A longer metrics line is skipped unread: the trainer writes a few hundred bytes a line."""
MAX_PROBLEMS = 20
MAX_META_BYTES = 1 << 20
# Keys of a run's config that do not change what is measured (where or how it ran).
IGNORED_CONFIG_KEYS = frozenset(
    {"seed", "run_id", "run_dir", "variant", "device", "compile", "log_every", "data_dir", "data"}
)
RANGES: dict[str, tuple[float, float]] = {
    "step": (0.0, 1e15),
    "tokens": (0.0, 1e18),
    "flops": (0.0, 1e30),  # the largest trainings today are near 1e26
    "loss": (0.0, 1e6),
    "val_bpb": (0.0, 1e6),
    "final_val_bpb": (0.0, 1e6),
    "wall_s": (0.0, 1e9),
    "time": (1.0, 1e11),  # seconds since 1970: 0 is "unknown", not a start time
    "seed": (0.0, 2.0**63),
    "gpus": (0.0, 1e6),
    "seconds": (0.0, 1e9),
    "elapsed_s": (0.0, 1e9),
}
"""The values each metric can take; the bounds also keep every sum the ledger makes finite."""


@dataclass(frozen=True)
class Run:
    """One training run, as far as its files tell."""

    run_id: str
    variant: str
    seed: int
    agent: str | None = None
    commit: str | None = None
    dirty: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "running"  # running | ok | crash | killed
    started: float = 0.0
    """Seconds since 1970; 0.0 when no file says when the run started."""
    wall_s: float | None = None
    tokens: int = 0
    flops: float = 0.0
    train: tuple[tuple[int, float, float], ...] = ()
    evals: tuple[tuple[int, float, float], ...] = ()
    """(step, cost, metric value), sorted by cost: (step, FLOPs, val bpb) by default."""
    final_value: float | None = None
    """``run_end``'s ``final_<metric>``."""
    proposal: str | None = None
    malformed: str | None = None
    problems: tuple[str, ...] = ()
    """Values read as missing: not a finite number, or outside their metric's range."""
    invalid: str | None = None
    """Why the run's results cannot be trusted (an impossible bpb or accuracy); None when they
    can."""
    command: tuple[str, ...] = ()
    """The command ``orgtui run`` recorded (redacted); empty when unknown."""
    allocation: tuple[float, float] | None = None
    """(GPUs, seconds) of the cluster allocation it ran in (a Slurm job); None elsewhere."""
    metric: str = DEFAULT.metric
    cost_unit: str = DEFAULT.cost
    """The measure the run was read with: what ``evals`` and ``cost`` hold."""
    seconds: float = 0.0
    """The largest cost in seconds it reached, with a seconds cost unit (0 with FLOPs)."""

    @property
    def cost(self) -> float:
        """The compute it reached on its cost axis: FLOPs, or wall- or GPU-seconds."""
        return self.flops if self.cost_unit == "flops" else self.seconds

    @property
    def final_val_bpb(self) -> float | None:
        """The final val bpb, when that is the metric the run was read with."""
        return self.final_value if self.metric == "val_bpb" else None

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def usable(self) -> bool:
        """A finished, healthy run with an eval curve: the only kind a verdict rests on."""
        return (
            self.status == "ok"
            and bool(self.evals)
            and self.malformed is None
            and self.invalid is None
        )

    @property
    def gpu_hours(self) -> float:
        """GPUs x elapsed of its cluster allocation; else one GPU for the run's wall time (a
        running run counts up to now, 0 with no start)."""
        if self.allocation is not None:
            gpus, seconds = self.allocation
            return gpus * seconds / 3600.0
        if self.wall_s is not None:
            return self.wall_s / 3600.0
        if self.status != "running" or not self.started:
            return 0.0
        return max(0.0, time.time() - self.started) / 3600.0

    def experiment_config(self) -> dict[str, Any]:
        return {k: v for k, v in self.config.items() if k not in IGNORED_CONFIG_KEYS}


class _Reading:
    """Typed getters over one run's records that note every value they had to drop."""

    def __init__(self) -> None:
        self._problems: dict[str, None] = {}  # a dict: ordered, and a value read twice once
        self._more = False
        self.invalid: str | None = None
        self.bounds: dict[str, tuple[float, float, bool]] = {}
        """Range of each result key (the eval metric, ``final_<metric>``), and whether an
        impossible value of it invalidates the run."""

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems) + (("more problems not listed",) if self._more else ())

    def note(self, problem: str) -> None:
        if problem in self._problems or len(self._problems) < MAX_PROBLEMS:
            self._problems[problem] = None
        else:
            self._more = True

    def number(
        self, record: dict[str, Any], key: str, where: str, metric: str | None = None
    ) -> float | None:
        """``record[key]`` as a float inside its metric's range, or None (noted) when not."""
        if key not in record or record[key] is None:
            return None
        value = record[key]
        number = _as_float(value)
        if number is None:
            self.note(f"{where}: {key} {_short(value)} is not a finite number")
            return None
        low, high, known = self.bounds.get(key) or (*RANGES[metric or key], False)
        if low <= number <= high:
            return number
        problem = f"{where}: {key} {_short(value)} is outside {low:g}..{high:g}"
        self.note(problem)
        if known and self.invalid is None:
            self.invalid = problem
        return None

    @staticmethod
    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    def name(self, record: dict[str, Any], key: str, where: str) -> str | None:
        """A variant or agent name: shown in tables and used as a key, so only a valid name."""
        value = record.get(key)
        if value is None or is_valid_name(value):
            return value
        self.note(f"{where}: {key} {_short(value)} is not a valid name")
        return None


def _as_float(value: Any) -> float | None:
    """A finite float from a JSON number; None for anything else (bool, str, NaN, 1e400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int with hundreds of digits
        return None
    return number if math.isfinite(number) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _lines(f: BinaryIO) -> Iterator[bytes | None]:
    """Each line of ``f``; None for one longer than :data:`MAX_LINE_BYTES` (skipped unread)."""
    while raw := f.readline(MAX_LINE_BYTES + 1):
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield raw
            continue
        while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def _read_json_lines(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Every parsable object of a JSONL file with its line number, and how many were not."""
    records: list[tuple[int, dict[str, Any]]] = []
    bad = 0
    with path.open("rb") as f:
        for number, raw in enumerate(_lines(f), start=1):
            line = raw.strip() if raw is not None else None
            if line == b"":
                continue
            try:
                value = json.loads(line) if line is not None else None
            except (ValueError, RecursionError):  # torn, not UTF-8, too deep, too many digits
                value = None
            if isinstance(value, dict):
                records.append((number, value))
            else:
                bad += 1
    return records, bad


def _read_meta(run_dir: Path) -> dict[str, Any]:
    try:
        with (run_dir / META_FILE).open("rb") as f:
            value = json.loads(f.read(MAX_META_BYTES))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _open_status(meta: dict[str, Any], newest: Path) -> str:
    """The status of a run with no ``run_end``: still running, or died without a word.

    ``orgtui run`` records the trainer's pid, then its exit code; a run started some other way
    counts as running while ``newest`` (its metrics, or its directory) keeps changing.
    """
    if "exit_code" in meta:
        return "crash"
    pid = meta.get("pid")
    if pid is not None:
        alive = isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31
        return "running" if alive and pid_alive(pid) else "crash"
    try:
        age = time.time() - newest.stat().st_mtime
    except OSError:
        return "crash"
    return "running" if age < STALE_AFTER_S else "crash"


def _base(run_dir: Path, meta: dict[str, Any], reading: _Reading) -> dict[str, Any]:
    """What ``run.json`` alone tells: enough for a run that never wrote a metrics line."""
    where = f"{run_dir / META_FILE}"
    seed = reading.number(meta, "seed", where)
    return {
        "run_id": run_dir.name,
        "variant": reading.name(meta, "variant", where) or "unknown",
        "seed": int(seed) if seed is not None else 0,
        "agent": reading.name(meta, "agent", where),
        "commit": reading.text(meta.get("commit")),
        "dirty": meta.get("dirty") is True,
        "proposal": reading.text(meta.get("proposal")),
        "started": reading.number(meta, "started", where, metric="time") or 0.0,
        "command": _command(meta.get("command")),
        "allocation": _allocation(meta.get("allocation"), reading, where),
    }


def _allocation(value: Any, reading: _Reading, where: str) -> tuple[float, float] | None:
    """``run.json``'s ``allocation`` (``{"gpus", "seconds"}``), or None when absent or bad."""
    if not isinstance(value, dict):
        return None
    gpus = reading.number(value, "gpus", f"{where} allocation")
    seconds = reading.number(value, "seconds", f"{where} allocation")
    return None if gpus is None or seconds is None else (gpus, seconds)


def _command(value: Any) -> tuple[str, ...]:
    """A recorded command: a list of strings (no NUL, which no argv can hold), else empty."""
    if isinstance(value, list) and all(isinstance(a, str) and "\0" not in a for a in value):
        return tuple(value)
    return ()


def _without_metrics(
    run_dir: Path, meta: dict[str, Any], reading: _Reading, shape: dict[str, str]
) -> Run:
    """A run whose command keeps no metrics: its exit code tells how it went."""
    base = _base(run_dir, meta, reading) | shape
    if meta.get("interrupted") is True:
        status = "killed"
    elif "exit_code" in meta:
        status = "ok" if meta["exit_code"] == 0 else "crash"
    else:
        status = _open_status(meta, run_dir)
    wall = reading.number(meta, "wall_s", f"{run_dir / META_FILE}")
    return Run(**base, status=status, wall_s=wall, problems=reading.problems)


def _points(
    records: list[tuple[int, dict[str, Any]]], event: str, value_key: str, reading: _Reading
) -> list[tuple[int, float, float]]:
    """(step, flops, value) of every ``event`` line whose three numbers are all usable."""
    points = []
    for number, record in records:
        if record.get("event") != event:
            continue
        where = f"{METRICS_FILE} line {number}"
        step = reading.number(record, "step", where)
        flops = reading.number(record, "flops", where)
        value = reading.number(record, value_key, where)
        if step is not None and flops is not None and value is not None:
            points.append((int(step), flops, value))
    return points


@dataclass(frozen=True)
class _Clock:
    """Places a metrics line on a seconds cost axis: seconds since the run started (its own
    ``elapsed_s``, else its ``time`` minus run_start's), times the run's GPUs."""

    start: float | None
    gpus: float = 1.0

    def seconds(self, record: dict[str, Any], reading: _Reading, where: str) -> float | None:
        elapsed = reading.number(record, "elapsed_s", where)
        if elapsed is None and self.start is not None:
            now = reading.number(record, "time", where)
            if now is not None and now < self.start:
                reading.note(f"{where}: time {now:g} is before the run started")
            elif now is not None:
                elapsed = now - self.start
        return None if elapsed is None else elapsed * self.gpus


def _evals(
    records: list[tuple[int, dict[str, Any]]], measure: Measure, clock: _Clock, reading: _Reading
) -> list[tuple[int, float, float]]:
    """(step, cost, metric value) of every eval line whose numbers are usable, by cost. With
    FLOPs every eval needs its step (nanochat's schema); on a seconds axis a missing step is
    the eval's position."""
    points = []
    for index, (number, record) in enumerate(r for r in records if r[1].get("event") == "eval"):
        where = f"{METRICS_FILE} line {number}"
        step = reading.number(record, "step", where)
        if measure.cost == "flops":
            cost = reading.number(record, "flops", where)
        else:
            cost = clock.seconds(record, reading, where)
            step = index if step is None else step
        value = reading.number(record, measure.metric, where)
        if step is not None and cost is not None and value is not None:
            points.append((int(step), cost, value))
    return sorted(points, key=lambda p: (p[1], p[0]))


def _largest(
    records: list[tuple[int, dict[str, Any]]], value: Callable[[dict[str, Any], str], float | None]
) -> float | None:
    """The largest ``value(record, where)`` over the train and eval lines that have one."""
    values = [
        value(record, f"{METRICS_FILE} line {number}")
        for number, record in records
        if record.get("event") in ("train", "eval")
    ]
    return max((v for v in values if v is not None), default=None)


def _end(
    end: tuple[int, dict[str, Any]] | None,
    meta: dict[str, Any],
    metrics: Path,
    reading: _Reading,
    final_key: str,
) -> tuple[str, float | None, float | None]:
    """Status, wall time and final value (``final_key``), from ``run_end`` or, without one,
    from ``run.json``."""
    if end is None:
        status = _open_status(meta, metrics)
        wall = None
        if status == "crash":
            wall = reading.number(meta, "wall_s", f"{metrics.parent / META_FILE}")
        return status, wall, None
    number, record = end
    where = f"{METRICS_FILE} line {number}"
    status = record.get("status")
    status = status if status in ("ok", "crash", "killed") else "crash"
    wall = reading.number(record, "wall_s", where)
    return status, wall, reading.number(record, final_key, where)


def _seconds_cost(
    records: list[tuple[int, dict[str, Any]]],
    clock: _Clock,
    wall: float | None,
    reading: _Reading,
) -> float:
    """The largest seconds any line reached, else the run's wall time (on the clock's GPUs)."""
    largest = _largest(records, lambda record, where: clock.seconds(record, reading, where))
    if largest is not None:
        return largest
    return wall * clock.gpus if wall is not None else 0.0


def load_run(run_dir: Path, measure: Measure = DEFAULT) -> Run:
    """The :class:`Run` recorded in ``run_dir``, read for ``measure``'s metric and cost axis;
    never raises for bad content."""
    meta = _read_meta(run_dir)
    metrics = run_dir / METRICS_FILE
    reading = _Reading()
    low, high, known = measure.bounds()
    reading.bounds = {key: (low, high, known) for key in (measure.metric, measure.final_key)}
    shape = {"metric": measure.metric, "cost_unit": measure.cost}
    try:
        records, bad = _read_json_lines(metrics)
    except FileNotFoundError:
        return _without_metrics(run_dir, meta, reading, shape)
    except OSError as error:
        base = _base(run_dir, meta, reading) | shape
        return Run(**base, status="crash", malformed=f"{metrics}: {error.strerror}")
    base = _base(run_dir, meta, reading) | shape
    start = next(((n, r) for n, r in records if r.get("event") == "run_start"), None)
    if start is None:
        if not records and not bad and _open_status(meta, metrics) == "running":
            # an empty file its trainer has just created: not broken, only not written yet
            return Run(**base, status="running", problems=reading.problems)
        reason = f"{metrics}: no run_start line" + (f" ({bad} unreadable lines)" if bad else "")
        return Run(**base, status="crash", malformed=reason, problems=reading.problems)
    line, first = start
    where = f"{METRICS_FILE} line {line}"
    end = next(((n, r) for n, r in records if r.get("event") == "run_end"), None)
    status, wall, final = _end(end, meta, metrics, reading, measure.final_key)
    train = _points(records, "train", "loss", reading)
    started = reading.number(first, "time", where) or base["started"]
    allocation = base["allocation"]
    gpus = allocation[0] if allocation is not None and allocation[0] > 0 else 1.0
    clock = _Clock(started or None, gpus if measure.cost == "gpu_seconds" else 1.0)
    evals = _evals(records, measure, clock, reading)
    seconds = 0.0 if measure.cost == "flops" else _seconds_cost(records, clock, wall, reading)
    seed = reading.number(first, "seed", where)
    config = first.get("config")
    return Run(
        run_id=reading.text(first.get("run_id")) or run_dir.name,
        variant=reading.name(first, "variant", where) or base["variant"],
        seed=int(seed) if seed is not None else base["seed"],
        agent=reading.name(first, "agent", where) or base["agent"],
        commit=reading.text(first.get("commit")) or base["commit"],
        dirty=first.get("dirty") is True or base["dirty"],
        config=config if isinstance(config, dict) else {},
        status=status,
        started=started,
        wall_s=wall,
        tokens=int(_largest(records, lambda r, where: reading.number(r, "tokens", where)) or 0),
        flops=_largest(records, lambda r, where: reading.number(r, "flops", where)) or 0.0,
        train=tuple(train),
        evals=tuple(evals),
        final_value=final,
        proposal=base["proposal"],
        problems=reading.problems,
        invalid=reading.invalid,
        command=base["command"],
        allocation=allocation,
        metric=measure.metric,
        cost_unit=measure.cost,
        seconds=seconds,
    )


def ended(run_dir: Path) -> bool:
    """Whether the trainer wrote its ``run_end`` line."""
    try:
        records, _bad = _read_json_lines(run_dir / METRICS_FILE)
    except OSError:
        return False
    return any(record.get("event") == "run_end" for _, record in records)


def load_runs(paths: OrgPaths, measure: Measure | None = None) -> list[Run]:
    """Every run under ``.org/runs/``, oldest first, read for ``measure`` (by default the
    org's, from org.toml's ``[ledger]``)."""
    try:
        dirs = [d for d in paths.runs_dir.iterdir() if d.is_dir()]
    except FileNotFoundError:
        return []
    measure = measure_of(paths) if measure is None else measure
    runs = (load_run(d, measure) for d in dirs)
    return sorted(runs, key=lambda run: (run.started, run.run_id))
