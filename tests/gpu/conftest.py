"""Helpers for the GPU tests: a small org on disk and traces written by the test."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIXTURES

H100_TRACE = FIXTURES / "nvml_h100_trace.jsonl"


def write_org(root: Path, agents: list[dict[str, object]], gpu: str = "") -> Path:
    """An org.toml with shell agents; ``gpu`` is extra text for the ``[gpu]`` table."""
    lines = ["[org]", 'name = "g"', 'task = "t"', "", "[defaults]", 'backend = "shell"', ""]
    if gpu:
        lines += ["[gpu]", gpu, ""]
    for agent in agents:
        lines.append("[[agent]]")
        for key, value in agent.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    (root / "org.toml").write_text("\n".join(lines))
    return root


def write_trace(path: Path, frames: list[list[dict[str, object]]], step: float = 1.0) -> Path:
    """A replay trace: each frame a list of GPU rows (index, util, procs ...), ``step`` s apart."""
    with path.open("w") as handle:
        for number, frame in enumerate(frames):
            for row in frame:
                line = {"t": 1000.0 + number * step, "name": "Fake GPU", **row}
                handle.write(json.dumps(line) + "\n")
    return path
