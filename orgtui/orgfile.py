"""Writes a commented ``org.toml`` from a preset (``roles/orgs/<preset>.toml``).

The presets are themselves valid org files; ``orgtui init`` parses one, applies the user's
choices (agent count, backend, task) and renders it back with comments that explain every
key, because a person edits this file by hand next.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from orgtui.config import BACKENDS, BUNDLED_ROLES_DIR, ConfigError

PRESETS = ("flat", "hierarchy")


@dataclass(frozen=True)
class Seat:
    name: str
    role: str
    backend: str


def preset_file(preset: str) -> Path:
    return BUNDLED_ROLES_DIR / "orgs" / f"{preset}.toml"


def load_preset(preset: str) -> tuple[list[Seat], dict]:
    """The seats and the rest of a preset file."""
    path = preset_file(preset)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    default_backend = data.get("defaults", {}).get("backend", "claude")
    seats = [
        Seat(a["name"], a.get("role", "researcher"), a.get("backend", default_backend))
        for a in data.get("agent", [])
    ]
    return seats, data


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_org_toml(
    *,
    name: str,
    task: str,
    preset: str,
    agents: int | None = None,
    backend: str | None = None,
) -> str:
    """The text of a new ``org.toml``."""
    if preset not in PRESETS:
        raise ConfigError("--preset", None, f"found {preset!r}; allowed: {', '.join(PRESETS)}")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError("--backend", None, f"found {backend!r}; allowed: {', '.join(BACKENDS)}")
    seats, data = load_preset(preset)
    if agents is not None:
        if agents < 1:
            raise ConfigError("--agents", None, f"found {agents}; an org needs at least 1 agent")
        seats = _resize(seats, agents)
    if backend is not None:
        seats = [Seat(s.name, s.role, backend) for s in seats]
    default_backend = backend or data.get("defaults", {}).get("backend", "claude")
    standup = data.get("process", {}).get("standup", {"every": "24h"})
    standup_line = (
        f"every = {_q(standup['every'])}" if "every" in standup else f"at = {_q(standup['at'])}"
    )
    lines = [
        f"# org.toml: the {preset} org {name!r}, written by `orgtui init`.",
        "# This file is the org's source code: edit it, then run `orgtui check` and `orgtui up`.",
        "",
        "[org]",
        f"name = {_q(name)}                 # tmux session orgtui-<name>",
        f"program = {_q(name)}              # research program branch: prog/<program>",
        f"task = {_q(task)}",
        'layout = "windows"                 # windows: one tmux window per agent; grid: a tiled wall',
        "",
        "[defaults]",
        f"backend = {_q(default_backend)}    # claude | codex | builtin | scripted | shell | command",
        'gpus = "auto"                      # one GPU per agent, in order; "none" for CPU-only',
        "",
    ]
    for seat in seats:
        lines += [
            "[[agent]]",
            f"name = {_q(seat.name)}",
            f"role = {_q(seat.role)}    # prompt: roles/{seat.role}.md",
            f"backend = {_q(seat.backend)}",
            "",
        ]
    lines += [
        "[process.standup]                  # the supervisor calls a standup and digests answers",
        f"{standup_line}",
        "",
        "[process.review]",
        "required = false                   # true: runs need a proposal (`orgtui propose`)",
        "",
        "[worktree]",
        "copy = []                          # untracked files copied into each new worktree",
        '# setup = "pip install -e ."       # run once in each new worktree',
        "",
        "[ledger]",
        'baseline = "baseline"             # the variant every other one is compared against',
        "",
        "[gpu]",
        'source = "auto"                    # auto | nvml | none | replay:PATH',
        "",
    ]
    return "\n".join(lines)


def _resize(seats: list[Seat], count: int) -> list[Seat]:
    """Keep the first ``count`` seats (a chief stays first); add researchers if more are asked."""
    if count <= len(seats):
        return seats[:count]
    template = seats[-1]
    extra = [
        Seat(f"{template.role[:8]}{i}", template.role, template.backend)
        for i in range(len(seats), count)
    ]
    return seats + extra
