"""``.org/state.json``: what the supervisor knows about every seat, as typed records.

One load, one save, and ``org_transaction`` (lock, load, stamp, save) for every writer that
is not the supervisor itself. Loading never raises: a missing or corrupt file, or a record
with wrong types, reads as what it can be (an empty org at worst), and the supervisor
rebuilds the rest from tmux.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orgtui.atomic import atomic_write_json, exclusive_lock, read_regular
from orgtui.paths import OrgPaths

VERSION = 1
MAX_STATE_BYTES = 16 << 20
"""Far above any real org's state.json; a larger file is not one orgtui wrote."""


class SeatStatus(StrEnum):
    """Where a seat is in its life; ``str`` so state.json and the CLI show the plain word."""

    STARTING = "starting"
    WORKING = "working"
    WAITING = "waiting"
    IDLE = "idle"
    SUSPENDED = "suspended"
    PARKED = "parked"
    DEAD = "dead"
    FAILED = "failed"

    @property
    def gone(self) -> bool:
        """Left stopped on purpose: the supervisor neither restarts nor adopts it as running."""
        return self in (SeatStatus.PARKED, SeatStatus.FAILED)


@dataclass
class Seat:
    """One agent's seat: its spec as launched, its pane, and its history of deaths."""

    name: str
    role: str = ""
    backend: str = ""
    status: SeatStatus = SeatStatus.STARTING
    branch: str | None = None
    worktree: str | None = None
    gpu: int | None = None
    window_id: str | None = None
    pane_id: str | None = None
    pane_pid: int | None = None
    restarts: int = 0
    started_at: float | None = None
    last_change: float = 0.0
    detail: str = ""
    runtime: bool = False
    """Spawned at runtime (kept here, not in org.toml)."""
    command: str | None = None
    deaths: list[float] = field(default_factory=list)
    next_restart: float | None = None
    backoff_s: float | None = None
    wip_commit: str | None = None

    def set_status(self, status: SeatStatus | str, detail: str | None = None) -> bool:
        """Change the status (and detail); True when something changed."""
        status = SeatStatus(status)
        changed = self.status != status or (detail is not None and self.detail != detail)
        if changed:
            self.status = status
            if detail is not None:
                self.detail = detail
            self.last_change = time.time()
        return changed

    def attach(self, window_id: str | None, pane_id: str | None, pane_pid: int | None) -> None:
        """Point the seat at a pane (or at none, with all three None)."""
        self.window_id, self.pane_id, self.pane_pid = window_id, pane_id, pane_pid

    def forget_deaths(self) -> None:
        """A person restarted it: the backoff starts over."""
        self.deaths = []
        self.next_restart = None
        self.backoff_s = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> Seat:
        """A seat from a state.json record; fields of the wrong type fall back to defaults."""
        seat = cls(name=name)
        for spec in dataclasses.fields(cls):
            if spec.name == "name" or spec.name not in data:
                continue
            value = _coerce(spec.name, data[spec.name])
            if value is not _INVALID:
                setattr(seat, spec.name, value)
        return seat


@dataclass
class SupervisorInfo:
    pid: int | None = None
    started: float | None = None
    heartbeat: float | None = None


@dataclass
class OrgState:
    """The whole of state.json."""

    org: str = ""
    session: str = ""
    tmux_socket: str | None = None
    supervisor: SupervisorInfo = field(default_factory=SupervisorInfo)
    layout: str | None = None
    """Set by ``orgtui grid``; None: org.toml's ``[org] layout``."""
    seats: dict[str, Seat] = field(default_factory=dict)

    def stamp(self, org: str, session: str, socket: str | None) -> None:
        self.org, self.session, self.tmux_socket = org, session, socket

    def supervisor_alive(self) -> bool:
        from orgtui import procs  # here: psutil costs the TUI's first frame ~50 ms

        return procs.pid_alive(self.supervisor.pid)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "org": self.org,
            "session": self.session,
            "tmux_socket": self.tmux_socket,
            "supervisor": dataclasses.asdict(self.supervisor),
            "layout": self.layout,
            "agents": {name: seat.to_json() for name, seat in self.seats.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> OrgState:
        state = cls()
        if not isinstance(data, dict) or not isinstance(data.get("agents"), dict):
            return state
        for key in ("org", "session"):
            if isinstance(data.get(key), str):
                setattr(state, key, data[key])
        if isinstance(data.get("tmux_socket"), str) and data["tmux_socket"]:
            state.tmux_socket = data["tmux_socket"]
        if data.get("layout") in ("grid", "windows"):
            state.layout = data["layout"]
        sup = data.get("supervisor")
        if isinstance(sup, dict):
            state.supervisor = SupervisorInfo(
                pid=_int(sup.get("pid")),
                started=_finite(sup.get("started")),
                heartbeat=_finite(sup.get("heartbeat")),
            )
        for name, record in data["agents"].items():
            if isinstance(name, str) and isinstance(record, dict):
                state.seats[name] = Seat.from_json(name, record)
        return state


def load_state(paths: OrgPaths) -> OrgState:
    """The last state written; an empty state when missing, unreadable or not a regular file."""
    try:
        data = json.loads(read_regular(paths.state_file, MAX_STATE_BYTES))
    except (OSError, ValueError):
        return OrgState()
    return OrgState.from_json(data)


def save_state(paths: OrgPaths, state: OrgState) -> None:
    atomic_write_json(paths.state_file, state.to_json())


@contextlib.contextmanager
def org_lock(paths: OrgPaths) -> Iterator[None]:
    """Serialises `up`s and direct CLI edits of state.json (released if the holder dies)."""
    with exclusive_lock(paths.lock_file):
        yield


Saver = Callable[[OrgPaths, OrgState], object]


@contextlib.contextmanager
def org_transaction(
    paths: OrgPaths,
    *,
    org: str,
    session: str,
    socket: str | None,
    save: Saver | None = save_state,
    held: bool = False,
) -> Iterator[OrgState]:
    """Lock, load, stamp who the org is, hand the state to the caller, save on success.

    ``held``: the caller already holds the org lock (a second flock from this process would
    wait for itself). ``save`` None: a read that must not write.
    """
    with contextlib.nullcontext() if held else org_lock(paths):
        state = load_state(paths)
        state.stamp(org, session, socket)
        yield state
        if save is not None:
            save(paths, state)


# -- tolerant field reading ------------------------------------------------------------------
_INVALID = object()
_STRINGS = {"role", "backend", "detail"}
_OPTIONAL_STRINGS = {"branch", "worktree", "window_id", "pane_id", "command", "wip_commit"}
_OPTIONAL_FLOATS = {"started_at", "next_restart", "backoff_s"}


def _coerce(key: str, value: Any) -> Any:
    """``value`` as the type of Seat field ``key``, or ``_INVALID``."""
    if key == "status":
        try:
            return SeatStatus(value)
        except ValueError:
            return _INVALID
    if key in _STRINGS:
        return value if isinstance(value, str) else _INVALID
    if key in _OPTIONAL_STRINGS:
        return value if value is None or isinstance(value, str) else _INVALID
    if key in _OPTIONAL_FLOATS:
        return _finite(value) if value is None or _finite(value) is not None else _INVALID
    if key == "last_change":
        return _finite(value) or 0.0
    if key in ("gpu", "pane_pid"):
        return _int(value)
    if key == "restarts":
        number = _int(value)
        return number if number is not None and number >= 0 else 0
    if key == "runtime":
        return value is True
    if key == "deaths":
        return [t for t in value if _finite(t) is not None] if isinstance(value, list) else []
    return _INVALID


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
