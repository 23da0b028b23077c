"""A real org in a git repo, a stand-in supervisor, and trainers for the queue's client tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orgtui.paths import OrgPaths
from orgtui.queue.engine import LocalEngine, Slot
from orgtui.queue.jobs import Job, JobState, jobs
from tests.conftest import git, run_orgtui

ORG_TOML = """\
[org]
name = "lab"
task = "queue"

[[agent]]
name = "chief"
role = "chief_scientist"
backend = "shell"

[[agent]]
name = "ada"
role = "researcher"
backend = "shell"

[worktree]
copy = ["data.txt"]
"""

# Writes a run_start and an eval, prints where it ran, sleeps for argv[1] seconds.
TRAINER = """\
import json, os, sys, time
run_dir = os.environ["ORGTUI_RUN_DIR"]
with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
    f.write(json.dumps({"event": "run_start", "run_id": os.environ["ORGTUI_RUN_ID"],
                        "variant": os.environ["ORGTUI_VARIANT"],
                        "seed": int(os.environ["ORGTUI_SEED"]), "time": time.time()}) + "\\n")
    f.flush()
    print("ready seed", os.environ["ORGTUI_SEED"], "in", os.getcwd(), flush=True)
    print("data", open("data.txt").read().strip() if os.path.exists("data.txt") else None,
          flush=True)
    time.sleep(float(sys.argv[1]))
    f.write(json.dumps({"event": "eval", "step": 1, "tokens": 10, "flops": 100.0,
                        "val_bpb": 2.0}) + "\\n")
    f.write(json.dumps({"event": "run_end", "status": "ok", "final_val_bpb": 2.0,
                        "wall_s": 1.0}) + "\\n")
print("trained", flush=True)
raise SystemExit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


@pytest.fixture
def org(git_repo: Path) -> Path:
    (git_repo / "org.toml").write_text(ORG_TOML)
    (git_repo / "roles").mkdir()
    for role in ("chief_scientist", "researcher"):
        (git_repo / "roles" / f"{role}.md").write_text(f"You are the {role}.\n")
    (git_repo / ".gitignore").write_text(".org/\ndata.txt\n")
    (git_repo / "data.txt").write_text("from the root\n")  # ignored: reaches runs by copy
    (git_repo / "trainer.py").write_text(TRAINER)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "org")
    return git_repo


def orgtui(root: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run_orgtui(*args, root=root, cwd=kwargs.pop("cwd", root), timeout=300, **kwargs)


def train(seconds: float = 0.0, code: int = 0) -> list[str]:
    return ["--", "python", "trainer.py", str(seconds), str(code)]


class StandIn:
    """A supervisor as the client sees it: the control socket answers, and a scheduler loop
    starts each queued job on a free CPU slot through the real local engine."""

    def __init__(self, root: Path, slots: int = 1, schedule: bool = True) -> None:
        from orgtui.supervisor.control import ControlServer

        self.paths = OrgPaths(root)
        self.engine = LocalEngine(self.paths)
        self.slots, self.schedule = slots, schedule
        self.server = ControlServer(self.paths, lambda request: {"ok": True, "agents": []})
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.running: dict[str, Job] = {}

    def _loop(self) -> None:
        while not self.stop.wait(0.1):
            current = {job.id: job for job in jobs(self.paths)}
            for job_id in list(self.running):
                now = current.get(job_id)
                if now is None or now.state != JobState.RUNNING:
                    del self.running[job_id]
                elif now.reason.startswith("cancel:"):
                    self.engine.stop(now)
            if not self.schedule:
                continue
            free = [f"cpu{i}" for i in range(self.slots)]
            free = [s for s in free if s not in {j.slot for j in self.running.values()}]
            for job in current.values():
                if job.state == JobState.QUEUED and free:
                    started = self.engine.start(job, Slot(free.pop(0)))
                    if started is not None:
                        self.running[job.id] = started

    def __enter__(self) -> StandIn:
        self.server.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@contextlib.contextmanager
def popen_orgtui(root: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``orgtui VERB --root ROOT ARGS`` in its own process group, killed if left running."""
    import signal
    import sys

    argv = [sys.executable, "-m", "orgtui", args[0], "--root", str(root), *args[1:]]
    process = subprocess.Popen(
        argv,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=os.environ.copy(),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
