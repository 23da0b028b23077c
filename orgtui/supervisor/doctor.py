"""``orgtui doctor``: what would stop the org from running, or from surviving a logout."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

from orgtui.errors import OrgtuiError


def logind_kills_user_processes(conf: Path = Path("/etc/systemd/logind.conf")) -> bool:
    """True when logind is configured with KillUserProcesses=yes (the default is no)."""
    try:
        text = conf.read_text(encoding="utf-8")
    except OSError:
        return False
    value = None
    for line in text.splitlines():
        match = re.match(r"\s*KillUserProcesses\s*=\s*(\S+)", line)
        if match:
            value = match.group(1).lower()
    return value in ("yes", "true", "1", "on")


def linger_enabled(user: str) -> bool | None:
    if shutil.which("loginctl") is None:
        return None
    proc = subprocess.run(
        ["loginctl", "show-user", user, "--property=Linger"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return Path(f"/var/lib/systemd/linger/{user}").exists()
    return proc.stdout.strip().lower() == "linger=yes"


def run_doctor(args: argparse.Namespace) -> int:
    from orgtui.commands import load_org, socket_name

    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(
            f"{'ok  ' if ok else 'FAIL'} {what}" + (f"\n     fix: {fix}" if fix and not ok else "")
        )

    tmux = shutil.which("tmux")
    version = (
        subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
        if tmux
        else ""
    )
    report(bool(tmux), f"tmux: {version or 'not found'}", "install tmux (>= 3.0)")
    try:
        from orgtui.supervisor.worktrees import git_version

        report(True, f"git: {git_version()}")
    except Exception as error:
        report(False, f"git: {error}", "install git")
    try:
        config = load_org(args)
        report(True, f"org {config.org.name}: {len(config.agents)} agent(s) in {config.file}")
    except OrgtuiError as error:
        report(False, f"org: {error}")
        config = None
    if config is not None and tmux:
        from orgtui.supervisor.control import ControlError, request
        from orgtui.supervisor.tmux import Tmux

        name = socket_name(args)
        live = Tmux(name).has_session(config.org.session_name)
        report(
            True,
            f"tmux session {config.org.session_name} on "
            f"{'-L ' + name if name else 'the default server'}: "
            f"{'running' if live else 'not running (`orgtui up`)'}",
        )
        try:
            answer = request(config.paths, {"verb": "ping"}, timeout=2.0)
            report(bool(answer.get("ok")), f"control socket: supervisor pid {answer.get('pid')}")
        except ControlError as error:
            report(not live, f"control socket: {error}", "`orgtui up` restarts the supervisor")
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    if logind_kills_user_processes():
        linger = linger_enabled(user)
        report(
            bool(linger),
            "systemd KillUserProcesses=yes: tmux dies at SSH logout unless linger is on",
            f"loginctl enable-linger {user or '$USER'}",
        )
    else:
        report(True, "systemd does not kill user processes at logout")
    return 0 if problems == 0 else 1
