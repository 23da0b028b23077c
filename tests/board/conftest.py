"""A minimal org (ada, bob, carol) for the board tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgtui.paths import OrgPaths

ORG_TOML = """\
[org]
name = "o"
task = "t"

[defaults]
backend = "shell"

[[agent]]
name = "ada"
role = "researcher"

[[agent]]
name = "bob"
role = "researcher"

[[agent]]
name = "carol"
role = "researcher"
"""

AGENTS = ("ada", "bob", "carol")


@pytest.fixture
def org(tmp_path: Path) -> OrgPaths:
    root = tmp_path / "org"
    root.mkdir()
    (root / "org.toml").write_text(ORG_TOML)
    return OrgPaths(root)
