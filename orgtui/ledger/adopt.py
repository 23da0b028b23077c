"""``orgtui adopt``: a variant's code joins the program only through the ledger's gate.

Adopting merges the exact commit the variant's seeds ran from into ``prog/<program>``, makes
the variant the baseline, records the adoption in ``.org/ledger.json`` and posts it to the
board. The gate is the verdict against the baseline: it must be ``improvement`` with no
flag in :data:`BLOCKING_FLAGS`. A person (or the chief) may adopt anyway with a stated
reason (``--override``); the reason and the verdict it overrode are posted for all to see.

What does not block an improvement by itself, and why:

- ``crashed``: the crashed seeds are already left out of the numbers; the verdict rests on
  the seeds that finished, and is still ``improvement`` only if they beat the noise.
- ``compute_mismatch``: both sides are read at matched FLOPs, so a variant that trained
  longer gets no credit for it.
- ``single_seed``: with one seed on a side the noise comes from the other side's (or the
  baseline's) seeds; the t-test still has to pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from orgtui.atomic import atomic_write_json
from orgtui.errors import OrgtuiError
from orgtui.ledger.runs import Run
from orgtui.ledger.verdicts import Comparison, Ledger, ledger_state, store_baseline
from orgtui.names import MAX_NAME_LENGTH, is_valid_name
from orgtui.paths import OrgPaths

BLOCKING_FLAGS: dict[str, str] = {
    "no_baseline": "a baseline: runs of the baseline variant (`orgtui baseline NAME`, then run it)",
    "dirty_tree": "clean runs: commit your changes, then run the seeds again from the commit",
    "config_drift": "one config for every seed: rerun the seeds with the same settings",
    "invalid_metrics": "valid metrics: a run reported an impossible result (a negative bpb); "
    "fix the trainer, rerun",
    "bad_values": "runs without dropped values (NaN or out of range): fix the trainer, rerun",
    "still_running": "finished runs: wait for the running seeds to end",
    "no_seed_variance": "seeds that differ: the seeds gave identical results; make the trainer "
    "use ORGTUI_SEED",
    "no_proposal": "a proposal: pre-register it with `orgtui propose` and run with --proposal ID",
}
"""Flags that stop an ``improvement`` from being adopted, with what would lift each."""
MAX_REASON_CHARS = 2000


class AdoptError(OrgtuiError):
    """Nothing to adopt: an unknown variant, the baseline itself, no recorded commit."""

    exit_code = 1


class AdoptRefused(OrgtuiError):
    """The gate said no: ``comparison`` is the verdict, ``missing`` what would change it."""

    def __init__(self, variant: str, comparison: Comparison | None, missing: Sequence[str]):
        self.comparison = comparison
        self.missing: list[str] = list(missing)
        verdict = comparison.verdict if comparison else "no verdict"
        super().__init__(
            f"not adopting {variant} ({verdict}); missing: "
            + "; ".join(missing)
            + ". A person can adopt anyway with --override REASON"
        )


@dataclass(frozen=True)
class AdoptCheck:
    """What ``orgtui adopt VARIANT`` would do now: allowed, or what is missing."""

    variant: str
    comparison: Comparison | None
    missing: tuple[str, ...]
    allowed: bool
    commit: str | None
    """The one commit every counted seed ran from; None when they disagree."""


@dataclass(frozen=True)
class Adoption:
    """A done adoption, as recorded in ``.org/ledger.json``."""

    variant: str
    commit: str
    program_branch: str
    merged_head: str
    previous_baseline: str | None
    comparison: Comparison | None
    override: str | None
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "commit": self.commit,
            "program_branch": self.program_branch,
            "merged_head": self.merged_head,
            "previous_baseline": self.previous_baseline,
            "comparison": self.comparison.to_json() if self.comparison else None,
            "override": self.override,
            "message_id": self.message_id,
        }


def _variant_runs(ledger: Ledger, variant: object) -> list[Run]:
    """The runs of ``variant``; AdoptError when there is nothing to adopt."""
    if not is_valid_name(variant):
        raise AdoptError(
            f"invalid variant {variant!r}: a variant is lowercase letters, digits, '-' and '_' "
            f"(at most {MAX_NAME_LENGTH}); `orgtui ledger` lists them"
        )
    assert isinstance(variant, str)
    if variant not in ledger.variants:
        known = ", ".join(sorted(ledger.variants)) or "none yet"
        raise AdoptError(f"no runs of variant {variant!r} to adopt (variants: {known})")
    if variant == ledger.baseline:
        raise AdoptError(f"{variant} is already the baseline: nothing to adopt")
    return ledger.variants[variant]


def _commits(variant: str, runs: list[Run]) -> list[str | None]:
    """The commits the counted seeds ran from (every finished seed when none counts)."""
    pool = [r for r in runs if r.usable] or [r for r in runs if r.finished] or runs
    commits = sorted({r.commit for r in pool}, key=lambda c: c or "")
    if commits == [None]:
        raise AdoptError(
            f"no commit recorded for the runs of {variant}: run it with `orgtui run` inside "
            "the research repo so each run records its code"
        )
    return commits


def _missing(comparison: Comparison | None, min_seeds: int) -> list[str]:
    """In words an agent can act on, what stands between ``comparison`` and adoption."""
    if comparison is None:
        return [BLOCKING_FLAGS["no_baseline"]]
    missing = [
        BLOCKING_FLAGS[flag.split()[0]]
        for flag in comparison.flags
        if flag.split()[0] in BLOCKING_FLAGS
    ]
    if comparison.verdict == "improvement":
        return missing
    if comparison.verdict == "regression":
        return [*missing, "an improvement: the variant is worse than the baseline"]
    if comparison.verdict == "not_comparable":
        return [
            *missing,
            "comparable runs: finished seeds of both with eval curves that overlap in FLOPs",
        ]
    fewest = min(comparison.n_a, comparison.n_b)
    if fewest < min_seeds:
        missing.append(
            f"at least {min_seeds} seeds of each ({comparison.n_a} of {comparison.a}, "
            f"{comparison.n_b} of {comparison.b} now): `orgtui run --seeds N` adds them"
        )
    else:
        missing.append("a difference beyond the noise: more seeds, or a larger effect")
    return missing


def check_adopt(paths: OrgPaths, variant: str) -> AdoptCheck:
    """The gate for ``variant``, without changing anything.

    Raises:
        AdoptError: nothing to adopt (invalid or unknown variant, the baseline, no commit).
    """
    ledger = Ledger.load(paths)
    runs = _variant_runs(ledger, variant)
    commits = _commits(variant, runs)
    comparison = None
    if ledger.baseline in ledger.variants:
        comparison = ledger.compare(ledger.baseline, variant)  # type: ignore[arg-type]
    missing = _missing(comparison, _min_seeds(paths))
    if len(commits) > 1:
        named = ", ".join((c or "none")[:12] for c in commits)
        missing.append(f"one commit for every seed (they ran from {named}): rerun from one")
    return AdoptCheck(
        variant=variant,
        comparison=comparison,
        missing=tuple(missing),
        allowed=not missing,
        commit=commits[0] if len(commits) == 1 else None,
    )


def _min_seeds(paths: OrgPaths) -> int:
    """``[discipline] min_seeds``; its default when org.toml does not load."""
    from orgtui.config import DisciplineSpec, load_config

    try:
        return load_config(paths.root).discipline.min_seeds
    except OrgtuiError:
        return DisciplineSpec().min_seeds


def _check_reason(override: str | None) -> str | None:
    if override is None:
        return None
    reason = override.strip() if isinstance(override, str) else ""
    if not reason or "\0" in reason or len(reason) > MAX_REASON_CHARS:
        raise AdoptError(
            f"--override needs a reason of 1 to {MAX_REASON_CHARS} characters: why adopt "
            "against the verdict (it is posted to the board)"
        )
    return reason


def adopt(
    paths: OrgPaths, variant: str, override: str | None = None, sender: str | None = None
) -> Adoption:
    """Merge ``variant``'s commit into the program branch and make it the baseline.

    Everything that could refuse (the gate, the reason, the sender, org.toml) is checked
    before the merge; the merge either happens whole or not at all.

    Raises:
        AdoptRefused: the gate said no and there is no ``override``.
        AdoptError: nothing to adopt, an empty reason, seeds from different commits.
        GitError: the merge failed (a conflict, a dirty checked-out program branch).
    """
    from orgtui.board.message import check_sender
    from orgtui.config import load_config
    from orgtui.supervisor.worktrees import ensure_program_branch, merge_into, resolve_commit

    reason = _check_reason(override)
    check = check_adopt(paths, variant)
    if not check.allowed and reason is None:
        raise AdoptRefused(variant, check.comparison, check.missing)
    if check.commit is None:
        raise AdoptError(f"cannot adopt {variant}: " + check.missing[-1])
    sender = check_sender(sender or os.environ.get("ORGTUI_AGENT") or "human")
    config = load_config(paths.root)
    previous = Ledger.load(paths).baseline
    commit = resolve_commit(paths.root, check.commit)
    branch = ensure_program_branch(paths.root, config.org.program)
    verdict = check.comparison.verdict if check.comparison else "no verdict"
    summary = verdict + (f", override: {reason}" if reason else "")
    merged = merge_into(paths.root, branch, commit, f"orgtui adopt {variant}: {summary}")
    store_baseline(paths, variant)
    adoption = Adoption(variant, commit, branch, merged, previous, check.comparison, reason)
    _record(paths, adoption)
    return replace(adoption, message_id=_post(paths, config, adoption, check, sender))


def _record(paths: OrgPaths, adoption: Adoption) -> None:
    """Append the adoption to ``.org/ledger.json``, keeping every other key."""
    state = ledger_state(paths)
    history = state.get("adopted")
    entry = {
        "variant": adoption.variant,
        "commit": adoption.commit,
        "merged": adoption.merged_head,
        "previous_baseline": adoption.previous_baseline,
        "verdict": adoption.comparison.verdict if adoption.comparison else None,
        "override": adoption.override,
        "time": time.time(),
    }
    state["adopted"] = [*(history if isinstance(history, list) else []), entry]
    atomic_write_json(paths.ledger_state, state)


def _post(
    paths: OrgPaths, config: Any, adoption: Adoption, check: AdoptCheck, sender: str
) -> str | None:
    from orgtui import board
    from orgtui.ledger.verdicts import describe
    from orgtui.process import chiefs

    recipients = [name for name in chiefs(config) if name != sender] or ["all"]
    verdict = describe(adoption.comparison) if adoption.comparison else "no verdict: no baseline"
    lines = [
        f"{adoption.variant} is adopted: commit {adoption.commit[:12]} merged into "
        f"{adoption.program_branch} (now at {adoption.merged_head[:12]}).",
        f"The baseline is now {adoption.variant}"
        + (f" (was {adoption.previous_baseline})." if adoption.previous_baseline else "."),
        "",
    ]
    if adoption.override:
        lines += [
            f"Adopted over the gate by {sender}, reason: {adoption.override}",
            "The verdict it overrode:",
            verdict,
            "Missing: " + "; ".join(check.missing),
        ]
    else:
        lines.append(verdict)
    message = board.post(
        paths,
        sender=sender,
        to=recipients,
        subject=f"adopted {adoption.variant}",
        body="\n".join(lines),
        kind="result",
        thread=adoption.variant,
        refs=[adoption.commit, adoption.merged_head],
        known_agents=[a.name for a in config.agents],
    )
    return message.id
