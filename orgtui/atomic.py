"""Atomic writes and bounded reads for everything under ``.org/``.

A write goes to a temp file in the same directory, is fsynced and renamed into place: a
reader (the TUI, another agent, the supervisor) sees the old file or the new one, never half
of either, even when the writer is killed mid-write.

``.org/`` holds other agents' mail and the org's state, so on a shared box it is private:
files are created 0600 and directories 0700 (``ensure_private_dir``), whatever the umask.

A reader of ``.org/`` must survive what anyone can drop there: ``read_regular`` refuses a
FIFO, socket, device, directory or symlink without blocking on it, and reads at most a cap.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


class NotRegularFile(OSError):
    """A path that is not a plain file (FIFO, socket, device, directory, symlink), or too big."""


def ensure_private_dir(directory: Path) -> Path:
    """Make ``directory`` (and missing parents) exist with mode 0700; tighten it if looser.

    Only for directories that are private by design (``.org/`` and what is inside it):
    existing parents above ``directory`` are left as they are.
    """
    _make_dirs(directory)
    with contextlib.suppress(OSError):  # not ours (another user's share): leave it
        info = os.stat(directory)
        if stat.S_IMODE(info.st_mode) != DIR_MODE and info.st_uid == os.getuid():
            os.chmod(directory, DIR_MODE)
    return directory


def _make_dirs(directory: Path) -> None:
    """Create the missing directories of ``directory``, each 0700 (mkdir's mode obeys umask)."""
    missing: list[Path] = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            os.mkdir(candidate, DIR_MODE)
        except FileExistsError:
            continue  # a concurrent writer made it
        os.chmod(candidate, DIR_MODE)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (mode 0600 unless ``mode``)."""
    _make_dirs(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, FILE_MODE if mode is None else mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_json(path: Path, value: Any, *, mode: int | None = None) -> None:
    """Replace ``path`` with pretty JSON atomically."""
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n", mode=mode)


def append_line(path: Path, line: str) -> None:
    """Append one line with a single ``write`` on an O_APPEND descriptor (file mode 0600).

    Lines under the pipe buffer size from concurrent writers never interleave, which is
    what JSONL logs (metrics, usage, GPU samples) rely on.
    """
    _make_dirs(path.parent)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    # O_NONBLOCK: a FIFO put in the log's place fails here instead of hanging the writer
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, FILE_MODE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file; not appending to it")
        os.write(fd, data)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600 in a private directory) for the
    ``with`` block; released if the holder dies.

    Opened without following a link and without blocking, so a FIFO or a link put in the lock
    file's place is refused (``NotRegularFile``) instead of hanging every writer.
    """
    ensure_private_dir(path.parent)
    flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EISDIR):  # a symlink (O_NOFOLLOW), a directory
            kind = file_kind(os.lstat(path).st_mode)
            raise NotRegularFile(f"{path}: {kind}, not a plain file; remove it") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{path}: {file_kind(mode)}, not a plain file; remove it")
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the plain file ``path``, refusing anything that could hang or flood us.

    ``lstat`` first, so a FIFO, socket, device, directory or symlink is never opened; then
    ``O_NONBLOCK | O_NOFOLLOW`` and a second check on the open descriptor, in case the path
    was swapped in between; at most ``limit`` bytes are read.

    Raises:
        NotRegularFile: not a plain file, or larger than ``limit`` (the message says which).
        OSError: the file cannot be read (gone, permissions).
    """
    _check_regular(path, os.lstat(path), limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _check_regular(path, os.fstat(fd), limit)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise NotRegularFile(f"file too large (over {limit} bytes)")
    return data


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words for an error message."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((word for test, word in kinds if test(mode)), "not a plain file")


def _check_regular(path: Path, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(f"{file_kind(info.st_mode)}, not a plain file; remove it")
    if info.st_size > limit:
        raise NotRegularFile(f"file too large ({info.st_size} bytes > {limit})")


def fsync_dir(directory: Path) -> None:
    """Persist a rename or link in ``directory`` (best effort: some filesystems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
