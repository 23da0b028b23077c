"""The org as the supervisor and the CLI see it: config, tmux server and typed seat state.

Only one process mutates state at a time: the supervisor, or a CLI verb inside
``org_transaction`` while no supervisor runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orgtui import board
from orgtui.atomic import append_line
from orgtui.config import AgentSpec, OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.paths import OrgPaths
from orgtui.supervisor import worktrees
from orgtui.supervisor.state import (
    OrgState,
    Saver,
    Seat,
    SeatStatus,
    load_state,
    org_transaction,
    save_state,
)
from orgtui.supervisor.tmux import Tmux


class SeatError(OrgtuiError):
    """An operation on a seat that does not exist or cannot take it."""


@dataclass
class Org:
    config: OrgConfig
    tmux: Tmux
    state: OrgState

    @property
    def paths(self) -> OrgPaths:
        return self.config.paths

    @property
    def session(self) -> str:
        return self.config.org.session_name

    def stamp(self) -> None:
        self.state.stamp(self.config.org.name, self.session, self.tmux.socket_name)

    @contextlib.contextmanager
    def transaction(self, *, save: Saver | None = save_state, held: bool = False) -> Iterator[None]:
        """``org_transaction`` on this org: ``self.state`` is fresh inside, saved after."""
        with org_transaction(
            self.paths,
            org=self.config.org.name,
            session=self.session,
            socket=self.tmux.socket_name,
            save=save,
            held=held,
        ) as state:
            self.state = state
            yield


def org_socket(
    state: OrgState, given: str | None, holds_session: Callable[[str | None], bool]
) -> tuple[str | None, bool]:
    """The tmux socket the org runs on, and whether ``given`` names another one in vain.

    The socket recorded in state.json wins when none is given; a different one given while
    the recorded server still holds the org's session (``holds_session``) is a conflict: the
    recorded socket is returned with True.
    """
    if not state.session or given == state.tmux_socket:
        return given, False
    if given is None:
        return state.tmux_socket, False
    if holds_session(state.tmux_socket):
        return state.tmux_socket, True
    return given, False


def where(socket: str | None) -> str:
    return f"tmux socket {socket}" if socket else "the default tmux server"


def socket_flag(socket: str | None) -> str:
    return f"--socket {socket}" if socket else "no --socket"


def open_org(config: OrgConfig, socket_name: str | None) -> Org:
    """The org on the tmux server it runs on (``org_socket``).

    A forgotten ``--socket`` after a crash must not start every agent a second time in the
    same worktrees, so another socket than the org's is refused while the org lives there.
    """
    state = load_state(config.paths)
    session = config.org.session_name
    socket, conflict = org_socket(state, socket_name, lambda s: Tmux(s).has_session(session))
    if conflict:
        raise SeatError(
            f"{config.paths.state_file}: the org runs on {where(socket)}, not on "
            f"{socket_name!r}: pass {socket_flag(socket)} (or `orgtui down` it there first)"
        )
    org = Org(config=config, tmux=Tmux(socket), state=state)
    org.stamp()
    return org


def log(paths: OrgPaths, line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    append_line(paths.supervisor_log, f"{stamp} {line}")


def post_system(org: Org, subject: str, body: str, to: tuple[str, ...] = ("human",)) -> None:
    """A supervisor notice on the board; a board that cannot take it is logged, not fatal."""
    try:
        board.post(
            org.paths,
            sender="supervisor",
            to=list(to),
            subject=subject,
            body=body,
            kind="system",
            known_agents=seat_names(org),
        )
    except (OrgtuiError, OSError) as error:
        log(org.paths, f"board post failed: {error}")


def seat_names(org: Org) -> list[str]:
    """org.toml's agents, then the ones spawned at runtime."""
    names = list(org.config.agent_names)
    names += [n for n, s in org.state.seats.items() if s.runtime and n not in names]
    return names


def seat_spec(org: Org, name: str) -> AgentSpec:
    """The seat's spec: from org.toml (or a runtime seat), with any backend handed over."""
    seat = org.state.seats.get(name)
    spec = next((a for a in org.config.agents if a.name == name), None)
    if spec is None:
        if seat is None or not seat.runtime:
            raise SeatError(
                f"no agent named {name!r} in {org.paths.config_file} (or spawned at runtime)"
            )
        spec = AgentSpec(
            name=name, role=seat.role, backend=seat.backend, gpu=seat.gpu, command=seat.command
        )
    if seat is not None and seat.backend and seat.backend != spec.backend:
        spec = dataclasses.replace(spec, backend=seat.backend)
    return spec


def seat(org: Org, name: str) -> Seat:
    """The seat's record, created (dead, never launched) for an org.toml agent seen first."""
    record = org.state.seats.get(name)
    if record is None:
        spec = seat_spec(org, name)  # raises the clear error for an unknown name
        record = Seat(
            name=name,
            role=spec.role,
            backend=spec.backend,
            status=SeatStatus.DEAD,
            gpu=spec.gpu,
            worktree=str(org.paths.worktree(name)),
            branch=worktrees.feature_branch(org.config.org.program, name),
            last_change=time.time(),
        )
        org.state.seats[name] = record
    return record
