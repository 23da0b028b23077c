"""TUI responsiveness, printed as one JSON object.

- ``cold_start_ms``: what a person waits for after typing ``orgtui``: from spawning
  ``python -m orgtui --root ORG`` in a pseudo-terminal of 160x45 to the first frame on it (the
  output holds every card the first frame shows), against a bare Textual app (one ``Static``)
  spawned in the same terminal, to its text; in turn, p50 of ``--cold-trials``. Both load
  their modules from bytecode (written by one untimed start of each, into a private cache),
  as an installed app does; ``--compile-each`` writes none, so orgtui's sources are compiled
  at every start (Textual's come from the bytecode installed with it).
- ``pilot_cold_start_ms``: the same apps in Textual's test harness (``run_test``), from the
  interpreter's start (imports included) to when the harness hands over the app: its first
  frame and what Textual does before it settles (the screen's resize events, a repaint), so a
  stricter figure than the terminal's. ``first_frame`` when every card the screen has room
  for is laid out (the rest are mounted in batches after it); ``all_cards`` when all 64 cards
  are mounted and Pilot's ``pause()`` returns, against the bare app's ``pause()``.
  ``phases_p50``: when the imports were done, the app started (``run_test`` entered), the
  seats were read (first polled), the first frame and all cards.
- ``key_ms``: key press -> screen updated (selection moved and repainted), 64 agents, as
  Textual's Pilot measures it (press, then wait for the screen to settle); ``bare_key_ms`` is
  the same for a one-widget Textual app, the floor this harness can show.
- ``board_visible_ms``: a message file written -> shown in the app's snapshot (live updates
  through watchfiles), 64 agents.
Goals: cold start (the terminal's first frame) <= 1.5x the bare app's; key p95 within 50 ms of
the bare harness's p95 (and, as before, of its p50); board p95 < 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLD = """
import asyncio, json, sys, time
t0 = time.perf_counter()
from orgtui.tui.app import OrgApp
from orgtui.tui.widgets.agent_card import AgentCard
ms = lambda: (time.perf_counter() - t0) * 1000
phases = {"imports": ms()}
async def main():
    agents = int(sys.argv[2])
    app = OrgApp(__import__("pathlib").Path(sys.argv[1]), live=False)
    async with app.run_test(size=(160, 45)) as pilot:
        phases["started"] = ms()
        screen = app.main_screen
        while True:  # polled without forcing a frame: the app paints on its own
            if app.snapshot is not None:
                phases.setdefault("seats_read", ms())
            cards = list(screen.query(AgentCard))
            room = min(agents, screen.visible_slots())
            if len(cards) >= room and all(c.region.height for c in cards[:room]):
                break
            await asyncio.sleep(0.005)
        phases["first_frame"] = ms()
        shown = [c.agent for c in cards[:room]]
        while len(screen.query(AgentCard)) < agents:
            await asyncio.sleep(0.005)
        await pilot.pause()
        phases["settled"] = ms()
        print(json.dumps({**phases, "shown": shown}))
asyncio.run(main())
"""
BARE = """
import asyncio, json, time
t0 = time.perf_counter()
from textual.app import App
from textual.widgets import Static
ms = lambda: (time.perf_counter() - t0) * 1000
phases = {"imports": ms()}
class Bare(App):
    def compose(self):
        yield Static("hello")
async def main():
    async with Bare().run_test() as pilot:
        phases["started"] = ms()
        static = pilot.app.query_one(Static)
        while not static.region.height:
            await asyncio.sleep(0.005)
        phases["first_frame"] = ms()
        await pilot.pause()
        phases["settled"] = ms()
        print(json.dumps(phases))
asyncio.run(main())
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


TERMINAL_BARE = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("hello")
Bare().run()
"""
TERMINAL = (160, 45)


def bytecode_env(cache: Path | None) -> dict[str, str]:
    """Modules load from the bytecode the untimed first start writes into ``cache`` (as an
    installed app's would); ``cache`` None: nothing is written, so orgtui's sources are
    compiled at every start while Textual's come from the bytecode installed with it."""
    env = dict(os.environ)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def pilot_cold(root: Path, agents: int, trials: int, env: dict[str, str]) -> dict[str, Any]:
    """Both apps in Textual's test harness, fresh interpreters, in turn (one untimed start of
    each first), so that the machine's other work weighs on both alike."""

    def once(code: str, *args: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=env,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    once(COLD, str(root), str(agents))
    once(BARE)
    app, bare = [], []
    for _ in range(trials):
        app.append(once(COLD, str(root), str(agents)))
        bare.append(once(BARE))
    first, bare_first = (
        pct([a["first_frame"] for a in app], 50),
        pct([b["first_frame"] for b in bare], 50),
    )
    every, bare_settled = (
        pct([a["settled"] for a in app], 50),
        pct([b["settled"] for b in bare], 50),
    )
    phases = [name for name in app[0] if name != "shown"]
    return {
        "first_frame_p50": first,
        "bare_first_frame_p50": bare_first,
        "first_frame_ratio": round(first / bare_first, 2),
        "all_cards_p50": every,
        "bare_settled_p50": bare_settled,
        "all_cards_ratio": round(every / bare_settled, 2),
        "phases_p50": {name: pct([a[name] for a in app if name in a], 50) for name in phases},
        "bare_phases_p50": {name: pct([b[name] for b in bare], 50) for name in bare[0]},
        "shown": app[0]["shown"],
    }


def in_terminal(argv: list[str], shows: list[str], env: dict[str, str]) -> float:
    """Milliseconds from spawning ``argv`` in a fresh pseudo-terminal to the output holding
    every one of ``shows`` (its first frame); the process is killed then."""
    master, slave = os.openpty()
    columns, rows = TERMINAL
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    wanted = [text.encode() for text in shows]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env={**env, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    try:
        while not all(text in seen for text in wanted):
            if not select.select([master], [], [], 30)[0]:
                raise TimeoutError(f"{argv[2:]}: no first frame in 30 s: {seen[-300:]!r}")
            seen += os.read(master, 1 << 16)
        return (time.perf_counter() - started) * 1000
    finally:
        process.kill()
        process.wait()
        os.close(master)


def terminal_cold(root: Path, shown: list[str], trials: int, env: dict[str, str]) -> dict:
    """``orgtui`` as a person starts it, and a bare Textual app, in turn in the same terminal."""
    orgtui = [sys.executable, "-m", "orgtui", "--root", str(root), "--socket", "orgtui-bench"]
    bare_app = [sys.executable, "-c", TERMINAL_BARE]
    shows = [shown[0], shown[-1]]  # the first and last card of the first frame
    in_terminal(orgtui, shows, env)
    in_terminal(bare_app, ["hello"], env)
    app, bare = [], []
    for _ in range(trials):
        app.append(in_terminal(orgtui, shows, env))
        bare.append(in_terminal(bare_app, ["hello"], env))
    first, bare_first = pct(app, 50), pct(bare, 50)
    return {
        "terminal": f"{TERMINAL[0]}x{TERMINAL[1]} pseudo-terminal",
        "first_frame_p50": first,
        "bare_first_frame_p50": bare_first,
        "first_frame_ratio": round(first / bare_first, 2),
        "first_frame_min": pct(app, 0),
        "bare_first_frame_min": pct(bare, 0),
    }


async def bare_keys(trials: int) -> list[float]:
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        BINDINGS = [("right", "tick", "tick")]  # noqa: RUF012

        def compose(self):  # type: ignore[no-untyped-def]
            yield Static("0")

        def action_tick(self) -> None:
            self.query_one(Static).update(str(time.perf_counter()))

    times = []
    async with Bare().run_test(size=(200, 60)) as pilot:
        await pilot.pause(0.3)
        for _ in range(trials):
            t0 = time.perf_counter()
            await pilot.press("right")
            await pilot.pause()
            times.append((time.perf_counter() - t0) * 1000)
    return times


async def interactive(root: Path, trials: int) -> dict[str, dict[str, float]]:
    from orgtui import board
    from orgtui.paths import OrgPaths
    from orgtui.tui.app import OrgApp

    app = OrgApp(root, live=True)
    keys: list[float] = []
    visible: list[float] = []
    async with app.run_test(size=(200, 60)) as pilot:
        while app.snapshot is None or len(app.main_screen.cards) < len(app.snapshot.agents):
            await pilot.pause(0.01)
        await pilot.pause(0.5)
        for i in range(trials):
            t0 = time.perf_counter()
            await pilot.press("right" if i % 2 == 0 else "left")
            await pilot.pause()
            keys.append((time.perf_counter() - t0) * 1000)
        paths = OrgPaths(root)
        for i in range(trials):
            t0 = time.perf_counter()
            message = board.post(paths, sender="human", to=["ada"], subject=f"ping {i}", body="x")
            while not any(m.id == message.id for m in app.snapshot.messages):
                await asyncio.sleep(0.002)
            visible.append((time.perf_counter() - t0) * 1000)
    bare = await bare_keys(trials)
    return {
        "key_ms": {"p50": pct(keys, 50), "p95": pct(keys, 95)},
        "bare_key_ms": {"p50": pct(bare, 50), "p95": pct(bare, 95)},
        "key_ratio_to_bare_p50": round(pct(keys, 50) / pct(bare, 50), 2),
        "board_visible_ms": {"p50": pct(visible, 50), "p95": pct(visible, 95)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--cold-trials", type=int, default=9)
    parser.add_argument(
        "--compile-each",
        action="store_true",
        help="cache no bytecode: orgtui's sources are compiled at every cold start",
    )
    args = parser.parse_args()
    from tests.tui.conftest import build_org

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as pycache:
        root = Path(tmp)
        build_org(root, agents=args.agents)
        env = bytecode_env(None if args.compile_each else Path(pycache))
        pilot = pilot_cold(root, args.agents, args.cold_trials, env)
        terminal = terminal_cold(root, pilot.pop("shown"), args.cold_trials, env)
        result: dict[str, Any] = {
            "agents": args.agents,
            "bytecode": "compiled at each start" if args.compile_each else "cached",
            "cold_start_ms": terminal,
            "pilot_cold_start_ms": pilot,
        }
        result |= asyncio.run(interactive(root, args.trials))
    keys, bare = result["key_ms"], result["bare_key_ms"]
    result["key_p95_over_bare_p95_ms"] = round(keys["p95"] - bare["p95"], 2)
    result["goals_met"] = {
        "cold_first_frame_at_most_1.5x_bare": terminal["first_frame_ratio"] <= 1.5,
        "pilot_first_frame_at_most_1.5x_bare": pilot["first_frame_ratio"] <= 1.5,
        "pilot_all_cards_at_most_1.5x_bare": pilot["all_cards_ratio"] <= 1.5,
        "key_p95_within_50ms_of_bare_p95": keys["p95"] - bare["p95"] < 50,
        "key_p95_over_bare_p50_under_50ms": keys["p95"] - bare["p50"] < 50,
        "board_p95_under_200ms": result["board_visible_ms"]["p95"] < 200,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
