"""A seat's life, written once for the supervisor and the CLI: adopt, start, suspend, resume,
park, restart, spawn, and taking the whole org down."""

from __future__ import annotations

import signal
import time

from orgtui import procs
from orgtui.config import BACKENDS
from orgtui.names import check_agent_name, check_name
from orgtui.supervisor import layout, worktrees
from orgtui.supervisor.launch import SUPERVISOR_WINDOW, launch
from orgtui.supervisor.seats import Org, SeatError, log, seat, seat_names
from orgtui.supervisor.state import Seat, SeatStatus
from orgtui.supervisor.tmux import Pane

MAX_GPU_INDEX = 1023


def pane_alive(pane: Pane | None) -> bool:
    return pane is not None and not pane.dead and procs.pid_alive(pane.pane_pid)


def adopt(org: Org, name: str, pane: Pane) -> Seat:
    """Take a running pane as the seat's: a suspended one stays suspended."""
    record = seat(org, name)
    record.attach(pane.window_id, pane.pane_id, pane.pane_pid)
    if record.status == SeatStatus.SUSPENDED or procs.any_stopped(pane.pane_pid):
        record.set_status(SeatStatus.SUSPENDED)
    elif record.status in (SeatStatus.DEAD, SeatStatus.FAILED, SeatStatus.PARKED):
        record.set_status(SeatStatus.STARTING)
    return record


def adopt_running(org: Org) -> list[str]:
    """Adopt every seat whose pane runs; mark the rest dead (parked/failed stay so)."""
    panes = org.tmux.panes(org.session)
    adopted = []
    for name in seat_names(org):
        pane = panes.get(name)
        if pane_alive(pane):
            assert pane is not None
            adopt(org, name, pane)
            log(org.paths, f"{name}: adopted pane pid {pane.pane_pid}")
            adopted.append(name)
        elif not seat(org, name).status.gone:
            seat(org, name).set_status(SeatStatus.DEAD, "not running at supervisor start")
    return adopted


def ensure_agents(org: Org) -> list[str]:
    """Adopt every live seat window, start the missing ones; parked/failed seats stay so."""
    panes = org.tmux.panes(org.session)
    started = []
    for name in seat_names(org):
        pane = panes.get(name)
        if pane_alive(pane):
            assert pane is not None
            adopt(org, name, pane)
        elif not seat(org, name).status.gone:
            launch(org, name, pane=pane)
            started.append(name)
    return started


def restart(org: Org, name: str, *, pane: Pane | None = None, by_person: bool = True) -> Seat:
    """Launch the seat again, resuming its session; a person's restart resets the backoff."""
    record = seat(org, name)
    record.restarts += 1
    record.next_restart = None
    if by_person:
        record.forget_deaths()
    launch(org, name, resume=True, pane=pane)
    return record


def live_pane(org: Org, name: str) -> Pane:
    pane = org.tmux.panes(org.session).get(name)
    if pane is None or pane.dead or pane.pane_pid is None:
        raise SeatError(
            f"agent {name!r} is not running (status: {seat(org, name).status}); "
            "`orgtui up` or `orgtui resume`"
        )
    return pane


def suspend(org: Org, name: str) -> Seat:
    """SIGSTOP everything under the pane's wrapper shell.

    tmux answers a stop of a pane's own process with SIGCONT to its process group (and the
    kernel drops SIGTTOU/SIGTSTP there: the group is orphaned), so the pane runs a small
    ``sh`` wrapper (``launch.wrap``) that stays running while everything below it stops.
    """
    pane = live_pane(org, name)
    assert pane.pane_pid is not None
    procs.signal_tree(pane.pane_pid, signal.SIGSTOP)
    record = seat(org, name)
    record.set_status(SeatStatus.SUSPENDED, "SIGSTOP")
    log(org.paths, f"{name}: suspended")
    return record


def resume(org: Org, name: str) -> Seat:
    """SIGCONT a suspended seat; relaunch a parked, failed or windowless one in its worktree."""
    record = seat(org, name)
    if record.status.gone or org.tmux.panes(org.session).get(name) is None:
        was = record.status
        record.forget_deaths()
        launch(org, name, resume=True)
        log(org.paths, f"{name}: resumed from {was}")
        return record
    pane = live_pane(org, name)
    assert pane.pane_pid is not None
    procs.signal_tree(pane.pane_pid, signal.SIGCONT)
    record.set_status(SeatStatus.STARTING, "")
    log(org.paths, f"{name}: resumed (SIGCONT)")
    return record


def wip(org: Org, name: str, label: str) -> str | None:
    """Commit whatever the seat's worktree holds, so stopping it loses nothing."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = org.paths.worktree(name)
    sha = worktrees.wip_commit(path, f"wip({label}): {name} {stamp}") if path.exists() else None
    if sha:
        log(org.paths, f"{name}: wip({label}) commit {sha[:10]}")
    return sha


def stop_window(org: Org, name: str) -> None:
    """Kill the seat's pane (a wall is re-tiled, a window closed); the seat keeps its record."""
    pane = org.tmux.panes(org.session).get(name)
    if pane is not None:
        if pane.pane_pid and procs.any_stopped(pane.pane_pid):
            procs.signal_tree(pane.pane_pid, signal.SIGCONT)
        if layout.on_wall(pane.window_name):
            org.tmux.kill_pane(pane.pane_id)
            org.tmux.retile(org.session, pane.window_name)
        else:
            org.tmux.kill_window(pane.window_id)
    seat(org, name).attach(None, None, None)


def park(org: Org, name: str) -> Seat:
    record = seat(org, name)
    sha = wip(org, name, "park")
    stop_window(org, name)
    record.set_status(SeatStatus.PARKED, f"wip {sha[:10]}" if sha else "clean")
    record.wip_commit = sha
    log(org.paths, f"{name}: parked")
    return record


def spawn(
    org: Org, name: str, role: str, backend: str, gpu: int | None = None, command: str | None = None
) -> Seat:
    """A new seat at runtime; everything is checked before any state is written."""
    check_agent_name(name)
    check_name(role, "role")
    if backend not in BACKENDS:
        raise SeatError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "command" and not command:
        raise SeatError('backend "command" needs --command "..."')
    if gpu is not None and (isinstance(gpu, bool) or not 0 <= gpu <= MAX_GPU_INDEX):
        raise SeatError(f"--gpu {gpu!r}: a GPU index is 0 or more")
    if name in seat_names(org):
        raise SeatError(f"agent {name!r} already exists: `orgtui resume {name}` starts it again")
    record = Seat(
        name=name,
        role=role,
        backend=backend,
        gpu=gpu,
        runtime=True,
        command=command,
        worktree=str(org.paths.worktree(name)),
        branch=worktrees.feature_branch(org.config.org.program, name),
        last_change=time.time(),
    )
    org.state.seats[name] = record
    try:
        launch(org, name)
    except Exception:
        del org.state.seats[name]  # no ghost seat for `up` to trip over later
        raise
    return record


def stop_supervisor(org: Org, timeout: float = 5.0) -> None:
    """End a supervisor that does not answer (still starting, or its socket gone).

    Seats stopped behind its back would look like deaths to it, and it would restart them.
    """
    pane = org.tmux.panes(org.session).get(SUPERVISOR_WINDOW)
    if pane is None or pane.dead or not procs.pid_alive(pane.pane_pid):
        return
    assert pane.pane_pid is not None
    # SIGHUP through the pane's end is the supervisor's stop signal
    procs.end_tree(pane.pane_pid, lambda: org.tmux.kill_pane(pane.pane_id), timeout)


def down(org: Org, *, park_first: bool = False) -> list[str]:
    stopped = []
    for name in seat_names(org):
        record = seat(org, name)
        if park_first:
            park(org, name)
        else:
            stop_window(org, name)
            if not record.status.gone:
                record.set_status(SeatStatus.DEAD, "stopped by down")
        stopped.append(name)
    return stopped
