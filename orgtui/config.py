"""``org.toml`` -> typed, validated dataclasses.

The file is the org's source code, written by hand, so every error says which file, which
key path (``agent[2].backend``), what was found, what is allowed, and a "did you mean" when
a typo is the likely cause. Unknown keys are errors too: a misspelt ``share_gpu`` silently
ignored would pin two agents to one GPU. Every number has a range (:data:`DURATIONS`,
:data:`WHOLE_NUMBERS`): ``tick = inf`` or ``backoff_initial = nan`` passing ``orgtui check``
would only break the supervisor later, far from the line that caused it.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgtui.errors import OrgtuiError
from orgtui.names import MAX_NAME_LENGTH, RESERVED_AGENT_NAMES, WALL_PREFIX, is_valid_name
from orgtui.paths import CONFIG_NAME, OrgPaths
from orgtui.spend.amounts import MAX_HOURS, MAX_MONEY, MAX_TOKENS
from orgtui.spend.prices import DEFAULT_PRICES, MAX_MODEL_NAME, Price, price_problem

BACKENDS = ("claude", "codex", "builtin", "scripted", "shell", "command")
LAYOUTS = ("windows", "grid")
ENGINES = ("local", "slurm")
"""Where queued jobs run: ``local`` worker processes, or ``slurm`` jobs through ``sbatch``."""
PROVIDERS = ("anthropic", "openai")
DEFAULT_BACKEND = "claude"
DEFAULT_ROLE = "researcher"
BUNDLED_ROLES_DIR = Path(__file__).resolve().parent.parent / "roles"
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
DURATIONS: dict[str, tuple[float, float]] = {
    "process.standup.every": (1.0, 30 * DAY),
    "gpu.sample_every": (0.1, HOUR),
    "gpu.history": (1.0, 7 * DAY),
    "supervisor.tick": (0.05, MINUTE),
    "supervisor.backoff_initial": (0.05, HOUR),
    "supervisor.backoff_max": (0.05, DAY),
    "supervisor.restart_window": (1.0, 7 * DAY),
}
"""Seconds each duration setting may take, by key path: finite, positive, and sane."""
WHOLE_NUMBERS: dict[str, tuple[int, int]] = {
    "org.grid_max": (1, 64),
    "agent.gpu": (0, 1023),
    "supervisor.restart_limit": (1, 100),
    "compute.slots": (1, 1024),
    "compute.slurm.gpus": (0, 64),
    "compute.slurm.cpus": (1, 1024),
    "compute.slurm.max_jobs": (1, 10_000),
    "discipline.min_seeds": (1, 64),
    "discipline.matched_seeds": (1, 64),
    "budget.tokens": (1, MAX_TOKENS),
}
"""The whole-number settings' ranges (an agent's ``gpu`` for every ``agent[N]``)."""
BUDGET_ACTIONS = ("suspend", "park")
"""What the supervisor does to an agent whose budget is spent."""
MAX_GPU_SAMPLES = 1_000_000
"""``gpu.history / gpu.sample_every`` at most: the sample ring lives in memory."""


class ConfigError(OrgtuiError):
    """An ``org.toml`` that cannot be used; the message names file, key and fix."""

    def __init__(self, file: Path | str, key: str | None, problem: str) -> None:
        self.file = Path(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else f"{self.file}"
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class OrgSection:
    """``[org]``: who this org is and what it works on."""

    name: str
    program: str
    task: str
    layout: str = "windows"
    grid_max: int = 8

    @property
    def program_branch(self) -> str:
        return f"prog/{self.program}"

    @property
    def session_name(self) -> str:
        return f"orgtui-{self.name}"


@dataclass(frozen=True)
class AgentSpec:
    """One ``[[agent]]`` seat; ``gpu`` is already resolved (explicit or auto)."""

    name: str
    role: str
    backend: str
    gpu: int | None = None
    share_gpu: bool = False
    command: str | None = None
    playbook: str | None = None
    model: str | None = None
    provider: str | None = None
    skip_permissions: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def branch(self, program: str) -> str:
        return f"feat/{program}/{self.name}"


@dataclass(frozen=True)
class StandupSpec:
    """``[process.standup]``: either every N seconds or daily at a wall-clock time."""

    every_s: float | None = None
    at: str | None = None


@dataclass(frozen=True)
class ReviewSpec:
    """``[process.review]``: experiments are pre-registered with ``orgtui propose``."""

    required: bool = False


@dataclass(frozen=True)
class WorktreeSpec:
    """``[worktree]``: files copied into, and a command run in, every new worktree."""

    copy: tuple[str, ...] = ()
    setup: str | None = None


@dataclass(frozen=True)
class LedgerSpec:
    """``[ledger]``: the baseline variant, the significance level of verdicts, and what is
    measured: the eval metric, which way is better and the compute axis (the task's)."""

    baseline: str | None = None
    alpha: float = 0.05
    metric: str = "val_bpb"
    direction: str = "min"
    cost: str = "flops"


METRIC_DIRECTIONS = ("min", "max")
"""``[ledger] direction``: ``min`` when lower is better (bpb, loss), ``max`` (accuracy)."""
COST_UNITS = ("flops", "gpu_seconds", "wall_seconds")
"""``[ledger] cost``: the compute axis variants are matched on."""
METRIC_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
RESERVED_METRICS = frozenset(
    {"event", "step", "tokens", "flops", "time", "elapsed_s", "seed", "wall_s", "status"}
)
"""Keys of an eval line that are not a metric: the ledger reads them as step and compute."""


@dataclass(frozen=True)
class GpuSpec:
    """``[gpu]``: where telemetry comes from and how often it is sampled."""

    source: str = "auto"
    sample_every_s: float = 1.0
    history_s: float = 3600.0


@dataclass(frozen=True)
class SupervisorSpec:
    """``[supervisor]``: liveness tick, restart backoff and failure limit, nudges."""

    tick_s: float = 1.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    restart_limit: int = 5
    restart_window_s: float = 600.0
    nudge: bool = True


@dataclass(frozen=True)
class SlurmSpec:
    """``[compute.slurm]``: how each queued job is submitted with ``sbatch``."""

    partition: str | None = None
    """None: the cluster's default partition."""
    account: str | None = None
    time: str | None = None
    """The job's time limit in Slurm's format (``90``, ``2:00:00``, ``1-12:00:00``)."""
    gpus: int = 1
    """GPUs per job (``--gres=gpu:N``); 0 submits CPU jobs."""
    cpus: int | None = None
    """``--cpus-per-task``; None leaves it to the cluster."""
    extra: tuple[str, ...] = ()
    """More ``sbatch`` options, each one argument (``--qos=high``)."""
    requeue: bool = False
    """Resubmit a preempted job once."""
    max_jobs: int = 64
    """How many of the org's jobs may be submitted at once; Slurm queues the rest itself."""


@dataclass(frozen=True)
class ComputeSpec:
    """``[compute]``: where queued experiment jobs run."""

    engine: str = "local"
    slots: int = 1
    """CPU slots on a machine without GPUs: how many jobs run at once."""
    slurm: SlurmSpec = field(default_factory=SlurmSpec)


@dataclass(frozen=True)
class DisciplineSpec:
    """``[discipline]``: the controls the ledger schedules by itself, and their limits."""

    auto: bool = True
    min_seeds: int = 3
    matched_seeds: int | None = None
    """Seeds of a matched-compute control run; None means ``min_seeds``."""
    max_auto_gpu_hours: float = 1.0
    """GPU-hours (CPU-hours without GPUs) the ledger may spend on its own controls."""
    idle_minutes: float = 10.0
    """A GPU idle this long while the queue is empty is reported to the chief."""
    baseline_command: str | None = None
    """How to run a missing baseline; default: the command of the baseline's latest run."""

    @property
    def seeds_when_matching(self) -> int:
        return self.matched_seeds or self.min_seeds


@dataclass(frozen=True)
class BudgetLimits:
    """Limits on spend, each None when not set: money, tokens (all kinds), GPU-hours."""

    money: float | None = None
    tokens: int | None = None
    gpu_hours: float | None = None
    """CPU-hours on a machine without GPUs, as the ledger counts them."""

    def set(self) -> dict[str, float]:
        """The limits that are set, by unit."""
        units = ("money", "tokens", "gpu_hours")
        return {unit: getattr(self, unit) for unit in units if getattr(self, unit) is not None}


@dataclass(frozen=True)
class BudgetSpec:
    """``[budget]``: the org's limits, each agent's own, and what is done at 100%."""

    org: BudgetLimits = field(default_factory=BudgetLimits)
    agents: Mapping[str, BudgetLimits] = field(default_factory=dict)
    action: str = "suspend"

    @property
    def active(self) -> bool:
        return bool(self.org.set()) or any(limits.set() for limits in self.agents.values())


@dataclass(frozen=True)
class OrgConfig:
    """A whole validated ``org.toml``."""

    file: Path
    org: OrgSection
    default_backend: str
    gpus: str
    agents: tuple[AgentSpec, ...]
    standup: StandupSpec | None = None
    review: ReviewSpec = field(default_factory=ReviewSpec)
    worktree: WorktreeSpec = field(default_factory=WorktreeSpec)
    ledger: LedgerSpec = field(default_factory=LedgerSpec)
    gpu: GpuSpec = field(default_factory=GpuSpec)
    supervisor: SupervisorSpec = field(default_factory=SupervisorSpec)
    compute: ComputeSpec = field(default_factory=ComputeSpec)
    discipline: DisciplineSpec = field(default_factory=DisciplineSpec)
    keys: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    prices: Mapping[str, Price] = field(default_factory=dict)
    """``[prices]``: org.toml's prices only (``spend.prices.price_table`` adds the shipped)."""
    budget: BudgetSpec = field(default_factory=BudgetSpec)

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def paths(self) -> OrgPaths:
        return OrgPaths(self.root)

    def agent(self, name: str) -> AgentSpec:
        for spec in self.agents:
            if spec.name == name:
                return spec
        raise ConfigError(
            self.file, None, f"no agent named {name!r}{_suggest(name, self.agent_names)}"
        )

    @property
    def agent_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.agents)


# --------------------------------------------------------------------------- parsing helpers


def _suggest(value: object, allowed: Iterable[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _short(value: object) -> str:
    """``repr`` cut to a readable length: a value can be a 4000-digit number or a huge table."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _seconds(value: float) -> str:
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """``"24h"``, ``"30m"``, ``"90s"``, ``"500ms"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return float(value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            if seconds > 0:
                return seconds
    raise ValueError('expected a duration such as "90s", "30m", "24h" or a number of seconds')


class _Reader:
    """Reads one table with typed getters that raise ``ConfigError`` naming the key path."""

    def __init__(self, file: Path, table: Mapping[str, Any], path: str) -> None:
        self.file = file
        self.table = table
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def only(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for name in self.table:
            if name not in allowed:
                raise self.fail(
                    name,
                    f"unknown key; allowed here: {', '.join(allowed)}{_suggest(name, allowed)}",
                )

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        if name not in self.table:
            if required:
                raise self.fail(name, "missing; this key is required")
            return default
        value = self.table[name]
        if not isinstance(value, str):
            raise self.fail(name, f"found {_short(value)}; expected a string in quotes")
        return value

    def name(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.str(name, default, required=required)
        if value is not None and not is_valid_name(value):
            raise self.fail(
                name,
                f"found {_short(value)}; names use lowercase letters, digits, '-' and '_', start "
                f"with a letter or digit, at most {MAX_NAME_LENGTH} characters",
            )
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.str(name, default)
        assert value is not None
        if value not in allowed:
            raise self.fail(
                name,
                f"found {_short(value)}; allowed: {', '.join(allowed)}{_suggest(value, allowed)}",
            )
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"found {_short(value)}; expected true or false")
        return value

    def int(self, name: str, default: int | None, *, limits: str) -> int | None:
        """A whole number inside ``WHOLE_NUMBERS[limits]``."""
        if name not in self.table:
            return default
        value = self.table[name]
        low, high = WHOLE_NUMBERS[limits]
        allowed = f"expected a whole number >= {low} and <= {high}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"found {_short(value)}; {allowed}")
        if not low <= value <= high:
            raise self.fail(name, f"found {_short(value)}; {allowed}")
        return value

    def float(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"found {_short(value)}; expected a number")
        if not low < value < high:  # NaN fails every comparison, so it lands here too
            raise self.fail(
                name, f"found {_short(value)}; expected a number between {low} and {high}"
            )
        return float(value)

    def duration(self, name: str, default: float | None) -> float | None:
        """A duration inside ``DURATIONS`` of this key path."""
        if name not in self.table:
            return default
        raw = self.table[name]
        low, high = DURATIONS[self.key(name)]
        allowed = f"expected a duration from {_seconds(low)} to {_seconds(high)}"
        try:
            seconds = parse_duration(raw)
        except ValueError as error:
            raise self.fail(name, f"found {_short(raw)}; {error}; {allowed}") from None
        if not (math.isfinite(seconds) and low <= seconds <= high):
            raise self.fail(name, f"found {_short(raw)}; {allowed}")
        return seconds

    def str_list(self, name: str) -> tuple[str, ...]:
        value = self.table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(name, f"found {_short(value)}; expected a list of strings")
        return tuple(value)

    def str_table(self, name: str) -> dict[str, str]:
        value = self.table.get(name, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.fail(name, f"found {_short(value)}; expected a table of strings")
        return dict(value)

    def table_of(self, name: str) -> _Reader:
        value = self.table.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, f"found {_short(value)}; expected a table [{self.key(name)}]")
        return _Reader(self.file, value, self.key(name))


# --------------------------------------------------------------------------- loading


def load_config(root_or_file: Path | str) -> OrgConfig:
    """Read and validate ``org.toml`` (given its directory or the file itself)."""
    path = Path(root_or_file)
    file = path / CONFIG_NAME if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, None, "not found; run `orgtui init` to write one") from None
    except UnicodeDecodeError as error:
        raise ConfigError(file, None, f"not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ConfigError(file, None, f"cannot be read ({error.strerror})") from None
    return parse_config(text, file)


_TOML_LINE_RE = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_config(text: str, file: Path | str = CONFIG_NAME) -> OrgConfig:
    """Validate TOML text as an org; ``file`` is used in messages and to find ``roles/``."""
    file = Path(file).resolve() if Path(file).is_absolute() else Path(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_LINE_RE.search(message)
        detail = _TOML_LINE_RE.sub("", message).strip()
        if match:
            raise ConfigError(
                file,
                f"line {match.group(1)}",
                f"TOML syntax error: {detail} (column {match.group(2)})",
            ) from None
        raise ConfigError(file, None, f"TOML syntax error: {detail}") from None
    except (ValueError, RecursionError) as error:  # a 5000-digit number, 3000 nested [ ]
        raise ConfigError(file, None, f"TOML that cannot be read: {error}") from None
    return _build(data, file)


_TOP_KEYS = (
    "org",
    "defaults",
    "agent",
    "process",
    "worktree",
    "ledger",
    "gpu",
    "supervisor",
    "compute",
    "discipline",
    "keys",
    "prices",
    "budget",
)
_AGENT_KEYS = (
    "name",
    "role",
    "backend",
    "gpu",
    "share_gpu",
    "command",
    "playbook",
    "model",
    "provider",
    "skip_permissions",
    "env",
)
_DEFAULT_KEYS = ("backend", "gpus", "role", "model", "provider", "skip_permissions")


def _build(data: Mapping[str, Any], file: Path) -> OrgConfig:
    top = _Reader(file, data, "")
    top.only(_TOP_KEYS)
    if "org" not in data:
        raise ConfigError(file, "org", "missing; add an [org] table with name, program and task")

    org_table = top.table_of("org")
    org_table.only(("name", "program", "task", "layout", "grid_max"))
    name = org_table.name("name", required=True)
    org = OrgSection(
        name=name or "",
        program=org_table.name("program", name) or "",
        task=org_table.str("task", required=True) or "",
        layout=org_table.choice("layout", LAYOUTS, "windows"),
        grid_max=org_table.int("grid_max", 8, limits="org.grid_max") or 8,
    )
    if not org.task.strip():
        raise org_table.fail("task", "is empty; say what the org should achieve")

    defaults = top.table_of("defaults")
    defaults.only(_DEFAULT_KEYS)
    default_backend = defaults.choice("backend", BACKENDS, DEFAULT_BACKEND)
    default_role = defaults.name("role", DEFAULT_ROLE) or DEFAULT_ROLE
    gpus = defaults.str("gpus", "auto") or "auto"
    if gpus not in ("auto", "none"):
        raise defaults.fail("gpus", f"found {gpus!r}; allowed: auto, none")
    default_provider = defaults.str("provider")
    if default_provider is not None and default_provider not in PROVIDERS:
        raise defaults.fail(
            "provider",
            f"found {default_provider!r}; allowed: {', '.join(PROVIDERS)}"
            f"{_suggest(default_provider, PROVIDERS)}",
        )

    agents = _build_agents(file, data.get("agent", []), default_backend, default_role, defaults)
    agents = _assign_gpus(file, agents, gpus)

    process = top.table_of("process")
    process.only(("standup", "review"))
    standup = None
    if "standup" in process.table:
        table = process.table_of("standup")
        table.only(("every", "at"))
        every = table.duration("every", None)
        at = table.str("at")
        if at is not None and not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", at):
            raise table.fail("at", f'found {at!r}; expected a 24-hour time such as "09:00"')
        if (every is None) == (at is None):
            raise ConfigError(
                file, "process.standup", 'give exactly one of every = "24h" or at = "09:00"'
            )
        standup = StandupSpec(every_s=every, at=at)
    review_table = process.table_of("review")
    review_table.only(("required",))
    review = ReviewSpec(required=review_table.bool("required", False))

    worktree_table = top.table_of("worktree")
    worktree_table.only(("copy", "setup"))
    copies = worktree_table.str_list("copy")
    for index, item in enumerate(copies):
        if item.startswith("/") or ".." in Path(item).parts:
            raise ConfigError(
                file,
                f"worktree.copy[{index}]",
                f"found {item!r}; use a path relative to the research repo, without '..'",
            )
    worktree = WorktreeSpec(copy=copies, setup=worktree_table.str("setup"))

    ledger = _ledger_section(top.table_of("ledger"))

    gpu = _gpu_section(top.table_of("gpu"))
    supervisor = _supervisor_section(top.table_of("supervisor"))
    compute = _compute_section(top.table_of("compute"))
    discipline = _discipline_section(top.table_of("discipline"))
    keys = top.str_table("keys")
    prices = _prices_section(top.table_of("prices"))

    config = OrgConfig(
        file=file,
        org=org,
        default_backend=default_backend,
        gpus=gpus,
        agents=tuple(agents),
        standup=standup,
        review=review,
        worktree=worktree,
        ledger=ledger,
        gpu=gpu,
        supervisor=supervisor,
        compute=compute,
        discipline=discipline,
        keys=keys,
        defaults=dict(defaults.table),
        prices=prices,
        budget=_budget_section(top.table_of("budget"), agents, prices),
    )
    _check_roles(config)
    return config


def _ledger_section(table: _Reader) -> LedgerSpec:
    table.only(("baseline", "alpha", "metric", "direction", "cost"))
    metric = table.str("metric", "val_bpb") or ""
    if not METRIC_RE.fullmatch(metric) or metric in RESERVED_METRICS:
        raise table.fail(
            "metric",
            f"found {_short(metric)}; expected the eval key the trainer writes, such as "
            '"val_bpb" or "val_acc" (lowercase letters, digits and _, starting with a letter; '
            f"not one of {', '.join(sorted(RESERVED_METRICS))})",
        )
    return LedgerSpec(
        baseline=table.name("baseline"),
        alpha=table.float("alpha", 0.05, low=0.0, high=0.5),
        metric=metric,
        direction=table.choice("direction", METRIC_DIRECTIONS, "min"),
        cost=table.choice("cost", COST_UNITS, "flops"),
    )


def _gpu_section(table: _Reader) -> GpuSpec:
    table.only(("source", "sample_every", "history"))
    source = table.str("source", "auto") or "auto"
    if source not in ("auto", "nvml", "none") and not source.startswith("replay:"):
        raise table.fail(
            "source",
            f"found {_short(source)}; allowed: auto, nvml, none, replay:PATH"
            f"{_suggest(source, ('auto', 'nvml', 'none'))}",
        )
    gpu = GpuSpec(
        source=source,
        sample_every_s=table.duration("sample_every", 1.0) or 1.0,
        history_s=table.duration("history", 3600.0) or 3600.0,
    )
    if gpu.history_s / gpu.sample_every_s > MAX_GPU_SAMPLES:
        raise table.fail(
            "history",
            f"found {_seconds(gpu.history_s)} at one sample every "
            f"{_seconds(gpu.sample_every_s)}: more than {MAX_GPU_SAMPLES:,} samples to keep; "
            "shorten history or sample less often",
        )
    return gpu


def _compute_section(table: _Reader) -> ComputeSpec:
    table.only(("engine", "slots", "slurm"))
    return ComputeSpec(
        engine=table.choice("engine", ENGINES, "local"),
        slots=table.int("slots", 1, limits="compute.slots") or 1,
        slurm=_slurm_section(table.table_of("slurm")),
    )


_SLURM_WORD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,:-]{0,127}")
_SLURM_TIME_RE = re.compile(r"(\d{1,4}-)?\d{1,6}(:\d{1,2}){0,2}")
_SBATCH_OWN = ("--wrap", "--parsable", "--output", "-o", "--job-name", "-J", "--chdir", "-D")
"""Options the engine sets itself: one in ``extra`` would break how jobs are followed."""


def _slurm_section(table: _Reader) -> SlurmSpec:
    table.only(("partition", "account", "time", "gpus", "cpus", "extra", "requeue", "max_jobs"))
    words = {name: table.str(name) for name in ("partition", "account")}
    for name, value in words.items():
        if value is not None and not _SLURM_WORD_RE.fullmatch(value):
            raise table.fail(
                name, f'found {_short(value)}; expected a Slurm {name} name such as "gpu"'
            )
    time_limit = table.str("time")
    if time_limit is not None and not _SLURM_TIME_RE.fullmatch(time_limit):
        raise table.fail(
            "time",
            f'found {_short(time_limit)}; expected Slurm\'s time format: minutes ("90"), '
            '"H:MM:SS" or "D-HH:MM:SS"',
        )
    extra = table.str_list("extra")
    for option in extra:
        own = option.split("=", 1)[0]
        if not option.startswith("-") or "\n" in option or "\0" in option:
            raise table.fail(
                "extra",
                f'found {_short(option)}; each item is one sbatch option, e.g. "--qos=high"',
            )
        if own in _SBATCH_OWN:
            raise table.fail(
                "extra", f"found {_short(option)}; orgtui sets {own} itself: remove it"
            )
    return SlurmSpec(
        partition=words["partition"],
        account=words["account"],
        time=time_limit,
        gpus=table.int("gpus", 1, limits="compute.slurm.gpus") or 0,
        cpus=table.int("cpus", None, limits="compute.slurm.cpus"),
        extra=extra,
        requeue=table.bool("requeue", False),
        max_jobs=table.int("max_jobs", 64, limits="compute.slurm.max_jobs") or 64,
    )


def _discipline_section(table: _Reader) -> DisciplineSpec:
    table.only(
        (
            "auto",
            "min_seeds",
            "matched_seeds",
            "max_auto_gpu_hours",
            "idle_minutes",
            "baseline_command",
        )
    )
    command = table.str("baseline_command")
    if command is not None and not command.strip():
        raise table.fail(
            "baseline_command", 'is empty; e.g. "python -m nanochat.train --preset tiny"'
        )
    return DisciplineSpec(
        auto=table.bool("auto", True),
        min_seeds=table.int("min_seeds", 3, limits="discipline.min_seeds") or 3,
        matched_seeds=table.int("matched_seeds", None, limits="discipline.matched_seeds"),
        max_auto_gpu_hours=table.float("max_auto_gpu_hours", 1.0, low=-1e-9, high=1e6),
        idle_minutes=table.float("idle_minutes", 10.0, low=0.0, high=7 * DAY / MINUTE),
        baseline_command=command,
    )


def _quoted_table(table: _Reader, name: str) -> _Reader:
    """The table under a quoted key (``prices."gpt-5.1"``): its dots are part of the name."""
    path = f'{table.path}."{name}"'
    value = table.table[name]
    if not isinstance(value, dict):
        raise ConfigError(table.file, path, f"found {_short(value)}; expected a table [{path}]")
    return _Reader(table.file, value, path)


_PRICE_KINDS = ("input", "output", "cache_write", "cache_read")
_MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


def _prices_section(table: _Reader) -> dict[str, Price]:
    """``[prices."MODEL"]``: money per million tokens; a shipped model may set only some kinds."""
    prices: dict[str, Price] = {}
    for model in table.table:
        if len(model) > MAX_MODEL_NAME or not _MODEL_NAME_RE.fullmatch(model):
            raise table.fail(
                model,
                f"found the model name {_short(model)}; expected a model's name as its API "
                'spells it, such as [prices."claude-sonnet-4-5"]',
            )
        entry = _quoted_table(table, model)
        entry.only(_PRICE_KINDS)
        shipped = DEFAULT_PRICES.get(model)
        values: dict[str, float] = {}
        for kind in _PRICE_KINDS:
            if kind not in entry.table:
                if shipped is None:
                    raise entry.fail(
                        kind,
                        f"missing; a model without a shipped price needs all of "
                        f"{', '.join(_PRICE_KINDS)} (money per million tokens; 0 if free)",
                    )
                values[kind] = getattr(shipped, kind)
                continue
            raw = entry.table[kind]
            problem = price_problem(raw)
            if problem:
                raise entry.fail(kind, f"found {_short(raw)}; {problem}")
            values[kind] = float(raw)
        prices[model] = Price(**values)
    return prices


def _budget_limits(table: _Reader) -> BudgetLimits:
    def amount(name: str, high: float) -> float | None:
        if name not in table.table:
            return None
        value = table.table[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise table.fail(name, f"found {_short(value)}; expected a number")
        if not 0 < value <= high:  # NaN fails every comparison, so it lands here too
            raise table.fail(
                name, f"found {_short(value)}; expected a number above 0 and at most {high:g}"
            )
        return float(value)

    return BudgetLimits(
        money=amount("money", MAX_MONEY),
        tokens=table.int("tokens", None, limits="budget.tokens"),
        gpu_hours=amount("gpu_hours", MAX_HOURS),
    )


def _budget_section(
    table: _Reader, agents: list[AgentSpec], prices: Mapping[str, Price]
) -> BudgetSpec:
    """``[budget]`` for the org and ``[budget.agent."NAME"]`` for one agent."""
    names = [spec.name for spec in agents]
    models = {*DEFAULT_PRICES, *prices, *(spec.model for spec in agents if spec.model)}
    allowed = ("money", "tokens", "gpu_hours", "action", "agent")
    for key in table.table:
        if key not in allowed and (key in names or key in models):
            what = (
                f'an agent: write its budget as [budget.agent."{key}"]'
                if key in names
                else 'a model: budgets are per agent ([budget.agent."AGENT"]) or for the org'
            )
            raise table.fail(key, f"{key!r} is {what}")
    table.only(allowed)
    each = table.table_of("agent")
    limits: dict[str, BudgetLimits] = {}
    for name in each.table:
        if name not in names:
            hint = (
                f"{name!r} is a model, not an agent: budgets are per agent or for the whole org"
                if name in models
                else f"no agent named {name!r} in this org"
            )
            raise ConfigError(
                table.file,
                f'budget.agent."{name}"',
                f"{hint}; agents: {', '.join(names) or 'none'}{_suggest(name, names)}",
            )
        agent_table = _quoted_table(each, name)
        agent_table.only(("money", "tokens", "gpu_hours"))
        limits[name] = _budget_limits(agent_table)
    return BudgetSpec(
        org=_budget_limits(table),
        agents=limits,
        action=table.choice("action", BUDGET_ACTIONS, "suspend"),
    )


def _supervisor_section(table: _Reader) -> SupervisorSpec:
    table.only(
        ("tick", "backoff_initial", "backoff_max", "restart_limit", "restart_window", "nudge")
    )
    spec = SupervisorSpec(
        tick_s=table.duration("tick", 1.0) or 1.0,
        backoff_initial_s=table.duration("backoff_initial", 1.0) or 1.0,
        backoff_max_s=table.duration("backoff_max", 60.0) or 60.0,
        restart_limit=table.int("restart_limit", 5, limits="supervisor.restart_limit") or 5,
        restart_window_s=table.duration("restart_window", 600.0) or 600.0,
        nudge=table.bool("nudge", True),
    )
    if spec.backoff_max_s < spec.backoff_initial_s:
        raise table.fail(
            "backoff_max",
            f"found {_seconds(spec.backoff_max_s)}, shorter than backoff_initial "
            f"({_seconds(spec.backoff_initial_s)}); expected backoff_max >= backoff_initial",
        )
    return spec


def _build_agents(
    file: Path,
    raw: object,
    default_backend: str,
    default_role: str,
    defaults: _Reader,
) -> list[AgentSpec]:
    if not isinstance(raw, list):
        raise ConfigError(file, "agent", "expected [[agent]] tables (double brackets)")
    agents: list[AgentSpec] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(raw):
        if not isinstance(table, dict):
            raise ConfigError(file, f"agent[{index}]", "expected a table")
        reader = _Reader(file, table, f"agent[{index}]")
        reader.only(_AGENT_KEYS)
        name = reader.name("name", required=True) or ""
        if name in seen:
            raise reader.fail("name", f"duplicate agent name {name!r} (also agent[{seen[name]}])")
        if name in RESERVED_AGENT_NAMES:
            raise reader.fail(
                "name", f"{name!r} is reserved ({RESERVED_AGENT_NAMES[name]}); choose another"
            )
        if name.startswith(WALL_PREFIX):
            raise reader.fail(
                "name", f"{name!r}: names starting {WALL_PREFIX!r} are orgtui's grid windows"
            )
        seen[name] = index
        backend = reader.choice("backend", BACKENDS, default_backend)
        command = reader.str("command")
        if backend == "command" and not command:
            raise reader.fail("command", 'missing; backend "command" needs command = "..."')
        provider = reader.str("provider", defaults.str("provider"))
        if provider is not None and provider not in PROVIDERS:
            raise reader.fail(
                "provider",
                f"found {provider!r}; allowed: {', '.join(PROVIDERS)}{_suggest(provider, PROVIDERS)}",
            )
        env = reader.str_table("env")
        for key in env:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ConfigError(file, f"agent[{index}].env.{key}", "not a valid variable name")
        agents.append(
            AgentSpec(
                name=name,
                role=reader.name("role", default_role) or default_role,
                backend=backend,
                gpu=reader.int("gpu", None, limits="agent.gpu"),
                share_gpu=reader.bool("share_gpu", False),
                command=command,
                playbook=reader.str("playbook"),
                model=reader.str("model", defaults.str("model")),
                provider=provider,
                skip_permissions=reader.bool(
                    "skip_permissions", defaults.bool("skip_permissions", False)
                ),
                env=env,
            )
        )
    return agents


def _assign_gpus(file: Path, agents: list[AgentSpec], gpus: str) -> list[AgentSpec]:
    """Explicit ``gpu = N`` wins; ``gpus = "auto"`` gives the rest the next free index.

    Two agents on one GPU is an error unless both say ``share_gpu = true``. Whether the
    machine has that many GPUs is checked later by ``orgtui.gpu.assignment`` (``check``, ``up``).
    """
    owners: dict[int, int] = {}
    for index, spec in enumerate(agents):
        if spec.gpu is None:
            continue
        if spec.gpu in owners:
            other = agents[owners[spec.gpu]]
            if not (spec.share_gpu and other.share_gpu):
                raise ConfigError(
                    file,
                    f"agent[{index}].gpu",
                    f"GPU {spec.gpu} is already given to {other.name!r}; give each agent its "
                    "own GPU, or set share_gpu = true on both",
                )
        owners.setdefault(spec.gpu, index)
    if gpus == "none":
        return agents
    resolved: list[AgentSpec] = []
    next_free = 0
    for spec in agents:
        if spec.gpu is None:
            while next_free in owners:
                next_free += 1
            owners[next_free] = -1
            spec = _replace(spec, gpu=next_free)
        resolved.append(spec)
    return resolved


def _replace(spec: AgentSpec, **changes: Any) -> AgentSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def role_file(root: Path, role: str) -> Path | None:
    """The prompt file of ``role``: the org's own ``roles/`` first, then orgtui's bundled one."""
    for directory in (root / "roles", BUNDLED_ROLES_DIR):
        candidate = directory / f"{role}.md"
        if candidate.is_file():
            return candidate
    return None


def _check_roles(config: OrgConfig) -> None:
    for index, spec in enumerate(config.agents):
        if role_file(config.root, spec.role) is None:
            known = sorted(
                {
                    p.stem
                    for d in (config.root / "roles", BUNDLED_ROLES_DIR)
                    if d.is_dir()
                    for p in d.glob("*.md")
                }
                - {"protocol"}
            )
            raise ConfigError(
                config.file,
                f"agent[{index}].role",
                f"found {spec.role!r} but there is no roles/{spec.role}.md; known roles: "
                f"{', '.join(known) or 'none'}{_suggest(spec.role, known)}",
            )
