"""What an agent's pane sees: this installation first on PATH, whatever the shell's rc files do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.conftest import run_orgtui, wait_for
from tests.supervisor.helpers import state, write_org


def test_pane_path_starts_with_this_installation(git_repo: Path, tmux_socket: str) -> None:
    out = git_repo / "pane-path.txt"
    write_org(
        git_repo, {"ada": f'echo "$PATH" > {out}; command -v python >> {out}; exec sleep 600'}
    )
    # Started the way a person without an activated venv would: a plain PATH, no VIRTUAL_ENV.
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    run_orgtui("up", root=git_repo, socket=tmux_socket, env=env, check=True)
    try:
        lines = wait_for(lambda: out.exists() and out.read_text().splitlines(), "the pane's PATH")
        bin_dir = str(Path(sys.executable).parent)
        assert lines[0].split(os.pathsep)[0] == bin_dir
        assert lines[1] == str(Path(bin_dir) / "python")
        assert state(git_repo)["agents"]["ada"]["status"] != "dead"
    finally:
        run_orgtui("down", root=git_repo, socket=tmux_socket)
