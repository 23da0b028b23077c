"""The install-once fixture: one npm run however many workers ask, a clear skip without npm."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clients import npm

FAKE_NPM = f"""#!{sys.executable}
import os, sys, time
prefix = sys.argv[sys.argv.index("--prefix") + 1]
with open(os.path.join(prefix, "npm-calls"), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
time.sleep(0.5)  # long enough for a second worker to arrive meanwhile
bin_dir = os.path.join(prefix, "node_modules", ".bin")
os.makedirs(bin_dir, exist_ok=True)
for name in ("claude", "codex"):
    path = os.path.join(bin_dir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\\n")
    os.chmod(path, 0o755)
"""

WORKER = """
import sys
sys.path.insert(0, {repo!r})
from tests.clients.npm import ensure_clients
print(ensure_clients()[0])
"""


def test_two_workers_install_the_clients_once(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "npm"
    fake.write_text(FAKE_NPM)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "ORGTUI_NPM_CACHE": str(cache),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    code = WORKER.format(repo=str(Path(__file__).resolve().parents[2]))
    workers = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    found = {w.communicate(timeout=30)[0].strip() for w in workers}
    assert found == {str(cache / "node_modules" / ".bin")}
    calls = (cache / "npm-calls").read_text().splitlines()
    assert len(calls) == 1
    assert "@anthropic-ai/claude-code" in calls[0] and "@openai/codex" in calls[0]


def test_without_npm_the_clients_are_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGTUI_NPM_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path))
    found, why = npm.ensure_clients()
    assert found is None
    assert "npm is not installed" in why and str(tmp_path / "empty") in why
