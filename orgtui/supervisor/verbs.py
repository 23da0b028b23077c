"""The org's verbs, one table for the supervisor's control socket, the CLI and the TUI.

A ``Request`` names a verb, maybe a seat, and its options; ``dispatch`` runs it on an ``Org``
and returns a ``Reply``. ``ask`` is what a client calls: through the running supervisor when
one answers, else directly under the org lock (for the verbs that may run without one).
A new verb is one function and one line in ``VERBS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgtui.errors import OrgtuiError
from orgtui.supervisor import handoff, layout, lifecycle
from orgtui.supervisor.control import ControlError, NotRunning, request
from orgtui.supervisor.seats import Org, open_org
from orgtui.supervisor.state import OrgState, Seat, save_state

WIRE_OPTIONS = ("backend", "to", "role", "gpu", "command", "park")
"""Request options, sent flat beside ``verb`` and ``agent`` on the control socket."""


class VerbError(OrgtuiError):
    """A request that names no known verb, or lacks what its verb needs."""


@dataclass(frozen=True)
class Request:
    verb: str
    agent: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verb": self.verb}
        if self.agent is not None:
            data["agent"] = self.agent
        data.update({k: v for k, v in self.options.items() if v is not None})
        return data

    @classmethod
    def from_json(cls, payload: Any) -> Request:
        if not isinstance(payload, dict) or not isinstance(payload.get("verb"), str):
            raise VerbError("a request is a JSON object with a string 'verb'")
        agent = payload.get("agent")
        if agent is not None and not isinstance(agent, str):
            raise VerbError(f"'agent' must be a string, not {type(agent).__name__}")
        options = {k: payload[k] for k in WIRE_OPTIONS if payload.get(k) is not None}
        return cls(payload["verb"], agent, options)

    def text(self, key: str) -> str | None:
        value = self.options.get(key)
        if value is not None and not isinstance(value, str):
            raise VerbError(f"{self.verb}: {key!r} must be a string")
        return value


@dataclass(frozen=True)
class Reply:
    ok: bool
    error: str = ""
    seat: dict[str, Any] | None = None
    """The seat the verb acted on, as state.json has it."""
    data: dict[str, Any] = field(default_factory=dict)
    """Whatever else the verb returns (``started``, ``moved``, ``stopped``, status fields)."""
    said: str = ""
    """One line for a person: what happened."""

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": self.ok, **self.data}
        if self.error:
            answer["error"] = self.error
        if self.seat is not None:
            answer["agent"] = self.seat
        if self.said:
            answer["said"] = self.said
        return answer

    @classmethod
    def from_json(cls, answer: dict[str, Any]) -> Reply:
        rest = {k: v for k, v in answer.items() if k not in ("ok", "error", "agent", "said")}
        seat = answer.get("agent")
        return cls(
            ok=answer.get("ok") is True,
            error=str(answer.get("error") or ""),
            seat=seat if isinstance(seat, dict) else None,
            data=rest,
            said=str(answer.get("said") or ""),
        )


def _seat_reply(request: Request, record: Seat) -> Reply:
    said = f"{record.name}: {request.verb} done; status {record.status}"
    return Reply(True, seat=record.to_json(), said=said)


def status_json(state: OrgState) -> dict[str, Any]:
    """The ``orgtui status --json`` shape."""
    keys = (
        "name",
        "role",
        "backend",
        "status",
        "branch",
        "worktree",
        "gpu",
        "pane_pid",
        "restarts",
    )
    return {
        "org": state.org,
        "supervisor": {"pid": state.supervisor.pid, "alive": state.supervisor_alive()},
        "agents": [{key: seat.to_json()[key] for key in keys} for seat in state.seats.values()],
    }


def _status(org: Org, request: Request) -> Reply:
    return Reply(True, data=status_json(org.state))


def _up(org: Org, request: Request) -> Reply:
    started = lifecycle.ensure_agents(org)
    return Reply(True, data={"started": started}, said=f"started {len(started)} agent(s)")


def _down(org: Org, request: Request) -> Reply:
    stopped = lifecycle.down(org, park_first=request.options.get("park") is True)
    return Reply(True, data={"stopped": stopped}, said=f"stopped {len(stopped)} agent(s)")


def _layout(org: Org, request: Request) -> Reply:
    to = request.text("to") or ("windows" if layout.current(org) == "grid" else "grid")
    moved = layout.switch(org, to)
    return Reply(True, data={"moved": moved, "to": to}, said=f"layout {to}: moved {len(moved)}")


def _spawn(org: Org, request: Request) -> Reply:
    gpu = request.options.get("gpu")
    if gpu is not None and (isinstance(gpu, bool) or not isinstance(gpu, int)):
        raise VerbError(f"spawn: 'gpu' must be an integer, not {gpu!r}")
    record = lifecycle.spawn(
        org,
        str(request.agent),
        request.text("role") or "",
        request.text("backend") or "",
        gpu,
        request.text("command"),
    )
    return _seat_reply(request, record)


def _handoff(org: Org, request: Request) -> Reply:
    record = handoff.handoff(
        org, str(request.agent), backend=request.text("backend"), to=request.text("to")
    )
    return _seat_reply(request, record)


def _seat_op(op: Callable[[Org, str], Seat]) -> Callable[[Org, Request], Reply]:
    def run(org: Org, request: Request) -> Reply:
        return _seat_reply(request, op(org, str(request.agent)))

    return run


@dataclass(frozen=True)
class Verb:
    run: Callable[[Org, Request], Reply]
    needs_agent: bool = True
    changes: bool = True
    """Writes state: run under the org lock when no supervisor answers."""


VERBS: dict[str, Verb] = {
    "status": Verb(_status, needs_agent=False, changes=False),
    "up": Verb(_up, needs_agent=False),
    "down": Verb(_down, needs_agent=False),
    "layout": Verb(_layout, needs_agent=False),
    "spawn": Verb(_spawn),
    "suspend": Verb(_seat_op(lifecycle.suspend)),
    "resume": Verb(_seat_op(lifecycle.resume)),
    "park": Verb(_seat_op(lifecycle.park)),
    "restart": Verb(_seat_op(lifecycle.restart)),
    "handoff": Verb(_handoff),
}


def dispatch(org: Org, request: Request) -> Reply:
    """Run ``request`` on ``org`` (the caller holds the lock and saves); errors are replies."""
    verb = VERBS.get(request.verb)
    if verb is None:
        return Reply(False, error=f"unknown verb {request.verb!r}: one of {', '.join(VERBS)}")
    if verb.needs_agent and not request.agent:
        return Reply(False, error=f"verb {request.verb!r} needs an agent")
    try:
        return verb.run(org, request)
    except OrgtuiError as error:
        return Reply(False, error=str(error))


def ask(org: Org, req: Request, *, timeout: float = 30.0) -> Reply:
    """Through the supervisor when it runs; else directly, under the org lock.

    Only a supervisor that is surely not there (nobody listens on its socket) is bypassed: one
    that is slow to answer still owns the org, and acting beside it would race it.
    """
    try:
        return Reply.from_json(request(org.paths, req.to_json(), timeout=timeout))
    except NotRunning:
        pass
    except ControlError as error:
        return Reply(False, error=str(error))
    verb = VERBS.get(req.verb)
    with org.transaction(save=save_state if verb is not None and verb.changes else None):
        return dispatch(org, req)


def send(root: Path, socket: str | None, req: Request, *, timeout: float = 30.0) -> Reply:
    """``ask`` for a client that holds only the org's root (the TUI)."""
    from orgtui.config import load_config

    try:
        org = open_org(load_config(root), socket)
    except OrgtuiError as error:
        return Reply(False, error=str(error))
    return ask(org, req, timeout=timeout)
