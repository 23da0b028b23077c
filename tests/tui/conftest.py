"""A synthetic org for the TUI: 4 agents in different states, a board, runs and a GPU sample.

Everything is fixed (ids, times, curves, the GPU reading replayed from the committed H100
trace, the clock) so snapshots do not change between runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orgtui import board
from orgtui.gpu import GpuSample
from orgtui.gpu.replay import reading_from_trace
from orgtui.paths import OrgPaths
from orgtui.supervisor.state import OrgState, Seat, SeatStatus, SupervisorInfo
from orgtui.supervisor.verbs import Reply, Request
from orgtui.tui.app import OrgApp
from tests.ledger.synth import power_law, write_run

SIZE = (160, 45)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = 1_795_360_000.0
AGENTS = (
    ("chief", "chief_scientist", "claude", "waiting", 0),
    ("ada", "researcher", "codex", "working", 1),
    ("bo", "researcher", "builtin", "idle", 2),
    ("cy", "researcher", "scripted", "suspended", 3),
)
ORG_TOML = """
[org]
name = "lab"
program = "softcap"
task = "Remove the logit softcap without a regression."

[defaults]
backend = "shell"
gpus = "auto"

[ledger]
baseline = "baseline"
"""


def build_org(root: Path, agents: int = 4, *, supervisor_pid: int | None = None) -> OrgPaths:
    """Write the synthetic org under ``root``; ``agents`` > 4 adds idle shell agents."""
    paths = OrgPaths(root)
    seats = list(AGENTS) + [
        (f"r{i:02d}", "researcher", "shell", "idle", None) for i in range(agents - len(AGENTS))
    ]
    seats = seats[:agents]
    toml = ORG_TOML + "".join(
        f'\n[[agent]]\nname = "{n}"\nrole = "{r}"\nbackend = "shell"\n' for n, r, *_ in seats
    )
    (root / "org.toml").write_text(toml)
    (root / "roles").mkdir(exist_ok=True)
    for role in ("chief_scientist", "researcher"):
        (root / "roles" / f"{role}.md").write_text(f"You are the {role}.\n")
    state = OrgState(
        org="lab",
        session="orgtui-lab",
        supervisor=SupervisorInfo(pid=supervisor_pid, started=NOW - 3725, heartbeat=NOW),
        seats={
            name: Seat(
                name,
                role,
                backend,
                status=SeatStatus(status),
                gpu=gpu,
                branch=f"feat/softcap/{name}",
                restarts=1 if name == "bo" else 0,
                last_change=NOW,
            )
            for name, role, backend, status, gpu in seats
        },
    )
    paths.org_dir.mkdir(parents=True, exist_ok=True)
    paths.state_file.write_text(json.dumps(state.to_json()))
    _board(paths)
    _runs(paths)
    _gpu(paths)
    return paths


def _board(paths: OrgPaths) -> None:
    paths.board_dir.mkdir(parents=True, exist_ok=True)
    posts = [
        (
            "chief",
            ("all",),
            "plan: softcap removal at matched FLOPs",
            "directive",
            "Baseline first, 3 seeds.",
        ),
        ("ada", ("chief",), "nocap: within_noise", "result", "delta +0.006 bpb, noise ±0.065"),
        ("bo", ("chief",), "wide: a clear win?", "result", "Lower final loss with width 192."),
        (
            "chief",
            ("human",),
            "need a decision on GPU time",
            "question",
            "Shall we scale nocap to d12?",
        ),
    ]
    for i, (sender, to, subject, kind, body) in enumerate(posts):
        stamp = f"20261125T0{i}0000.000000Z"
        message = board.Message(
            id=f"{stamp}-{sender}-abc{i}xx",
            sender=sender,
            to=to,
            subject=subject,
            thread="softcap",
            kind=kind,
            time=f"2026-11-25T0{i}:00:00.000000Z",
            body=body,
        )
        (paths.board_dir / f"{message.id}.md").write_text(board.render(message))
    (paths.board_dir / "20261125T090000.000000Z-zed-broken.md").write_text("no front matter\n")


def _runs(paths: OrgPaths) -> None:
    plans = [
        ("baseline", "ada", 0.0, 1.0),
        ("baseline", "ada", 0.01, 1.0),
        ("baseline", "ada", -0.01, 1.0),
        ("nocap", "ada", 0.005, 1.0),
        ("nocap", "ada", -0.004, 1.0),
        ("nocap", "ada", 0.012, 1.0),
        ("wide", "bo", 0.02, 2.0),
    ]
    for seed, (variant, agent, noise, width) in enumerate(plans):
        run_dir = write_run(
            paths.runs_dir,
            f"{variant}-s{seed}",
            variant=variant,
            seed=seed,
            curve=power_law(),
            noise=noise,
            flops_per_token=1e6 * width,
            steps=100 * int(width),
            started=NOW - 3000 + seed * 60,
        )
        metrics = run_dir / "metrics.jsonl"
        metrics.write_text(metrics.read_text().replace('"agent": "ada"', f'"agent": "{agent}"'))


def _gpu(paths: OrgPaths) -> None:
    rows = [json.loads(line) for line in (FIXTURES / "nvml_h100_trace.jsonl").open()]
    busy = max(rows, key=lambda r: r["util"])
    readings = tuple(
        reading_from_trace(busy | {"index": i, "util": busy["util"] - 20 * i}, "replay", NOW)
        for i in range(4)
    )
    sample = GpuSample(time=NOW, source="replay", gpus=readings)
    paths.gpu_samples.write_text(json.dumps(sample.to_json()) + "\n")


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for the first whole snapshot (the seats come first, the rest in a second read; its
    worker may not have started yet on a loaded machine), then for every worker, then for the
    screen to settle."""
    for _ in range(400):
        main, snapshot = pilot.app.main_screen, pilot.app.snapshot
        if snapshot is not None and snapshot.complete and main is not None and main.selected_name:
            break
        await pilot.pause(0.025)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.05)


@dataclass
class Recorder:
    """Stands in for the verb table and the terminal hand-over: records what was asked.

    Only for what the TUI decides (which verb, which agent, which options); what a verb does
    to an agent is tested through a real supervisor in test_verbs_e2e.py.
    """

    commands: list[dict[str, Any]] = field(default_factory=list)
    takeovers: list[list[str]] = field(default_factory=list)

    def command(self, request: Request) -> Reply:
        self.commands.append(request.to_json())
        return Reply(True, said=f"{request.verb}: recorded")

    def takeover(self, app: Any, argv: list[str]) -> None:
        self.takeovers.append(argv)


@pytest.fixture
def org_root(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    root.mkdir()
    build_org(root, supervisor_pid=os.getpid())
    return root


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_app(org_root: Path, recorder: Recorder):  # type: ignore[no-untyped-def]
    def make(**kwargs: Any) -> OrgApp:
        options: dict[str, Any] = dict(
            live=False,
            clock=lambda: NOW,
            commander=recorder.command,
            takeover_runner=recorder.takeover,
        )
        return OrgApp(org_root, "tui-test", **(options | kwargs))

    return make
