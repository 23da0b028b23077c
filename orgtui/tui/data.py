"""The TUI's feed: reads ``.org/`` (off the event loop) into plain snapshots for widgets.

Every reader here is forgiving — a missing supervisor, a torn metrics line or a malformed board
file becomes a field of the snapshot, never an exception — because the TUI must keep drawing
whatever state the org is in. Nothing here imports libtmux, git, pynvml or a model SDK:
tmux and git are asked through short subprocesses, and only for what is on screen.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgtui.paths import OrgPaths

SPARK_POINTS = 60


@dataclass(frozen=True)
class GpuView:
    """One GPU as a gauge shows it."""

    index: int
    util: float | None
    mem_used: int | None
    mem_total: int | None
    power_w: float | None
    source: str  # nvml | replay | none


@dataclass(frozen=True)
class AgentView:
    """One agent card."""

    name: str
    role: str
    backend: str
    status: str
    branch: str | None = None
    gpu: int | None = None
    gpu_view: GpuView | None = None
    unread: int = 0
    detail: str = ""
    run_id: str | None = None
    loss: tuple[float, ...] = ()
    last_bpb: float | None = None
    pane_id: str | None = None
    window_id: str | None = None
    restarts: int = 0


@dataclass(frozen=True)
class MessageView:
    """One board line; ``malformed`` carries the reason for a file that did not parse."""

    id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    kind: str
    thread: str
    time: str
    body: str = ""
    reply_to: str | None = None
    unread: bool = False
    malformed: str | None = None


@dataclass(frozen=True)
class OrgSnapshot:
    """Everything the main screen draws, read at one moment."""

    name: str
    task: str
    session: str
    socket: str | None
    supervisor_alive: bool
    supervisor_started: float | None
    agents: tuple[AgentView, ...]
    messages: tuple[MessageView, ...]
    gpu_hours: float
    best_improvement: str
    gpu_source: str
    taken: float = field(default_factory=time.time)
    problems: tuple[str, ...] = ()


class Feed:
    """Reads snapshots of one org; caches parsed runs by file size so refreshes stay cheap."""

    def __init__(self, root: Path, socket: str | None = None) -> None:
        self.root = root
        self.paths = OrgPaths(root)
        self.socket = socket
        self._runs: dict[Path, tuple[int, Any]] = {}

    # -- config and state ------------------------------------------------------------------
    def _config(self) -> tuple[Any, str | None]:
        from orgtui.config import load_config
        from orgtui.errors import OrgtuiError

        try:
            return load_config(self.root), None
        except OrgtuiError as error:
            return None, str(error)

    def _state(self) -> dict[str, Any]:
        from orgtui.supervisor.state import load_state

        return load_state(self.paths)

    # -- runs ------------------------------------------------------------------------------
    def runs(self) -> list[Any]:
        """Every run, re-parsing only the metrics files that grew."""
        from orgtui.ledger import load_run

        try:
            dirs = [d for d in self.paths.runs_dir.iterdir() if d.is_dir()]
        except OSError:
            return []
        out = []
        for run_dir in dirs:
            try:
                size = (run_dir / "metrics.jsonl").stat().st_size
            except OSError:
                size = -1
            cached = self._runs.get(run_dir)
            if cached is None or cached[0] != size or size < 0:
                cached = (size, load_run(run_dir))
                self._runs[run_dir] = cached
            out.append(cached[1])
        return sorted(out, key=lambda r: (r.started, r.run_id))

    # -- the snapshot ----------------------------------------------------------------------
    def snapshot(self, now: float | None = None) -> OrgSnapshot:
        from orgtui import board
        from orgtui.supervisor.state import supervisor_alive

        config, problem = self._config()
        state = self._state()
        problems = [problem] if problem else []
        records: dict[str, dict[str, Any]] = dict(state.get("agents") or {})
        specs = {a.name: a for a in config.agents} if config else {}
        names = list(specs) + [n for n in records if n not in specs]
        try:
            listed = board.list_messages(self.paths)
        except OSError as error:
            listed, problems = [], [*problems, f"board: {error}"]
        messages = [m for m in listed if isinstance(m, board.Message)]
        unread = _unread_counts(self.paths, names, messages)
        human_read = board.read_state(self.paths, "human")
        runs = self.runs()
        latest_run = {r.agent: r for r in runs if r.agent}
        gpus, source = _gpus(self.paths)
        agents = []
        for name in names:
            record = records.get(name, {})
            spec = specs.get(name)
            run = latest_run.get(name)
            gpu = record.get("gpu", spec.gpu if spec else None)
            agents.append(
                AgentView(
                    name=name,
                    role=str(record.get("role") or (spec.role if spec else "?")),
                    backend=str(record.get("backend") or (spec.backend if spec else "?")),
                    status=str(record.get("status") or "dead"),
                    branch=record.get("branch"),
                    gpu=gpu if isinstance(gpu, int) else None,
                    gpu_view=gpus.get(gpu) if isinstance(gpu, int) else None,
                    unread=unread.get(name, 0),
                    detail=str(record.get("detail") or ""),
                    run_id=run.run_id if run else None,
                    loss=tuple(loss for _, _, loss in run.train[-SPARK_POINTS:]) if run else (),
                    last_bpb=run.evals[-1][2] if run and run.evals else None,
                    pane_id=record.get("pane_id"),
                    window_id=record.get("window_id"),
                    restarts=int(record.get("restarts") or 0),
                )
            )
        views = [_message_view(m, human_read) for m in listed]
        sup = state.get("supervisor") or {}
        return OrgSnapshot(
            name=config.org.name if config else str(state.get("org") or self.root.name),
            task=config.org.task if config else "",
            session=str(state.get("session") or (config.org.session_name if config else "")),
            socket=self.socket or state.get("tmux_socket"),
            supervisor_alive=supervisor_alive(state),
            supervisor_started=sup.get("started"),
            agents=tuple(agents),
            messages=tuple(views[-200:]),
            gpu_hours=sum(r.gpu_hours for r in runs),
            best_improvement=_best(self.paths, runs),
            gpu_source=source,
            taken=time.time() if now is None else now,
            problems=tuple(problems),
        )

    # -- tmux and git, only for what is visible ---------------------------------------------
    def pane_text(self, target: str, lines: int = 8) -> str:
        """The last ``lines`` of a pane (``tmux capture-pane``); empty when tmux says no."""
        argv = ["tmux", *(["-L", self.socket] if self.socket else [])]
        argv += ["capture-pane", "-p", "-J", "-t", target, "-S", f"-{max(lines, 1) + 40}"]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=2).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""
        kept = [line.rstrip() for line in out.splitlines()]
        while kept and not kept[-1]:
            kept.pop()
        return "\n".join(kept[-lines:])

    def commits(self, agent: str, count: int = 1) -> list[str]:
        """``<sha> <subject>`` of the agent's last commits, from its worktree."""
        worktree = self.paths.worktrees_dir / agent
        if not worktree.is_dir():
            return []
        try:
            out = subprocess.run(
                ["git", "-C", str(worktree), "log", f"-{count}", "--format=%h %s"],
                capture_output=True,
                text=True,
                timeout=3,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [line for line in out.splitlines() if line.strip()]


def _unread_counts(paths: OrgPaths, names: list[str], messages: list[Any]) -> dict[str, int]:
    from orgtui import board

    counts = {}
    for name in names:
        try:
            seen = board.read_state(paths, name)
        except (OSError, ValueError):
            continue
        counts[name] = sum(1 for m in messages if m.addressed_to(name) and not seen.is_read(m))
    return counts


def _message_view(item: Any, human_read: Any) -> MessageView:
    from orgtui import board

    if isinstance(item, board.Message):
        return MessageView(
            id=item.id,
            sender=item.sender,
            to=tuple(item.to),
            subject=item.subject,
            kind=item.kind,
            thread=item.thread or "",
            time=item.time,
            body=item.body,
            reply_to=item.reply_to,
            unread=item.addressed_to("human") and not human_read.is_read(item),
        )
    return MessageView(
        id=item.id,
        sender="?",
        to=(),
        subject=Path(str(item.path)).name,
        kind="malformed",
        thread="",
        time="",
        malformed=str(item.reason),
    )


def _gpus(paths: OrgPaths) -> tuple[dict[int, GpuView], str]:
    from orgtui.gpu import latest_sample

    try:
        sample = latest_sample(paths)
    except (OSError, ValueError, KeyError):
        sample = None
    if sample is None:
        return {}, "none"
    source = "replay" if sample.source.startswith("replay") else sample.source or "nvml"
    views = {
        g.index: GpuView(g.index, g.util, g.mem_used, g.mem_total, g.power_w, source)
        for g in sample.gpus
    }
    return views, source


def _best(paths: OrgPaths, runs: list[Any]) -> str:
    from orgtui.errors import OrgtuiError
    from orgtui.ledger import Ledger

    try:
        name, gain = Ledger.load(paths, runs=runs).best_improvement()
    except (OrgtuiError, ValueError, ZeroDivisionError):
        return "n/a"
    return f"-{gain:.4f} bpb ({name})" if name and gain is not None else "none verified"


def uptime(started: float | None, now: float) -> str:
    if not started:
        return "—"
    seconds = int(max(0.0, now - started))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def environment_without_tmux() -> dict[str, str]:
    """The env for a child that attaches to another tmux server (tmux refuses to nest)."""
    return {k: v for k, v in os.environ.items() if k != "TMUX"}
