"""The real Claude Code and Codex CLIs, installed from npm once into a shared cache dir.

CI pre-installs them (``python -m tests.clients.npm``); locally the first test that needs them
installs them, under a file lock so xdist workers never race. The versions are pinned: a new
release of either client may change its first-start screens, hooks or flags, and should reach
the suite by a change here, not by the date CI happens to run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

PACKAGES = {"@anthropic-ai/claude-code": "2.1.197", "@openai/codex": "0.171.0"}
"""npm package -> the version the suite was checked with."""
EXECUTABLES = ("claude", "codex")
INSTALL_TIMEOUT_S = 600


def cache_dir() -> Path:
    """``$ORGTUI_NPM_CACHE``, else ``~/.cache/orgtui-npm``."""
    explicit = os.environ.get("ORGTUI_NPM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orgtui-npm"


def _version(root: Path, package: str) -> str | None:
    try:
        manifest = json.loads((root / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("version")


def _bin_dir(root: Path) -> Path:
    return root / "node_modules" / ".bin"


def _installed(root: Path) -> bool:
    """Both executables there, at the pinned versions."""
    return all(os.access(_bin_dir(root) / name, os.X_OK) for name in EXECUTABLES) and all(
        _version(root, package) == version for package, version in PACKAGES.items()
    )


def ensure_clients() -> tuple[Path | None, str]:
    """(bin dir holding ``claude`` and ``codex``, "") or (None, why they are unavailable)."""
    root = cache_dir()
    if _installed(root):
        return _bin_dir(root), ""
    specs = [f"{package}@{version}" for package, version in PACKAGES.items()]
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not installed: cannot install {', '.join(specs)} into {root}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".install.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker installs, the others wait and reuse
        if not _installed(root):
            proc = subprocess.run(
                [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", *specs],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
            if proc.returncode != 0 or not _installed(root):
                tail = (proc.stderr or proc.stdout).strip()[-800:]
                raise RuntimeError(f"npm install into {root} failed ({proc.returncode}):\n{tail}")
    return _bin_dir(root), ""


if __name__ == "__main__":  # CI installs the clients up front: python -m tests.clients.npm
    found, why = ensure_clients()
    print(found or why)
    raise SystemExit(0 if found else 1)
