"""``.org/control.sock``: JSON lines between the supervisor and its clients (CLI, TUI).

A request is one JSON object ``{"verb": ..., ...}``; the answer is one JSON object with
``ok``. Only the socket owner's uid is served (SO_PEERCRED), and the socket is mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from orgtui.atomic import ensure_private_dir
from orgtui.errors import OrgtuiError
from orgtui.paths import OrgPaths

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(OrgtuiError):
    """The supervisor is not running (or did not answer) on the control socket."""


class NotRunning(ControlError):
    """Nobody listens on the control socket: acting directly on the org is safe."""


MAX_SOCKET_PATH = 107
"""AF_UNIX addresses hold 108 bytes (NUL included) on Linux; a deeper org goes through /proc."""
MAX_REQUEST_BYTES = 1 << 20
"""A request line larger than this (1 MiB) is refused unread: no verb needs more."""
REFUSED_READ_TIMEOUT = 2.0
"""How long another user's connection may take to send the request it is refused."""


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """A name that ``bind`` and ``connect`` accept for ``path``, however deep the org lives.

    A path too long for an AF_UNIX address is reached through an open handle on its directory
    (``/proc/self/fd/N/control.sock``), which names the same file.
    """
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    if not os.path.isdir("/proc/self/fd"):
        raise ControlError(
            f"{path}: too long for a unix socket ({MAX_SOCKET_PATH} bytes at most) on a system "
            "without /proc; move the org to a shorter directory"
        )
    handle = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)  # no directory: not running
    try:
        yield f"/proc/self/fd/{handle}/{path.name}"
    finally:
        os.close(handle)


def request(paths: OrgPaths, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request and return the supervisor's answer."""
    path = paths.control_socket
    try:
        with _address(path) as address, socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall((json.dumps(payload) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise NotRunning(
            f"{path}: the supervisor is not running; start it with `orgtui up`"
        ) from None
    except OSError as error:
        raise ControlError(f"{path}: no answer from the supervisor ({error})") from None
    try:
        answer = json.loads(data.decode())
    except ValueError:
        raise ControlError(f"{path}: the supervisor sent an unreadable answer") from None
    if not isinstance(answer, dict):
        raise ControlError(f"{path}: the supervisor sent an unreadable answer")
    return answer


def _peer_uid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    handle_request_fn: Handler


class _Conn(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        uid = _peer_uid(self.request)
        if uid is not None and uid != os.getuid():
            # Read (and drop) the request first: answering before it arrives would close the
            # socket under a client that is still writing, which then sees EPIPE, not the refusal.
            self.request.settimeout(REFUSED_READ_TIMEOUT)
            with contextlib.suppress(OSError):
                self.rfile.readline(MAX_REQUEST_BYTES + 1)
            self._send({"ok": False, "error": "refused: not the socket owner"})
            return
        while raw := self.rfile.readline(MAX_REQUEST_BYTES + 1):
            if len(raw) > MAX_REQUEST_BYTES:
                self._send({"ok": False, "error": f"request over {MAX_REQUEST_BYTES} bytes"})
                return  # the rest of the line is not worth reading
            try:
                payload = json.loads(raw)
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                self._send({"ok": False, "error": f"bad request: {error}"})
                continue
            try:
                answer = self.server.handle_request_fn(payload)  # type: ignore[attr-defined]
            except OrgtuiError as error:
                answer = {"ok": False, "error": str(error)}
            except Exception as error:
                answer = {"ok": False, "error": f"internal error: {error!r}"}
            self._send(answer)

    def _send(self, answer: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # a client that hung up needs no answer
            self.wfile.write((json.dumps(answer) + "\n").encode())
            self.wfile.flush()


class ControlServer:
    """Serves ``handler`` on the org's control socket from a background thread."""

    def __init__(self, paths: OrgPaths, handler: Handler) -> None:
        self.path = paths.control_socket
        ensure_private_dir(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        old = os.umask(0o077)
        try:
            with _address(self.path) as address:
                self._server = _Server(address, _Conn)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._server.handle_request_fn = handler
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(OSError):
            self.path.unlink()
