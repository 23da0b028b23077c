"""``orgtui run``: the agents' one way to run an experiment, so every run lands in the ledger.

Each seed gets a run id and a directory under ``.org/runs/``; the trainer learns both from
``ORGTUI_RUN_ID`` / ``ORGTUI_RUN_DIR`` (with ``ORGTUI_VARIANT`` and ``ORGTUI_SEED``). The
runner records what the trainer cannot know — the command, the proposal, its own exit code —
in ``run.json``, streams the output (secrets redacted) to the terminal and to ``output.log``,
and when all seeds are done posts the ledger's verdict to the board.

Ctrl-C stops the whole run, not just the seed at hand: the trainer gets SIGINT (and its
process tree SIGKILL after a grace period), the run is closed with a ``run_end`` of status
``killed``, and no further seed starts.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from orgtui.atomic import append_line, atomic_write_bytes, atomic_write_json
from orgtui.errors import OrgtuiError
from orgtui.ledger.runs import META_FILE, METRICS_FILE, ended
from orgtui.ledger.verdicts import Comparison, Ledger, LedgerError
from orgtui.names import check_name
from orgtui.paths import OrgPaths
from orgtui.procs import end_tree
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


def new_run_id(variant: str, seed: int) -> str:
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    return f"{variant}-s{seed}-{stamp}-{secrets.token_hex(2)}"


def _stream(
    process: subprocess.Popen[bytes], log_path: os.PathLike[str], hidden: Sequence[str]
) -> None:
    """Copy the child's output, redacted, to our stdout and to its log, a line at a time.

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
                _emit(pending[:cut], log, hidden)
                pending = pending[cut:]
        if pending:
            _emit(pending, log, hidden)


def _emit(data: bytes, log: BinaryIO, hidden: Sequence[str]) -> None:
    text, _count = redact(data.decode("utf-8", "surrogateescape"), secrets=hidden)
    clean = text.encode("utf-8", "surrogateescape")
    log.write(clean)
    log.flush()
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


def run_seeds(
    paths: OrgPaths, plan: RunPlan, say: Callable[[str], object] = print
) -> dict[str, int]:
    """Run every seed of ``plan`` one after another; returns each run id's exit code.

    Raises:
        LedgerError: bad plan (:func:`check_plan`), or a dirty tree without ``allow_dirty``.
        KeyboardInterrupt: after Ctrl-C has stopped the seed at hand and closed its run.
    """
    from orgtui.supervisor.worktrees import tree_state

    check_plan(plan)
    branch, commit, dirty = tree_state(os.getcwd())
    if dirty and not plan.allow_dirty:
        raise LedgerError(
            "the work tree has uncommitted changes, so the run could not be repeated from its "
            "commit: commit them first, or pass --allow-dirty (the run is then flagged dirty_tree)"
        )
    tree = {"branch": branch, "commit": commit, "dirty": dirty}
    codes: dict[str, int] = {}
    for seed in range(plan.seed_start, plan.seed_start + plan.seeds):
        run_id, code = _run_seed(paths, plan, seed, tree, say)
        codes[run_id] = code
        if code != 0:
            say(f"run {run_id} exited with code {code}")
    return codes


def _run_seed(
    paths: OrgPaths, plan: RunPlan, seed: int, tree: dict[str, Any], say: Callable[[str], object]
) -> tuple[str, int]:
    run_id = new_run_id(plan.variant, seed)
    run_dir = paths.run_dir(run_id)
    run_dir.mkdir(parents=True)
    hidden = command_secrets(plan.command)
    meta = {
        "run_id": run_id,
        "variant": plan.variant,
        "seed": seed,
        "agent": plan.agent,
        "command": redact_command(plan.command),
        **tree,
        "proposal": plan.proposal,
        "started": time.time(),
    }
    env = os.environ | {
        "ORGTUI_RUN_ID": run_id,
        "ORGTUI_RUN_DIR": str(run_dir),
        "ORGTUI_VARIANT": plan.variant,
        "ORGTUI_SEED": str(seed),
        "ORGTUI_ROOT": str(paths.root),
    }
    say(
        f"[{seed - plan.seed_start + 1}/{plan.seeds}] run {run_id} "
        f"(variant {plan.variant}, seed {seed})"
    )
    try:
        process = subprocess.Popen(
            list(plan.command), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError as error:
        atomic_write_json(run_dir / META_FILE, meta | {"exit_code": 127, "wall_s": 0.0})
        raise LedgerError(f"cannot start {plan.command[0]!r}: {error.strerror}") from None
    try:
        atomic_write_json(run_dir / META_FILE, meta | {"pid": process.pid})
        _stream(process, run_dir / OUTPUT_FILE, hidden)
        code = process.wait()
    except KeyboardInterrupt:
        code = _stop(process)
        _close_killed(run_dir, meta, code, hidden)
        left = plan.seed_start + plan.seeds - 1 - seed
        say(f"interrupted: run {run_id} killed" + (f", {left} seed(s) not run" if left else ""))
        raise
    _scrub_metrics(run_dir, hidden)
    atomic_write_json(
        run_dir / META_FILE, meta | {"exit_code": code, "wall_s": time.time() - meta["started"]}
    )
    return run_id, code


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


def _close_killed(run_dir: Path, meta: dict[str, Any], code: int, hidden: Sequence[str]) -> None:
    """Record an interrupted run as ``killed``, whether or not its trainer managed to."""
    wall = time.time() - meta["started"]
    metrics = run_dir / METRICS_FILE
    if metrics.is_file() and not ended(run_dir):
        with metrics.open("rb") as f:
            f.seek(max(0, metrics.stat().st_size - 1))
            torn = f.read(1) not in (b"", b"\n")  # a half-written last line stays on its own
        end = {"event": "run_end", "status": "killed", "wall_s": wall, "final_val_bpb": None}
        append_line(metrics, ("\n" if torn else "") + json.dumps(end))
    _scrub_metrics(run_dir, hidden)
    atomic_write_json(
        run_dir / META_FILE, meta | {"exit_code": code, "wall_s": wall, "interrupted": True}
    )


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


def describe(comparison: Comparison) -> str:
    """One paragraph a reader can act on."""
    parts = [f"verdict: {comparison.verdict}"]
    if comparison.delta_bpb is not None:
        parts.append(f"delta {comparison.delta_bpb:+.4f} bpb")
    if comparison.noise_bpb is not None:
        parts.append(f"noise ±{comparison.noise_bpb:.4f}")
    if comparison.p_value is not None:
        parts.append(f"p={comparison.p_value:.3f}")
    if comparison.matched_flops is not None:
        parts.append(f"at {comparison.matched_flops:.3g} FLOPs")
    parts.append(f"seeds {comparison.n_a} vs {comparison.n_b}")
    text = f"{comparison.b} vs {comparison.a}: " + ", ".join(parts)
    if comparison.flags:
        text += "\nflags: " + ", ".join(comparison.flags)
    return text


def post_result(paths: OrgPaths, plan: RunPlan, run_ids: list[str]) -> str | None:
    """Post a ``result`` message for the runs to the chief (or all); returns its id."""
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
        refs=run_ids,
        known_agents=[a.name for a in config.agents],
    )
    return message.id
