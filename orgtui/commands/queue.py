"""Queue verbs: ``queue`` (list the jobs), ``cancel`` and ``rerun``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from orgtui.commands import add_parser, org_root

if TYPE_CHECKING:
    from orgtui.paths import OrgPaths
    from orgtui.queue.jobs import Job, MalformedJob

SHOW_ENDED_FOR_S = 3600.0
"""``orgtui queue`` hides jobs that ended longer ago than this, unless ``--all``."""


def register(subparsers: argparse._SubParsersAction) -> None:
    queue = add_parser(subparsers, "queue", "list the experiment jobs: queued, running, ended")
    queue.add_argument("--json", action="store_true")
    queue.add_argument(
        "--all", action="store_true", help="also jobs that ended more than an hour ago"
    )
    queue.set_defaults(func=cmd_queue)

    cancel = add_parser(subparsers, "cancel", "cancel queued or running jobs")
    cancel.add_argument("jobs", nargs="+", metavar="JOB", help="job id (a unique prefix will do)")
    cancel.set_defaults(func=cmd_cancel)

    rerun = add_parser(subparsers, "rerun", "run a recorded run again from its exact code")
    rerun.add_argument("run_id", metavar="RUN_ID", help="the run (its directory in .org/runs)")
    rerun.add_argument("--seed", type=int, metavar="N", help="default: the run's own seed")
    rerun.add_argument("--variant", "-v", metavar="V", help="default: <its variant>-rerun")
    rerun.add_argument("--no-wait", action="store_true", help="queue it and return its job id")
    rerun.add_argument("--json", action="store_true", help="with --no-wait: the job as JSON")
    rerun.add_argument("--no-post", action="store_true", help="do not post the result")
    rerun.set_defaults(func=cmd_rerun)


def _entries(args: argparse.Namespace) -> list[Job | MalformedJob]:
    from orgtui.paths import OrgPaths
    from orgtui.queue.jobs import Job, read_queue

    now = time.time()
    entries = read_queue(OrgPaths(org_root(args)))
    if args.all:
        return entries
    return [
        entry
        for entry in entries
        if not isinstance(entry, Job)
        or not entry.state.finished
        or now - (entry.ended or entry.created) < SHOW_ENDED_FOR_S
    ]


def cmd_queue(args: argparse.Namespace) -> int:
    from orgtui.queue.jobs import Job

    entries = _entries(args)
    cluster = _slurm_states(entries)
    if args.json:
        listed: list[dict[str, Any]] = [
            entry.summary() | ({"slurm": cluster[entry.id]} if entry.id in cluster else {})
            if isinstance(entry, Job)
            else {"id": entry.id, "state": "malformed", "problem": entry.problem}
            for entry in entries
        ]
        print(json.dumps(listed, allow_nan=False))
        return 0
    if not entries:
        print("no jobs: `orgtui run --variant NAME -- CMD` queues one per seed")
        return 0
    _print_table(entries, cluster)
    return 0


def _slurm_states(entries: list[Job | MalformedJob]) -> dict[str, dict[str, str]]:
    """What Slurm says now of the jobs submitted to it, by job id; empty when none is (or
    Slurm does not answer: then a warning says so, and the listing goes on)."""
    from orgtui.queue.jobs import Job

    if not any(isinstance(e, Job) and on_slurm(e) and e.engine_id for e in entries):
        return {}
    from orgtui.queue.slurm import SlurmError, own_jobs

    try:
        known = own_jobs()
    except SlurmError as error:
        print(f"orgtui: Slurm unreachable: {error}", file=sys.stderr)
        return {}
    return {
        entry.id: {"id": entry.engine_id, "state": found.state, "reason": found.reason}
        for entry in entries
        if isinstance(entry, Job)
        and on_slurm(entry)
        and entry.engine_id
        and (found := known.get(entry.engine_id)) is not None
    }


def on_slurm(job: Job) -> bool:
    """Whether the job was submitted to Slurm (its slot is one of the Slurm engine's)."""
    return (job.slot or "").startswith("slurm")


def _age(job: Job, now: float) -> str:
    """Queued: how long it has waited; running: for how long; ended: how long it took."""
    if job.started is None:
        seconds = (job.ended or now) - job.created
    else:
        seconds = (job.ended or now) - job.started
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


STATE_STYLE = {
    "queued": "",
    "running": "bold cyan",
    "done": "green",
    "failed": "red",
    "cancelled": "dim",
    "malformed": "bold red",
}


def _cluster_text(state: dict[str, str] | None) -> str:
    if state is None:
        return ""
    reason = state["reason"]
    return f" {state['state']}" + (f" ({reason})" if reason and reason != "None" else "")


def _print_table(
    entries: list[Job | MalformedJob], cluster: dict[str, dict[str, str]] | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from orgtui.queue.jobs import Job

    now = time.time()
    table = Table(title="queue")
    for column in ("job", "variant", "seed", "agent", "state", "slot", "prio", "engine id", "age"):
        table.add_column(column, justify="right" if column in ("seed", "prio", "age") else "left")
    for entry in entries:
        if not isinstance(entry, Job):
            problem = Text(entry.problem, style="red")
            name = Text(entry.id.encode("unicode_escape").decode("ascii"))  # a file name: no ESC
            row = [name, problem, "", "", Text("malformed", style="bold red")]
            table.add_row(*row, "", "", "", "")
            continue
        state = str(entry.state)
        table.add_row(  # as Text: no "[" in a name is ever read as markup
            Text(entry.id),
            Text(entry.variant),
            str(entry.seed),
            Text(entry.agent or "—"),
            Text(state, style=STATE_STYLE.get(state, "")),
            Text(entry.slot or "—"),
            str(entry.priority),
            Text((entry.engine_id or "—") + _cluster_text((cluster or {}).get(entry.id))),
            _age(entry, now),
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def cmd_cancel(args: argparse.Namespace) -> int:
    from orgtui.paths import OrgPaths
    from orgtui.queue.jobs import JobState, QueueError, cancel

    paths = OrgPaths(org_root(args))
    code = 0
    for job_id in args.jobs:
        try:
            job = cancel(paths, job_id, "cancelled by `orgtui cancel`")
        except QueueError as error:
            print(f"orgtui: {error}", file=sys.stderr)
            code = 1
            continue
        if job.state == JobState.CANCELLED:
            print(f"{job.id}: cancelled")
        elif on_slurm(job) and job.engine_id:
            code = max(code, _scancel(job))
        else:
            print(f"{job.id}: running on {job.slot or '?'}; it stops and ends cancelled")
    return code


def _scancel(job: Job) -> int:
    """A job on Slurm is cancelled there: Slurm signals its worker, which ends it cancelled."""
    from orgtui.queue.slurm import SlurmError, scancel

    assert job.engine_id is not None
    try:
        scancel(job.engine_id)
    except SlurmError as error:
        print(
            f"orgtui: {job.id}: {error}; it is marked cancelled and its worker stops its run "
            "when it next looks",
            file=sys.stderr,
        )
        return 1
    print(f"{job.id}: scancel {job.engine_id}; it stops and ends cancelled")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from orgtui.commands.ledger import deliver
    from orgtui.paths import OrgPaths
    from orgtui.queue.client import rerun_job

    paths = OrgPaths(org_root(args))
    job = rerun_job(
        paths,
        args.run_id,
        seed=args.seed,
        variant=args.variant,
        agent=os.environ.get("ORGTUI_AGENT"),
        post_result=args.no_wait and not args.no_post,
    )
    code = deliver(args, paths, [job], None)
    if not args.no_wait:
        _compare_with_original(paths, args.run_id, job.run_id)
    return code


def _compare_with_original(paths: OrgPaths, original: str, rerun: str) -> None:
    """The two final values of the task's metric side by side: the point of a rerun."""
    from orgtui.ledger.measure import measure_of
    from orgtui.ledger.runs import load_run

    measure = measure_of(paths)
    key = measure.final_key
    old = load_run(paths.run_dir(original), measure).final_value
    new = load_run(paths.run_dir(rerun), measure).final_value
    if old is None or new is None:
        print(f"rerun {rerun}: {key} {new} (original {original}: {old})")
        return
    same = "identical" if new == old else f"differs by {new - old:+.6g}"
    print(f"rerun {rerun}: {key} {new:.6f} vs {old:.6f} of {original}: {same}")
