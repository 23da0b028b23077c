"""The score for a person: a rich table and a plotext plot of verified gain against cost."""

from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text

from orgtui.tasks import Task
from orgtui.trial.budget import Budget
from orgtui.trial.score import OrgScore

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def score_table(task: Task, budget: Budget, orgs: list[OrgScore], unit: str = "GPU") -> Table:
    table = Table(
        title=Text(f"task {task.name}, budget {budget.text}: verified gain in {task.metric}"),
        caption="means over n repeats; gain and false claims from the held-out rerun",
    )
    for column in (
        "org",
        "n",
        "gain",
        f"{unit}-h",
        "wall",
        "tokens",
        "$",
        f"gain/{unit}-h",
        "1st gain",
        "claims",
        "false",
        "wasted h",
    ):
        table.add_column(column, justify="left" if column == "org" else "right")
    for org in orgs:
        tokens, money = org.cost.get("tokens"), org.cost.get("money")
        first = org.time_to_first_verified_s
        table.add_row(
            Text(org.name),
            str(org.repeats),
            f"{org.verified_gain:.4g}",
            f"{org.cost['gpu_hours'] or 0.0:.4f}",
            f"{org.cost['wall_s'] or 0.0:.0f}s",
            "-" if tokens is None else f"{tokens:,.0f}",
            "-" if money is None else f"${money:,.2f}",
            _num(org.gain_per_gpu_hour),
            "-" if first is None else f"{first:.0f}s",
            f"{org.claims:g}",
            f"{org.false_claims:g}",
            f"{org.wasted_gpu_hours:.4f}",
        )
    return table


def score_plot(task: Task, orgs: list[OrgScore], unit: str = "GPU", width: int = 70) -> str:
    """Verified gain against GPU-hours, one point per org design, as text."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, 15)
    plt.theme("clear")
    xs = [org.cost["gpu_hours"] or 0.0 for org in orgs]
    ys = [org.verified_gain for org in orgs]
    for org, x, y in zip(orgs, xs, ys, strict=True):
        plt.scatter([x], [y], label=org.name, marker="o")
    plt.xlim(0.0, max(xs, default=0.0) * 1.25 or 1.0)
    plt.ylim(0.0, max(ys, default=0.0) * 1.4 or 1.0)
    plt.xlabel(f"{unit}-hours")
    plt.ylabel(f"verified gain ({task.metric})")
    plt.title("verified gain against cost")
    return _ANSI.sub("", str(plt.build()))
