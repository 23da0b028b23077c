"""``orgtui run``: the agents' one way to run an experiment, so every run lands in the ledger.

Each seed gets a run id and a directory under ``.org/runs/``; the trainer learns both from
``ORGTUI_RUN_ID`` / ``ORGTUI_RUN_DIR`` (with ``ORGTUI_VARIANT`` and ``ORGTUI_SEED``). The
runner records what the trainer cannot know — the command, the proposal, its own exit code —
in ``run.json``, streams the output (secrets redacted) to the terminal and to ``output.log``,
and when all seeds are done posts the ledger's verdict to the board.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from orgtui.atomic import atomic_write_json
from orgtui.errors import OrgtuiError
from orgtui.ledger.verdicts import Comparison, Ledger, LedgerError
from orgtui.names import check_name
from orgtui.paths import OrgPaths
from orgtui.redact import redact

OUTPUT_FILE = "output.log"
MAX_PENDING_BYTES = 1 << 16
"""Output with no line end for this long is passed on unsplit: keys are far shorter."""


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


def _stream(process: subprocess.Popen[bytes], log_path: os.PathLike[str]) -> None:
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
                _emit(pending[:cut], log)
                pending = pending[cut:]
        if pending:
            _emit(pending, log)


def _emit(data: bytes, log: BinaryIO) -> None:
    text, _count = redact(data.decode("utf-8", "surrogateescape"))
    clean = text.encode("utf-8", "surrogateescape")
    log.write(clean)
    log.flush()
    sys.stdout.buffer.write(clean)
    sys.stdout.buffer.flush()


def run_seeds(
    paths: OrgPaths, plan: RunPlan, say: Callable[[str], object] = print
) -> dict[str, int]:
    """Run every seed of ``plan`` one after another; returns each run id's exit code.

    Raises:
        LedgerError: bad variant, an empty command, or a dirty tree without ``allow_dirty``.
    """
    from orgtui.supervisor.worktrees import tree_state

    check_name(plan.variant, "variant")
    if not plan.command:
        raise LedgerError(
            "nothing to run: give the command after `--`, e.g. "
            "`orgtui run --variant v1 -- python -m nanochat.train --preset tiny`"
        )
    branch, commit, dirty = tree_state(os.getcwd())
    if dirty and not plan.allow_dirty:
        raise LedgerError(
            "the work tree has uncommitted changes, so the run could not be repeated from its "
            "commit: commit them first, or pass --allow-dirty (the run is then flagged dirty_tree)"
        )
    codes: dict[str, int] = {}
    for seed in range(plan.seed_start, plan.seed_start + plan.seeds):
        run_id = new_run_id(plan.variant, seed)
        run_dir = paths.run_dir(run_id)
        run_dir.mkdir(parents=True)
        meta = {
            "run_id": run_id,
            "variant": plan.variant,
            "seed": seed,
            "agent": plan.agent,
            "command": list(plan.command),
            "branch": branch,
            "commit": commit,
            "dirty": dirty,
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
            f"[{seed - plan.seed_start + 1}/{plan.seeds}] run {run_id} (variant {plan.variant}, seed {seed})"
        )
        try:
            process = subprocess.Popen(
                list(plan.command), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        except OSError as error:
            atomic_write_json(run_dir / "run.json", meta | {"exit_code": 127, "wall_s": 0.0})
            raise LedgerError(f"cannot start {plan.command[0]!r}: {error.strerror}") from None
        atomic_write_json(run_dir / "run.json", meta | {"pid": process.pid})
        try:
            _stream(process, run_dir / OUTPUT_FILE)
            code = process.wait()
        except KeyboardInterrupt:
            process.terminate()
            code = process.wait()
        finished = meta | {"exit_code": code, "wall_s": time.time() - meta["started"]}
        atomic_write_json(run_dir / "run.json", finished)
        codes[run_id] = code
        if code != 0:
            say(f"run {run_id} exited with code {code}")
    return codes


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
