"""The only module that talks to tmux (through libtmux's command runner).

Each tick reads every pane with ONE ``list-panes -a -F`` call instead of building libtmux
objects per agent: the supervisor must stay cheap with dozens of agents.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgtui.errors import OrgtuiError

_SEP = "\x1f"
_FORMAT = _SEP.join(
    [
        "#{session_name}",
        "#{window_index}",
        "#{window_name}",
        "#{window_id}",
        "#{pane_id}",
        "#{pane_pid}",
        "#{pane_dead}",
        "#{pane_current_path}",
        "#{pane_current_command}",
        "#{@orgtui_agent}",
        "#{window_zoomed_flag}",
        "#{window_active_clients}",
    ]
)
AGENT_OPTION = "@orgtui_agent"
"""A pane option naming the agent in it: in the grid layout a window holds several agents."""
WALL_BORDER = " #{pane_title} "


class TmuxError(OrgtuiError):
    """tmux is missing or refused a command; the message carries tmux's own words."""


@dataclass(frozen=True)
class Pane:
    """One agent's pane as tmux reports it (its own window, or one pane of a wall)."""

    session: str
    window_index: int
    window_name: str
    window_id: str
    pane_id: str
    pane_pid: int | None
    dead: bool
    cwd: str
    command: str = ""
    zoomed: bool = False
    """Its window is zoomed to one pane."""
    watched: bool = False
    """Some client is looking at its window."""


def import_libtmux() -> Any:
    """libtmux, imported with the process's own stdout in place: it reads
    ``sys.stdout.encoding`` when first imported, and inside a running Textual app ``sys.stdout``
    is the app's print capture, which has none (the TUI imports it after its first frame)."""
    if "libtmux" not in sys.modules and not hasattr(sys.stdout, "encoding"):
        with contextlib.redirect_stdout(sys.__stdout__):
            import libtmux
    import libtmux

    return libtmux


class Tmux:
    """A tmux server: the user's default one, or a private ``tmux -L NAME``."""

    def __init__(self, socket_name: str | None = None) -> None:
        if shutil.which("tmux") is None:
            raise TmuxError("tmux is not installed: install it (apt install tmux) and retry")
        libtmux = import_libtmux()
        self.socket_name = socket_name
        self.server = libtmux.Server(socket_name=socket_name) if socket_name else libtmux.Server()

    # -- low level -------------------------------------------------------------------------
    def base_argv(self) -> list[str]:
        return ["tmux", *(["-L", self.socket_name] if self.socket_name else [])]

    def cmd(self, *args: str, check: bool = True) -> list[str]:
        result = self.server.cmd(*args)
        if check and result.returncode not in (0, None) and result.stderr:
            raise TmuxError(f"tmux {args[0]}: {' '.join(result.stderr)}")
        return list(result.stdout)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base_argv(), *args], capture_output=True, text=True, check=False
        )

    def version(self) -> str:
        return subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()

    def alive(self) -> bool:
        """True when the server answers (it exists only while it has a session)."""
        return self._run("list-sessions").returncode == 0

    # -- queries -----------------------------------------------------------------------------
    def has_session(self, session: str) -> bool:
        return self._run("has-session", "-t", f"={session}").returncode == 0

    def panes(self, session: str) -> dict[str, Pane]:
        """Agent name -> its pane, for one session (one tmux call).

        The name is the pane's ``@orgtui_agent`` option, else its window's name (the
        supervisor's window, and windows made before the option existed).
        """
        proc = self._run("list-panes", "-a", "-F", _FORMAT)
        found: dict[str, Pane] = {}
        if proc.returncode != 0:
            return found
        for line in proc.stdout.splitlines():
            parts = line.split(_SEP)
            if len(parts) != 12 or parts[0] != session:
                continue
            pid = int(parts[5]) if parts[5].isdigit() else None
            pane = Pane(
                session=parts[0],
                window_index=int(parts[1]) if parts[1].isdigit() else -1,
                window_name=parts[2],
                window_id=parts[3],
                pane_id=parts[4],
                pane_pid=pid,
                dead=parts[6] == "1",
                cwd=parts[7],
                command=parts[8],
                zoomed=parts[10] == "1",
                watched=parts[11] not in ("", "0"),
            )
            found.setdefault(parts[9] or pane.window_name, pane)
        return found

    def wall_sizes(self, session: str) -> dict[str, int]:
        """Panes per ``wall-N`` window of the grid layout."""
        sizes: dict[str, int] = {}
        for pane in self.panes(session).values():
            if pane.window_name.startswith("wall-"):
                sizes[pane.window_name] = sizes.get(pane.window_name, 0) + 1
        return sizes

    def clients(self) -> list[str]:
        proc = self._run("list-clients", "-F", "#{client_name}")
        return proc.stdout.split() if proc.returncode == 0 else []

    # -- changes -----------------------------------------------------------------------------
    def new_session(
        self, session: str, window: str, command: str, cwd: Path, env: Mapping[str, str]
    ) -> Pane:
        """A detached session whose window 0 runs ``command``; dead panes stay (remain-on-exit)."""
        args = ["new-session", "-d", "-s", session, "-n", window, "-c", str(cwd)]
        args += _env_args(env)
        self._checked(
            *args, command, ";", "set-option", "-w", "-t", f"={session}:0", "remain-on-exit", "on"
        )
        return self._pane(session, window)

    def new_window(
        self,
        session: str,
        window: str,
        command: str,
        cwd: Path,
        env: Mapping[str, str],
        index: int | None = None,
        agent: str | None = None,
    ) -> Pane:
        """A detached window named ``window``; remain-on-exit is set in the same tmux call,
        before the child can exit, so a command that dies at once leaves a dead pane. With
        ``agent`` its pane is marked as that agent's."""
        target = f"={session}:" if index is None else f"={session}:{index}"
        args = ["new-window", "-d", "-P", "-F", "#{pane_id}", "-t", target, "-n", window]
        args += ["-c", str(cwd), *_env_args(env), command]
        pane_id = self._checked(
            *args, ";", "set-option", "-w", "-t", f"={session}:={window}", "remain-on-exit", "on"
        ).strip()
        if agent:
            self.mark(pane_id, agent)
        return self._pane(session, agent or window)

    def mark(self, pane_id: str, agent: str) -> None:
        self._checked("set-option", "-p", "-t", pane_id, AGENT_OPTION, agent)

    # -- the grid layout: agents as panes of tiled "wall" windows ---------------------------
    def new_wall(
        self, session: str, wall: str, agent: str, command: str, cwd: Path, env: Mapping[str, str]
    ) -> Pane:
        """A new wall window whose first pane is ``agent``; borders show the pane titles."""
        self.new_window(session, wall, command, cwd, env, agent=agent)
        self.style_wall(session, wall)
        return self._pane(session, agent)

    def style_wall(self, session: str, wall: str) -> None:
        target = f"={session}:={wall}"
        self._checked(
            "set-option",
            "-w",
            "-t",
            target,
            "pane-border-status",
            "top",
            ";",
            "set-option",
            "-w",
            "-t",
            target,
            "pane-border-format",
            WALL_BORDER,
            ";",
            "set-option",
            "-w",
            "-t",
            target,
            "remain-on-exit",
            "on",
        )

    def split_into(
        self, session: str, wall: str, agent: str, command: str, cwd: Path, env: Mapping[str, str]
    ) -> Pane:
        """Add ``agent`` as a new pane of ``wall`` and re-tile it."""
        window = f"={session}:={wall}"
        last = self._checked("list-panes", "-t", window, "-F", "#{pane_id}").split()[-1]
        # Split the last pane, so the wall keeps the agents in org.toml's order.
        args = ["split-window", "-d", "-P", "-F", "#{pane_id}", "-t", last, "-c", str(cwd)]
        pane_id = self._checked(*args, *_env_args(env), command).strip()
        self.mark(pane_id, agent)
        self.retile(session, wall)
        return self._pane(session, agent)

    def retile(self, session: str, wall: str) -> None:
        self._run("select-layout", "-t", f"={session}:={wall}", "tiled")

    def kill_pane(self, pane_id: str) -> None:
        self._run("kill-pane", "-t", pane_id)

    def join(self, pane_id: str, session: str, wall: str) -> None:
        """Move a live pane into ``wall`` (its process keeps running)."""
        self._checked("join-pane", "-d", "-s", pane_id, "-t", f"={session}:={wall}")
        self.retile(session, wall)

    def break_out(self, pane_id: str, session: str, window: str) -> None:
        """Move a live pane out of its wall into a window of its own named ``window``."""
        self._checked("break-pane", "-d", "-s", pane_id, "-t", f"={session}:", "-n", window)
        self._checked("set-option", "-w", "-t", f"={session}:={window}", "remain-on-exit", "on")

    def set_title(self, pane_id: str, title: str) -> None:
        self._run("select-pane", "-t", pane_id, "-T", title)

    def zoomed(self, pane_id: str) -> bool:
        return (
            self._run("display", "-p", "-t", pane_id, "#{window_zoomed_flag}").stdout.strip() == "1"
        )

    def zoom(self, pane_id: str) -> None:
        """Select the pane and zoom it to its whole window (a no-op when already zoomed)."""
        self._checked("select-window", "-t", pane_id, ";", "select-pane", "-t", pane_id)
        if not self.zoomed(pane_id):
            self._checked("resize-pane", "-Z", "-t", pane_id)

    def unzoom(self, pane_id: str) -> None:
        if self.zoomed(pane_id):
            self._run("resize-pane", "-Z", "-t", pane_id)

    def respawn(self, pane_id: str, command: str, cwd: Path, env: Mapping[str, str]) -> None:
        """Kill whatever runs in the pane and start ``command`` there (same window)."""
        self._checked("respawn-pane", "-k", "-t", pane_id, "-c", str(cwd), *_env_args(env), command)

    def kill_window(self, window_id: str) -> None:
        self._run("kill-window", "-t", window_id)

    def kill_session(self, session: str) -> None:
        self._run("kill-session", "-t", f"={session}")

    def send_line(self, pane_id: str, text: str) -> None:
        """Type one line into a pane (literally) and press Enter."""
        self._checked("send-keys", "-t", pane_id, "-l", text)
        self._checked("send-keys", "-t", pane_id, "Enter")

    def capture(self, pane_id: str, lines: int = 50) -> str:
        return self._run("capture-pane", "-p", "-t", pane_id, "-S", f"-{lines}").stdout

    def attach_argv(self, session: str, window: str) -> list[str]:
        """The command that takes over ``session:window`` (a name or ``@id``) from a shell
        (or from inside tmux)."""
        target = window if window.startswith("@") else f"={session}:={window}"
        inside = os.environ.get("TMUX", "")
        if inside and self._same_server(inside):
            return [*self.base_argv(), "switch-client", "-t", target]
        return [*self.base_argv(), "attach-session", "-t", target]

    def _same_server(self, tmux_env: str) -> bool:
        socket_path = tmux_env.split(",")[0]
        name = self.socket_name or "default"
        return Path(socket_path).name == name

    # -- helpers ---------------------------------------------------------------------------
    def _checked(self, *args: str) -> str:
        proc = self._run(*args)
        if proc.returncode != 0:
            raise TmuxError(f"tmux {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def _pane(self, session: str, window: str) -> Pane:
        pane = self.panes(session).get(window)
        if pane is None:
            raise TmuxError(f"tmux: window {session}:{window} vanished right after creation")
        return pane


def _env_args(env: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    return args
