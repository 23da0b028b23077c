"""Board latency and throughput, printed as one JSON object.

- ``watch_ms``: from the rename that puts a message file in place to ``watch`` (below)
  yielding it, with inotify and with the polling fallback (goal: p95 < 200 ms).
- ``posts_per_s``: ``board.post`` in-process, and ``orgtui post`` as a subprocess (what an
  agent pays per message, interpreter start included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from orgtui import board
from orgtui.board.message import SUFFIX, iso
from orgtui.board.store import load, stamp
from orgtui.paths import OrgPaths

ORG_TOML = '[org]\nname = "bench"\ntask = "t"\n\n[defaults]\nbackend = "shell"\n\n'
ORG_TOML += (
    '[[agent]]\nname = "ada"\nrole = "researcher"\n\n[[agent]]\nname = "bob"\nrole = "researcher"\n'
)


async def watch(
    paths: OrgPaths, *, stop_event: asyncio.Event, force_polling: bool
) -> AsyncIterator[list[board.Message | board.Malformed]]:
    """Yield batches of new board files (parsed) as they land: watchfiles ``awatch``
    (debounce=50, step=10), polling when ``force_polling``. Deleted and temp files are not
    reported."""
    from watchfiles import Change, awatch

    async for changes in awatch(
        paths.board_dir,
        debounce=50,
        step=10,
        stop_event=stop_event,
        force_polling=force_polling,
        poll_delay_ms=50,
        recursive=False,
        yield_on_timeout=False,
    ):
        names = sorted(
            {
                Path(p)
                for change, p in changes
                if change != Change.deleted and p.endswith(SUFFIX) and Path(p).name[0] != "."
            }
        )
        batch = [load(p) for p in names if p.exists()]
        if batch:
            yield batch


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _place(paths: OrgPaths, index: int) -> tuple[str, float]:
    """Write a message to a temp file, fsync it, then rename it in; return (id, rename time)."""
    when = stamp()
    message_id = board.new_id("ada", when)
    message = board.Message(
        message_id, "ada", ("bob",), f"m{index}", message_id, "note", iso(when), "x\n"
    )
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=paths.board_dir)
    with os.fdopen(fd, "w") as handle:
        handle.write(board.render(message))
        handle.flush()
        os.fsync(handle.fileno())
    renamed = time.perf_counter()
    os.rename(tmp, paths.board_dir / f"{message_id}.md")
    return message_id, renamed


async def watch_latency(paths: OrgPaths, count: int, *, polling: bool) -> dict[str, float]:
    stop = asyncio.Event()
    placed: dict[str, float] = {}
    seen: dict[str, float] = {}

    async def consume() -> None:
        async for batch in watch(paths, stop_event=stop, force_polling=polling):
            now = time.perf_counter()
            for item in batch:
                seen.setdefault(item.id, now)
            if len(seen) >= count:
                stop.set()

    def produce() -> None:
        time.sleep(0.3)
        for index in range(count):
            message_id, renamed = _place(paths, index)
            placed[message_id] = renamed
            time.sleep(0.1)

    task = asyncio.create_task(consume())
    writer = threading.Thread(target=produce)
    writer.start()
    try:
        await asyncio.wait_for(task, timeout=30 + count * 0.5)
    except TimeoutError:
        stop.set()
    writer.join()
    latencies = [(seen[i] - placed[i]) * 1000 for i in placed if i in seen]
    return {
        "n": len(latencies),
        "missed": count - len(latencies),
        "p50": _percentile(latencies, 0.5) if latencies else float("nan"),
        "p95": _percentile(latencies, 0.95) if latencies else float("nan"),
        "max": round(max(latencies), 2) if latencies else float("nan"),
    }


def api_rate(paths: OrgPaths, count: int) -> float:
    start = time.perf_counter()
    for index in range(count):
        board.post(
            paths, sender="ada", to=["bob"], subject=f"api {index}", body="x", known_agents=["bob"]
        )
    return round(count / (time.perf_counter() - start), 1)


def cli_rate(paths: OrgPaths, count: int) -> float:
    command = [sys.executable, "-m", "orgtui", "post", "--root", str(paths.root), "--as", "ada"]
    start = time.perf_counter()
    for index in range(count):
        subprocess.run(
            [*command, "--to", "bob", "--subject", f"cli {index}", "--body", "x"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return round(count / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--watch-count", type=int, default=40)
    parser.add_argument("--api-count", type=int, default=300)
    parser.add_argument("--cli-count", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "org.toml").write_text(ORG_TOML)
        paths = OrgPaths(root)
        paths.board_dir.mkdir(parents=True)
        inotify = asyncio.run(watch_latency(paths, args.watch_count, polling=False))
        polling = asyncio.run(watch_latency(paths, args.watch_count, polling=True))
        result = {
            "benchmark": "board_latency",
            "watch_ms": {"inotify": inotify, "polling": polling},
            "goal_p95_ms": 200,
            "posts_per_s": {
                "api": api_rate(paths, args.api_count),
                "cli_subprocess": cli_rate(paths, args.cli_count),
            },
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
