"""Process facts: the one module that imports psutil.

The supervisor asks whether a pid lives, what runs under an agent's pane, whether it is
stopped; the GPU sampler asks which pane owns a GPU process. Every psutil error (a process
that ended between two calls, another user's process) becomes a plain value here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

import psutil


def pid_alive(pid: Any) -> bool:
    """A live process with this pid exists (possibly another user's); a zombie is not alive."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return psutil.pid_exists(pid)


def identity(pid: Any) -> tuple[float, tuple[str, ...]] | None:
    """(start time in seconds since 1970, command line) of a live process; None when it is
    gone, a zombie or not ours to read. Tells a process from a later one given the same pid."""
    if not pid_alive(pid):
        return None
    try:
        proc = psutil.Process(pid)
        return proc.create_time(), tuple(proc.cmdline())
    except psutil.Error:
        return None


def descendants(pid: int) -> list[int]:
    """Every pid below ``pid`` (children, grandchildren...); empty when it is gone."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except (psutil.Error, ValueError, TypeError):
        return []


def signal_tree(pid: int, sig: int) -> None:
    """``sig`` to every process below ``pid``, one by one (``pid`` itself is spared)."""
    for child in descendants(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, sig)


def any_stopped(pid: int | None) -> bool:
    """True when a process below ``pid`` is stopped (state T)."""
    if not pid:
        return False
    try:
        children = psutil.Process(pid).children(recursive=True)
        return any(child.status() == psutil.STATUS_STOPPED for child in children)
    except psutil.Error:
        return False


def end_tree(pid: int, stop: Any, timeout: float = 5.0) -> None:
    """Call ``stop()`` (which should end ``pid``), wait, then SIGKILL what is left of its tree."""
    procs: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        top = psutil.Process(pid)
        procs = [top, *top.children(recursive=True)]
    stop()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


class ProcessTable:
    """One snapshot of parent -> children (pid, name), for many questions in one tick."""

    def __init__(self) -> None:
        self._children: dict[int, list[tuple[int, str]]] = {}
        for proc in psutil.process_iter(["pid", "ppid", "name"]):
            info = proc.info
            self._children.setdefault(info["ppid"] or 0, []).append(
                (info["pid"], info["name"] or "")
            )

    def only(self, pid: int | None, names: Iterable[str]) -> bool:
        """True when every process below ``pid`` has one of ``names`` (say, only shells)."""
        allowed = set(names)
        stack = [pid or 0]
        while stack:
            for child, name in self._children.get(stack.pop(), []):
                if name not in allowed:
                    return False
                stack.append(child)
        return True


def owners(root_pids: Mapping[str, int]) -> dict[int, str]:
    """pid -> owner, for every root pid and all its descendants (the first owner wins)."""
    found: dict[int, str] = {}
    for owner, root in root_pids.items():
        try:
            pid = int(root)
        except (ValueError, TypeError):
            continue
        if not pid_alive(pid):
            continue
        for member in (pid, *descendants(pid)):
            found.setdefault(member, owner)
    return found


def wait_gone(pid: int | None, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to end; True when it has."""
    if not pid_alive(pid):
        return True
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.TimeoutExpired:
        return False
    except psutil.Error:
        pass
    return True
