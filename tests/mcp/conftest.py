"""A real org (a git repo with org.toml, recorded runs, a GPU trace) and an MCP client
session with ``orgtui mcp`` started as a seat starts it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from orgtui.paths import OrgPaths
from tests.conftest import FIXTURES, git
from tests.ledger.synth import power_law, write_variant

ORG_TOML = """\
[org]
name = "lab"
task = "remove the softcap"

[[agent]]
name = "chief"
role = "chief_scientist"
backend = "shell"

[[agent]]
name = "ada"
role = "researcher"
backend = "shell"

[[agent]]
name = "bob"
role = "researcher"
backend = "shell"

[ledger]
baseline = "base"

[gpu]
source = "replay:gpus.jsonl"
"""


@pytest.fixture
def org(git_repo: Path) -> Path:
    """A committed org with 3 seeds of ``base`` and 3 of ``nocap`` (0.1 bpb better)."""
    (git_repo / "org.toml").write_text(ORG_TOML)
    (git_repo / ".gitignore").write_text(".org/\n")
    shutil.copy(FIXTURES / "nvml_h100_trace.jsonl", git_repo / "gpus.jsonl")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "org")
    runs = OrgPaths(git_repo).runs_dir
    write_variant(runs, "base", 3, curve=power_law())
    write_variant(runs, "nocap", 3, curve=power_law(offset=-0.1))
    return git_repo


@asynccontextmanager
async def mcp_session(
    root: Path | None, agent: str = "ada", *, cwd: Path | None = None, errlog: Path | None = None
) -> AsyncIterator[ClientSession]:
    """``orgtui mcp`` as a seat runs it (``ORGTUI_AGENT``, ``ORGTUI_ROOT``), initialised."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORGTUI_ROOT", "ORGTUI_AGENT")}
    env |= {"ORGTUI_AGENT": agent, "ORGTUI_ROOT": str(root)} if root else {"ORGTUI_AGENT": agent}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "orgtui", "mcp"], cwd=cwd or root, env=env
    )
    with open(errlog or os.devnull, "w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def text(result: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)
