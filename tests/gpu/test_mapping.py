"""NVML pids mapped to agents through the process trees of real tmux panes.

The NVML process list is the only fake: the test names real pids (started inside the panes)
as if NVML had reported them on a GPU.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from orgtui.gpu import GpuProcess, GpuReading, map_processes


def tmux(socket: str, *args: str) -> str:
    result = subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def start_pane(socket: str, tmp_path: Path, name: str, first: bool) -> tuple[int, int]:
    """A pane whose shell starts a nested subshell running a sleeper; (pane pid, sleeper pid)."""
    pid_file = tmp_path / f"{name}.pid"
    script = f"( sleep 120 & echo $! > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}; wait ); wait"
    if first:
        tmux(socket, "new-session", "-d", "-s", "org", "-n", name, "sh", "-c", script)
    else:
        tmux(socket, "new-window", "-d", "-t", "org", "-n", name, "sh", "-c", script)
    pane_pid = int(tmux(socket, "display-message", "-p", "-t", f"org:{name}", "#{pane_pid}"))
    deadline = time.monotonic() + 10
    while not pid_file.exists():
        assert time.monotonic() < deadline, f"pane {name} never started its sleeper"
        time.sleep(0.02)
    return pane_pid, int(pid_file.read_text())


def test_pids_map_to_the_pane_that_started_them(tmux_socket: str, tmp_path: Path) -> None:
    pane_a, worker_a = start_pane(tmux_socket, tmp_path, "a", first=True)
    pane_b, worker_b = start_pane(tmux_socket, tmp_path, "b", first=False)
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        readings = [
            GpuReading(index=0, procs=(GpuProcess(worker_a, 2**30), GpuProcess(stray.pid, 5))),
            GpuReading(index=1, procs=(GpuProcess(worker_b, 3 * 2**30),)),
        ]
        owners = map_processes(readings, {"a": pane_a, "b": pane_b}, {"a": 0, "b": 1})
        by_pid = {o.pid: o for o in owners}
        assert by_pid[worker_a].agent == "a" and by_pid[worker_a].flag is None
        assert by_pid[worker_a].gpu == 0 and by_pid[worker_a].used == 2**30
        assert by_pid[worker_b].agent == "b" and by_pid[worker_b].flag is None
        assert by_pid[stray.pid].agent is None and by_pid[stray.pid].flag == "unowned"

        # b's trainer shows up on GPU 0, where a is pinned: flagged as on the wrong GPU
        moved = [GpuReading(index=0, procs=(GpuProcess(worker_b, 1),))]
        (owner,) = map_processes(moved, {"a": pane_a, "b": pane_b}, {"a": 0, "b": 1})
        assert owner.agent == "b" and owner.flag == "wrong_gpu"
    finally:
        stray.kill()
        stray.wait()


def test_dead_pane_pid_leaves_its_processes_unowned(tmux_socket: str, tmp_path: Path) -> None:
    pane_a, worker_a = start_pane(tmux_socket, tmp_path, "a", first=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    readings = [GpuReading(index=0, procs=(GpuProcess(worker_a, None),))]
    (owner,) = map_processes(readings, {"ghost": gone.pid}, {"ghost": 0})
    assert owner.agent is None and owner.flag == "unowned"
    (owner,) = map_processes(readings, {"a": pane_a, "ghost": gone.pid}, {"a": 0})
    assert owner.agent == "a" and owner.flag is None


def test_flags_are_described_for_status() -> None:
    from orgtui.gpu import GpuSample, ProcessOwner, describe_flags

    sample = GpuSample(
        time=1.0,
        source="nvml",
        owners=(
            ProcessOwner(0, 11, None, "a", None),
            ProcessOwner(0, 12, None, None, "unowned"),
            ProcessOwner(1, 13, None, "a", "wrong_gpu"),
        ),
    )
    assert describe_flags(sample) == [
        "GPU 0: pid 12 belongs to no agent",
        "GPU 1: pid 13 of a (pinned elsewhere)",
    ]
