"""Supervisor cost with N idle agents: CPU% of one core over a window, tick latency.

Builds a throwaway git repo + org (``command`` agents running ``sleep``) on a private tmux
server, runs ``orgtui up``, samples the supervisor process, and prints one JSON object.
Usage: python benchmarks/supervisor_cpu.py [--seconds 60] [--agents 8] [--tick 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--tick", type=float, default=1.0)
    args = parser.parse_args()

    from orgtui.paths import OrgPaths
    from orgtui.supervisor.control import ControlError, request

    socket = f"orgtui-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "r"
        repo.mkdir()
        run = lambda *a: subprocess.run(a, cwd=repo, check=True, capture_output=True)  # noqa: E731
        run("git", "init", "-q", "-b", "main")
        run(
            "git",
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        )
        agents = "".join(
            f'[[agent]]\nname = "a{i}"\nrole = "researcher"\nbackend = "command"\n'
            f'command = "sleep 100000"\n'
            for i in range(args.agents)
        )
        (repo / "org.toml").write_text(
            f'[org]\nname = "bench"\nprogram = "p"\ntask = "bench"\n[defaults]\ngpus = "none"\n'
            f'[supervisor]\ntick = "{args.tick}s"\n{agents}'
        )
        cli = [sys.executable, "-m", "orgtui"]
        opts = ["--root", str(repo), "--socket", socket]
        paths = OrgPaths(repo)
        try:
            subprocess.run([*cli, "up", *opts], check=True, capture_output=True)
            deadline = time.monotonic() + 30
            pid = None
            while time.monotonic() < deadline and pid is None:
                try:
                    pid = request(paths, {"verb": "ping"}, timeout=1.0)["pid"]
                except ControlError:
                    time.sleep(0.1)
            assert pid is not None, "supervisor did not start"
            time.sleep(min(5.0, args.tick * 3))  # past the agents' start-up
            proc = psutil.Process(pid)
            before = proc.cpu_times()
            start = time.monotonic()
            time.sleep(args.seconds)
            after = proc.cpu_times()
            wall = time.monotonic() - start
            own = (after.user + after.system) - (before.user + before.system)
            # the tmux/git child processes it runs (list-panes each tick) count too
            kids = (after.children_user + after.children_system) - (
                before.children_user + before.children_system
            )
            cpu = own + kids
            stats = request(paths, {"verb": "stats"})
            result = {
                "benchmark": "supervisor_cpu",
                "agents": args.agents,
                "tick_s": args.tick,
                "window_s": round(wall, 2),
                "cpu_percent_one_core": round(100 * cpu / wall, 3),
                "cpu_percent_own": round(100 * own / wall, 3),
                "ticks": stats.get("ticks"),
                "tick_p50_ms": round((stats.get("tick_p50_s") or 0) * 1000, 3),
                "tick_p95_ms": round((stats.get("tick_p95_s") or 0) * 1000, 3),
                "goal_cpu_percent": 2.0,
            }
        finally:
            subprocess.run([*cli, "down", *opts], capture_output=True)
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
