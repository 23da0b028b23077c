"""The supervisor's scheduler: queued jobs onto free slots, each started once, none lost.

Slots are the GPUs the ``[gpu]`` source reports (one job per GPU), or ``[compute] slots``
CPU slots on a machine without GPUs (or with ``gpus = "none"``). :func:`place` decides, and
is pure: higher priority first (the ledger's controls), then the agent with the fewest running
jobs, then the agent served least recently, then the oldest job. A job of agent A takes A's
own GPU when it is free, else a free GPU of no seat or of a seat not at work (parked, idle,
suspended, dead, failed); the GPU of a seat at work is never taken from it.

:class:`Scheduler` runs once a tick in the supervisor. The queue files are the only record of
a job, so a restart needs nothing special: a running job whose worker lives is adopted (the
worker finishes it and records the end itself), one whose worker is gone is closed as killed,
and only a queued job is ever started, claimed queued -> running under the queue's lock.

When the last job of a batch ends, the scheduler posts the batch's ``result`` (``orgtui run
--no-wait``), plans the claim's controls (:mod:`orgtui.ledger.controls`) and announces them on
the claim's thread, and once the controls have ended posts the final verdict there.
``.org/batches.json`` records the batches it is done with and the announcement it owes; after
a crash the queue (are the controls there?) and the board (is the message there?) are looked
at before anything is done again, so each happens once.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from orgtui.atomic import NotRegularFile, atomic_write_json, read_regular
from orgtui.config import OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.ledger.controls import control_batch, final_verdict, plan_controls
from orgtui.ledger.runner import new_run_id, post_jobs_result
from orgtui.ledger.verdicts import Ledger
from orgtui.paths import OrgPaths
from orgtui.queue.engine import (
    WORKER_GRACE_S,
    Ending,
    Engine,
    EngineError,
    EngineUnavailable,
    LocalEngine,
    Slot,
    close_run,
)
from orgtui.queue.jobs import (
    Job,
    JobKind,
    JobState,
    cancel_requested,
    load_job,
    new_job_id,
    read_queue,
    submit,
    transition,
)
from orgtui.supervisor.state import OrgState, Seat, SeatStatus

LENDING = frozenset(
    {SeatStatus.PARKED, SeatStatus.IDLE, SeatStatus.SUSPENDED, SeatStatus.DEAD, SeatStatus.FAILED}
)
"""Seats whose GPU a job of another agent may use: none of them is at work on it."""
SETTLED_S = 1.0
"""A queue directory unchanged this long before a look can be trusted unchanged after it
(a directory's mtime is as coarse as the kernel's clock tick)."""
RETRY_S = 10.0
"""How often a batch that could not be finished with (the board refused a post) is retried."""
CANCEL_GRACE_S = WORKER_GRACE_S
"""A worker stops its own trainer on a cancel; the engine stops one still running after this."""
MAX_BOOK_BYTES = 16 << 20
KILLED = "killed: worker gone"
SETTLE_S = 60.0
"""How long an ended job's engine may take to say how it ended (a Slurm job completing)."""
REQUEUED = "requeued:"
"""How a resubmitted preempted job's reason starts."""


class SchedulerError(OrgtuiError):
    """The scheduler's own record cannot be kept (``.org/batches.json``)."""


# ------------------------------------------------------------------------------ placement


def slots(config: OrgConfig, state: OrgState, gpu_count: int | None) -> list[Slot]:
    """Where jobs may run: ``gpu0``... for the GPUs the ``[gpu]`` source reports (None: no
    source to ask, then the GPUs org.toml and the seats name), else ``cpu0``... for
    ``[compute] slots``. On Slurm, ``slurm0``... for as many jobs as the org may have
    submitted at once (``[compute.slurm] max_jobs``): the cluster places them."""
    if config.compute.engine == "slurm":
        return [Slot(f"slurm{index}") for index in range(config.compute.slurm.max_jobs)]
    if config.gpus != "none":
        if gpu_count is None:
            named = {spec.gpu for spec in config.agents} | {s.gpu for s in state.seats.values()}
            gpus = sorted(index for index in named if index is not None)
        else:
            gpus = list(range(max(0, gpu_count)))
        if gpus:
            return [Slot(f"gpu{index}", index) for index in gpus]
    return [Slot(f"cpu{index}") for index in range(config.compute.slots)]


def place(
    queued: Sequence[Job],
    running: Sequence[Job],
    slots: Sequence[Slot],
    seats: Mapping[str, Seat],
    served: Mapping[str | None, float] | None = None,
) -> list[tuple[Job, Slot]]:
    """Which queued jobs start now, and where: at most one job a slot, free slots only.

    Higher priority first; within a priority the agent with the fewest running jobs (those
    placed here included), then the agent served least recently (``served``: when each
    agent's latest job started, see :func:`last_served`), then the agent whose oldest waiting
    job is oldest; an agent's own jobs in order. Without the turns, one slot would serve an
    agent's whole backlog before a newcomer's first job. A job that fits no free slot leaves
    the slots to the jobs after it.
    """
    busy = {job.slot for job in running}
    free = [slot for slot in slots if slot.name not in busy]
    load = Counter(job.agent for job in running)
    turn = dict(served or {})
    waiting = sorted((job for job in queued if job.state == JobState.QUEUED), key=_age)
    placed: list[tuple[Job, Slot]] = []
    while free and waiting:
        job = _next(waiting, load, turn)
        slot = _choose(job, free, seats)
        if slot is None:  # every job of this agent fits the same slots: none of them now
            waiting = [other for other in waiting if other.agent != job.agent]
            continue
        waiting.remove(job)
        free.remove(slot)
        load[job.agent] += 1
        turn[job.agent] = max(turn.values(), default=0.0) + 1.0  # served last of all
        placed.append((job, slot))
    return placed


def last_served(jobs: Sequence[Job]) -> dict[str | None, float]:
    """When each agent's latest job started (:func:`place`'s turns)."""
    served: dict[str | None, float] = {}
    for job in jobs:
        if job.started is not None:
            served[job.agent] = max(served.get(job.agent, -math.inf), job.started)
    return served


def _age(job: Job) -> tuple[float, str]:
    return job.created, job.id


def _next(waiting: list[Job], load: Counter[str | None], turn: dict[str | None, float]) -> Job:
    """The next job to place: top priority, least-loaded agent, served longest ago, oldest
    job (``waiting`` is in age order)."""
    top = max(job.priority for job in waiting)
    oldest: dict[str | None, Job] = {}
    for job in waiting:
        if job.priority == top:
            oldest.setdefault(job.agent, job)
    return min(
        oldest.values(),
        key=lambda job: (load[job.agent], turn.get(job.agent, -math.inf), _age(job)),
    )


def acceptable(job: Job, slot: Slot, seats: Mapping[str, Seat]) -> bool:
    """Whether ``job`` may run on ``slot``: any CPU slot, its agent's own GPU, or a GPU that
    no seat at work holds."""
    if slot.gpu is None or slot.gpu in _own_gpus(job, seats):
        return True
    return all(seat.status in LENDING for seat in seats.values() if seat.gpu == slot.gpu)


def _own_gpus(job: Job, seats: Mapping[str, Seat]) -> set[int]:
    seat = seats.get(job.agent) if job.agent else None
    return {seat.gpu} if seat is not None and seat.gpu is not None else set()


def _choose(job: Job, free: list[Slot], seats: Mapping[str, Seat]) -> Slot | None:
    """The agent's own GPU when it is free, else the first free slot the job may take."""
    own = _own_gpus(job, seats)
    mine = [slot for slot in free if slot.gpu is not None and slot.gpu in own]
    return next(iter(mine), None) or next(
        (slot for slot in free if acceptable(job, slot, seats)), None
    )


# ------------------------------------------------------------------------------ the book


@dataclass(frozen=True)
class Notice:
    """A board message the scheduler posts; ``refs`` tell whether it is already there."""

    sender: str
    to: tuple[str, ...]
    thread: str
    kind: str
    subject: str
    body: str
    refs: tuple[str, ...]

    @classmethod
    def from_json(cls, data: object) -> Notice | None:
        if not isinstance(data, dict):
            return None
        texts = {key: data.get(key) for key in ("sender", "thread", "kind", "subject", "body")}
        lists = {key: data.get(key) for key in ("to", "refs")}
        if not all(isinstance(value, str) for value in texts.values()) or not all(
            isinstance(value, list) and all(isinstance(item, str) for item in value)
            for value in lists.values()
        ):
            return None
        return cls(**texts, to=tuple(lists["to"]), refs=tuple(lists["refs"]))  # type: ignore[arg-type]


@dataclass
class Book:
    """``.org/batches.json``: the batches the scheduler is done with, and the announcements
    it owes (written before the controls they announce are submitted)."""

    done: set[str] = field(default_factory=set)
    owed: dict[str, Notice] = field(default_factory=dict)
    fresh: bool = False
    """No readable file: every batch that has already ended is history, not news."""

    @classmethod
    def load(cls, paths: OrgPaths) -> Book:
        try:
            data = json.loads(read_regular(paths.queue_batches, MAX_BOOK_BYTES))
        except (OSError, NotRegularFile, ValueError, RecursionError):
            return cls(fresh=True)
        if not isinstance(data, dict) or not isinstance(data.get("done"), list):
            return cls(fresh=True)
        owed = data.get("owed") if isinstance(data.get("owed"), dict) else {}
        notices = {batch: Notice.from_json(value) for batch, value in owed.items()}
        return cls(
            done={batch for batch in data["done"] if isinstance(batch, str)},
            owed={batch: notice for batch, notice in notices.items() if notice is not None},
        )

    def save(self, paths: OrgPaths, present: set[str]) -> None:
        """Written atomically; batches gone from the queue are forgotten (they cannot end
        again)."""
        self.done &= present
        self.owed = {batch: notice for batch, notice in self.owed.items() if batch in present}
        record = {
            "version": 1,
            "done": sorted(self.done),
            "owed": {batch: asdict(notice) for batch, notice in sorted(self.owed.items())},
        }
        try:
            atomic_write_json(paths.queue_batches, record)
        except OSError as error:
            raise SchedulerError(
                f"{paths.queue_batches}: cannot be written ({error.strerror or error}); "
                "make it a writable file (or remove it)"
            ) from None
        self.fresh = False


# ------------------------------------------------------------------------------ the scheduler


def engine_for(config: OrgConfig) -> Engine:
    """The engine ``[compute] engine`` names: local worker processes, or Slurm jobs."""
    if config.compute.engine == "slurm":
        from orgtui.queue.slurm import SlurmEngine

        return SlurmEngine(config.paths, config.compute.slurm)
    return LocalEngine(config.paths, config.compute.slots)


class Scheduler:
    """Reconcile the running jobs, start queued ones on free slots, finish ended batches.

    Cheap when nothing changed: a tick stats the queue directory and asks the engine whether
    the jobs it knows run; the files are read again only when the directory changed, a worker
    is gone, a slot may have freed up for waiting jobs, or a batch waits to be retried.
    """

    def __init__(self, config: OrgConfig, engine: Engine | None = None) -> None:
        self.config = config
        self.paths = config.paths
        self.engine = engine if engine is not None else engine_for(config)
        self.running: dict[str, Job] = {}
        """The running jobs at the last look, by id."""
        self.waiting = 0
        """Queued jobs left without a slot at the last look."""
        self.looks = 0
        """How many times the queue was read (a quiet queue is not read at every tick)."""
        self._looked: tuple[int, float] | None = None
        """(the queue directory's mtime, when it was read) at the last look."""
        self._inputs: tuple[Any, ...] = ()
        self._retry_at: float | None = None
        self.settling: dict[str, float] = {}
        """Ended jobs whose engine has not said yet how they ended, and since when."""
        self._start_at: float | None = None
        """When to try starting jobs again after the engine said it cannot take any."""
        self._known: set[str] = set()
        self._cancel_seen: dict[str, float] = {}
        self._said: dict[str, str] = {}
        """What was last said about a malformed file or a failing batch (said once)."""
        self._book: Book | None = None

    def tick(self, now: float, state: OrgState, gpu_count: int | None) -> list[str]:
        """One pass; returns the lines for the supervisor log."""
        here = slots(self.config, state, gpu_count)
        inputs = (tuple(here), _lending(state.seats))
        lines: list[str] = []
        if self._due(now, inputs):
            self._look(now, here, state.seats, inputs, lines)
        return lines

    def _due(self, now: float, inputs: tuple[Any, ...]) -> bool:
        mtime = _mtime(self.paths)
        if mtime is None:
            return bool(self.running)
        looked = self._looked
        unsettled = looked is not None and 0 <= looked[1] - mtime / 1e9 < SETTLED_S
        changed = looked is None or looked[0] != mtime or unsettled
        return (
            changed
            or (self.waiting > 0 and inputs != self._inputs)
            or (self._retry_at is not None and now >= self._retry_at)
            or (self._start_at is not None and now >= self._start_at)
            or bool(self.settling)
            or any(now - seen >= CANCEL_GRACE_S for seen in self._cancel_seen.values())
            or any(not self.engine.alive(job) for job in self.running.values())
        )

    def _look(
        self,
        now: float,
        here: list[Slot],
        seats: Mapping[str, Seat],
        inputs: tuple[Any, ...],
        lines: list[str],
    ) -> None:
        mtime = _mtime(self.paths)
        self._looked = None if mtime is None else (mtime, time.time())
        self.looks += 1
        jobs = [self._follow(job, now, lines) for job in self._well_formed(lines)]
        view = _owner_view(jobs)
        running = [job for job in view if job.state == JobState.RUNNING]
        queued = [job for job in view if job.state == JobState.QUEUED]
        placements = place(queued, running, here, seats, last_served(view))
        started = {job.id: job for job in self._start(now, placements, lines)}
        jobs = [started.get(job.id, job) for job in jobs]
        jobs += self._ended_outside(jobs, now, lines)
        self.running = {job.id: job for job in jobs if job.state == JobState.RUNNING}
        self.waiting = len(queued) - len(started)
        self._inputs = inputs
        self._cancel_seen = {k: v for k, v in self._cancel_seen.items() if k in self.running}
        self._finish_batches(jobs, now, lines)

    def _well_formed(self, lines: list[str]) -> list[Job]:
        jobs: list[Job] = []
        for entry in read_queue(self.paths):
            if isinstance(entry, Job):
                jobs.append(entry)
            elif self._say_once(str(entry.path), entry.problem):
                lines.append(f"{entry.path}: malformed ({entry.problem}); not scheduled")
        return jobs

    def _say_once(self, key: str, what: str) -> bool:
        if self._said.get(key) == what:
            return False
        self._said[key] = what
        return True

    # -- running jobs ------------------------------------------------------------------------
    def _follow(self, job: Job, now: float, lines: list[str]) -> Job:
        """A running job as it stands: adopted when its worker lives, closed when it is gone."""
        if job.state != JobState.RUNNING:
            return job
        if not self.engine.alive(job):
            return self._gone(job, lines)
        if job.id not in self._known:
            self._known.add(job.id)
            lines.append(f"job {job.id} (run {job.run_id}) runs on {job.slot}: adopted")
        if cancel_requested(job):
            seen = self._cancel_seen.setdefault(job.id, now)
            if now - seen >= CANCEL_GRACE_S:
                lines.append(f"job {job.id}: its worker did not stop on the cancel; stopping it")
                del self._cancel_seen[job.id]
                self.engine.stop(job)
                return _reread(self.paths, job)
        return job

    def _gone(self, job: Job, lines: list[str]) -> Job:
        """Its worker ended without recording the end (killed, or the machine restarted):
        its run is closed as killed and the job ends, once (a worker that recorded its end
        meanwhile keeps its record)."""
        ending = self.engine.ending(job)
        close_run(self.paths, job, ending)
        cancelled = cancel_requested(job)
        ended = transition(
            self.paths,
            job.id,
            (JobState.RUNNING,),
            state=JobState.CANCELLED if cancelled else JobState.FAILED,
            ended=time.time(),
            reason=job.reason if cancelled else (ending.reason if ending else KILLED),
        )
        if ended is None:
            return _reread(self.paths, job)
        lines.append(f"job {job.id} (run {job.run_id}) {ended.state}: its worker is gone")
        return ended

    def _start(self, now: float, placements: list[tuple[Job, Slot]], lines: list[str]) -> list[Job]:
        started: list[Job] = []
        self._start_at = None
        for job, slot in placements:
            try:
                begun = self.engine.start(job, slot)
            except EngineUnavailable as error:  # the job stays queued; so do the rest
                self._start_at = now + RETRY_S
                if self._say_once("engine", str(error)):
                    lines.append(f"{error}; tried again every {RETRY_S:g}s")
                break
            except EngineError as error:
                lines.append(str(error))
                continue
            self._said.pop("engine", None)
            if begun is None:  # claimed or cancelled by someone else first
                continue
            self._known.add(job.id)
            who = f"{job.kind} of {job.agent or 'nobody'}"
            lines.append(
                f"job {job.id} ({job.variant} seed {job.seed}, {who}) started on {slot.name}"
            )
            started.append(begun)
        return started

    def _ended_outside(self, jobs: list[Job], now: float, lines: list[str]) -> list[Job]:
        """Jobs that ended since the last look because something outside the org ended them
        (Slurm's time limit, preemption, ``scancel``, a node failure): their agent and the
        chief are told, once, that the run is left out of verdicts; a preempted job is
        resubmitted once when ``[compute.slurm] requeue`` says so. Returns the resubmissions.

        A job whose engine still winds it down (Slurm says COMPLETING) is asked about again
        at the next looks, for :data:`SETTLE_S` at most; its batch waits for the answer."""
        resubmitted: list[Job] = []
        for job in jobs:
            if job.id not in self.running and job.id not in self.settling:
                continue
            if job.state != JobState.FAILED or job.exit_code is not None:
                continue  # done, cancelled, or its trainer ended by itself: nothing from outside
            if self.engine.alive(job) and now - self.settling.setdefault(job.id, now) < SETTLE_S:
                continue
            self.settling.pop(job.id, None)
            ending = self.engine.ending(job)
            if ending is None:
                continue
            again = self._requeue(job, ending) if ending.preempted else None
            if again is not None:
                resubmitted.append(again)
            self._post(self._ended_notice(job, ending, again))
            lines.append(
                f"job {job.id} (run {job.run_id}): {ending.reason}"
                + (f"; resubmitted as job {again.id}" if again else "")
            )
        return resubmitted

    def _requeue(self, job: Job, ending: Ending) -> Job | None:
        """A copy of a preempted job under a new id and run, once (never a copy's copy)."""
        if not self.config.compute.slurm.requeue or job.reason.startswith(REQUEUED):
            return None
        again = job.with_changes(
            id=new_job_id(),
            run_id=new_run_id(job.variant, job.seed),
            reason=f"{REQUEUED} job {job.id} was preempted",
            state=JobState.QUEUED,
            created=0.0,
            started=None,
            ended=None,
            slot=None,
            engine_id=None,
            exit_code=None,
        )
        marked = transition(  # marked first: a restart never resubmits it a second time
            self.paths,
            job.id,
            (JobState.FAILED,),
            reason=f"{ending.reason}; resubmitted as job {again.id}",
        )
        return submit(self.paths, [again])[0] if marked else None

    def _ended_notice(self, job: Job, ending: Ending, again: Job | None) -> Notice:
        status, why = ending.status, ending.reason
        body = (
            f"Run {job.run_id} ({job.variant} seed {job.seed}) ended {status}: {why}. "
            "The ledger leaves it out of verdicts."
        )
        if again is not None:
            body += f" Resubmitted once as job {again.id} (run {again.run_id})."
        return Notice(
            sender="supervisor",
            to=self._recipients(job.agent),
            thread=job.thread or job.variant,
            kind="system",
            subject=_subject(f"run {job.run_id} {status}: {why}"),
            body=body,
            refs=(job.run_id,),
        )

    # -- ended batches -----------------------------------------------------------------------
    def _finish_batches(self, jobs: list[Job], now: float, lines: list[str]) -> None:
        book = self._book if self._book is not None else Book.load(self.paths)
        self._book = book
        groups: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            if job.batch:
                groups[job.batch].append(job)
        ended = [
            batch
            for batch, members in groups.items()
            if all(j.state.finished and j.id not in self.settling for j in members)
        ]
        if book.fresh:  # the first look of all: what ended before it is not news
            book.done |= set(ended)
            book.save(self.paths, set(groups))
        self._retry_at = None
        for batch in [b for b in ended if b not in book.done]:
            try:
                self._finish(batch, groups[batch], jobs, book, lines)
            except (OrgtuiError, OSError) as error:
                self._retry_at = now + RETRY_S
                if self._say_once(f"batch {batch}", str(error)):
                    lines.append(f"batch {batch}: {error}; retried every {RETRY_S:g}s")
                continue
            book.done.add(batch)
            book.owed.pop(batch, None)
            book.save(self.paths, {job.batch for job in jobs})

    def _finish(
        self, batch: str, members: list[Job], jobs: list[Job], book: Book, lines: list[str]
    ) -> None:
        if any(job.post_result for job in members):
            self._post_result(members, lines)
        kinds = {job.kind for job in members}
        if JobKind.REQUEST in kinds and self.config.discipline.auto:
            self._controls(batch, members, jobs, book, lines)
        if JobKind.CONTROL in kinds:
            self._verdict(batch, members, jobs, lines)

    def _post_result(self, members: list[Job], lines: list[str]) -> None:
        ran = [job for job in members if job.started is not None]
        if not ran:
            return
        first = ran[0]
        thread = first.thread or first.variant
        refs = tuple(job.run_id for job in ran)
        if _on_board(self.paths, thread, first.agent or "human", "result", refs):
            return
        message = post_jobs_result(self.paths, ran)
        if message:
            lines.append(f"posted the result of {first.variant} on thread {thread}: {message}")

    def _controls(
        self, batch: str, claim: list[Job], jobs: list[Job], book: Book, lines: list[str]
    ) -> None:
        """Plan the claim's controls once (the queue holds them once submitted); announce."""
        own = control_batch(batch)
        first = claim[0]
        if not any(job.batch == own for job in jobs):
            if not any(job.state == JobState.DONE for job in claim):
                return  # nothing ran to the end: no claim to check
            ledger = Ledger.load(self.paths)
            plan = plan_controls(
                ledger,
                jobs,
                claim,
                self.config.discipline,
                self._program_commit(),
                _spent_hours(ledger, jobs),
            )
            lines += [f"controls of {first.variant}: not scheduled: {why}" for why in plan.skipped]
            if not plan.jobs or plan.announcement is None:
                return
            book.owed[batch] = self._announcement(first, plan.announcement, plan.jobs, plan.skipped)
            book.save(self.paths, {job.batch for job in jobs})
            submitted = submit(self.paths, list(plan.jobs))
            jobs += submitted
            lines.append(f"{plan.announcement} (batch {own}, for {first.variant})")
        notice = book.owed.get(batch)
        if notice is not None:
            self._post(notice)

    def _announcement(
        self, claim: Job, text: str, controls: Sequence[Job], skipped: Sequence[str]
    ) -> Notice:
        body = [text + ".", ""]
        body += [f"- {j.reason}: {j.variant} seed {j.seed}, run {j.run_id}" for j in controls]
        body += ["", "not scheduled:", *(f"- {why}" for why in skipped)] if skipped else []
        return Notice(
            sender="supervisor",
            to=self._recipients(claim.agent),
            thread=claim.thread or claim.variant,
            kind="system",
            subject=_subject(f"ledger: {text}"),
            body="\n".join(body),
            refs=tuple(j.run_id for j in controls),
        )

    def _verdict(self, batch: str, controls: list[Job], jobs: list[Job], lines: list[str]) -> None:
        claim = [
            job
            for job in jobs
            if job.kind == JobKind.REQUEST and job.batch and control_batch(job.batch) == batch
        ]
        subject, body = final_verdict(Ledger.load(self.paths), claim, controls)
        first = claim[0] if claim else controls[0]
        notice = Notice(
            sender="supervisor",
            to=self._recipients(claim[0].agent if claim else None),
            thread=controls[0].thread or first.thread or first.variant,
            kind="result",
            subject=_subject(subject),
            body=body,
            refs=tuple(job.run_id for job in claim + controls),
        )
        if self._post(notice):
            lines.append(f"posted the final verdict on thread {notice.thread}: {subject}")

    def _recipients(self, agent: str | None) -> tuple[str, ...]:
        """The agent who claimed and the chiefs, those the board knows (else the person)."""
        from orgtui.process import chiefs
        from orgtui.supervisor.state import load_state

        known = set(self.config.agent_names) | set(load_state(self.paths).seats)
        wanted = dict.fromkeys([agent, *chiefs(self.config)])
        return tuple(name for name in wanted if name and name in known) or ("human",)

    def _post(self, notice: Notice) -> bool:
        """Post unless it is on the board already; True when posted now."""
        from orgtui import board

        if _on_board(self.paths, notice.thread, notice.sender, notice.kind, notice.refs):
            return False
        board.post(
            self.paths,
            sender=notice.sender,
            to=list(notice.to),
            subject=notice.subject,
            body=notice.body,
            kind=notice.kind,
            thread=notice.thread,
            refs=notice.refs,
            known_agents=self.config.agent_names,
        )
        return True

    def _program_commit(self) -> str | None:
        from orgtui.supervisor.worktrees import branch_head

        try:
            return branch_head(self.config.root, self.config.org.program_branch)
        except OrgtuiError:  # no git repo, or a broken one: any baseline commit counts
            return None


# ------------------------------------------------------------------------------ helpers


def _mtime(paths: OrgPaths) -> int | None:
    try:
        return os.stat(paths.queue_dir).st_mtime_ns
    except OSError:
        return None


def _lending(seats: Mapping[str, Seat]) -> tuple[tuple[str, int | None, bool], ...]:
    """What placement reads of the seats: who holds which GPU, and whether it lends it."""
    return tuple(sorted((n, s.gpu, s.status in LENDING) for n, s in seats.items()))


def _owner_view(jobs: list[Job]) -> list[Job]:
    """Jobs as placement sees them: a control belongs to the agent whose claim it checks, so
    it may run on that agent's GPU and counts towards that agent's share."""
    claimant = {
        control_batch(job.batch): job.agent
        for job in jobs
        if job.kind == JobKind.REQUEST and job.batch and job.agent
    }
    return [
        job.with_changes(agent=claimant.get(job.batch))
        if job.kind == JobKind.CONTROL and job.agent is None
        else job
        for job in jobs
    ]


def _reread(paths: OrgPaths, job: Job) -> Job:
    current = load_job(paths.job_file(job.id))
    return current if isinstance(current, Job) else job


def _spent_hours(ledger: Ledger, jobs: Sequence[Job]) -> float:
    """GPU-hours (CPU-hours without GPUs) the ledger's own controls have run so far."""
    ran = {job.run_id for job in jobs if job.kind == JobKind.CONTROL and job.started}
    hours = [run.gpu_hours for run in ledger.runs if run.run_id in ran]
    return math.fsum(h for h in hours if math.isfinite(h) and h >= 0)


def _on_board(paths: OrgPaths, thread: str, sender: str, kind: str, refs: Sequence[str]) -> bool:
    """A message from ``sender`` of ``kind`` citing exactly ``refs`` is on the thread."""
    from orgtui import board

    wanted = sorted(refs)
    return any(
        m.sender == sender and m.kind == kind and sorted(m.refs) == wanted
        for m in board.thread_of(paths, thread)
    )


def _subject(text: str) -> str:
    from orgtui.board.message import MAX_SUBJECT_CHARS

    return text if len(text) <= MAX_SUBJECT_CHARS else text[: MAX_SUBJECT_CHARS - 3] + "..."
