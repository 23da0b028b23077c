"""Fixtures for the real-client tests: the CLIs from npm, an org in a real repo, polling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clients.npm import ensure_clients
from tests.conftest import run_orgtui, wait_for

PLANTED = {
    "ANTHROPIC_API_KEY": "sk-ant-test-PLANTEDclients1234567890abcXYZ",
    "OPENAI_API_KEY": "sk-test-PLANTEDclients0987654321zyxOPENAI",
}
ORG = """\
[org]
name = "lab"
program = "p1"
task = "Make the loss go down."

[defaults]
gpus = "none"

[gpu]
source = "none"

[supervisor]
tick = "0.1s"
backoff_initial = "0.5s"
nudge = false

[[agent]]
name = "ada"
role = "researcher"
backend = "{backend}"
{extra}
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clients: drives the real Claude Code / Codex CLIs")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "client_bin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.clients)


@pytest.fixture(scope="session")
def client_bin() -> Path:
    """The directory holding ``claude`` and ``codex`` (installed from npm once)."""
    found, why = ensure_clients()
    if found is None:
        pytest.skip(why)
    return found


class Org:
    """An org with one seat ``ada`` in a real git repo, driven through the CLI."""

    def __init__(self, root: Path, socket: str, env: dict[str, str]) -> None:
        self.root, self.socket, self.env = root, socket, env

    def orgtui(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = run_orgtui(
            *args, root=self.root, socket=self.socket, timeout=60, env=self.env, cwd=self.root
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"orgtui {args}: {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc

    def status(self) -> dict[str, Any]:
        """``orgtui status --json`` for the seat."""
        agents = json.loads(self.orgtui("status", "--json").stdout)["agents"]
        return next(a for a in agents if a["name"] == "ada")

    def pane(self) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "capture-pane", "-p", "-t", "=orgtui-lab:=ada"],
            capture_output=True,
            text=True,
        )
        return proc.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "send-keys", "-t", "=orgtui-lab:=ada", *keys], check=True
        )

    def say(self, line: str, arrived: Callable[[], object]) -> None:
        """Type ``line`` into the pane and press Enter until ``arrived()`` (a TUI may take a
        fast burst of keys for a paste and keep the Enter as a newline)."""
        self.keys("-l", line)
        self.wait(lambda: line in self.pane(), f"{line!r} typed")
        for _ in range(10):
            self.keys("Enter")
            try:
                self.wait(arrived, f"{line!r} sent", timeout=3)
                return
            except AssertionError:
                continue
        raise AssertionError(f"{line!r} never reached the model; pane:\n{self.pane()}")

    def wait(self, check: Callable[[], object], what: str, timeout: float = 45) -> Any:
        """``wait_for``, with the agent's pane in the failure: the first thing to read."""
        try:
            return wait_for(check, what, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; pane:\n{self.pane()}") from None

    def wait_state(self, state: str, timeout: float = 45) -> None:
        """Until ``orgtui status --json`` shows ``state`` for the seat (polled: the hooks may
        move it on at any moment, so a second read could already see the next state)."""
        self.wait(lambda: self.status()["status"] == state, f"state {state}", timeout)


def make_org(
    git_repo: Path, tmux_socket: str, client_bin: Path, backend: str, extra: str = ""
) -> Org:
    (git_repo / "org.toml").write_text(ORG.format(backend=backend, extra=extra))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PATH"] = f"{client_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return Org(git_repo, tmux_socket, env)


def files_containing(directory: Path, needle: str) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
