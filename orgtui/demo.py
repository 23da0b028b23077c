"""``orgtui demo``: the main job on any machine — offline, no API key, no GPU.

Builds a scratch research repo (a copy of nanochat/, the demo org.toml, the role prompts,
the scripted playbooks and a recorded GPU trace), brings the org up on a private tmux server
so it never touches the person's own sessions, and opens the TUI at once: the story plays
inside it, narrated a beat at a time (``narrate``) until the chief's conclusion. Headless, it
follows the story with a progress line instead, then prints the final ledger and report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgtui.agentstatus import PLAYBOOK_FAILED, failed_playbooks
from orgtui.config import BUNDLED_ROLES_DIR
from orgtui.errors import OrgtuiError
from orgtui.paths import OrgPaths
from orgtui.snapshot import Narrator, OrgSnapshot
from orgtui.views import MessageView, Narration

OpenTui = Callable[[Path, str, Narrator | None], int]
"""Runs the TUI on (org root, tmux socket, narrator) until the person quits; the exit code."""

PLAYBOOKS = Path(__file__).resolve().parent / "agent" / "playbooks"
NANOCHAT = Path(__file__).resolve().parent.parent / "nanochat"
GPU_TRACE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nvml_h100_trace.jsonl"
DEMO_SOCKET = "orgtui-demo"
DEMO_AGENTS = ("chief", "ada", "bo", "cy")
EXPECTED_RUNS = 10  # 3 baseline + 3 nocap + 1 wide + the ledger's 2 replicates and 1 matched run
CONCLUSION = "conclusion"


class DemoError(OrgtuiError):
    """The demo could not be built or did not finish."""


@dataclass(frozen=True)
class Progress:
    """What the person watching the demo is told, once a second."""

    elapsed_s: float
    runs_done: int
    runs_total: int
    messages: int
    latest: str
    finished: bool


LIVE_BACKENDS = {"chief": "claude", "ada": "codex", "bo": "builtin", "cy": "claude"}


def live_org_toml(text: str) -> str:
    """The demo org with real agents: no playbooks, one GPU each, NVML telemetry."""
    out, agent = [], None
    for line in text.splitlines():
        if line.startswith("name = "):
            agent = line.split('"')[1]
        if line.startswith(("playbook = ", "gpu = ", "share_gpu = ", "env = ")):
            continue
        if line.startswith('backend = "scripted"'):
            line = 'backend = "claude"'
        if line.startswith('gpus = "none"'):
            line = 'gpus = "auto"'
        if line.startswith("source = "):
            line = 'source = "auto"'
        out.append(line)
        if line == "[[agent]]":
            agent = None
        if agent in LIVE_BACKENDS and line.startswith("role = "):
            out.append(f'backend = "{LIVE_BACKENDS[agent]}"')
    return "\n".join(out) + "\n"


def build_repo(target: Path, *, live: bool = False, playbooks: Path = PLAYBOOKS) -> None:
    """Write the scratch research repo at ``target`` and make its first commit."""
    if not NANOCHAT.is_dir():
        raise DemoError(f"{NANOCHAT}: nanochat not found next to orgtui (reinstall the package)")
    target.mkdir(parents=True)
    shutil.copytree(NANOCHAT, target / "nanochat", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(BUNDLED_ROLES_DIR, target / "roles")
    (target / "playbooks").mkdir()
    for name in DEMO_AGENTS:
        shutil.copy(playbooks / f"{name}.toml", target / "playbooks" / f"{name}.toml")
    org_toml = (playbooks / "demo-org.toml").read_text(encoding="utf-8")
    if GPU_TRACE.is_file():
        shutil.copy(GPU_TRACE, target / "gpu-trace.jsonl")
    else:  # an installed wheel carries no test fixtures: the gauges then say "no GPU"
        org_toml = org_toml.replace('source = "replay:gpu-trace.jsonl"', 'source = "none"')
    if live:
        org_toml = live_org_toml(org_toml)
    (target / "org.toml").write_text(org_toml, encoding="utf-8")
    (target / ".gitignore").write_text(".org/\nworktrees/*\n!worktrees/.gitkeep\n__pycache__/\n")
    (target / "worktrees").mkdir()
    (target / "worktrees" / ".gitkeep").touch()
    (target / "README.md").write_text(
        "# orgtui demo\n\nA scratch research repo made by `orgtui demo`: nanochat and an org "
        "of scripted agents\nworking on removing the logit softcap. Safe to delete.\n"
    )
    from orgtui.supervisor.worktrees import init_repo

    init_repo(
        target, "orgtui demo: nanochat and the demo org", "orgtui demo", "demo@orgtui.invalid"
    )


@dataclass(frozen=True)
class Beat:
    """One step of the story: shown once its message (or its first run) is there."""

    text: str
    sender: str = ""
    subject: str = ""
    variant: str = ""

    def happened(self, messages: Sequence[MessageView], variants: set[str]) -> bool:
        if self.variant:
            return self.variant in variants
        return any(m.sender == self.sender and self.subject in m.subject for m in messages)


STORY = (
    Beat(
        "1/8 the chief posts the plan: a 3-seed baseline first, one variable per variant",
        "chief",
        "plan",
    ),
    Beat("2/8 cy replicates the baseline (softcap 15) with 3 seeds", variant="baseline"),
    Beat("3/8 the baseline is in: the chief sends ada and bo off", "chief", "baseline ready"),
    Beat(
        "4/8 ada removes the softcap (--softcap 0): 3 seeds at the baseline's budget",
        variant="nocap",
    ),
    Beat("5/8 bo trains a wider model twice as long, one seed", variant="wide"),
    Beat("5/8 bo claims a win from its lower final loss", "bo", "wide"),
    Beat(
        "6/8 the ledger itself schedules replicates of wide and a matched-compute run",
        "supervisor",
        "ledger: ",
    ),
    Beat("7/8 the chief calls a standup; every researcher answers", "supervisor", "standup:"),
    Beat("7/8 the supervisor sends the chief the standup digest", "supervisor", "standup digest"),
    Beat(
        "7/8 the ledger posts its final verdict on wide, on the claim's thread",
        "supervisor",
        "wide:",
    ),
)
"""The story as the playbooks script it (docs/demo.md), in order; the latest beat is shown."""


def narrate(snapshot: OrgSnapshot, runs: Sequence[Any]) -> Narration:
    """The demo's status line: the story's latest beat, the runs done, or the conclusion."""
    for agent in snapshot.agents:
        if agent.detail.startswith(PLAYBOOK_FAILED):
            return Narration(
                f"{agent.name}: {agent.detail} (its pane: `orgtui attach {agent.name}`)",
                problem=True,
            )
    messages = [m for m in snapshot.messages if not m.malformed]
    last = [m for m in messages if m.sender == "chief" and CONCLUSION in m.subject]
    if last:
        return Narration("8/8 the chief concludes, from the ledger's verdicts:", last[-1].body)
    variants = {r.variant for r in runs}
    beat = next(
        (b.text for b in reversed(STORY) if b.happened(messages, variants)),
        "0/8 the supervisor starts a chief and three researchers",
    )
    done = sum(1 for r in runs if r.finished)
    return Narration(f"{beat}   ·  {done}/{max(EXPECTED_RUNS, len(runs))} runs done")


def orgtui_cli(root: Path, socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_argv(root, socket, *args), capture_output=True, text=True)


def orgtui_outputs(root: Path, socket: str, *verbs: str) -> list[str]:
    """Each verb's output, the verbs run side by side (they only read what the org wrote)."""
    started = [
        subprocess.Popen(
            _argv(root, socket, verb), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for verb in verbs
    ]
    return [process.communicate()[0] for process in started]


def _argv(root: Path, socket: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "orgtui", *args, "--root", str(root), "--socket", socket]


def progress(paths: OrgPaths, started: float) -> Progress:
    """Runs finished, board size and the latest message, read from ``.org/``."""
    from orgtui import board
    from orgtui.ledger import load_runs

    runs = load_runs(paths)
    messages = board.messages(paths)
    last = messages[-1] if messages else None
    latest = f"{last.sender} → {', '.join(last.to)}: {last.subject}" if last else "starting"
    finished = any(m.sender == "chief" and CONCLUSION in m.subject for m in messages)
    return Progress(
        elapsed_s=time.time() - started,
        runs_done=sum(1 for r in runs if r.finished),
        runs_total=max(EXPECTED_RUNS, len(runs)),
        messages=len(messages),
        latest=latest,
        finished=finished,
    )


def render_progress(p: Progress, width: int = 20) -> str:
    fill = int(width * p.runs_done / p.runs_total)
    bar = "#" * fill + "." * (width - fill)
    return (
        f"[{bar}] {p.runs_done}/{p.runs_total} runs · {p.messages} messages · "
        f"{p.elapsed_s:4.0f}s · {p.latest}"
    )[:160]


def follow(
    paths: OrgPaths,
    timeout_s: float,
    say: Callable[[str], object],
    failed: Callable[[], str | None] = lambda: None,
) -> Progress:
    """Report progress until the chief concludes; raise on a timeout or a failed agent."""
    started = time.time()
    shown = ""
    while True:
        now = progress(paths, started)
        line = render_progress(now)
        if line.split(" · ")[:2] != shown.split(" · ")[:2] or now.finished:
            say(line)
            shown = line
        if now.finished:
            return now
        problem = failed()
        if problem:
            raise DemoError(problem)
        if now.elapsed_s > timeout_s:
            raise DemoError(
                f"the demo did not conclude within {timeout_s:.0f}s; look at `orgtui board` and "
                f"`orgtui status` in {paths.root}"
            )
        board_quiet(paths, 1.0)


def board_quiet(paths: OrgPaths, seconds: float, step: float = 0.1) -> None:
    """Wait ``seconds``, or less when a message lands: the conclusion is seen at once."""
    before = _mtime(paths.board_dir)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(step)
        if _mtime(paths.board_dir) != before:
            return


def _mtime(directory: Path) -> int | None:
    try:
        return directory.stat().st_mtime_ns
    except OSError:
        return None


def failed_agent(paths: OrgPaths) -> str | None:
    """A scripted agent whose playbook stopped: the demo cannot conclude."""
    failed = failed_playbooks(paths, DEMO_AGENTS)
    name = next(iter(failed), None)
    return f"agent {name}: {failed[name]} (its pane: `orgtui attach {name}`)" if name else None


def run_demo(
    target: Path,
    *,
    socket: str = DEMO_SOCKET,
    headless: bool = False,
    live: bool = False,
    keep: bool = False,
    force: bool = False,
    timeout_s: float = 600.0,
    say: Callable[[str], object] = print,
    open_tui: OpenTui | None = None,
    playbooks: Path = PLAYBOOKS,
) -> int:
    """Build, start and show the demo; returns the exit code.

    ``open_tui`` (the command layer passes the TUI in) opens at once, the story told in it;
    headless, or without it, the story is followed here and the ledger printed at its end.
    A demo already built is reopened, not rebuilt, unless ``force``. ``playbooks``: where the
    org and its agents' playbooks come from (tests pass a shorter story).
    """
    target = target.resolve()
    watch = None if headless else open_tui
    story = None if live else narrate  # real agents write their own story
    if watch is not None and not force and (target / "org.toml").is_file():
        say(f"reopening the demo in {target} (--force plays it again from the start)")
        return watch(target, socket, story)
    if target.exists() and any(target.iterdir()):
        if not force:
            raise DemoError(
                f"{target} already exists: pass --force to rebuild it (its org is stopped "
                "first), or --dir elsewhere"
            )
        if (target / "org.toml").is_file():
            orgtui_cli(target, socket, "down")
        shutil.rmtree(target)
    say(f"building the demo research repo in {target}")
    build_repo(target, live=live, playbooks=playbooks)
    up = orgtui_cli(target, socket, "up")
    if up.returncode != 0:
        raise DemoError(f"orgtui up failed: {(up.stderr or up.stdout).strip()}")
    say(up.stdout.strip() + f" (private tmux server: tmux -L {socket})")
    if (shown := watch or (open_tui if live else None)) is not None:
        return shown(target, socket, story)
    say("a chief and three researchers at work; the ledger judges every claim:")
    paths = OrgPaths(target)
    try:
        follow(paths, timeout_s, say, failed=lambda: failed_agent(paths))
    except (DemoError, KeyboardInterrupt):
        if headless and not keep:
            orgtui_cli(target, socket, "down")
        raise
    closing = ("ledger", "report") if keep else ("ledger", "report", "down")
    ledger, report, *_ = orgtui_outputs(target, socket, *closing)
    say(ledger.rstrip())
    say(report.rstrip())
    from orgtui import board

    conclusion = [m for m in board.messages(paths) if CONCLUSION in m.subject][-1]
    say(f"\nthe chief's conclusion:\n{conclusion.body.strip()}")
    if keep:
        say(f"\nthe org keeps running: orgtui --root {target} --socket {socket}")
    else:
        say(f"\norg stopped; the repo stays in {target}")
    return 0
