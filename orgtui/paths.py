"""Where an org keeps things: ``org.toml`` at the root, runtime state in ``.org/``.

Every module asks ``OrgPaths`` for a location instead of joining strings, so the layout
described in DESIGN.md lives in exactly one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orgtui.errors import OrgtuiError
from orgtui.names import check_name

CONFIG_NAME = "org.toml"


class RootNotFound(OrgtuiError):
    """No org.toml above the working directory."""


@dataclass(frozen=True)
class OrgPaths:
    """Every path of one org, derived from its root directory."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def org_dir(self) -> Path:
        return self.root / ".org"

    @property
    def state_file(self) -> Path:
        return self.org_dir / "state.json"

    @property
    def control_socket(self) -> Path:
        return self.org_dir / "control.sock"

    @property
    def lock_file(self) -> Path:
        return self.org_dir / "up.lock"

    @property
    def board_dir(self) -> Path:
        return self.org_dir / "board"

    @property
    def agents_dir(self) -> Path:
        return self.org_dir / "agents"

    @property
    def runs_dir(self) -> Path:
        return self.org_dir / "runs"

    @property
    def queue_dir(self) -> Path:
        """One JSON file per experiment job (``orgtui run``, the ledger's controls)."""
        return self.org_dir / "queue"

    @property
    def queue_lock(self) -> Path:
        return self.queue_dir / ".lock"

    def job_file(self, job_id: str) -> Path:
        return self.queue_dir / f"{check_name(job_id, 'job id')}.json"

    @property
    def idle_notice(self) -> Path:
        """Which idle GPUs the chief was last told about, and when (survives a restart)."""
        return self.org_dir / "idle-gpus.json"

    @property
    def queue_batches(self) -> Path:
        """The scheduler's record of the batches it has finished with (results, controls)."""
        return self.org_dir / "batches.json"

    @property
    def engine_status(self) -> Path:
        """What the cluster engine last saw: reachable or not, and its jobs' states."""
        return self.org_dir / "engine.json"

    @property
    def checkouts_dir(self) -> Path:
        """Detached checkouts of a job's exact commit, made while it runs."""
        return self.org_dir / "checkouts"

    @property
    def checkouts_lock(self) -> Path:
        """Held while a checkout is added or removed: one worker's ``git worktree prune`` would
        otherwise end another's half-made checkout."""
        return self.checkouts_dir / ".lock"

    @property
    def budget_state(self) -> Path:
        """Budget limits raised at runtime, and what the supervisor warned and acted on."""
        return self.org_dir / "budget.json"

    @property
    def budget_lock(self) -> Path:
        return self.org_dir / "budget.lock"

    @property
    def gpu_samples(self) -> Path:
        return self.org_dir / "gpu.jsonl"

    @property
    def gpu_hours(self) -> Path:
        return self.org_dir / "gpu_hours.json"

    @property
    def logs_dir(self) -> Path:
        return self.org_dir / "logs"

    @property
    def supervisor_log(self) -> Path:
        return self.logs_dir / "supervisor.log"

    def worker_log(self, job_id: str) -> Path:
        """What a queue worker itself said (its run's output goes to the run's output.log)."""
        return self.logs_dir / f"worker-{check_name(job_id, 'job id')}.log"

    @property
    def supervisor_lock(self) -> Path:
        """Held by the one supervisor of this org for its whole life."""
        return self.org_dir / "supervisor.lock"

    def launch_log(self, agent: str, millis: int) -> Path:
        """What one launch of an agent ran: command, cwd, env keys (never values)."""
        return self.logs_dir / f"{check_name(agent, 'agent name')}-{millis}.launch.json"

    def exit_file(self, agent: str) -> Path:
        """The exit code of the agent's last command, written by its pane's wrapper."""
        return self.agent_dir(agent) / "exit"

    def handoff_brief(self, agent: str) -> Path:
        return self.agent_dir(agent) / "handoff.md"

    @property
    def ledger_state(self) -> Path:
        return self.org_dir / "ledger.json"

    @property
    def worktrees_dir(self) -> Path:
        return self.root / "worktrees"

    @property
    def roles_dir(self) -> Path:
        return self.root / "roles"

    def agent_dir(self, agent: str) -> Path:
        """``.org/agents/<agent>/``: status.json, read.json, usage.jsonl, HOME of CLI agents."""
        return self.agents_dir / check_name(agent, "agent name")

    def spend_file(self, agent: str) -> Path:
        """The seat's model tokens by model, and where its collector has read up to."""
        return self.agent_dir(agent) / "spend.json"

    def worktree(self, agent: str) -> Path:
        return self.worktrees_dir / check_name(agent, "agent name")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / check_name(run_id, "run id")


def find_root(explicit: str | os.PathLike[str] | None = None, *, start: Path | None = None) -> Path:
    """Locate the org root: ``--root``, else ``$ORGTUI_ROOT``, else the nearest ``org.toml`` up.

    Raises:
        RootNotFound: with the directories tried and how to create an org.
    """
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise RootNotFound(f"{root / CONFIG_NAME}: not found (given by --root)")
        return root
    env_root = os.environ.get("ORGTUI_ROOT")
    if env_root:
        root = Path(env_root).expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise RootNotFound(f"{root / CONFIG_NAME}: not found (given by ORGTUI_ROOT)")
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise RootNotFound(
        f"no {CONFIG_NAME} in {here} or any parent directory: run `orgtui init` in your "
        "research repo, or pass --root DIR"
    )
