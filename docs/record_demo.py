"""Record `orgtui demo` as it plays in the TUI: one SVG frame per beat of the story, in
docs/demo-frames/ (linked from docs/demo.md).

python docs/record_demo.py   # about a minute and a half on 2 CPU cores; needs tmux
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FRAMES = ROOT / "docs" / "demo-frames"
SIZE = (180, 50)
BEATS: tuple[tuple[str, int], ...] = (
    ("01-start", 0),
    ("02-baseline", 2),
    ("03-variants", 5),
    ("04-standup", 7),
    ("05-conclusion", 8),
)
"""(frame, the story's step it waits for): taken once the status line has reached the step."""


def step(line: str) -> int:
    """The story's step a status line tells (``3/7 ...``); -1 when it tells none."""
    head = line.split("/", 1)[0]
    return int(head) if head.isdigit() else -1


async def shoot(root: Path, socket: str, narrator: Callable | None) -> None:
    from orgtui.tui.app import OrgApp

    app = OrgApp(root, socket, live=True, narrator=narrator)
    async with app.run_test(size=SIZE) as pilot:
        for name, wanted in BEATS:
            for _ in range(3000):  # up to 5 minutes a beat
                story = app.snapshot.story if app.snapshot else None
                if story is not None and step(story.line) >= wanted:
                    break
                await pilot.pause(0.1)
            await pilot.pause(0.5)  # the cards, curves and panes catch up
            app.save_screenshot(filename=f"{name}.svg", path=str(FRAMES))
            print(f"wrote docs/demo-frames/{name}.svg")


def main() -> None:
    from orgtui.commands.tui import load_tmux_library
    from orgtui.demo import orgtui_cli, run_demo

    FRAMES.mkdir(exist_ok=True)
    socket = f"orgtui-record-{os.getpid()}"
    load_tmux_library(socket)

    def record(root: Path, socket: str, narrator: Callable | None) -> int:
        asyncio.run(shoot(root, socket, narrator))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "orgtui-demo"
        try:
            run_demo(target, socket=socket, open_tui=record)
        finally:
            orgtui_cli(target, socket, "down")


if __name__ == "__main__":
    main()
