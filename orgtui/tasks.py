"""Task files (``tasks/NAME.toml``): what a trial optimises, which way, and what it costs.

A task is the fixed half of an org trial: the research repo an org starts from (``source``,
a directory copied into a fresh git repo), the command that trains and evaluates one seed,
the metric it writes and which way is better, the compute axis the ledger matches on, the
baseline variant, and how many fresh seeds the held-out rerun uses. docs/trials.md has the
format; every error names the file, the key and the fix.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgtui.errors import OrgtuiError
from orgtui.names import is_valid_name

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
DIRECTIONS = ("min", "max")
COSTS = ("flops", "gpu_seconds", "wall_seconds")
KEYS = ("name", "description", "source", "metric", "direction", "cost", "command")
KEYS += ("baseline", "seeds")
MAX_SEEDS = 64


class TaskError(OrgtuiError):
    """A task that cannot be found or used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Task:
    """One task file, checked: every field as the trial uses it."""

    file: Path
    name: str
    description: str
    source: Path
    """The directory copied into each trial's fresh research repo (resolved)."""
    metric: str
    direction: str
    cost: str
    command: tuple[str, ...]
    baseline: str = "baseline"
    seeds: int = 3

    def better(self, a: float, b: float) -> float:
        """How much ``b`` beats ``a`` in the task's direction (negative: worse)."""
        return a - b if self.direction == "min" else b - a


def task_file(name_or_path: str | Path) -> Path:
    """``NAME`` -> ``tasks/NAME.toml``; anything with a ``/`` or ending ``.toml`` is a path."""
    text = str(name_or_path)
    if "/" in text or text.endswith(".toml"):
        return Path(text).expanduser().resolve()
    if not is_valid_name(text):
        raise TaskError(f"--task {text!r}: not a task name ({_known()}) nor a path to a .toml")
    return TASKS_DIR / f"{text}.toml"


def _known() -> str:
    names = sorted(p.stem for p in TASKS_DIR.glob("*.toml")) if TASKS_DIR.is_dir() else []
    return "tasks: " + (", ".join(names) if names else f"none in {TASKS_DIR}")


def load_task(name_or_path: str | Path) -> Task:
    """The task named (``tasks/NAME.toml``) or at a path, checked.

    Raises:
        TaskError: no such file, not TOML, a key missing, of the wrong type or out of range.
    """
    file = task_file(name_or_path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"{file}: no such task file ({_known()})") from None
    except OSError as error:
        raise TaskError(f"{file}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TaskError(f"{file}: not valid TOML ({error})") from None
    table = data.get("task")
    if not isinstance(table, dict):
        raise TaskError(f"{file}: no [task] table; a task file starts with [task] (docs/trials.md)")
    return _parse(file, table)


def _parse(file: Path, table: dict[str, Any]) -> Task:
    def fail(key: str, problem: str) -> TaskError:
        return TaskError(f"{file}: task.{key}: {problem}")

    for key in table:
        if key not in KEYS:
            raise fail(key, f"unknown key; allowed: {', '.join(KEYS)}")

    def text(key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if value is None:
            raise fail(key, f'missing; add {key} = "..." (docs/trials.md)')
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"found {value!r:.60}; expected a non-empty string in quotes")
        return value

    name, metric, baseline = text("name"), text("metric"), text("baseline", "baseline")
    for key, value in (("name", name), ("metric", metric), ("baseline", baseline)):
        if not is_valid_name(value):
            raise fail(key, f"{value!r:.60} is not a name: use [a-z0-9][a-z0-9_-]*")
    direction, cost = text("direction"), text("cost")
    if direction not in DIRECTIONS:
        raise fail("direction", f"found {direction!r:.60}; allowed: {', '.join(DIRECTIONS)}")
    if cost not in COSTS:
        raise fail("cost", f"found {cost!r:.60}; allowed: {', '.join(COSTS)}")
    command, seeds = _command(table, fail), _seeds(table, fail)
    return Task(
        file=file,
        name=name,
        description=_description(table, fail),
        source=_source(file, text("source"), fail),
        metric=metric,
        direction=direction,
        cost=cost,
        command=command,
        baseline=baseline,
        seeds=seeds,
    )


def _command(table: dict[str, Any], fail: Any) -> tuple[str, ...]:
    command = table.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(a, str) and a for a in command)
    ):
        raise fail(
            "command", f'found {command!r:.60}; expected a list of strings: ["python", "-m", ...]'
        )
    return tuple(command)


def _seeds(table: dict[str, Any], fail: Any) -> int:
    seeds = table.get("seeds", 3)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 2 <= seeds <= MAX_SEEDS:
        raise fail("seeds", f"found {seeds!r:.60}; expected a whole number in 2..{MAX_SEEDS}")
    return seeds


def _description(table: dict[str, Any], fail: Any) -> str:
    value = table.get("description", "")
    if not isinstance(value, str):
        raise fail("description", f"found {value!r:.60}; expected a string in quotes")
    return value


def _source(file: Path, value: str, fail: Any) -> Path:
    """``source`` is relative to the repo holding ``tasks/`` (the task file's folder's parent)."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else file.parent.parent / path
    if not path.is_dir():
        raise fail("source", f"{path} is not a directory: name a folder next to tasks/")
    return path.resolve()
