"""``orgtui supervise``: the loop that keeps every seat alive, in window 0 of the session.

Each tick: one ``list-panes`` call, liveness per seat, restarts with exponential backoff,
status from the agent's own status.json (the pane detectors where a CLI's hooks are stale or
report only part of the states), board nudges, zoomed walls nobody watches tiled again, a GPU
sample, and state.json written when something changed (the heartbeat at most every few
seconds). Control-socket requests run under the same lock as the tick, so only this process
mutates state while it lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from typing import Any

from orgtui import board
from orgtui.agentstatus import read_status
from orgtui.config import OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.supervisor import detectors, ops
from orgtui.supervisor.control import ControlServer
from orgtui.supervisor.state import pid_alive, set_status
from orgtui.supervisor.tmux import Pane

SHELLS = {"bash", "zsh", "sh", "fish", "dash", "ksh", "tcsh"}
HEARTBEAT_EVERY_S = 5.0
STARTING_GRACE_S = 3.0
DETECT_EVERY_S = 0.5
"""How often a pane is captured for the state detectors (stale or missing hook reports)."""
GUESS_EVERY_S = 5.0
"""How often the idle/working guess (a scan of the process table) is refreshed."""
UNZOOM_UNWATCHED_S = 2.0
"""How long a zoomed wall may go unwatched before it is tiled again."""


class SupervisorRunning(OrgtuiError):
    """Another supervisor already serves this org."""


class Supervisor:
    def __init__(self, config: OrgConfig, socket_name: str | None) -> None:
        self.config = config
        self.paths = config.paths
        self.org = ops.open_org(config, socket_name)
        self.spec = config.supervisor
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.dirty = True
        self.last_save = 0.0
        self.tick_times: list[float] = []
        self.gpu_sampler: Any = None
        self.stopping_org = False
        self._tree: dict[int, list[tuple[int, str]]] | None = None
        self._guess: dict[str, tuple[int | None, float, str]] = {}
        self._seen: dict[str, tuple[float, str]] = {}
        self._pane_titles: dict[str, str] = {}
        self._unwatched_since: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Adopt what runs (under the org lock, so a concurrent `up` finishes first)."""
        with ops.org_lock(self.paths):
            self.org.state = ops.load_state(self.paths)
            self.org.state.update(
                org=self.config.org.name,
                session=self.org.session,
                tmux_socket=self.org.tmux.socket_name,
            )
            self.org.state["supervisor"] = {
                "pid": os.getpid(),
                "started": time.time(),
                "heartbeat": time.time(),
            }
            self.adopt()
            ops.save(self.org)
        self._open_gpu()
        ops.log(self.paths, f"supervisor {os.getpid()} started")

    def adopt(self) -> None:
        panes = self.org.tmux.panes(self.org.session)
        for name in ops.seat_names(self.org):
            record = ops.record_of(self.org, name)
            pane = panes.get(name)
            if pane is not None and not pane.dead and pid_alive(pane.pane_pid):
                if record.get("status") == "suspended" or ops._stopped(pane.pane_pid):
                    record.update(
                        window_id=pane.window_id, pane_id=pane.pane_id, pane_pid=pane.pane_pid
                    )
                    set_status(record, "suspended")
                else:
                    ops.adopt(record, pane)
                ops.log(self.paths, f"{name}: adopted pane pid {pane.pane_pid}")
            elif record.get("status") not in ops.GONE:
                set_status(record, "dead", "not running at supervisor start")

    def _open_gpu(self) -> None:
        try:
            from orgtui.gpu import GpuSampler, open_source

            source = open_source(self.config.gpu, self.config.root)
            self.gpu_sampler = GpuSampler(
                self.paths, source, self.config.gpu.sample_every_s, self.config.gpu.history_s
            )
        except (ImportError, AttributeError, OrgtuiError, OSError, TypeError) as error:
            ops.log(self.paths, f"gpu sampling off: {error}")
            self.gpu_sampler = None

    def run(self) -> None:
        with self.lock:
            self.start()
        server = ControlServer(self.paths, self.handle)
        server.start()
        try:
            while not self.stop.is_set():
                began = time.perf_counter()
                with self.lock:
                    if self.stop.is_set():  # `down` ran while this tick waited for the lock
                        break
                    self.tick(time.time())
                self.tick_times.append(time.perf_counter() - began)
                del self.tick_times[:-1000]
                self.stop.wait(self.spec.tick_s)
        finally:
            server.close()
            with self.lock:
                self.org.state["supervisor"]["pid"] = None
                ops.save(self.org)
            ops.log(self.paths, f"supervisor {os.getpid()} stopped")

    # -- the tick ----------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        panes = self.org.tmux.panes(self.org.session)
        self._tree = None
        for name in ops.seat_names(self.org):
            record = ops.record_of(self.org, name)
            self._check(name, record, panes.get(name), now)
        self._titles()
        self._unzoom_unwatched(panes, now)
        self._nudge()
        self._sample_gpu(now)
        self._processes(now)
        sup = self.org.state["supervisor"]
        if self.dirty or now - self.last_save >= HEARTBEAT_EVERY_S:
            sup["heartbeat"] = now
            ops.save(self.org)
            self.dirty = False
            self.last_save = now

    def _check(self, name: str, record: dict[str, Any], pane: Pane | None, now: float) -> None:
        status = record.get("status")
        if status in ("parked", "failed"):
            return
        alive = pane is not None and not pane.dead and pid_alive(pane.pane_pid)
        if alive and pane is not None:
            if pane.pane_pid != record.get("pane_pid"):
                record.update(
                    window_id=pane.window_id, pane_id=pane.pane_id, pane_pid=pane.pane_pid
                )
                self.dirty = True
            if status == "suspended":
                return
            self.dirty |= set_status(record, self._activity(name, record, pane, now))
            return
        if status != "dead" or "next_restart" not in record:
            if self._refused(name, record):
                return
            self._died(name, record, now)
        elif now >= record["next_restart"]:
            self._restart(name, record, pane)

    def _died(self, name: str, record: dict[str, Any], now: float) -> None:
        window = self.spec.restart_window_s
        deaths = [t for t in record.get("deaths") or [] if now - t < window] + [now]
        record["deaths"] = deaths
        self.dirty = True
        if len(deaths) >= self.spec.restart_limit:
            set_status(record, "failed", f"{len(deaths)} deaths in {window:g}s; left alone")
            record.pop("next_restart", None)
            ops.log(self.paths, f"{name}: failed after {len(deaths)} deaths")
            ops.post_system(
                self.paths,
                f"{name} failed",
                f"{name} died {len(deaths)} times within {window:g} s and is left "
                f"alone. Fix it, then `orgtui restart {name}`.",
            )
            return
        delay = min(self.spec.backoff_initial_s * 2 ** (len(deaths) - 1), self.spec.backoff_max_s)
        record["next_restart"] = now + delay
        record["backoff_s"] = delay
        set_status(record, "dead", f"restart in {delay:g}s")
        ops.log(self.paths, f"{name}: died; restarting in {delay:g}s (death {len(deaths)})")
        ops.post_system(
            self.paths,
            f"{name} died",
            f"{name}'s pane ended; restart {len(deaths)} in {delay:g} s.",
        )

    def _restart(self, name: str, record: dict[str, Any], pane: Pane | None) -> None:
        record.pop("next_restart", None)
        record["restarts"] = int(record.get("restarts") or 0) + 1
        self.dirty = True
        try:
            ops.launch(self.org, name, resume=True, pane=pane)
        except OrgtuiError as error:
            ops.log(self.paths, f"{name}: restart failed: {error}")
            self._died(name, record, time.time())

    def _refused(self, name: str, record: dict[str, Any]) -> bool:
        """A builtin agent that exited with EXIT_AUTH (its key was refused) fails at once: a
        restart would only be refused again. (Other backends' exit codes mean nothing here.)"""
        from orgtui.agent.loop import EXIT_AUTH

        if record.get("backend") != "builtin":
            return False
        exit_file = self.paths.agent_dir(name) / "exit"
        try:
            code = int(exit_file.read_text().strip())
            fresh = exit_file.stat().st_mtime >= (record.get("started_at") or 0) - 1
        except (OSError, ValueError):
            return False
        if code != EXIT_AUTH or not fresh:
            return False
        set_status(record, "failed", f"exit {code}: the model API refused the key")
        record.pop("next_restart", None)
        self.dirty = True
        ops.log(self.paths, f"{name}: exited {code} (key refused); not restarted")
        ops.post_system(
            self.paths,
            f"{name} failed",
            f"{name} stopped: the model API refused its key (exit {code}). Fix the key, "
            f"then `orgtui restart {name}`.",
        )
        return True

    def _activity(self, name: str, record: dict[str, Any], pane: Pane, now: float) -> str:
        reported = read_status(self.paths, name)
        started = record.get("started_at") or 0
        fresh = reported.state if reported is not None and reported.time >= started - 1 else None
        seen = self._detected(str(record.get("backend")), pane, fresh, now)
        if seen is not None:
            return seen
        if fresh is not None:
            return fresh
        if now - started < STARTING_GRACE_S:
            return "starting"
        cached = self._guess.get(name)
        if cached and cached[0] == pane.pane_pid and now - cached[1] < GUESS_EVERY_S:
            return cached[2]
        guess = "idle" if self._only_shells(pane.pane_pid) else "working"
        self._guess[name] = (pane.pane_pid, now, guess)
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

    def _only_shells(self, pid: int | None) -> bool:
        """True when nothing but shells runs under the pane (an idle prompt)."""
        if self._tree is None:
            import psutil

            tree: dict[int, list[tuple[int, str]]] = {}
            for proc in psutil.process_iter(["pid", "ppid", "name"]):
                info = proc.info
                tree.setdefault(info["ppid"] or 0, []).append((info["pid"], info["name"] or ""))
            self._tree = tree
        stack = [pid or 0]
        while stack:
            for child, name in self._tree.get(stack.pop(), []):
                if name not in SHELLS:
                    return False
                stack.append(child)
        return True

    def _nudge(self) -> None:
        if not self.spec.nudge:
            return
        for name, record in self.org.state["agents"].items():
            if record.get("status") not in ("idle", "waiting") or not record.get("pane_id"):
                continue
            try:
                due = board.nudge_due(self.paths, name)
                if not due:
                    continue
                self.org.tmux.send_line(record["pane_id"], board.nudge_line(len(due)))
                board.record_nudge(self.paths, name, due)
                ops.log(self.paths, f"{name}: nudged about {len(due)} message(s)")
            except (OrgtuiError, OSError) as error:
                ops.log(self.paths, f"{name}: nudge failed: {error}")

    def _titles(self) -> None:
        """Pane titles name the agent, its role and state (the grid's border lines show them)."""
        for name, record in self.org.state["agents"].items():
            title = ops.pane_title(record)
            if record.get("pane_id") and self._pane_titles.get(name) != title:
                self.org.tmux.set_title(record["pane_id"], title)
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
            if pane.window_name.startswith("wall-") and pane.zoomed and not pane.watched
        }
        self._unwatched_since = {w: self._unwatched_since.get(w, now) for w in walls}
        for window_id, since in self._unwatched_since.items():
            if now - since >= UNZOOM_UNWATCHED_S:
                self.org.tmux.unzoom(walls[window_id].pane_id)

    def _processes(self, now: float) -> None:
        """The org's scheduled processes (the standup); a failure is logged, never fatal."""
        from orgtui import process

        try:
            done = process.tick(self.config, now, self.org.state["supervisor"]["started"])
        except (OrgtuiError, OSError) as error:
            done = f"standup failed: {error}"
        if done:
            ops.log(self.paths, done)

    def _sample_gpu(self, now: float) -> None:
        if self.gpu_sampler is None:
            return
        agents = self.org.state["agents"]
        pids = {n: r["pane_pid"] for n, r in agents.items() if r.get("pane_pid")}
        gpus = {n: r.get("gpu") for n, r in agents.items()}
        try:
            self.gpu_sampler.tick(now, pids, gpus)
        except Exception as error:
            ops.log(self.paths, f"gpu sample failed: {error!r}")

    # -- control verbs ---------------------------------------------------------------------
    def handle(self, payload: dict[str, Any]) -> dict[str, Any]:
        verb = payload.get("verb")
        agent = payload.get("agent")
        with self.lock:
            if verb == "ping":
                return {"ok": True, "pid": os.getpid()}
            if verb == "status":
                return {"ok": True, **ops.status_json(self.config.org.name, self.org.state)}
            if verb == "stats":
                times = sorted(self.tick_times)
                return {
                    "ok": True,
                    "ticks": len(times),
                    "tick_p50_s": _pct(times, 50),
                    "tick_p95_s": _pct(times, 95),
                }
            if verb in ("stop", "down"):
                stopped = ops.down(self.org, park_first=bool(payload.get("park")))
                self.stop.set()
                ops.save(self.org)
                return {"ok": True, "stopped": stopped}
            if verb == "up":
                started = ops.ensure_agents(self.org)
                self._done()
                return {"ok": True, "started": started}
            if verb == "layout":
                moved = ops.switch_layout(self.org, str(payload.get("to")))
                self._done()
                return {"ok": True, "moved": moved}
            if verb == "spawn":
                record = ops.spawn(
                    self.org,
                    str(agent),
                    str(payload.get("role")),
                    str(payload.get("backend")),
                    payload.get("gpu"),
                    payload.get("command"),
                )
                return self._done(record)
            if verb not in (*ops.SEAT_OPS, "handoff"):
                return {"ok": False, "error": f"unknown verb {verb!r}"}
            if not isinstance(agent, str):
                return {"ok": False, "error": f"verb {verb!r} needs an agent"}
            if verb == "handoff":
                return self._done(
                    ops.handoff(
                        self.org, agent, backend=payload.get("backend"), to=payload.get("to")
                    )
                )
            return self._done(ops.SEAT_OPS[verb](self.org, agent))
        return {"ok": False, "error": f"unknown verb {verb!r}"}

    def _done(self, record: dict[str, Any] | None = None) -> dict[str, Any]:
        ops.save(self.org)
        self.dirty = False
        return {"ok": True, "agent": record} if record is not None else {"ok": True}


def _pct(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def supervise(config: OrgConfig, socket_name: str | None) -> int:
    """Run until SIGTERM/SIGINT or a `down`; refuses to run twice for one org."""
    paths = config.paths
    paths.org_dir.mkdir(parents=True, exist_ok=True)
    pid_lock = open(paths.org_dir / "supervisor.lock", "a+")  # noqa: SIM115 - held for life
    try:
        fcntl.flock(pid_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SupervisorRunning(f"a supervisor already runs for {paths.root}") from None
    supervisor = Supervisor(config, socket_name)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: supervisor.stop.set())
    with contextlib.closing(pid_lock):
        supervisor.run()
    return 0
