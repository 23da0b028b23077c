"""``orgtui init`` and ``orgtui check``: write and validate the org's source code."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from orgtui.commands import add_parser, load_org, root_arg

DEFAULT_TASK = "Remove the logit softcap from nanochat without a val-bpb regression."


def register(subparsers: argparse._SubParsersAction) -> None:
    init = add_parser(subparsers, "init", "write a commented org.toml in this git repo")
    init.add_argument(
        "--preset",
        choices=("flat", "hierarchy"),
        default="flat",
        help="flat: solo researchers; hierarchy: a chief scientist and researchers",
    )
    init.add_argument("--agents", type=int, metavar="N", help="number of agents (default: preset)")
    init.add_argument(
        "--backend",
        metavar="NAME",
        help="backend for every agent: claude, codex, builtin, scripted, shell, command",
    )
    init.add_argument("--task", metavar="TEXT", default=DEFAULT_TASK, help="what the org works on")
    init.add_argument("--name", metavar="NAME", help="org name (default: the directory's name)")
    init.add_argument("--force", action="store_true", help="overwrite an existing org.toml")
    init.set_defaults(func=cmd_init)

    check = add_parser(subparsers, "check", "validate org.toml and summarise the org")
    check.set_defaults(func=cmd_check)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return (slug or "org")[:40]


def cmd_init(args: argparse.Namespace) -> int:
    from orgtui.config import BUNDLED_ROLES_DIR, ConfigError, load_config
    from orgtui.orgfile import render_org_toml
    from orgtui.paths import CONFIG_NAME
    from orgtui.supervisor.worktrees import ensure_program_branch, open_repo

    root = Path(root_arg(args) or Path.cwd()).resolve()
    repo = open_repo(root)
    root = Path(repo.working_tree_dir or root).resolve()
    target = root / CONFIG_NAME
    if target.exists() and not args.force:
        raise ConfigError(target, None, "already exists; pass --force to overwrite it")
    name = args.name or _slug(root.name)
    text = render_org_toml(
        name=name, task=args.task, preset=args.preset, agents=args.agents, backend=args.backend
    )
    roles = root / "roles"
    if not roles.exists() and BUNDLED_ROLES_DIR.is_dir() and roles != BUNDLED_ROLES_DIR:
        shutil.copytree(BUNDLED_ROLES_DIR, roles)
        print(f"copied the role prompts to {roles} (they are the org's code: edit them)")
    from orgtui.atomic import atomic_write_text

    atomic_write_text(target, text)
    config = load_config(target)
    branch = ensure_program_branch(root, config.org.program)
    print(f"wrote {target} ({args.preset}, {len(config.agents)} agents); program branch {branch}")
    print("next: `orgtui check`, then `orgtui up`")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    config = load_org(args)
    console = Console()
    # What the person wrote goes out as Text: a "[/]" in the task is text, not markup.
    console.print(Text.assemble((config.org.name, "bold"), ": ", config.org.task))
    console.print(
        Text(
            f"program branch {config.org.program_branch}, layout {config.org.layout}, "
            f"file {config.file}"
        )
    )
    table = Table("agent", "role", "backend", "gpu", "branch")
    for spec in config.agents:
        table.add_row(
            Text(spec.name),
            Text(spec.role),
            spec.backend,
            "-" if spec.gpu is None else str(spec.gpu) + (" (shared)" if spec.share_gpu else ""),
            Text(spec.branch(config.org.program)),
        )
    console.print(table)
    if config.standup:
        when = (
            f"every {config.standup.every_s:g}s"
            if config.standup.every_s
            else (f"daily at {config.standup.at}")
        )
        console.print(f"standup: {when}")
    console.print(Text(f"baseline variant: {config.ledger.baseline or '(none set)'}"))
    # --- GPU assignment (orgtui.gpu.assignment): an index this machine lacks is an error ---
    from orgtui.commands.gpu import check_gpus

    if not check_gpus(config, lambda line: console.print(line, markup=False)):
        return 2
    # --- end GPU assignment ---
    console.print("[green]ok[/]")
    return 0
