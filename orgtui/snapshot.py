"""The TUI's read model: one ``OrgSnapshot`` of ``.org/``, built off the event loop.

- Forgiving: a missing supervisor, a torn metrics line or a malformed board file becomes a
  field of the snapshot, never an exception, because the TUI must draw whatever state the
  org is in.
- Cheap to import: every reader is imported inside the method that needs it, so the TUI's
  first frame does not wait for libtmux, GitPython, psutil or the ledger; the records of the
  full read (``orgtui.views``) come with it, since the first frame shows the seats alone.
- Pane text and commits come from the modules that own tmux and git (``supervisor.tmux``,
  ``supervisor.worktrees``); callers ask only for what is on screen, from a worker thread.
- Cheap to refresh: runs are re-parsed only when their metrics grew, queue files only when
  they changed, and the GPU samples behind the idle count are read once and then only the
  new ones.
- A cluster engine (``[compute] engine = "slurm"``) is seen through ``.org/engine.json``,
  which the supervisor's engine writes: re-read only when the file changed, never for a local
  engine, and anything but a well-formed status reads as "not known".
- Model tokens and their money come from each seat's ``spend.json`` (the supervisor's
  collector writes it) priced with org.toml's ``[prices]`` over the shipped ones: read in the
  full snapshot only, again only when the file changed (an atomic rewrite is a new inode), and
  re-priced only when the prices did. A bad file reads as no usage.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orgtui.paths import OrgPaths

if TYPE_CHECKING:
    from orgtui.config import AgentSpec, OrgConfig
    from orgtui.gpu import GpuSample
    from orgtui.queue.jobs import Job, MalformedJob
    from orgtui.spend.prices import Price
    from orgtui.spend.tokens import TokenCounts
    from orgtui.supervisor.state import OrgState, Seat
    from orgtui.supervisor.tmux import Tmux
    from orgtui.views import (
        ClusterJob,
        EngineView,
        GpuView,
        JobView,
        MessageView,
        Narration,
        SpendView,
        VerdictView,
    )

SPARK_POINTS = 48
"""A run's loss curve is averaged down to this many points, whatever its length."""
LATEST_VERDICTS = 4
PANE_SCROLLBACK = 40
"""Extra lines captured above the wanted ones, so blank lines at a pane's bottom are skipped."""
RECENT_JOBS = 10
"""Finished jobs the queue screen lists, the latest first."""
MAX_WINDOW_SAMPLES = 1 << 16
"""The most GPU samples read back for the idle count (18 hours at one a second)."""
ENGINE_STATUS_LIMIT = 1 << 20
"""``.org/engine.json`` is read up to this size; a larger one is not the engine's."""
CARD_CLUSTER_JOBS = 2
"""Cluster jobs a card names; it counts the rest."""
MODEL_NAME_LIMIT = 48
"""A model name is shown up to this many characters (spend.json is anyone's to edit)."""


@dataclass(frozen=True)
class AgentView:
    """One agent card."""

    name: str
    role: str
    backend: str
    status: str
    branch: str | None = None
    gpu: int | None = None
    gpu_view: GpuView | None = None
    unread: int = 0
    detail: str = ""
    run_id: str | None = None
    loss: tuple[float, ...] = ()
    """The latest run's train loss over the whole run, smoothed (``trend``) and averaged down
    to ``SPARK_POINTS``; ``loss_now`` and ``loss_best`` are read off the same smoothed curve."""
    loss_now: float | None = None
    loss_best: float | None = None
    last_value: float | None = None
    """The latest run's latest eval of the task's metric (val bpb unless org.toml says)."""
    last_eval: str = ""
    """The same as the card shows it: ``bpb 2.8061``, ``val_acc 0.9312``."""
    pane_id: str | None = None
    window_id: str | None = None
    restarts: int = 0
    jobs_queued: int = 0
    jobs_running: int = 0
    """The agent's experiment jobs waiting in the queue and running now."""
    cluster_jobs: tuple[ClusterJob, ...] = ()
    """Its running jobs as the cluster scheduler sees them (a cluster engine only)."""
    spend: SpendView | None = None
    """Its model tokens and money; None while it has used none (or the read has not come)."""


@dataclass(frozen=True)
class QueueView:
    """The experiment queue: its slots, then jobs queued (in the order they will start),
    running, and the latest finished."""

    slots: tuple[str, ...] = ()
    jobs: tuple[JobView, ...] = ()

    def in_state(self, state: str) -> tuple[JobView, ...]:
        return tuple(job for job in self.jobs if job.state == state)

    @property
    def waiting(self) -> int:
        return len(self.in_state("queued"))

    @property
    def malformed(self) -> int:
        return len(self.in_state("malformed"))


@dataclass(frozen=True)
class OrgSnapshot:
    """Everything the main screen draws, read at one moment."""

    name: str
    task: str
    session: str
    socket: str | None
    supervisor_alive: bool
    supervisor_started: float | None
    agents: tuple[AgentView, ...]
    messages: tuple[MessageView, ...]
    gpu_hours: float
    best_improvement: str
    gpu_source: str
    taken: float = field(default_factory=time.time)
    problems: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    """Role prompts under ``roles/`` (for the new-agent dialog)."""
    verdicts: tuple[VerdictView, ...] = ()
    """The ledger's verdicts, the variant with the latest run first."""
    story: Narration | None = None
    queue: QueueView = field(default_factory=QueueView)
    idle_gpus: tuple[int, ...] = ()
    """GPUs below 5% utilisation for ``[discipline] idle_minutes``."""
    complete: bool = True
    """False for the first, quick read (seats only): board, runs, GPUs and ledger to follow."""
    engine: EngineView | None = None
    """The cluster engine's view; None for the local engine."""
    spend: SpendView | None = None
    """Every seat's model tokens and money together; None while none has used any."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """org.toml's ``[keys]``: binding id -> key (empty until org.toml is read)."""

    def agent(self, name: str) -> AgentView | None:
        return next((a for a in self.agents if a.name == name), None)

    @property
    def hours_label(self) -> str:
        """What the runs' hours were spent on: no GPU source means they ran on the CPU."""
        return compute_label(self.gpu_source)


def compute_label(gpu_source: str) -> str:
    """``CPU-hours`` on a machine without GPUs (source ``none``), else ``GPU-hours``."""
    return "CPU-hours" if gpu_source == "none" else "GPU-hours"


Narrator = Callable[[OrgSnapshot, Sequence[Any]], "Narration"]
"""Tells a story over a snapshot and its runs (``orgtui demo`` passes one); from a worker."""


class Feed:
    """Reads snapshots of one org; caches parsed runs by file size so refreshes stay cheap.

    Every method blocks on files, tmux or git: call them from a worker thread.
    """

    def __init__(
        self, root: Path, socket: str | None = None, narrator: Narrator | None = None
    ) -> None:
        self.root = root
        self.narrator = narrator
        self.paths = OrgPaths(root)
        self.socket = socket
        self.tmux_socket = socket
        """The tmux server the org runs on: ``--socket``, else the one state.json records."""
        self._tmux: Tmux | None = None
        self._runs: dict[Path, tuple[int, Any]] = {}
        self._ledger: tuple[tuple[Any, ...], tuple[str, tuple[VerdictView, ...]]] | None = None
        self._jobs: dict[str, tuple[tuple[int, int, int], Job | MalformedJob]] = {}
        self._window: list[GpuSample] = []
        """The GPU samples of the idle window, oldest first, as last read."""
        self._engine: tuple[tuple[str, tuple[int, ...] | None], EngineView] | None = None
        """The last engine status read, with the engine and the file (inode, mtime, size,
        mode) it came from."""
        self._spend: dict[str, tuple[tuple[int, ...] | None, dict[str, TokenCounts]]] = {}
        """Each seat's tokens by model, with the spend.json (inode, mtime, size, mode) read."""
        self._spend_views: tuple[Mapping[str, Price], dict[str, SpendView]] | None = None
        """The seats' spend as last priced, with the prices it was priced at."""

    def _config(self) -> tuple[OrgConfig | None, str | None]:
        from orgtui.config import load_config
        from orgtui.errors import OrgtuiError

        try:
            return load_config(self.root), None
        except OrgtuiError as error:
            return None, str(error)

    def _state(self) -> OrgState:
        from orgtui.supervisor.state import load_state

        return load_state(self.paths)

    def runs(self, measure: Any = None) -> list[Any]:
        """Every run as ``measure`` (the task's metric and cost; val bpb at FLOPs by default)
        reads it, re-parsing only the metrics files that grew."""
        from orgtui.ledger import load_run
        from orgtui.ledger.measure import DEFAULT

        measure = measure or DEFAULT

        try:
            dirs = [d for d in self.paths.runs_dir.iterdir() if d.is_dir()]
        except OSError:
            return []
        out = []
        for run_dir in dirs:
            try:
                size = (run_dir / "metrics.jsonl").stat().st_size
            except OSError:
                size = -1
            cached = self._runs.get(run_dir)
            if cached is None or cached[0] != (size, measure) or size < 0:
                cached = ((size, measure), load_run(run_dir, measure))
                self._runs[run_dir] = cached
            out.append(cached[1])
        return sorted(out, key=lambda r: (r.started, r.run_id))

    def roster(self, now: float | None = None) -> OrgSnapshot:
        """The seats alone: enough for the first frame's cards, read in a fraction of a full
        snapshot's time; ``snapshot`` fills in the rest. They come from state.json, in its order,
        when it has any (org.toml, whose reader costs more than the whole read, only when it has
        none: an org not started yet), and whether the supervisor lives is asked of the kernel
        alone (``pid_exists``): psutil comes with the full snapshot too. So the first frame may
        lack the task, org.toml's agents without a seat yet and its order; the next read brings
        them (the main screen moves the cards into its order)."""
        state = self._state()
        config, problem = (None, None) if state.seats else self._config()
        specs = {a.name: a for a in config.agents} if config else {}
        names = list(specs) + [n for n in state.seats if n not in specs]
        seats = state.seats
        agents = tuple(_agent_view(n, seats.get(n), specs.get(n), None, {}, {}) for n in names)
        return OrgSnapshot(
            name=config.org.name if config else state.org or self.root.name,
            task=config.org.task if config else "",
            session=state.session or (config.org.session_name if config else ""),
            socket=self.socket or state.tmux_socket,
            supervisor_alive=pid_exists(state.supervisor.pid),
            supervisor_started=state.supervisor.started,
            agents=agents,
            messages=(),
            gpu_hours=0.0,
            best_improvement="…",
            gpu_source="",
            taken=time.time() if now is None else now,
            problems=(problem,) if problem else (),
            complete=False,
        )

    def snapshot(self, now: float | None = None) -> OrgSnapshot:
        from orgtui import board
        from orgtui.views import SpendView

        config, problem = self._config()
        state = self._state()
        problems = [problem] if problem else []
        specs = {a.name: a for a in config.agents} if config else {}
        names = list(specs) + [n for n in state.seats if n not in specs]
        try:
            listed = board.list_messages(self.paths)
        except OSError as error:
            listed, problems = [], [*problems, f"board: {error}"]
        messages = [m for m in listed if isinstance(m, board.Message)]
        unread = _unread_counts(self.paths, names, messages)
        human_read = board.read_state(self.paths, "human")
        from orgtui.ledger.measure import DEFAULT, Measure

        measure = Measure.of(config.ledger) if config else DEFAULT
        runs = self.runs(measure)
        latest_run = {r.agent: r for r in runs if r.agent}
        gpus, source = _gpus(self.paths)
        taken = time.time() if now is None else now
        queue = self.queue_entries()
        engine = self.engine_status(config)
        queue_view = _queue_view(queue, runs, _slots(config, state, gpus), taken, engine)
        agents = tuple(
            _agent_view(
                name,
                state.seats.get(name),
                specs.get(name),
                latest_run.get(name),
                unread,
                gpus,
                measure,
            )
            for name in names
        )
        if queue:
            agents = _with_job_counts(agents, queue_view)
        spends = self.spend(names, config)
        if spends:
            agents = tuple(replace(view, spend=spends.get(view.name)) for view in agents)
        self.tmux_socket = self.socket or state.tmux_socket
        best, verdicts = self._judged(runs)
        snapshot = OrgSnapshot(
            name=config.org.name if config else state.org or self.root.name,
            task=config.org.task if config else "",
            session=state.session or (config.org.session_name if config else ""),
            socket=self.tmux_socket,
            supervisor_alive=state.supervisor_alive(),
            supervisor_started=state.supervisor.started,
            agents=agents,
            messages=tuple(_message_view(m, human_read) for m in listed[-200:]),
            gpu_hours=sum(r.gpu_hours for r in runs),
            best_improvement=best,
            gpu_source=source,
            taken=taken,
            problems=tuple(problems),
            roles=_roles(self.paths),
            verdicts=verdicts,
            queue=queue_view,
            idle_gpus=self._idle(config, source, taken),
            engine=engine,
            spend=sum(spends.values(), SpendView()) if spends else None,
            keys=dict(config.keys) if config else {},
        )
        if self.narrator is None:
            return snapshot
        return replace(snapshot, story=self.narrator(snapshot, runs))

    def _judged(self, runs: list[Any]) -> tuple[str, tuple[VerdictView, ...]]:
        """The best improvement and the latest verdicts; judged again only when a run changed."""
        key = tuple((r.run_id, r.status, len(r.evals), r.wall_s) for r in runs)
        if self._ledger is None or self._ledger[0] != key:
            self._ledger = (key, _judge(self.paths, runs))
        return self._ledger[1]

    def queue_entries(self) -> list[Job | MalformedJob]:
        """Every queue file, oldest first, re-read only when it changed (an atomic rewrite
        is a new inode); nothing is imported or parsed while the queue is empty."""
        try:
            with os.scandir(self.paths.queue_dir) as listing:
                found = {
                    entry.name: entry.stat(follow_symlinks=False)
                    for entry in listing
                    if entry.name.endswith(".json")
                }
        except OSError:
            found = {}
        if not found:
            self._jobs = {}
            return []
        from orgtui.queue.jobs import load_job

        cache, self._jobs = self._jobs, {}
        for name in sorted(found):
            info = found[name]
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = cache.get(name)
            if cached is None or cached[0] != key:
                cached = (key, load_job(self.paths.queue_dir / name))
            self._jobs[name] = cached
        return [entry for _, entry in self._jobs.values()]

    def engine_status(self, config: OrgConfig | None) -> EngineView | None:
        """What the cluster engine last wrote (None for the local engine, nothing read);
        re-read only when the file changed (an atomic rewrite is a new inode)."""
        from orgtui.views import EngineView

        engine = config.compute.engine if config is not None else "local"
        if engine == "local":
            self._engine = None
            return None
        path = self.paths.engine_status
        try:
            info = os.lstat(path)
            key = (info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)
        except OSError:
            key = None
        if self._engine is None or self._engine[0] != (engine, key):
            view = read_engine_status(path, engine) if key else EngineView(engine)
            self._engine = ((engine, key), view)
        return self._engine[1]

    def spend(self, names: Sequence[str], config: OrgConfig | None) -> dict[str, SpendView]:
        """Model tokens and money of ``names`` and of every other seat on disk (as ``orgtui
        spend`` counts them), for the seats with any. A spend.json is parsed again only when
        it changed, and the seats priced again only when something was or the prices changed
        (org.toml's ``[prices]`` over the shipped ones; the shipped ones without org.toml)."""
        from orgtui.names import is_valid_name
        from orgtui.spend.prices import price_table
        from orgtui.spend.tokens import seat_usage

        prices = price_table(config.prices if config is not None else None)
        cache, self._spend = self._spend, {}
        changed = False
        for name in dict.fromkeys([*names, *self._seat_dirs()]):
            if not is_valid_name(name):  # a hostile state.json's seat
                continue
            key = _file_key(self.paths.spend_file(name))
            cached = cache.get(name)
            if cached is None or cached[0] != key:
                cached = (key, seat_usage(self.paths, name) if key else {})
                changed = True
            self._spend[name] = cached
        changed = changed or cache.keys() != self._spend.keys()
        if changed or self._spend_views is None or self._spend_views[0] != prices:
            views = {name: _spend_view(usage, prices) for name, (_, usage) in self._spend.items()}
            self._spend_views = (prices, {n: v for n, v in views.items() if v is not None})
        return self._spend_views[1]

    def _seat_dirs(self) -> list[str]:
        """The seats with a directory under ``.org/agents/`` (one removed from org.toml too)."""
        from orgtui.names import is_valid_name

        try:
            with os.scandir(self.paths.agents_dir) as listing:
                found = [entry.name for entry in listing if entry.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        return sorted(name for name in found if is_valid_name(name))

    def _idle(self, config: OrgConfig | None, source: str, now: float) -> tuple[int, ...]:
        """GPUs idle for ``[discipline] idle_minutes`` (none without GPUs or org.toml)."""
        if config is None or config.gpus == "none" or source == "none":
            return ()
        from orgtui.gpu.idle import MAX_GAP_S, idle_gpus

        idle_s = max(0.0, config.discipline.idle_minutes * 60.0)
        every_s = max(config.gpu.sample_every_s, 0.001)
        self._window = self._read_window(now - idle_s, math.ceil(idle_s / every_s) + 2)
        return tuple(idle_gpus(self._window, now, idle_s, max_gap_s=max(MAX_GAP_S, 3 * every_s)))

    def _read_window(self, since: float, expected: int) -> list[GpuSample]:
        """The samples from ``since`` on (and the last one before it): all of them the first
        time, then only those newer than the last one read."""
        old = self._window
        if old:
            batch = self._read_back(since, 4, after=old[-1].time)
            if batch and batch[0].time <= old[-1].time <= batch[-1].time:
                return _since(old + [s for s in batch if s.time > old[-1].time], since)
        return _since(self._read_back(since, expected), since)

    def _read_back(self, since: float, count: int, after: float | None = None) -> list[GpuSample]:
        """The ring's last samples, reading 4x further back each time until they reach
        ``since`` or ``after`` (the newest sample read before), or the ring's start."""
        from orgtui.gpu import read_samples

        count = min(max(count, 4), MAX_WINDOW_SAMPLES)
        while True:
            batch = read_samples(self.paths, last_n=count)
            oldest = batch[0].time if batch else -math.inf
            reached = oldest <= since or (after is not None and oldest <= after)
            if reached or len(batch) < count or count >= MAX_WINDOW_SAMPLES:
                return batch
            count = min(count * 4, MAX_WINDOW_SAMPLES)

    def pane_text(self, pane_id: str, lines: int = 8) -> str:
        """The last ``lines`` non-blank-ended lines of a pane; empty when tmux says no."""
        from orgtui.errors import OrgtuiError

        try:
            if self._tmux is None:
                from orgtui.supervisor.tmux import Tmux

                self._tmux = Tmux(self.tmux_socket)
            out = self._tmux.capture(pane_id, max(lines, 1) + PANE_SCROLLBACK)
        except (OrgtuiError, OSError, ValueError):  # ValueError: a NUL in the id
            return ""
        kept = [line.rstrip() for line in out.splitlines()]
        while kept and not kept[-1]:
            kept.pop()
        return "\n".join(kept[-lines:])

    def commits(self, agent: str, count: int = 1) -> list[str]:
        """``<sha> <subject>`` of the agent's last commits, from its worktree."""
        from orgtui.errors import OrgtuiError

        try:
            worktree = self.paths.worktree(agent)
        except OrgtuiError:
            return []
        if not worktree.is_dir():
            return []  # no worktree yet: GitPython is not even imported
        from orgtui.supervisor.worktrees import recent_commits

        return recent_commits(worktree, count)


def _agent_view(
    name: str,
    seat: Seat | None,
    spec: AgentSpec | None,
    run: Any,
    unread: dict[str, int],
    gpus: dict[int, GpuView],
    measure: Any = None,
) -> AgentView:
    """The only reader of seat records: a seat from state.json, else its org.toml spec."""
    last = run.evals[-1][2] if run and run.evals else None
    curve = trend([loss for _, _, loss in run.train]) if run else []
    gpu = seat.gpu if seat is not None else spec.gpu if spec else None
    return AgentView(
        name=name,
        role=(seat.role if seat else "") or (spec.role if spec else "?"),
        backend=(seat.backend if seat else "") or (spec.backend if spec else "?"),
        status=str(seat.status) if seat else "dead",
        branch=seat.branch if seat else None,
        gpu=gpu,
        gpu_view=gpus.get(gpu) if gpu is not None else None,
        unread=unread.get(name, 0),
        detail=seat.detail if seat else "",
        run_id=run.run_id if run else None,
        loss=smooth(curve, SPARK_POINTS),
        loss_now=curve[-1] if curve else None,
        loss_best=min(curve) if curve else None,
        last_value=last,
        last_eval=f"{measure.label} {measure.fmt(last)}" if last is not None and measure else "",
        pane_id=seat.pane_id if seat else None,
        window_id=seat.window_id if seat else None,
        restarts=seat.restarts if seat else 0,
    )


def _file_key(path: Path) -> tuple[int, ...] | None:
    """``path`` as (inode, mtime, size, mode), itself and not what it links to; None: absent."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)


def _spend_view(usage: Mapping[str, TokenCounts], prices: Mapping[str, Price]) -> SpendView | None:
    """A seat's tokens by model, priced; None when it has none. A model without a price keeps
    its tokens and is named as left out of the money."""
    from orgtui.spend.prices import price_of
    from orgtui.views import ModelSpend, SpendView

    rows = []
    for model, counts in usage.items():
        if not counts.total:
            continue
        price = price_of(model, prices)
        rows.append(
            ModelSpend(
                _word(model, MODEL_NAME_LIMIT) or "?",
                counts.input,
                counts.output,
                counts.cache_write,
                counts.cache_read,
                price.cost(counts) if price is not None else None,
            )
        )
    if not rows:
        return None
    priced = [row.money for row in rows if row.money is not None]
    return SpendView(
        tokens=sum(row.tokens for row in rows),
        money=sum(priced) if priced else None,
        unpriced=tuple(sorted({row.model for row in rows if row.money is None})),
        models=tuple(sorted(rows, key=lambda row: (-row.tokens, row.model))),
    )


def _unread_counts(paths: OrgPaths, names: list[str], messages: list[Any]) -> dict[str, int]:
    from orgtui import board
    from orgtui.errors import OrgtuiError

    counts = {}
    for name in names:
        try:
            seen = board.read_state(paths, name)
        except (OrgtuiError, OSError, ValueError):  # OrgtuiError: a seat with an invalid name
            continue
        counts[name] = sum(1 for m in messages if m.addressed_to(name) and not seen.is_read(m))
    return counts


def _message_view(item: Any, human_read: Any) -> MessageView:
    from orgtui import board
    from orgtui.views import MessageView

    if isinstance(item, board.Message):
        return MessageView(
            id=item.id,
            sender=item.sender,
            to=tuple(item.to),
            subject=item.subject,
            kind=item.kind,
            thread=item.thread or "",
            time=item.time,
            body=item.body,
            reply_to=item.reply_to,
            unread=item.addressed_to("human") and not human_read.is_read(item),
        )
    return MessageView(
        id=item.id,
        sender="?",
        to=(),
        subject=Path(str(item.path)).name,
        kind="malformed",
        thread="",
        time="",
        malformed=str(item.reason),
    )


def _gpus(paths: OrgPaths) -> tuple[dict[int, GpuView], str]:
    from orgtui.gpu import latest_sample
    from orgtui.views import GpuView

    try:
        sample = latest_sample(paths)
    except (OSError, ValueError, KeyError):
        sample = None
    if sample is None:
        return {}, "none"
    source = "replay" if sample.source.startswith("replay") else sample.source or "nvml"
    views = {
        g.index: GpuView(g.index, g.util, g.mem_used, g.mem_total, g.power_w, source)
        for g in sample.gpus
    }
    return views, source


def _since(samples: list[GpuSample], since: float) -> list[GpuSample]:
    """``samples`` from the last one at or before ``since`` on."""
    first = max((i for i, sample in enumerate(samples) if sample.time <= since), default=0)
    return samples[first:]


def _with_job_counts(agents: tuple[AgentView, ...], queue: QueueView) -> tuple[AgentView, ...]:
    """Each agent's queued and running jobs, and its running ones on the cluster."""
    counts: dict[tuple[str | None, str], int] = {}
    cluster: dict[str | None, list[ClusterJob]] = {}
    for job in queue.jobs:
        counts[(job.agent, job.state)] = counts.get((job.agent, job.state), 0) + 1
        if job.state == "running" and job.cluster is not None:
            cluster.setdefault(job.agent, []).append(job.cluster)
    return tuple(
        replace(
            view,
            jobs_queued=counts.get((view.name, "queued"), 0),
            jobs_running=counts.get((view.name, "running"), 0),
            cluster_jobs=tuple(cluster.get(view.name, ())),
        )
        for view in agents
    )


def _slots(config: OrgConfig | None, state: OrgState, gpus: dict[int, GpuView]) -> tuple[str, ...]:
    """The scheduler's slots: one per GPU the samples show, else ``[compute] slots`` CPU
    slots (without org.toml: the GPUs, else one CPU slot)."""
    if config is None:
        return tuple(f"gpu{index}" for index in sorted(gpus)) or ("cpu0",)
    from orgtui.queue.scheduler import slots

    return tuple(slot.name for slot in slots(config, state, len(gpus)))


def _queue_view(
    entries: list[Job | MalformedJob],
    runs: list[Any],
    slots: tuple[str, ...],
    now: float,
    engine: EngineView | None = None,
) -> QueueView:
    """Queued jobs in the order the scheduler takes them (priority, then age), running ones
    with the time they have left, the latest finished; malformed files as such. On a cluster
    engine, each submitted job with its cluster job id and state."""
    from orgtui.queue.jobs import Job, cancel_requested
    from orgtui.views import JobView

    if not entries:
        return QueueView(slots=slots)
    jobs = [e for e in entries if isinstance(e, Job)]
    queued = _scheduling_order(jobs)
    running = sorted((j for j in jobs if j.state == "running"), key=lambda j: j.started or 0.0)
    ended = sorted(
        (j for j in jobs if j.state.finished), key=lambda j: j.ended or j.created, reverse=True
    )
    estimate = _durations(runs)
    left = {j.id: _left(estimate(j.variant), j.started, now) for j in running}
    left |= _waits(queued, [left[j.id] for j in running], len(slots), estimate)
    views = [
        JobView(
            id=j.id,
            state=str(j.state),
            variant=j.variant,
            seed=j.seed,
            agent=j.agent,
            kind=str(j.kind),
            priority=j.priority,
            slot=j.slot,
            created=j.created,
            started=j.started,
            ended=j.ended,
            left_s=left.get(j.id),
            reason=j.reason,
            cancelling=cancel_requested(j),
            cluster=_cluster_job(engine, j),
        )
        for j in [*running, *queued, *ended[:RECENT_JOBS]]
    ]
    views += [
        JobView(id=e.id, state="malformed", malformed=e.problem)
        for e in entries
        if not isinstance(e, Job)
    ]
    used = [j.slot for j in running if j.slot and j.slot not in slots]
    return QueueView(slots=slots + tuple(dict.fromkeys(used)), jobs=tuple(views))


def _cluster_job(engine: EngineView | None, job: Job) -> ClusterJob | None:
    """The job on the cluster: the engine's word on it when it speaks of the same cluster
    job, else the id the job file records with its state not known."""
    from orgtui.views import ClusterJob

    if engine is None:
        return None
    seen = engine.jobs.get(job.id)
    if seen is not None and job.engine_id in (None, seen.id):
        return seen
    recorded = _word(job.engine_id, 32)  # the job file is anyone's to edit, too
    return ClusterJob(engine.name, recorded) if recorded else None


def read_engine_status(path: Path, engine: str) -> EngineView:
    """``.org/engine.json`` as ``engine`` wrote it; a missing, odd, huge or malformed file,
    or one another engine wrote, is "not known" (nothing to say, nothing to warn about)."""
    import json

    from orgtui.atomic import read_regular
    from orgtui.views import ClusterJob, EngineView

    try:
        data = json.loads(read_regular(path, ENGINE_STATUS_LIMIT))
    except (OSError, ValueError, RecursionError):  # ValueError: not UTF-8, not JSON
        return EngineView(engine)
    if not isinstance(data, dict) or data.get("engine") != engine:
        return EngineView(engine)
    reachable = data.get("reachable")
    listed = data.get("jobs")
    jobs: dict[str, ClusterJob] = {}
    for job_id, seen in listed.items() if isinstance(listed, dict) else ():
        if not isinstance(seen, dict) or not (cluster_id := _word(seen.get("slurm_id"), 32)):
            continue
        state, reason = _word(seen.get("state"), 32), _word(seen.get("reason"), 64)
        jobs[job_id] = ClusterJob(engine, cluster_id, state, reason)
    return EngineView(
        name=engine,
        reachable=reachable if isinstance(reachable, bool) else None,
        error=_word(data.get("error"), 300) or None,
        checked=_seconds(data.get("checked")),
        jobs=jobs,
    )


def _seconds(value: object) -> float | None:
    """A finite number of seconds, or None (a bool, text, an int too big for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _word(value: object, limit: int) -> str:
    """``value`` if it is text, on one printable line of at most ``limit`` characters; else
    empty. A hostile file cannot draw on the terminal or push the screen around."""
    if not isinstance(value, str):
        return ""
    text = " ".join("".join(c if c.isprintable() else " " for c in value[: limit * 4]).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scheduling_order(jobs: list[Job]) -> list[Job]:
    """The queued jobs in the order the scheduler would start them were every slot free
    (priority, then fair turns between agents, then age: ``scheduler.place``)."""
    from orgtui.queue.engine import Slot
    from orgtui.queue.scheduler import last_served, place

    queued = [job for job in jobs if job.state == "queued"]
    running = [job for job in jobs if job.state == "running"]
    room = [Slot(f"order{i}") for i in range(len(queued))]
    order = [job for job, _ in place(queued, running, room, {}, last_served(jobs))]
    return order + [job for job in queued if job not in order]


def _durations(runs: list[Any]) -> Callable[[str], float | None]:
    """Variant -> the mean wall time of its finished runs (of all runs when it has none)."""
    walls: dict[str, list[float]] = {}
    for run in runs:
        wall = run.wall_s
        if run.status == "ok" and isinstance(wall, float | int) and 0 < wall < math.inf:
            walls.setdefault(run.variant, []).append(float(wall))
    every = [wall for values in walls.values() for wall in values]
    overall = sum(every) / len(every) if every else None

    def mean(variant: str) -> float | None:
        values = walls.get(variant)
        return sum(values) / len(values) if values else overall

    return mean


def _left(duration: float | None, started: float | None, now: float) -> float | None:
    if duration is None or started is None:
        return None
    return max(0.0, duration - max(0.0, now - started))


def _waits(
    queued: list[Job],
    busy: list[float | None],
    slots: int,
    estimate: Callable[[str], float | None],
) -> dict[str, float | None]:
    """When each queued job should end: taken in order by the slot that frees up first."""
    free = sorted([0.0 if left is None else left for left in busy] + [0.0] * (slots - len(busy)))
    free = free[: max(slots, 1)] or [0.0]
    waits: dict[str, float | None] = {}
    for job in queued:
        duration = estimate(job.variant)
        if duration is None:
            return waits | {j.id: None for j in queued if j.id not in waits}
        start = free.pop(0)
        waits[job.id] = start + duration
        free = sorted([*free, start + duration])
    return waits


def smooth(values: Sequence[float], points: int) -> tuple[float, ...]:
    """``values`` averaged into at most ``points`` equal spans: the whole curve in a few
    characters, never cut to its tail."""
    n = len(values)
    if n <= points:
        return tuple(values)
    return tuple(
        sum(values[i * n // points : (i + 1) * n // points])
        / ((i + 1) * n // points - i * n // points)
        for i in range(points)
    )


def trend(values: Sequence[float]) -> list[float]:
    """An exponential moving average over a tenth of the run: batch noise smoothed away, so
    a 100-step run's descent shows and its "best" is not one lucky batch."""
    alpha = 2.0 / (max(2, len(values) // 10) + 1)
    out: list[float] = []
    for value in values:
        out.append(value if not out else out[-1] + alpha * (value - out[-1]))
    return out


def _delta_text(comparison: Any) -> str:
    """B - A as the ledger strip shows it: ``+0.0123 bpb``, ``+0.031 val_acc``."""
    if comparison.delta is None:
        return ""
    measure = comparison.measure
    return f"{measure.fmt(comparison.delta, '+')} {measure.label}"


def _judge(paths: OrgPaths, runs: list[Any]) -> tuple[str, tuple[VerdictView, ...]]:
    from orgtui.errors import OrgtuiError
    from orgtui.ledger import Ledger
    from orgtui.views import VerdictView

    try:
        ledger = Ledger.load(paths, runs=runs)
        name, gain = ledger.best_improvement()
        base = ledger.baseline
        latest: dict[str, float] = {}
        for run in runs:
            latest[run.variant] = max(latest.get(run.variant, 0.0), run.started)
        others = sorted(
            (v for v in ledger.variants if base in ledger.variants and v != base),
            key=lambda v: latest.get(v, 0.0),
            reverse=True,
        )
        compared = [ledger.compare(base, v) for v in others[:LATEST_VERDICTS]] if base else []
    except (OrgtuiError, ValueError, ArithmeticError):
        return "n/a", ()
    measure = ledger.measure
    if not name or gain is None:
        best = "none verified"
    elif measure.metric == "val_bpb":
        best = f"-{gain:.4f} bpb ({name})"
    else:
        best = f"{measure.gain_text(gain)} ({name})"
    verdicts = tuple(
        VerdictView(variant, c.verdict, base or "", _delta_text(c), tuple(c.flags))
        for variant, c in zip(others, compared, strict=False)
    )
    return best, verdicts


def _roles(paths: OrgPaths) -> tuple[str, ...]:
    try:
        found = paths.roles_dir.glob("*.md")
        return tuple(sorted(p.stem for p in found if p.stem != "protocol"))
    except OSError:
        return ()


def pid_exists(pid: int | None) -> bool:
    """A process with this pid exists (a zombie included: the full snapshot tells those)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # another user's
    except (OSError, OverflowError):  # no such process; a pid past the kernel's range
        return False
    return True


def uptime(started: float | None, now: float) -> str:
    if not started:
        return "—"
    seconds = int(max(0.0, now - started))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
