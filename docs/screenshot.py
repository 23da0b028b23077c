"""Regenerate docs/screenshot-main.svg: the main screen on the synthetic org of the TUI tests.

python docs/screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def shoot(root: Path, out: Path) -> None:
    from orgtui.tui.app import OrgApp
    from tests.tui.conftest import NOW

    app = OrgApp(root, live=False, clock=lambda: NOW)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await pilot.press("right")
        await pilot.pause(0.2)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> None:
    from tests.tui.conftest import build_org

    with tempfile.TemporaryDirectory() as tmp:
        build_org(Path(tmp), agents=6, supervisor_pid=os.getpid())
        asyncio.run(shoot(Path(tmp), ROOT / "docs" / "screenshot-main.svg"))
    print("wrote docs/screenshot-main.svg")


if __name__ == "__main__":
    main()
