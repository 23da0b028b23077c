"""Where agent panes live: a tmux window per agent, or the grid of tiled "wall" windows."""

from __future__ import annotations

from pathlib import Path

from orgtui.names import WALL_PREFIX
from orgtui.supervisor.seats import Org, SeatError, seat_names
from orgtui.supervisor.state import Seat

LAYOUTS = ("windows", "grid")


def current(org: Org) -> str:
    """The org's current layout: what ``orgtui grid`` last switched to, else org.toml's."""
    return org.state.layout or org.config.org.layout


def on_wall(window_name: str) -> bool:
    return window_name.startswith(WALL_PREFIX)


def pane_title(seat: Seat) -> str:
    return f"{seat.name} · {seat.role} · {seat.status}"


def place_on_wall(org: Org, name: str, command: str, cwd: Path, env: dict[str, str]) -> None:
    """Put a new agent pane on the first wall with room, or on a new wall."""
    wall, has_room = _wall_for_one_more(org)
    if has_room:
        org.tmux.split_into(org.session, wall, name, command, cwd, env)
    else:
        org.tmux.new_wall(org.session, wall, name, command, cwd, env)


def _wall_for_one_more(org: Org) -> tuple[str, bool]:
    """The first wall with fewer than ``grid_max`` panes, or the name of the next new one."""
    sizes = org.tmux.wall_sizes(org.session)
    numbers = {w: int(n) if (n := w.removeprefix(WALL_PREFIX)).isdigit() else 0 for w in sizes}
    for wall in sorted(sizes, key=numbers.__getitem__):
        if sizes[wall] < org.config.org.grid_max:
            return wall, True
    return f"{WALL_PREFIX}{max(numbers.values(), default=0) + 1}", False


def switch(org: Org, to: str) -> list[str]:
    """Move every live agent pane to the other layout; no process is restarted."""
    if to not in LAYOUTS:
        raise SeatError(f"unknown layout {to!r}: use windows or grid")
    moved = []
    panes = org.tmux.panes(org.session)
    for name in seat_names(org):
        pane = panes.get(name)
        if pane is None:
            continue
        if to == "grid" and not on_wall(pane.window_name):
            wall, has_room = _wall_for_one_more(org)
            if has_room:
                org.tmux.join(pane.pane_id, org.session, wall)
            else:  # its own window becomes the next wall
                org.tmux.cmd("rename-window", "-t", pane.window_id, wall)
                org.tmux.style_wall(org.session, wall)
            moved.append(name)
        elif to == "windows" and on_wall(pane.window_name):
            wall = pane.window_name
            org.tmux.break_out(pane.pane_id, org.session, name)
            if org.tmux.wall_sizes(org.session).get(wall):
                org.tmux.retile(org.session, wall)
            moved.append(name)
    org.state.layout = to
    for name, pane in org.tmux.panes(org.session).items():
        if name in org.state.seats:
            org.state.seats[name].window_id = pane.window_id
    return moved
