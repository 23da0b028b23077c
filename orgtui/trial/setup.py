"""Before a trial: every org design checked as ``orgtui check`` would, and each trial's fresh
research repo built (the task's source, the design's org.toml with the task's metric written
into ``[ledger]``, its role prompts and playbooks), committed, ready for ``orgtui up``."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from orgtui.config import BUNDLED_ROLES_DIR, OrgConfig, load_config
from orgtui.errors import OrgtuiError
from orgtui.tasks import Task


class TrialError(OrgtuiError):
    """A trial that cannot start or finish; the message names the file and the fix."""


def design_name(config: OrgConfig) -> str:
    """A design's name in the score, the trial's folder and its tmux socket: its file's stem."""
    return re.sub(r"[^a-z0-9_-]+", "-", config.file.stem.lower()).strip("-") or "org"


def check_design(file: Path) -> OrgConfig:
    """The org design at ``file``, through ``orgtui check``'s checks and its playbooks'.

    Raises:
        ConfigError: org.toml does not validate (it names the key and the fix).
        TrialError: a GPU assignment error, or a scripted agent's playbook that does not load.
    """
    from orgtui.agent.scripted import load_playbook, playbook_file
    from orgtui.commands.gpu import check_gpus

    if not file.is_file():
        raise TrialError(f"{file}: no such org design (an org.toml file, e.g. examples/trials/)")
    config = load_config(file)
    problems: list[str] = []
    if not check_gpus(config, problems.append):
        errors = "; ".join(p for p in problems if p.startswith("error"))
        raise TrialError(f"{file}: fails `orgtui check`: {errors}")
    for spec in config.agents:
        if spec.backend == "scripted":
            load_playbook(playbook_file(config, spec))  # PlaybookError names file and step
    return config


def trial_org_toml(config: OrgConfig, task: Task) -> str:
    """The design's org.toml for one trial: the task's metric, direction, cost and baseline in
    ``[ledger]``, and each scripted agent's playbook at ``playbooks/<agent>.toml``."""
    data: dict[str, Any] = tomllib.loads(config.file.read_text(encoding="utf-8"))
    ledger = data.setdefault("ledger", {})
    ledger.update(
        metric=task.metric, direction=task.direction, cost=task.cost, baseline=task.baseline
    )
    for table in data.get("agent", []):
        if isinstance(table, dict) and table.get("playbook"):
            table["playbook"] = f"playbooks/{table['name']}.toml"
    return tomli_w.dumps(data)


def build_trial_repo(target: Path, config: OrgConfig, task: Task) -> str:
    """Write the trial's research repo at ``target`` and commit it; returns the base commit."""
    from orgtui.agent.scripted import playbook_file
    from orgtui.supervisor.worktrees import init_repo, tree_state

    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".org", "worktrees")
    shutil.copytree(task.source, target / task.source.name, ignore=ignore)
    own_roles = config.root / "roles"
    shutil.copytree(own_roles if own_roles.is_dir() else BUNDLED_ROLES_DIR, target / "roles")
    playbooks = [s for s in config.agents if s.backend == "scripted"]
    if playbooks:
        (target / "playbooks").mkdir()
    for spec in playbooks:
        shutil.copy(playbook_file(config, spec), target / "playbooks" / f"{spec.name}.toml")
    (target / "org.toml").write_text(trial_org_toml(config, task), encoding="utf-8")
    (target / ".gitignore").write_text(".org/\nworktrees/*\n!worktrees/.gitkeep\n__pycache__/\n")
    (target / "worktrees").mkdir()
    (target / "worktrees" / ".gitkeep").touch()
    load_config(target)  # the org.toml written must still validate
    init_repo(
        target,
        f"orgtui trial: task {task.name}, org {config.org.name}",
        "orgtui trial",
        "trial@orgtui.invalid",
    )
    commit = tree_state(target)[1]
    if commit is None:
        raise TrialError(f"{target}: the trial repo has no commit after `git init`")
    return commit
