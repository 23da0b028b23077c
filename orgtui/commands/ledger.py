"""Ledger verbs: ``run``, ``compare``, ``ledger``, ``baseline`` and ``report``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import IO, TYPE_CHECKING, Any

from orgtui.commands import add_parser, org_root

if TYPE_CHECKING:
    from pathlib import Path

    from orgtui.ledger import Report, VariantRow
    from orgtui.ledger.measure import Measure
    from orgtui.paths import OrgPaths
    from orgtui.queue.jobs import Job


def register(subparsers: argparse._SubParsersAction) -> None:
    run = add_parser(
        subparsers,
        "run",
        "run an experiment's seeds so they land in the ledger: orgtui run --variant V -- CMD",
    )
    run.add_argument("--variant", "-v", help="what is being tested (default: $ORGTUI_VARIANT)")
    run.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds to run (default 1)")
    run.add_argument("--seed-start", type=int, default=0, metavar="K", help="first seed (0)")
    run.add_argument(
        "--allow-dirty", action="store_true", help="run with uncommitted changes (flagged)"
    )
    run.add_argument("--proposal", metavar="ID", help="the board message that proposed it")
    run.add_argument("--thread", metavar="NAME", help="board thread of the result (the variant)")
    run.add_argument("--no-post", action="store_true", help="do not post the result")
    run.add_argument(
        "--no-wait",
        action="store_true",
        help="queue the seeds and return their job ids; the supervisor posts the result",
    )
    run.add_argument("--json", action="store_true", help="with --no-wait: the jobs as JSON")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the training command")
    run.set_defaults(func=cmd_run)

    compare = add_parser(
        subparsers, "compare", "compare variant B against A at matched compute ([ledger] cost)"
    )
    compare.add_argument("a", metavar="A", help="reference variant (usually the baseline)")
    compare.add_argument("b", metavar="B", help="candidate variant")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(func=cmd_compare)

    ledger = add_parser(subparsers, "ledger", "table of variants with verdicts vs the baseline")
    ledger.add_argument("--json", action="store_true")
    ledger.set_defaults(func=cmd_ledger)

    baseline = add_parser(subparsers, "baseline", "show or set the baseline variant")
    baseline.add_argument("variant", nargs="?", help="set it (overrides [ledger] baseline)")
    baseline.set_defaults(func=cmd_baseline)

    report = add_parser(
        subparsers,
        "report",
        "the org's progress: best verified gain vs cost",
        epilog="Cost figures: money on model tokens (see `orgtui spend`), the best verified "
        "gain per dollar of it, and what each verified improvement cost. A verified improvement "
        "is a variant whose verdict against the baseline is improvement with no flag that "
        "blocks adoption; it is charged with a share of the spend of the agents whose runs "
        "make it up (each agent's tokens, money and GPU-hours split equally among the verified "
        "improvements it took part in), and its own runs' GPU-hours are shown beside it.",
    )
    report.add_argument("--json", action="store_true")
    report.set_defaults(func=cmd_report)


def _paths(args: argparse.Namespace) -> OrgPaths:
    from orgtui.paths import OrgPaths

    return OrgPaths(org_root(args))


def cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from orgtui.ledger import LedgerError
    from orgtui.ledger.runner import RunPlan
    from orgtui.queue.client import plan_jobs

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    variant = args.variant or os.environ.get("ORGTUI_VARIANT")
    if not variant:
        raise LedgerError("name the variant being tested: orgtui run --variant NAME -- CMD")
    plan = RunPlan(
        command=command,
        variant=variant,
        seeds=args.seeds,
        seed_start=args.seed_start,
        allow_dirty=args.allow_dirty,
        proposal=args.proposal,
        agent=os.environ.get("ORGTUI_AGENT"),
        thread=args.thread,
    )
    paths = _paths(args)
    here = Path.cwd()
    batch = plan_jobs(paths, plan, here, post_result=args.no_wait and not args.no_post)
    return deliver(args, paths, batch, here)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def deliver(args: argparse.Namespace, paths: OrgPaths, batch: list[Job], here: Path | None) -> int:
    """Submit ``batch``; with ``--no-wait`` print the job ids, else wait (or run the jobs here)
    and print the verdict and post the result as ``orgtui run`` always did."""
    from orgtui.ledger.runner import post_jobs_result, verdict_against_baseline
    from orgtui.ledger.verdicts import describe
    from orgtui.queue.client import supervisor_listening, wait_for
    from orgtui.queue.jobs import JobState, submit

    submitted = submit(paths, batch)
    if args.no_wait:
        if args.json:
            print(json.dumps([job.summary() | {"run_id": job.run_id} for job in submitted]))
        else:
            print("\n".join(job.id for job in submitted))
        if not supervisor_listening(paths):
            _say("no supervisor is running: the jobs wait in the queue until it is (`orgtui up`)")
        return 0
    ended = wait_for(paths, submitted, _say, here)
    variant = submitted[0].variant
    comparison = verdict_against_baseline(paths, variant)
    print(describe(comparison) if comparison else f"{variant}: no baseline to compare with")
    ran = [job for job in ended if job.started is not None]
    if not args.no_post and ran:
        message_id = post_jobs_result(paths, ran)
        if message_id:
            print(f"posted result {message_id}", file=sys.stderr)
    return 0 if all(job.state == JobState.DONE for job in ended) else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from orgtui.ledger import Ledger
    from orgtui.ledger.verdicts import describe

    comparison = Ledger.load(_paths(args)).compare(args.a, args.b)
    if args.json:
        print(json.dumps(comparison.to_json(), allow_nan=False))
    else:
        print(describe(comparison))
    return 0


def row_json(row: VariantRow, measure: Measure | None = None) -> dict[str, Any]:
    """A row's generic keys, and the original ``mean_bpb``/``sd_bpb``/``at_flops`` when the
    measure (by default val bpb at matched FLOPs) still gives them."""
    from dataclasses import asdict

    from orgtui.ledger.measure import DEFAULT
    from orgtui.ledger.verdicts import aliases

    measure = measure or DEFAULT

    extra = {"flags": list(row.flags), "agents": list(row.agents)}
    return asdict(row) | aliases(measure, row) | extra


def cmd_ledger(args: argparse.Namespace) -> int:
    from orgtui.ledger import Ledger

    ledger = Ledger.load(_paths(args))
    rows = ledger.table()
    if args.json:
        variants = [row_json(r, ledger.measure) for r in rows]
        data = {"baseline": ledger.baseline} | ledger.measure.to_json()
        print(json.dumps(data | {"variants": variants}, allow_nan=False))
        return 0
    if not rows:
        print(NO_RUNS)
        return 0
    _print_table(ledger.baseline, rows, ledger.compute_unit, measure=ledger.measure)
    return 0


NO_RUNS = "no runs yet: start one with `orgtui run --variant NAME -- CMD`"


def ledger_text(paths: OrgPaths) -> str:
    """The ledger's table as ``orgtui ledger`` prints it into a pipe (the ``ledger`` tool)."""
    import io

    from orgtui.ledger import Ledger

    ledger = Ledger.load(paths)
    rows = ledger.table()
    if not rows:
        return NO_RUNS
    out = io.StringIO()
    _print_table(ledger.baseline, rows, ledger.compute_unit, file=out, measure=ledger.measure)
    return out.getvalue()


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _print_table(
    baseline: str | None,
    rows: list[VariantRow],
    unit: str = "GPU",
    file: IO[str] | None = None,
    measure: Measure | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from orgtui.ledger.measure import DEFAULT
    from orgtui.ledger.verdicts import VERDICT_STYLE

    measure = measure or DEFAULT
    table = Table(title=f"ledger (baseline: {baseline or 'none set'})")
    metric, cost = f"{measure.heading} (mean ± sd)", measure.cost_column
    for column in ("variant", "seeds", metric, f"at {cost}", "tokens", cost):
        table.add_column(column, justify="left" if column == "variant" else "right")
    hours = f"{unit}-h"
    for column in (hours, "wall", "verdict", "flags"):
        table.add_column(column, justify="right" if column in (hours, "wall") else "left")
    for row in rows:
        verdict = "baseline" if row.variant == baseline else (row.verdict or "—")
        colour = VERDICT_STYLE.get(row.verdict or "", "bold" if row.variant == baseline else "")
        table.add_row(  # names and flags as Text: no "[" in them is ever read as markup
            Text(row.variant),
            str(row.n_seeds),
            measure.value_text(row.mean, row.sd),
            _fmt(row.at_cost, ".3g"),
            f"{row.tokens:,}",
            f"{row.cost:.3g}",
            f"{row.gpu_hours:.2f}",
            f"{row.wall_s:.0f}s",
            Text(verdict, style=colour),
            Text(", ".join(row.flags)),
        )
    # Piped (an agent's tool call, a log): wide enough that no number is cut.
    wide = file is None and sys.stdout.isatty()
    Console(file=file, width=None if wide else 160).print(table)


def report_json(report: Report) -> dict[str, Any]:
    """The report's generic keys (``best_gain``: positive is better, in the metric); for val
    bpb also the original ``best_improvement_bpb``, here and per agent."""
    from dataclasses import asdict

    data = asdict(report)
    data.pop("measure")
    bpb = report.measure.metric == "val_bpb"
    per_agent = {
        agent: entry | ({"best_improvement_bpb": entry["best_gain"]} if bpb else {})
        for agent, entry in report.per_agent.items()
    }
    return (
        report.measure.to_json()
        | data
        | ({"best_improvement_bpb": report.best_gain} if bpb else {})
        | {"per_agent": per_agent, "progress": [list(p) for p in report.progress]}
    )


def cmd_report(args: argparse.Namespace) -> int:
    from orgtui.ledger import Ledger

    ledger = Ledger.load(_paths(args))
    report, unit, measure = ledger.report(), ledger.compute_unit, ledger.measure
    from orgtui.spend.report import report_costs, report_lines

    costs = report_costs(_paths(args))
    if args.json:
        print(json.dumps(report_json(report) | costs, allow_nan=False))
        return 0
    best = (
        f"{measure.gain_text(report.best_gain)} ({report.best_variant} over {report.baseline})"
        if report.best_gain is not None
        else "none verified yet"
    )
    print(f"best verified improvement: {best}")
    print(f"spent: {report.gpu_hours:.3f} {unit}-hours, {report.wall_s / 60:.1f} min wall time")
    for agent, entry in sorted(report.per_agent.items()):
        gain = entry["best_gain"]
        won = (
            f", best {entry['best_variant']} {measure.gain_text(gain)}" if gain is not None else ""
        )
        runs = f"{entry['runs']} run" + ("" if entry["runs"] == 1 else "s")
        print(f"  {agent}: {runs}, {entry['gpu_hours']:.3f} {unit}-h{won}")
    for line in report_lines(costs, unit):
        print(line)
    if report.progress and sys.stdout.isatty():
        _plot(report, unit)
    return 0


def _plot(report: Report, unit: str) -> None:
    import plotext as plt

    plt.clear_figure()
    plt.plot([p[0] for p in report.progress], [p[2] for p in report.progress], marker="braille")
    plt.title(f"best verified improvement ({report.measure.label}) vs {unit}-hours")
    plt.xlabel(f"{unit}-hours")
    plt.plotsize(min(100, plt.terminal_width() or 80), 15)
    plt.show()


def cmd_baseline(args: argparse.Namespace) -> int:
    from orgtui.ledger import Ledger, store_baseline

    paths = _paths(args)
    if args.variant:
        store_baseline(paths, args.variant)
        print(f"baseline: {args.variant}")
        return 0
    ledger = Ledger.load(paths)
    print(ledger.baseline or "no baseline set: `orgtui baseline VARIANT`")
    return 0 if ledger.baseline else 1
