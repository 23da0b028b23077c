"""``orgtui run``: the agents' one way to run an experiment, so every run lands in the ledger.

Each seed is a job in the queue (:mod:`orgtui.queue`) with a run id and a directory under
``.org/runs/``; :func:`run_job` runs one, whether a queue worker does it or ``orgtui run`` itself.
The trainer learns both from ``ORGTUI_RUN_ID`` / ``ORGTUI_RUN_DIR`` (with ``ORGTUI_VARIANT``,
``ORGTUI_SEED`` and, for a matched-compute control, ``ORGTUI_MAX_FLOPS``, or on a seconds cost
axis ``ORGTUI_MAX_COST`` in ``ORGTUI_COST_UNIT``). The runner records
what the trainer cannot know (the command, the exact code, the proposal, its own exit code)
in ``run.json``, streams the output (secrets redacted) to ``output.log`` (and the terminal),
and when all seeds are done the verdict is posted to the board.

Ctrl-C stops the whole run, not just the seed at hand: the trainer gets SIGINT (and its
process tree SIGKILL after a grace period), the run is closed with a ``run_end`` of status
``killed``, and no further seed starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from orgtui.atomic import (
    NotRegularFile,
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    read_regular,
)
from orgtui.errors import OrgtuiError
from orgtui.ledger.runs import MAX_META_BYTES, META_FILE, METRICS_FILE, ended
from orgtui.ledger.verdicts import Comparison, Ledger, LedgerError, describe
from orgtui.names import check_name
from orgtui.paths import OrgPaths
from orgtui.procs import end_tree, identity
from orgtui.queue.jobs import Job, JobKind, JobState, cancel_requested, load_job, transition
from orgtui.redact import command_secrets, redact, redact_command

OUTPUT_FILE = "output.log"
MAX_PENDING_BYTES = 1 << 16
"""Output with no line end for this long is passed on unsplit: keys are far shorter."""
MAX_SEEDS = 64
"""More seeds than this in one call is a typo (``--seeds 1000``), not an experiment."""
MAX_SEED = 2**32 - 1
"""The largest seed every trainer accepts (numpy's limit)."""
OWN_EXIT_S = 1.0
"""After Ctrl-C, how long the trainer may take to stop on the terminal's own SIGINT."""
STOP_GRACE_S = 10.0
"""Then how long it has after ours before its process tree is killed."""
CLOCK_SLACK_S = 5.0
"""How far a process's start time and a recorded start may disagree (clock ticks)."""
CANCEL_POLL_S = 0.5
"""How often a running seed looks whether its job was asked to cancel."""


@dataclass(frozen=True)
class RunPlan:
    """What ``orgtui run`` was asked to do."""

    command: Sequence[str]
    variant: str
    seeds: int = 1
    seed_start: int = 0
    allow_dirty: bool = False
    proposal: str | None = None
    agent: str | None = None
    thread: str | None = None
    """The board thread its result goes to (default: the variant's name)."""


@dataclass(frozen=True)
class SeedResult:
    """How one seed ended."""

    run_id: str
    exit_code: int
    cancelled: bool = False
    """Stopped on a cancel request (``orgtui cancel``); the run was closed as killed."""


def new_run_id(variant: str, seed: int) -> str:
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    return f"{variant}-s{seed}-{stamp}-{secrets.token_hex(2)}"


def _stream(
    process: subprocess.Popen[bytes],
    log_path: os.PathLike[str],
    hidden: Sequence[str],
    echo: bool,
) -> None:
    """Copy the child's output, redacted, to its log (and our stdout with ``echo``), a line at
    a time.

    Output is cut only at line ends (``\n`` or a progress bar's ``\r``) so a key is never split
    across two chunks where redaction could not see it whole.
    """
    assert process.stdout is not None
    pending = b""
    with open(log_path, "ab") as log:
        while chunk := process.stdout.read1(65536):  # type: ignore[attr-defined]
            pending += chunk
            cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
            if cut == 0 and len(pending) >= MAX_PENDING_BYTES:
                cut = len(pending)  # no line end in sight: pass it on anyway
            if cut:
                _emit(pending[:cut], log, hidden, echo)
                pending = pending[cut:]
        if pending:
            _emit(pending, log, hidden, echo)


def _emit(data: bytes, log: BinaryIO, hidden: Sequence[str], echo: bool) -> None:
    text, _count = redact(data.decode("utf-8", "surrogateescape"), secrets=hidden)
    clean = text.encode("utf-8", "surrogateescape")
    log.write(clean)
    log.flush()
    if echo:
        sys.stdout.buffer.write(clean)
        sys.stdout.buffer.flush()


def check_plan(plan: RunPlan) -> None:
    """Refuse a plan that could not be meant: no command, a bad variant, absurd seeds.

    Raises:
        LedgerError: what is wrong, and what is allowed.
    """
    check_name(plan.variant, "variant")
    if not plan.command:
        raise LedgerError(
            "nothing to run: give the command after `--`, e.g. "
            "`orgtui run --variant v1 -- python -m nanochat.train --preset tiny`"
        )
    if not 1 <= plan.seeds <= MAX_SEEDS:
        raise LedgerError(f"--seeds must be at least 1 and at most {MAX_SEEDS}, not {plan.seeds}")
    if not 0 <= plan.seed_start <= MAX_SEED - plan.seeds + 1:
        raise LedgerError(
            f"--seed-start must be between 0 and {MAX_SEED - plan.seeds + 1}, not {plan.seed_start}"
        )


def trainer_env(paths: OrgPaths, job: Job, run_dir: Path) -> dict[str, str]:
    """The environment the trainer runs in: ours plus what the trainer contract promises."""
    env = os.environ | {
        "ORGTUI_RUN_ID": job.run_id,
        "ORGTUI_RUN_DIR": str(run_dir),
        "ORGTUI_VARIANT": job.variant,
        "ORGTUI_SEED": str(job.seed),
        "ORGTUI_ROOT": str(paths.root),
    }
    for key, value in (
        ("ORGTUI_AGENT", job.agent),
        ("ORGTUI_MAX_FLOPS", job.max_flops),
        ("ORGTUI_MAX_COST", job.max_cost),
        ("ORGTUI_COST_UNIT", job.cost_unit if job.max_cost is not None else None),
    ):
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value if isinstance(value, str) else f"{value:.17g}"
    return env


def run_meta(job: Job) -> dict[str, Any]:
    """``run.json`` as the run starts: who asked, what ran, and the exact code it ran."""
    meta = {
        "run_id": job.run_id,
        "variant": job.variant,
        "seed": job.seed,
        # the ledger's own controls are its runs, not a person's, in the report's per-agent cost
        "agent": job.agent or ("ledger" if job.kind == JobKind.CONTROL else None),
        "command": redact_command(job.command),
        "branch": job.branch,
        "commit": job.commit,
        "dirty": job.dirty,
        "snapshot_ref": job.snapshot_ref,
        "workdir": job.workdir,
        "job": job.id,
        "kind": str(job.kind),
        "slot": job.slot,
        "proposal": job.proposal,
        "started": time.time(),
        "host": socket.gethostname(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),  # which GPUs it had
    }
    if job.max_flops is not None:
        meta["max_flops"] = job.max_flops
    if job.max_cost is not None:
        meta["max_cost"], meta["cost_unit"] = job.max_cost, job.cost_unit
    return meta


class _CancelWatch(threading.Thread):
    """Stops the trainer when the job is asked to cancel (``orgtui cancel``), from any process."""

    def __init__(self, paths: OrgPaths, job: Job, process: subprocess.Popen[bytes]) -> None:
        super().__init__(name=f"cancel-watch-{job.id}", daemon=True)
        self.paths, self.job_id, self.process = paths, job.id, process
        self.done = threading.Event()
        self.fired = False

    def run(self) -> None:
        while not self.done.wait(CANCEL_POLL_S):
            current = load_job(self.paths.job_file(self.job_id))
            if isinstance(current, Job) and cancel_requested(current):
                self.fired = True
                self.stop_trainer()
                return

    def stop_trainer(self) -> None:
        process = self.process
        end_tree(process.pid, lambda: process.send_signal(signal.SIGINT), STOP_GRACE_S)

    def finish(self) -> None:
        self.done.set()
        self.join()


def run_job(paths: OrgPaths, job: Job, cwd: Path, *, echo: bool = True) -> SeedResult:
    """Run the job's seed in ``cwd`` and record the run; the job's own state is the caller's.

    Raises:
        LedgerError: the command cannot be started (the run is recorded with exit code 127).
        KeyboardInterrupt: after a stop has ended the trainer and closed its run as killed.
    """
    run_dir = paths.run_dir(job.run_id)
    run_dir.mkdir(parents=True)
    hidden = command_secrets(job.command)
    meta = run_meta(job)
    try:
        process = subprocess.Popen(
            list(job.command),
            cwd=cwd,
            env=trainer_env(paths, job, run_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as error:
        atomic_write_json(run_dir / META_FILE, meta | {"exit_code": 127, "wall_s": 0.0})
        raise LedgerError(f"cannot start {job.command[0]!r}: {error.strerror}") from None
    watch = _CancelWatch(paths, job, process)
    try:
        atomic_write_json(run_dir / META_FILE, meta | {"pid": process.pid})
        watch.start()
        _stream(process, run_dir / OUTPUT_FILE, hidden, echo)
        code = process.wait()
    except KeyboardInterrupt:
        watch.finish()
        code = _stop(process)
        _close_killed(run_dir, meta, code, hidden)
        raise
    watch.finish()
    if watch.fired:
        _close_killed(run_dir, meta, code, hidden)
        return SeedResult(job.run_id, code, cancelled=True)
    _scrub_metrics(run_dir, hidden)
    atomic_write_json(
        run_dir / META_FILE, meta | {"exit_code": code, "wall_s": time.time() - meta["started"]}
    )
    return SeedResult(job.run_id, code)


def end_job(
    paths: OrgPaths, job: Job, code: int | None, *, cancelled: bool = False, reason: str = ""
) -> Job | None:
    """Record how a running job ended: exit 0 is done, a cancel cancelled, the rest failed.

    Its command is stored redacted from then on: a key passed as an argument lives in the
    queue only while the job needs it. Returns the job as written, or None when it was no
    longer running (someone else ended it).
    """
    changes: dict[str, Any] = {
        "ended": time.time(),
        "exit_code": code,
        "command": tuple(redact_command(job.command)),
    }
    if cancelled:
        changes["state"] = JobState.CANCELLED
    elif code == 0:
        changes["state"] = JobState.DONE
    else:
        changes["state"] = JobState.FAILED
        reason = reason or f"exit code {code}"
    if reason:
        changes["reason"] = reason
    return transition(paths, job.id, (JobState.RUNNING,), **changes)


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C: let the trainer stop on the terminal's SIGINT, else send ours, else kill its tree.

    A trainer that writes ``run_end`` on SIGINT (nanochat does) gets the time to; a second
    Ctrl-C cuts the grace short.
    """
    try:
        try:
            return process.wait(timeout=OWN_EXIT_S)
        except subprocess.TimeoutExpired:
            end_tree(process.pid, lambda: process.send_signal(signal.SIGINT), STOP_GRACE_S)
    except KeyboardInterrupt:
        end_tree(process.pid, process.kill, 1.0)
    if process.stdout is not None:
        process.stdout.close()
    return process.wait()


def _close_killed(
    run_dir: Path,
    meta: dict[str, Any],
    code: int | None,
    hidden: Sequence[str],
    status: str = "killed",
    reason: str | None = None,
) -> None:
    """Record an interrupted run as ``killed`` (or ``status``, and why), whether or not its
    trainer managed to."""
    wall = time.time() - meta["started"]
    metrics = run_dir / METRICS_FILE
    if metrics.is_file() and not ended(run_dir):
        with metrics.open("rb") as f:
            f.seek(max(0, metrics.stat().st_size - 1))
            torn = f.read(1) not in (b"", b"\n")  # a half-written last line stays on its own
        end = {"event": "run_end", "status": status, "wall_s": wall, "final_val_bpb": None}
        if reason:
            end["reason"] = reason
        append_line(metrics, ("\n" if torn else "") + json.dumps(end))
    _scrub_metrics(run_dir, hidden)
    closed = meta | {"exit_code": code, "wall_s": wall, "interrupted": True}
    atomic_write_json(run_dir / META_FILE, closed | ({"end_reason": reason} if reason else {}))


def close_abandoned(
    paths: OrgPaths, job: Job, status: str = "killed", reason: str | None = None
) -> None:
    """Close the run of a job whose runner died without recording its end (a worker killed
    with SIGKILL, a cluster node that failed): stop its trainer if it still runs here, and
    record the run as ``status`` (killed, or a crash) with the reason when one is known."""
    run_dir = paths.run_dir(job.run_id)
    try:
        meta = json.loads(read_regular(run_dir / META_FILE, MAX_META_BYTES))
    except (OSError, NotRegularFile, ValueError, RecursionError):
        return
    if not isinstance(meta, dict) or "exit_code" in meta:
        return
    started = meta.get("started")
    if (
        isinstance(started, bool)
        or not isinstance(started, int | float)
        or not math.isfinite(started)
    ):
        meta["started"] = started = time.time()
    pid = meta.get("pid")
    here = meta.get("host") in (None, socket.gethostname())  # a cluster node's pid is not ours
    facts = identity(pid) if here else None
    if facts is not None and facts[0] >= started - CLOCK_SLACK_S:  # the trainer, not a reuse
        end_tree(pid, lambda: _interrupt(pid), STOP_GRACE_S)
    _close_killed(run_dir, meta, None, command_secrets(job.command), status, reason)


def record_allocation(paths: OrgPaths, job: Job, slurm_job: str, gpus: int, seconds: float) -> None:
    """Add the run's cluster allocation to ``run.json``: the ledger bills GPUs x elapsed."""
    meta_file = paths.run_dir(job.run_id) / META_FILE
    try:
        meta = json.loads(read_regular(meta_file, MAX_META_BYTES))
    except (OSError, NotRegularFile, ValueError, RecursionError):
        return
    if isinstance(meta, dict):
        allocation = {"slurm_job": slurm_job, "gpus": gpus, "seconds": max(0.0, seconds)}
        atomic_write_json(meta_file, meta | {"allocation": allocation})


def _interrupt(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)


def _scrub_metrics(run_dir: Path, hidden: Sequence[str]) -> None:
    """Redact the trainer's own record of its command line (``run_start``) once it is done."""
    metrics = run_dir / METRICS_FILE
    try:
        text = metrics.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return
    clean, count = redact(text, secrets=hidden)
    if count:
        atomic_write_bytes(metrics, clean.encode("utf-8", "surrogateescape"))


def verdict_against_baseline(paths: OrgPaths, variant: str) -> Comparison | None:
    """The ledger's view of ``variant`` after its runs, or None without a baseline to face."""
    ledger = Ledger.load(paths)
    if not ledger.baseline or ledger.baseline == variant or ledger.baseline not in ledger.variants:
        return None
    return ledger.compare(ledger.baseline, variant)


def post_jobs_result(paths: OrgPaths, batch: Sequence[Job]) -> str | None:
    """:func:`post_result` for the jobs of one batch (``orgtui run --no-wait``'s seeds)."""
    if not batch:
        return None
    first = batch[0]
    plan = RunPlan(
        command=first.command,
        variant=first.variant,
        seeds=len(batch),
        proposal=first.proposal,
        agent=first.agent,
        thread=first.thread,
    )
    return post_result(paths, plan, [job.run_id for job in batch])


def post_result(paths: OrgPaths, plan: RunPlan, run_ids: list[str]) -> str | None:
    """Post a ``result`` message for the runs to the chief (or all) on the plan's thread (the
    variant's by default); returns its id."""
    from orgtui import board
    from orgtui.config import load_config

    try:
        config = load_config(paths.root)
    except OrgtuiError:  # no readable org.toml: nobody to post to
        return None
    from orgtui.process import chiefs as chiefs_of

    chiefs = [name for name in chiefs_of(config) if name != plan.agent]
    comparison = verdict_against_baseline(paths, plan.variant)
    body = describe(comparison) if comparison else "no baseline to compare with yet"
    subject = f"{plan.variant}: " + (comparison.verdict if comparison else "runs done")
    body = f"{len(run_ids)} run(s) of {plan.variant}: {', '.join(run_ids)}\n\n{body}"
    message = board.post(
        paths,
        sender=plan.agent or "human",
        to=chiefs or ["all"],
        subject=subject,
        body=body,
        kind="result",
        thread=plan.thread or plan.variant,
        refs=run_ids,
        known_agents=[a.name for a in config.agents],
    )
    return message.id
