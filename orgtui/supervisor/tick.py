"""``orgtui supervise``: the loop that keeps every seat alive, in window 0 of the session.

Each tick: one ``list-panes`` call, liveness per seat, restarts with exponential backoff,
status from the agent's own status.json (the pane detectors where a CLI's hooks are stale or
report only part of the states), board nudges, zoomed walls nobody watches tiled again, a GPU
sample, the experiment queue's scheduler (its failures logged, never fatal), and state.json
written when something changed (the heartbeat at most every few seconds). A change in the queue
directory (a job queued or ended) ends the wait for the next tick at once. Control-socket
requests run under the same lock as the tick, so only this process mutates state while it
lives. A state file that cannot be written (disk full, read-only ``.org/``) is retried with
backoff: supervision goes on meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
import traceback
from typing import Any

from orgtui import board, procs
from orgtui.agentstatus import read_status
from orgtui.atomic import atomic_write_json, ensure_private_dir, read_regular
from orgtui.config import OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.supervisor import detectors, layout, lifecycle, verbs
from orgtui.supervisor.control import ControlServer
from orgtui.supervisor.seats import log, open_org, post_system, seat, seat_names
from orgtui.supervisor.state import Seat, SeatStatus, save_state
from orgtui.supervisor.tmux import Pane
from orgtui.supervisor.wake import watch_queue

SHELLS = {"bash", "zsh", "sh", "fish", "dash", "ksh", "tcsh"}
HEARTBEAT_EVERY_S = 5.0
STARTING_GRACE_S = 3.0
DETECT_EVERY_S = 0.5
"""How often a pane is captured for the state detectors (stale or missing hook reports)."""
GUESS_EVERY_S = 5.0
"""How often the idle/working guess (a scan of the process table) is refreshed."""
UNZOOM_UNWATCHED_S = 2.0
"""How long a zoomed wall may go unwatched before it is tiled again."""
SAVE_RETRY_MAX_S = 30.0
"""The longest wait between two tries to write a state file that could not be written."""
NUDGE_STATES = (SeatStatus.IDLE, SeatStatus.WAITING)
IDLE_CHECK_S = 30.0
"""How often the GPU sample ring is read for GPUs idle long enough to tell the chief."""
USAGE_EVERY_S = 2.0
"""How often every seat's new token usage is collected into its spend.json."""


class SupervisorRunning(OrgtuiError):
    """Another supervisor already serves this org."""


class Supervisor:
    def __init__(self, config: OrgConfig, socket_name: str | None) -> None:
        self.config = config
        self.paths = config.paths
        self.org = open_org(config, socket_name)
        self.spec = config.supervisor
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.wake = threading.Event()
        """Ends the wait for the next tick: a `down`, a signal, a change in the queue."""
        self.dirty = True
        self.last_save = 0.0
        self.save_failures = 0
        self.next_save_try = 0.0
        self.failed_ticks = 0
        self.process_failures = Repeats()
        self.schedule_failures = Repeats()
        self.scheduler: Any = None
        self.idle: Any = None
        self.next_idle_check = 0.0
        self.usage: Any = None
        self.next_usage = 0.0
        self.tick_times: list[float] = []
        self.gpu_sampler: Any = None
        self.budget: Any = None
        self.budget_failures = Repeats()
        self._table: procs.ProcessTable | None = None
        self._guess: dict[str, tuple[int | None, float, str]] = {}
        self._seen: dict[str, tuple[float, str]] = {}
        self._pane_titles: dict[str, str] = {}
        self._unwatched_since: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Adopt what runs (under the org lock, so a concurrent `up` finishes first)."""
        now = time.time()
        with self.org.transaction(save=lambda *_: self.save(now)):
            sup = self.org.state.supervisor
            sup.pid, sup.started, sup.heartbeat = os.getpid(), now, now
            lifecycle.adopt_running(self.org)
        self._open_gpu()
        self._open_scheduler()
        log(self.paths, f"supervisor {os.getpid()} started")

    def _open_gpu(self) -> None:
        try:
            from orgtui.gpu import GpuSampler, open_source

            source = open_source(self.config.gpu, self.config.root)
            self.gpu_sampler = GpuSampler(
                self.paths, source, self.config.gpu.sample_every_s, self.config.gpu.history_s
            )
        except (ImportError, AttributeError, OrgtuiError, OSError, TypeError) as error:
            log(self.paths, f"gpu sampling off: {error}")
            self.gpu_sampler = None

    def _open_scheduler(self) -> None:
        """The queue's scheduler; without it the agents are still supervised."""
        try:
            from orgtui.queue.scheduler import Scheduler

            self.scheduler = Scheduler(self.config)
        except Exception as error:
            self._log(f"scheduler off: {error!r}; queued jobs wait for a supervisor restart")
            self.scheduler = None

    def run(self) -> None:
        with self.lock:
            self.start()
        server = ControlServer(self.paths, self.handle)
        server.start()
        watch_queue(self.paths.queue_dir, self.wake, self.stop)
        try:
            while not self.stop.is_set():
                began = time.perf_counter()
                with self.lock:
                    if self.stop.is_set():  # `down` ran while this tick waited for the lock
                        break
                    self.safe_tick(time.time())
                self.tick_times.append(time.perf_counter() - began)
                del self.tick_times[:-1000]
                self.wake.wait(self.spec.tick_s)
                self.wake.clear()
        finally:
            server.close()
            with self.lock:
                self.next_usage = 0.0  # the last turns before a `down` count too
                self._collect_usage(time.time())
                self.org.state.supervisor.pid = None
                self.save(time.time())
            self._log(f"supervisor {os.getpid()} stopped")

    def halt(self) -> None:
        """Stop once the tick at hand is over."""
        self.stop.set()
        self.wake.set()

    def save(self, now: float) -> bool:
        """Write state.json; on failure say so (log and pane) and retry later with backoff."""
        try:
            save_state(self.paths, self.org.state)
        except OSError as error:
            self.save_failures += 1
            delay = min(2.0 ** (self.save_failures - 1), SAVE_RETRY_MAX_S)
            self.next_save_try = now + delay
            self._log(
                f"cannot write {self.paths.state_file} ({error}); still supervising, "
                f"retrying in {delay:g}s (failure {self.save_failures})"
            )
            return False
        if self.save_failures:
            self._log(f"{self.paths.state_file} written again after {self.save_failures} failures")
        self.save_failures = 0
        self.dirty = False
        self.last_save = now
        return True

    def _log(self, line: str) -> None:
        """To the supervisor log and to its own pane; a full disk loses only the log line."""
        print(line, flush=True)
        with contextlib.suppress(OSError):
            log(self.paths, line)

    # -- the tick ----------------------------------------------------------------------------
    def safe_tick(self, now: float) -> None:
        """A tick whose failure is logged and retried next time: a bug met by one tick (a
        hostile file, a tmux hiccup) must not leave every agent unsupervised."""
        try:
            self.tick(now)
        except Exception:
            self.failed_ticks += 1
            if self.failed_ticks == 1 or self.failed_ticks % 100 == 0:  # not a log per tick
                self._log(f"tick failed ({self.failed_ticks}):\n{traceback.format_exc()}")

    def tick(self, now: float) -> None:
        panes = self.org.tmux.panes(self.org.session)
        self._table = None
        for name in seat_names(self.org):
            self._check(seat(self.org, name), panes.get(name), now)
        self._titles()
        self._unzoom_unwatched(panes, now)
        self._nudge()
        self._sample_gpu(now)
        self._schedule(now)
        self._idle_gpus(now)
        self._processes(now)
        self._collect_usage(now)  # first: the budgets judge the newest totals
        self._budgets(now)
        due = self.dirty or now - self.last_save >= HEARTBEAT_EVERY_S
        if due and now >= self.next_save_try:
            self.org.state.supervisor.heartbeat = now
            self.save(now)

    def _check(self, record: Seat, pane: Pane | None, now: float) -> None:
        if record.status.gone:
            return
        if lifecycle.pane_alive(pane):
            assert pane is not None
            if pane.pane_pid != record.pane_pid:
                record.attach(pane.window_id, pane.pane_id, pane.pane_pid)
                self.dirty = True
            if record.status != SeatStatus.SUSPENDED:
                self.dirty |= record.set_status(self._activity(record, pane, now))
            return
        if record.status != SeatStatus.DEAD or record.next_restart is None:
            if not self._refused(record):
                self._died(record, now)
        elif now >= record.next_restart:
            self._restart(record, pane)

    def _died(self, record: Seat, now: float) -> None:
        name, window = record.name, self.spec.restart_window_s
        record.deaths = [t for t in record.deaths if 0 <= now - t < window] + [now]
        deaths = len(record.deaths)
        self.dirty = True
        if deaths >= self.spec.restart_limit:
            record.set_status(SeatStatus.FAILED, f"{deaths} deaths in {window:g}s; left alone")
            record.next_restart = None
            log(self.paths, f"{name}: failed after {deaths} deaths")
            post_system(
                self.org,
                f"{name} failed",
                f"{name} died {deaths} times within {window:g} s and is left "
                f"alone. Fix it, then `orgtui restart {name}`.",
            )
            return
        delay = min(self.spec.backoff_initial_s * 2 ** (deaths - 1), self.spec.backoff_max_s)
        record.next_restart = now + delay
        record.backoff_s = delay
        record.set_status(SeatStatus.DEAD, f"restart in {delay:g}s")
        log(self.paths, f"{name}: died; restarting in {delay:g}s (death {deaths})")
        post_system(
            self.org, f"{name} died", f"{name}'s pane ended; restart {deaths} in {delay:g} s."
        )

    def _restart(self, record: Seat, pane: Pane | None) -> None:
        self.dirty = True
        try:
            lifecycle.restart(self.org, record.name, pane=pane, by_person=False)
        except OrgtuiError as error:
            log(self.paths, f"{record.name}: restart failed: {error}")
            self._died(record, time.time())

    def _refused(self, record: Seat) -> bool:
        """A builtin agent that exited with EXIT_AUTH (its key was refused) fails at once: a
        restart would only be refused again. (Other backends' exit codes mean nothing here.)"""
        from orgtui.agent.loop import EXIT_AUTH

        if record.backend != "builtin":
            return False
        exit_file = self.paths.exit_file(record.name)
        try:
            code = int(exit_file.read_text().strip())
            fresh = exit_file.stat().st_mtime >= (record.started_at or 0) - 1
        except (OSError, ValueError):
            return False
        if code != EXIT_AUTH or not fresh:
            return False
        name = record.name
        record.set_status(SeatStatus.FAILED, f"exit {code}: the model API refused the key")
        record.next_restart = None
        self.dirty = True
        log(self.paths, f"{name}: exited {code} (key refused); not restarted")
        post_system(
            self.org,
            f"{name} failed",
            f"{name} stopped: the model API refused its key (exit {code}). Fix the key, "
            f"then `orgtui restart {name}`.",
        )
        return True

    def _activity(self, record: Seat, pane: Pane, now: float) -> str:
        reported = read_status(self.paths, record.name)
        started = record.started_at or 0
        fresh = reported.state if reported is not None and reported.time >= started - 1 else None
        seen = self._detected(record.backend, pane, fresh, now)
        if seen is not None:
            return seen
        if fresh is not None:
            return fresh
        if now - started < STARTING_GRACE_S:
            return SeatStatus.STARTING
        cached = self._guess.get(record.name)
        if cached and cached[0] == pane.pane_pid and now - cached[1] < GUESS_EVERY_S:
            return cached[2]
        if self._table is None:
            self._table = procs.ProcessTable()
        guess = SeatStatus.IDLE if self._table.only(pane.pane_pid, SHELLS) else SeatStatus.WORKING
        self._guess[record.name] = (pane.pane_pid, now, guess)
        return guess

    def _detected(self, backend: str, pane: Pane, reported: str | None, now: float) -> str | None:
        """The pane detectors, where the CLI's own hooks are stale, absent or partial (see
        ``detectors.HOOK_STATES``). Captures are cached for DETECT_EVERY_S per pane."""
        if not detectors.wants_pane(backend, reported):
            return None
        cached = self._seen.get(pane.pane_id)
        if cached is None or now - cached[0] >= DETECT_EVERY_S or now < cached[0]:
            cached = (now, self.org.tmux.capture(pane.pane_id, lines=0))  # screen only
            self._seen[pane.pane_id] = cached
        return detectors.resolve(backend, reported, cached[1])

    def _nudge(self) -> None:
        if not self.spec.nudge:
            return
        for name, record in self.org.state.seats.items():
            if record.status not in NUDGE_STATES or not record.pane_id:
                continue
            try:
                due = board.nudge_due(self.paths, name)
                if not due:
                    continue
                self.org.tmux.send_line(record.pane_id, board.nudge_line(len(due)))
                board.record_nudge(self.paths, name, due)
                log(self.paths, f"{name}: nudged about {len(due)} message(s)")
            except (OrgtuiError, OSError) as error:
                log(self.paths, f"{name}: nudge failed: {error}")

    def _titles(self) -> None:
        """Pane titles name the agent, its role and state (the grid's border lines show them)."""
        for name, record in self.org.state.seats.items():
            title = layout.pane_title(record)
            if record.pane_id and self._pane_titles.get(name) != title:
                self.org.tmux.set_title(record.pane_id, title)
                self._pane_titles[name] = title

    def _unzoom_unwatched(self, panes: dict[str, Pane], now: float) -> None:
        """A wall zoomed for a take-over shows everyone again once no client looks at it.

        From inside tmux a take-over is a ``switch-client``: there is no detach to notice, only
        the person's client moving elsewhere. The grace period covers ``orgtui attach``, which
        zooms a moment before its client arrives.
        """
        walls = {
            pane.window_id: pane
            for pane in panes.values()
            if layout.on_wall(pane.window_name) and pane.zoomed and not pane.watched
        }
        self._unwatched_since = {w: self._unwatched_since.get(w, now) for w in walls}
        for window_id, since in self._unwatched_since.items():
            if now - since >= UNZOOM_UNWATCHED_S:
                self.org.tmux.unzoom(walls[window_id].pane_id)

    def _processes(self, now: float) -> None:
        """The org's scheduled processes (the standup); a failure is logged, never fatal."""
        from orgtui import process

        try:
            done = process.tick(self.config, now, self.org.state.supervisor.started)
        except Exception as error:  # a process must never take supervision down with it
            self._failed(self.process_failures, f"standup failed: {error!r}")
            return
        self.process_failures.clear()
        if done:
            self._log(done)

    def _schedule(self, now: float) -> None:
        """Queued jobs onto free slots, running ones reconciled, ended batches finished with;
        a failure is logged, never fatal (the jobs' files are the record: the next tick
        picks up where this one stopped)."""
        if self.scheduler is None:
            return
        looks = self.scheduler.looks
        try:
            lines = self.scheduler.tick(now, self.org.state, self._gpu_count())
        except Exception as error:
            self._failed(self.schedule_failures, f"scheduler failed: {error!r}")
            return
        if self.scheduler.looks > looks:  # a quiet tick proves nothing: the queue was not read
            self.schedule_failures.clear()
        for line in lines:
            self._log(line)

    def _idle_gpus(self, now: float) -> None:
        """Tell the chief, once, about GPUs idle for ``[discipline] idle_minutes`` while
        nothing waits in the queue (read from the sample ring every IDLE_CHECK_S at most)."""
        if self.gpu_sampler is None or now < self.next_idle_check:
            return
        idle_s = self.config.discipline.idle_minutes * 60.0
        self.next_idle_check = now + min(IDLE_CHECK_S, idle_s / 4)
        from orgtui.gpu.idle import IdleNotice, idle_gpus
        from orgtui.gpu.samples import read_samples
        from orgtui.queue.jobs import JobState, jobs

        if self.idle is None:
            self.idle = IdleNotice(idle_s)
            with contextlib.suppress(OSError, ValueError):
                self.idle.restore(json.loads(read_regular(self.paths.idle_notice, 1 << 16)))
        every = self.gpu_sampler.every_s
        history = read_samples(self.paths, last_n=int(idle_s / every) + 10)
        idle = idle_gpus(history, now, idle_s, max_gap_s=max(30.0, 3 * every))
        waiting = any(job.state == JobState.QUEUED for job in jobs(self.paths))
        text = self.idle.due(now, idle, queue_empty=not waiting)
        if text is None:
            return
        from orgtui.process import chiefs

        post_system(self.org, "idle GPUs", text, to=tuple(chiefs(self.config)) or ("human",))
        with contextlib.suppress(OSError):
            atomic_write_json(self.paths.idle_notice, self.idle.state())

    def _collect_usage(self, now: float) -> None:
        """Every seat's new token usage into its spend.json (each file's new lines only, after
        a stat); a failure is logged, never fatal."""
        if now < self.next_usage:
            return
        self.next_usage = now + USAGE_EVERY_S
        try:
            from orgtui.spend.usage import UsageCollector

            if self.usage is None:
                self.usage = UsageCollector(self.paths, self._log)
            self.usage.collect(list(self.org.state.seats))
        except Exception as error:
            self._log(f"usage collection failed: {error!r}")

    def _budgets(self, now: float) -> None:
        """Budgets (``spend.budget``): a warning at 80%, the agent stopped through the verb
        table at 100%; a failure is logged, never fatal."""
        if not self.config.budget.active:
            return
        if self.budget is None:
            from orgtui.spend.budget import BudgetWatch

            self.budget = BudgetWatch(self.config)
        seats = {name: str(seat(self.org, name).status) for name in seat_names(self.org)}
        try:
            lines = self.budget.tick(now, seats, self._budget_stop, self._budget_post)
        except Exception as error:
            self._failed(self.budget_failures, f"budget check failed: {error!r}")
            return
        self.budget_failures.clear()
        for line in lines:
            self._log(line)

    def _budget_stop(self, name: str, verb: str) -> None:
        """``suspend`` or ``park`` as ``orgtui suspend`` runs it, here under the tick's lock."""
        reply = verbs.dispatch(self.org, verbs.Request(verb, name))
        if not reply.ok:
            raise OrgtuiError(reply.error)
        self.dirty = True

    def _budget_post(self, subject: str, body: str, to: tuple[str, ...]) -> None:
        post_system(self.org, subject, body, to)

    def _gpu_count(self) -> int | None:
        """How many GPUs the ``[gpu]`` source reports; None without a source to ask."""
        sampler = self.gpu_sampler
        if sampler is None:
            return None
        if sampler.last is None:
            return 0 if sampler.source.name == "none" else None
        return len(sampler.last.gpus)

    def _failed(self, repeats: Repeats, failure: str) -> None:
        count = repeats.count(failure)
        if count in (1, 10) or count % 1000 == 0:
            self._log(f"{failure} (time {count}; retried every tick)")

    def _sample_gpu(self, now: float) -> None:
        if self.gpu_sampler is None:
            return
        seats = self.org.state.seats
        pids = {n: s.pane_pid for n, s in seats.items() if s.pane_pid}
        gpus = {n: s.gpu for n, s in seats.items()}
        try:
            self.gpu_sampler.tick(now, pids, gpus)
        except Exception as error:
            self._log(f"gpu sample failed: {error!r}")

    # -- control verbs ---------------------------------------------------------------------
    def handle(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One control request: the supervisor's own ``ping``/``stats``, else the verb table."""
        with self.lock:
            if payload.get("verb") == "ping":
                return {"ok": True, "pid": os.getpid()}
            if payload.get("verb") == "stats":
                return {"ok": True, **self._stats()}
            try:
                request = verbs.Request.from_json(payload)
            except verbs.VerbError as error:
                return {"ok": False, "error": str(error)}
            reply = verbs.dispatch(self.org, request)
            if request.verb == "down":
                self.halt()
            if reply.ok and verbs.VERBS[request.verb].changes:
                self.dirty = True
                self.save(time.time())
            return reply.to_json()

    def _stats(self) -> dict[str, Any]:
        times = sorted(self.tick_times)
        return {
            "ticks": len(times),
            "failed_ticks": self.failed_ticks,
            "tick_p50_s": _pct(times, 50),
            "tick_p95_s": _pct(times, 95),
        }


class Repeats:
    """How many ticks in a row met the same failure: logged the 1st, 10th, every 1000th time."""

    def __init__(self) -> None:
        self.last = ""
        self.times = 0

    def count(self, failure: str) -> int:
        self.times = self.times + 1 if failure == self.last else 1
        self.last = failure
        return self.times

    def clear(self) -> None:
        self.last, self.times = "", 0


def _pct(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def supervise(config: OrgConfig, socket_name: str | None) -> int:
    """Run until SIGTERM/SIGINT/SIGHUP or a `down`; refuses to run twice for one org."""
    paths = config.paths
    ensure_private_dir(paths.org_dir)
    pid_lock = open(paths.supervisor_lock, "a+")  # noqa: SIM115 - held for life
    try:
        fcntl.flock(pid_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SupervisorRunning(f"a supervisor already runs for {paths.root}") from None
    supervisor = Supervisor(config, socket_name)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: supervisor.halt())
    with contextlib.closing(pid_lock):
        supervisor.run()
    return 0
