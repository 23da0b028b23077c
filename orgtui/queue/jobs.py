"""Experiment jobs: one JSON file per seed under ``.org/queue/``, the queue's only record.

``orgtui run`` and the ledger's own controls write jobs; the supervisor's scheduler moves them
through their states. Each file is written atomically, and every change of state goes through
:func:`transition`, a compare-and-set under the queue's lock, so a job is claimed once, never
run twice, and a ``cancel`` racing the scheduler is decided by whoever comes first.

Files are hostile input like everything in ``.org/``: a file that does not read as a job is
returned as a :class:`MalformedJob` (shown as malformed, never raised).
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from orgtui.atomic import (
    NotRegularFile,
    atomic_write_json,
    ensure_private_dir,
    exclusive_lock,
    read_regular,
)
from orgtui.errors import OrgtuiError
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths

MAX_JOB_BYTES = 1 << 20
MAX_COMMAND_ARGS = 4096
MAX_TEXT = 4096


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class JobKind(StrEnum):
    REQUEST = "request"
    """Asked for by an agent or a person (``orgtui run``): a claim the ledger may check."""
    CONTROL = "control"
    """Scheduled by the ledger itself: a missing baseline, replicates, a matched-compute run."""
    RERUN = "rerun"
    """``orgtui rerun``: a run reproduced from its exact code."""


PRIORITY = {JobKind.CONTROL: 10, JobKind.REQUEST: 0, JobKind.RERUN: 0}
"""Controls run before new variants: a claim waits on them, not the other way round."""


class QueueError(OrgtuiError):
    """A queue request that cannot be met (an unknown job, a bad transition)."""


@dataclass(frozen=True)
class Job:
    """One seed of one variant, from the moment it is asked for until it ends."""

    id: str
    variant: str
    seed: int
    command: tuple[str, ...]
    run_id: str
    """The run directory it writes (``.org/runs/<run_id>``), fixed when the job is made."""
    commit: str | None
    """The exact code: a commit of the research repo (a snapshot when the tree was dirty)."""
    agent: str | None = None
    branch: str | None = None
    dirty: bool = False
    snapshot_ref: str | None = None
    """``refs/orgtui/runs/<run_id>`` when the tree was dirty: the commit the run used."""
    kind: JobKind = JobKind.REQUEST
    priority: int = 0
    batch: str = ""
    """Jobs made together (one ``orgtui run``, one set of controls) share a batch."""
    thread: str | None = None
    """The board thread a claim's controls and verdict are posted on."""
    proposal: str | None = None
    post_result: bool = False
    """Post the batch's ``result`` when its last job ends (``orgtui run --no-wait``)."""
    max_flops: float | None = None
    """A matched-compute control's budget, passed to the trainer as ORGTUI_MAX_FLOPS."""
    max_cost: float | None = None
    """The same on a seconds cost axis: ORGTUI_MAX_COST, in ORGTUI_COST_UNIT (``cost_unit``)."""
    cost_unit: str | None = None
    workdir: str = ""
    """Where the command runs: relative to the top of ``commit``'s checkout, or an absolute
    directory for a job asked for outside git (no commit to check out)."""
    reason: str = ""
    """Why a control exists, or why a job ended the way it did."""
    state: JobState = JobState.QUEUED
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    slot: str | None = None
    """Where it runs: ``gpu3``, ``cpu0``."""
    engine_id: str | None = None
    """What the engine knows it by: a local process id, a Slurm job id."""
    exit_code: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this version does not know, kept so a rewrite loses nothing."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["command"] = list(self.command)
        data["kind"] = str(self.kind)
        data["state"] = str(self.state)
        return {**self.extra, **data}

    def summary(self) -> dict[str, Any]:
        """``orgtui queue --json``: the fields people and agents act on."""
        return {
            "id": self.id,
            "variant": self.variant,
            "seed": self.seed,
            "agent": self.agent,
            "state": str(self.state),
            "slot": self.slot,
            "priority": self.priority,
            "engine_id": self.engine_id,
        }

    def with_changes(self, **changes: Any) -> Job:
        return replace(self, **changes)


@dataclass(frozen=True)
class MalformedJob:
    """A queue file that does not read as a job: shown as such, never run, never raised."""

    path: Path
    problem: str

    @property
    def id(self) -> str:
        return self.path.stem


_last_micros = 0


def new_job_id() -> str:
    """Sortable by creation time, to the microsecond and strictly increasing within a process
    (the seeds of one batch list in order); unique without a lock."""
    global _last_micros
    micros = max(time.time_ns() // 1000, _last_micros + 1)
    _last_micros = micros
    stamp = datetime.fromtimestamp(micros // 1_000_000).strftime("%Y%m%d%H%M%S")
    return f"j{stamp}{micros % 1_000_000:06d}-{secrets.token_hex(3)}"


def new_batch_id() -> str:
    return f"b{datetime.now().strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


# ------------------------------------------------------------------------------- reading


_FIELDS = {name for name in Job.__dataclass_fields__ if name != "extra"}


def parse_job(data: object) -> Job:
    """A :class:`Job` from a decoded file; raises ValueError naming the first bad field."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    names = {key: data.get(key) for key in ("id", "variant", "run_id")}
    for key, value in names.items():
        if not is_valid_name(value):
            raise ValueError(f"{key} {_short(value)} is not a valid name")
    command = data.get("command")
    if (
        not isinstance(command, list)
        or not command
        or len(command) > MAX_COMMAND_ARGS
        or not all(isinstance(arg, str) and "\0" not in arg for arg in command)
    ):
        raise ValueError("command is not a non-empty list of strings")
    return Job(
        id=names["id"],  # type: ignore[arg-type]
        variant=names["variant"],  # type: ignore[arg-type]
        seed=_whole(data, "seed", 0, 2**32 - 1, default=-1),
        command=tuple(command),
        run_id=names["run_id"],  # type: ignore[arg-type]
        commit=_text(data, "commit"),
        agent=_optional_name(data, "agent"),
        branch=_text(data, "branch"),
        dirty=data.get("dirty") is True,
        snapshot_ref=_text(data, "snapshot_ref"),
        kind=_enum(JobKind, data, "kind", JobKind.REQUEST),
        priority=_whole(data, "priority", -1000, 1000),
        batch=_text(data, "batch") or "",
        thread=_thread(data),
        proposal=_text(data, "proposal"),
        post_result=data.get("post_result") is True,
        max_flops=_number(data, "max_flops", 0.0, 1e30),
        max_cost=_number(data, "max_cost", 0.0, 1e30),
        cost_unit=_cost_unit(data),
        workdir=_text(data, "workdir") or "",
        reason=_text(data, "reason") or "",
        state=_enum(JobState, data, "state", None),
        created=_number(data, "created", 0.0, 1e11) or 0.0,
        started=_number(data, "started", 0.0, 1e11),
        ended=_number(data, "ended", 0.0, 1e11),
        slot=_text(data, "slot"),
        engine_id=_text(data, "engine_id"),
        exit_code=_optional_whole(data, "exit_code", -(2**31), 2**31),
        extra={k: v for k, v in data.items() if k not in _FIELDS},
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _cost_unit(data: dict[str, Any]) -> str | None:
    from orgtui.config import COST_UNITS

    value = data.get("cost_unit")
    if value is not None and value not in COST_UNITS:
        raise ValueError(f"cost_unit {_short(value)} is not one of {', '.join(COST_UNITS)}")
    return value


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\0" in value:
        raise ValueError(f"{key} {_short(value)} is not a string")
    return value


def _optional_name(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not is_valid_name(value):
        raise ValueError(f"{key} {_short(value)} is not a valid name")
    return value


def _thread(data: dict[str, Any]) -> str | None:
    from orgtui.board.message import is_valid_thread

    value = data.get("thread")
    if value is not None and not is_valid_thread(value):
        raise ValueError(f"thread {_short(value)} is not a message id or name")
    return value


def _whole(data: dict[str, Any], key: str, low: int, high: int, default: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} {_short(value)} is not a whole number in {low}..{high}")
    return value


def _optional_whole(data: dict[str, Any], key: str, low: int, high: int) -> int | None:
    return None if data.get(key) is None else _whole(data, key, low, high)


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} {_short(value)} is not a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{key} {_short(value)} is outside {low:g}..{high:g}")
    return number


def _enum(kind: type[StrEnum], data: dict[str, Any], key: str, default: Any) -> Any:
    value = data.get(key, default)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(kind)
        raise ValueError(f"{key} {_short(value)} is not one of {allowed}") from None


def load_job(path: Path) -> Job | MalformedJob:
    """The job in ``path``; a :class:`MalformedJob` for anything else (never raises)."""
    try:
        data = json.loads(read_regular(path, MAX_JOB_BYTES))
        job = parse_job(data)
    except (OSError, NotRegularFile) as error:
        return MalformedJob(path, f"unreadable: {getattr(error, 'strerror', None) or error}")
    except (ValueError, RecursionError) as error:
        return MalformedJob(path, f"not a job: {error}")
    if job.id != path.stem:
        return MalformedJob(path, f"holds job {job.id!r}, not {path.stem!r}")
    return job


def read_queue(paths: OrgPaths) -> list[Job | MalformedJob]:
    """Every queue file, oldest first (job ids sort by creation time)."""
    try:
        files = sorted(p for p in paths.queue_dir.iterdir() if p.suffix == ".json")
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [load_job(path) for path in files]


def jobs(paths: OrgPaths) -> list[Job]:
    """The well-formed jobs, oldest first."""
    return [job for job in read_queue(paths) if isinstance(job, Job)]


def find_job(paths: OrgPaths, job_id: str) -> Job:
    """One job by id (a unique prefix is enough).

    Raises:
        QueueError: no such job, an ambiguous prefix, or a malformed file.
    """
    entries = read_queue(paths)
    matches = [e for e in entries if e.id == job_id] or [
        e for e in entries if e.id.startswith(job_id)
    ]
    if not matches:
        raise QueueError(f"no job {job_id!r} in {paths.queue_dir}: `orgtui queue` lists them")
    if len(matches) > 1:
        raise QueueError(
            f"{job_id!r} matches {len(matches)} jobs ({', '.join(m.id for m in matches[:5])}); "
            "give more of the id"
        )
    match = matches[0]
    if isinstance(match, MalformedJob):
        raise QueueError(f"{match.path}: malformed ({match.problem}); fix or delete the file")
    return match


# ------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def queue_lock(paths: OrgPaths) -> Iterator[None]:
    """Held for every read-modify-write of a job: one writer at a time, across processes."""
    with exclusive_lock(paths.queue_lock):
        yield


def write_job(paths: OrgPaths, job: Job) -> None:
    ensure_private_dir(paths.queue_dir)
    atomic_write_json(paths.job_file(job.id), job.to_json())


def submit(paths: OrgPaths, new: list[Job]) -> list[Job]:
    """Write new jobs (state queued, creation time now); returns them as written."""
    now = time.time()
    written = [job.with_changes(state=JobState.QUEUED, created=job.created or now) for job in new]
    with queue_lock(paths):
        for job in written:
            if paths.job_file(job.id).exists():
                raise QueueError(f"job {job.id} already exists")
            write_job(paths, job)
    return written


def transition(
    paths: OrgPaths, job_id: str, expect: tuple[JobState, ...], **changes: Any
) -> Job | None:
    """Apply ``changes`` to a job only if its state is one of ``expect``; the job as written,
    or None when it was in another state (someone else got there first) or is unreadable."""
    with queue_lock(paths):
        job = load_job(paths.job_file(job_id))
        if isinstance(job, MalformedJob) or job.state not in expect:
            return None
        changed = job.with_changes(**changes)
        write_job(paths, changed)
        return changed


def cancel(paths: OrgPaths, job_id: str, reason: str = "cancelled") -> Job:
    """Mark a queued job cancelled; a running one is marked for the engine to stop.

    A running job keeps running until its engine has stopped it (the scheduler does, or
    ``orgtui run`` itself when it runs without a supervisor), so it is never counted twice.

    Raises:
        QueueError: unknown job, or one that has already ended.
    """
    job = find_job(paths, job_id)
    now = time.time()
    done = transition(
        paths, job.id, (JobState.QUEUED,), state=JobState.CANCELLED, ended=now, reason=reason
    )
    if done is not None:
        return done
    running = transition(paths, job.id, (JobState.RUNNING,), reason=f"cancel: {reason}")
    if running is not None:
        return running
    current = find_job(paths, job.id)
    raise QueueError(f"job {job.id} has already ended ({current.state}); nothing to cancel")


def cancel_requested(job: Job) -> bool:
    """A running job someone asked to cancel (see :func:`cancel`)."""
    return job.state == JobState.RUNNING and job.reason.startswith("cancel:")
