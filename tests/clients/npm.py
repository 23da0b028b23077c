"""The real Claude Code and Codex CLIs, installed from npm once into a shared cache dir.

CI pre-installs them (``npm install --prefix "$ORGTUI_NPM_CACHE" PACKAGES``); locally the
first test that needs them installs them, under a file lock so xdist workers never race.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

PACKAGES = ("@anthropic-ai/claude-code", "@openai/codex")
EXECUTABLES = ("claude", "codex")
INSTALL_TIMEOUT_S = 600


def cache_dir() -> Path:
    """``$ORGTUI_NPM_CACHE``, else ``~/.cache/orgtui-npm``."""
    explicit = os.environ.get("ORGTUI_NPM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orgtui-npm"


def _installed(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in EXECUTABLES)


def ensure_clients() -> tuple[Path | None, str]:
    """(bin dir holding ``claude`` and ``codex``, "") or (None, why they are unavailable)."""
    root = cache_dir()
    bin_dir = root / "node_modules" / ".bin"
    if _installed(bin_dir):
        return bin_dir, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not installed: cannot install {', '.join(PACKAGES)} into {root}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".install.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker installs, the others wait and reuse
        if not _installed(bin_dir):
            proc = subprocess.run(
                [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", *PACKAGES],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
            if proc.returncode != 0 or not _installed(bin_dir):
                tail = (proc.stderr or proc.stdout).strip()[-800:]
                raise RuntimeError(f"npm install into {root} failed ({proc.returncode}):\n{tail}")
    return bin_dir, ""
