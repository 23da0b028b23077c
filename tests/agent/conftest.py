"""An org with one seat per backend, a worktree directory, and helpers to poll files."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgtui.config import OrgConfig, load_config

PLANTED_ANTHROPIC = "sk-ant-test-PLANTED1234567890abcdefXYZ"
PLANTED_OPENAI = "sk-test-PLANTED0987654321zyxwvuOPENAI"

ORG_TOML = """\
[org]
name = "lab"
program = "p1"
task = "Make the loss go down."

[defaults]
backend = "shell"

[[agent]]
name = "chief"
role = "chief_scientist"
backend = "claude"

[[agent]]
name = "ada"
role = "researcher"
backend = "builtin"
provider = "anthropic"
model = "claude-fake"

[[agent]]
name = "oli"
role = "researcher"
backend = "builtin"
provider = "openai"
model = "gpt-fake"

[[agent]]
name = "cx"
role = "researcher"
backend = "codex"
model = "gpt-fake"
skip_permissions = true

[[agent]]
name = "sam"
role = "researcher"
backend = "scripted"
playbook = "sam.toml"

[[agent]]
name = "sue"
role = "researcher"
backend = "scripted"
playbook = "sue.toml"
"""


@pytest.fixture
def org(tmp_path: Path) -> OrgConfig:
    root = tmp_path / "org"
    root.mkdir()
    (root / "org.toml").write_text(ORG_TOML)
    (root / "worktrees" / "ada").mkdir(parents=True)
    return load_config(root)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ORGTUI_AGENT_BACKOFF_S", "0.05")
    return monkeypatch


def files_containing(directory: Path, needle: str) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
