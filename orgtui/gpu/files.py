"""Opening files that anyone could have replaced: only plain files are ever opened.

A FIFO put where ``.org/gpu.jsonl`` should be would block a reader (or an appender) forever,
opening a device can have side effects, and a symlink can point anywhere. So the path is
``lstat``-ed first, opened without blocking or following links, and checked again on the
descriptor (it may have been swapped in between). Anything but a plain file counts as
absent; reads are capped so a huge file cannot flood the reader.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from orgtui import atomic


def is_regular_or_missing(path: Path) -> bool:
    """True when ``path`` is a plain file or does not exist (a writer may create it)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False


def open_regular(path: Path, mode: str = "rb") -> BinaryIO | None:
    """``path`` open in ``mode`` ("rb" or "ab", never creating it), or None when it is
    missing, unreadable or not a plain file."""
    flags = os.O_RDONLY if mode == "rb" else os.O_WRONLY | os.O_APPEND
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        return None
    return os.fdopen(fd, mode)


def read_regular(path: Path, limit: int) -> bytes | None:
    """The whole of ``path``, or None when it is missing, unreadable, not a plain file or
    larger than ``limit`` bytes (``atomic.read_regular``, with None for its errors)."""
    try:
        return atomic.read_regular(path, limit)
    except OSError:
        return None


def tail_lines(handle: BinaryIO, count: int | None, limit: int) -> list[bytes]:
    """The last ``count`` lines (all lines when None), reading backwards at most ``limit``
    bytes; a line cut by the limit is left out."""
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    data = b""
    while end > 0 and len(data) < limit and (count is None or data.count(b"\n") <= count):
        start = max(0, end - min(1 << 16, limit - len(data)))
        handle.seek(start)
        data = handle.read(end - start) + data
        end = start
    lines = data.splitlines()
    if end > 0 and lines:
        handle.seek(end - 1)
        if handle.read(1) != b"\n":
            lines = lines[1:]  # the end of a line longer than the limit
    return lines if count is None else lines[max(0, len(lines) - count) :]
