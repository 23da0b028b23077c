"""The install-once fixture: one npm run however many workers ask, a clear skip without npm."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clients import npm

FAKE_NPM = f"""#!{sys.executable}
import json, os, sys, time
prefix = sys.argv[sys.argv.index("--prefix") + 1]
with open(os.path.join(prefix, "npm-calls"), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
time.sleep(0.5)  # long enough for a second worker to arrive meanwhile
modules = os.path.join(prefix, "node_modules")
os.makedirs(os.path.join(modules, ".bin"), exist_ok=True)
for name in ("claude", "codex"):
    path = os.path.join(modules, ".bin", name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\\n")
    os.chmod(path, 0o755)
for spec in sys.argv[1:]:
    if spec.startswith("@"):  # @scope/name@version
        package, version = spec.rsplit("@", 1)
        os.makedirs(os.path.join(modules, package), exist_ok=True)
        with open(os.path.join(modules, package, "package.json"), "w") as f:
            json.dump({{"name": package, "version": version}}, f)
"""

WORKER = """
import sys
sys.path.insert(0, {repo!r})
from tests.clients.npm import ensure_clients
print(ensure_clients()[0])
"""


@pytest.fixture
def fake_npm(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment with a recording npm first on PATH, the cache it installs into)."""
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
    return env, cache


def worker(env: dict[str, str]) -> subprocess.Popen[str]:
    code = WORKER.format(repo=str(Path(__file__).resolve().parents[2]))
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )


def test_two_workers_install_the_clients_once(fake_npm: tuple[dict[str, str], Path]) -> None:
    env, cache = fake_npm
    workers = [worker(env) for _ in range(2)]
    found = {w.communicate(timeout=30)[0].strip() for w in workers}
    assert found == {str(cache / "node_modules" / ".bin")}
    calls = (cache / "npm-calls").read_text().splitlines()
    assert len(calls) == 1
    assert "@anthropic-ai/claude-code@2.1.197" in calls[0].split()
    assert "@openai/codex@0.171.0" in calls[0].split()


def test_a_cached_client_at_another_version_is_replaced(
    fake_npm: tuple[dict[str, str], Path],
) -> None:
    """A cache left by an older pin gets the pinned versions again, once."""
    env, cache = fake_npm
    worker(env).communicate(timeout=30)
    stale = cache / "node_modules" / "@openai" / "codex" / "package.json"
    stale.write_text('{"version": "0.1.0"}')
    for _ in range(2):
        worker(env).communicate(timeout=30)
    assert len((cache / "npm-calls").read_text().splitlines()) == 2
    assert json.loads(stale.read_text())["version"] == "0.171.0"


def test_without_npm_the_clients_are_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGTUI_NPM_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path))
    found, why = npm.ensure_clients()
    assert found is None
    assert "npm is not installed" in why and str(tmp_path / "empty") in why
