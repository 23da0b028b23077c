"""The supervisor's wake-up call: a change in the queue directory ends the wait for the tick.

A job queued by ``orgtui run``, or ended by its worker, then starts the next one (or the
ledger's controls) within about 0.1 s rather than up to a tick later. inotify where the
kernel has it (watchfiles, whose thread looks every 50 ms: every 10 ms cost the supervisor half
again its CPU); the tick stays the fallback, so nothing depends on a change being seen.
"""

from __future__ import annotations

import threading
from pathlib import Path

from orgtui.atomic import ensure_private_dir


def watch_queue(queue_dir: Path, wake: threading.Event, stop: threading.Event) -> None:
    """Set ``wake`` at each change under ``queue_dir`` until ``stop``, from a daemon thread."""

    def watch() -> None:
        from watchfiles import watch as changes

        try:
            ensure_private_dir(queue_dir)
            for _ in changes(queue_dir, debounce=50, step=50, stop_event=stop, recursive=False):
                wake.set()
        except (OSError, RuntimeError):  # no watch to be had: the tick alone serves
            return

    threading.Thread(target=watch, name="queue-wake", daemon=True).start()
