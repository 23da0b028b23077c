"""``orgtui doctor``: what would stop the org from running, or from surviving a logout.

Each check is a function that looks at one thing and returns a ``Check`` (never prints);
the command prints them, or their JSON, and exits 0 only when every one passed. The checks
look where the org really is: the tmux socket recorded in ``.org/state.json`` wins over a
forgotten ``--socket``, and a new pane's PATH is read from the org's own tmux server. An org
on Slurm is checked through ``orgtui.queue.slurm`` (the one module that runs Slurm's tools):
``sinfo`` answers, the partition exists, and it has the GPUs each job asks for.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orgtui.commands import add_parser, load_org, socket_name
from orgtui.errors import OrgtuiError

if TYPE_CHECKING:
    from orgtui.config import OrgConfig, SlurmSpec
    from orgtui.paths import OrgPaths
    from orgtui.supervisor.state import OrgState
    from orgtui.supervisor.tmux import Tmux

PING_TIMEOUT_S = 2.0
"""A supervisor that does not answer a ping within this is stopped or hung."""
MIN_FREE_BYTES = 100 * 2**20
"""Less free space than this under ``.org/`` and the board, ledger and logs soon fail."""
PROBE_TIMEOUT_S = 10.0
LOGIND_CONF = Path("/etc/systemd/logind.conf")
_PATH_MARK = "orgtui-doctor-path="
_WHICH_MARK = "orgtui-doctor-which="
_GPU_GRES = re.compile(r"(?:^|,)gpu(?::[^:,()]+)?:(\d+)")
"""A GPU in sinfo's GRES column: ``gpu:4``, ``gpu:a100:8(S:0-1)``, ``gpu:4,mps:400``."""


@dataclass(frozen=True)
class Check:
    """One finding: what was looked at, whether it is fine, and what to do when not."""

    name: str
    ok: bool
    line: str
    fix: str = ""


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = add_parser(
        subparsers, "doctor", "check tmux, git, the org, its supervisor, agents, disk and logout"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(args)
    ok = all(check.ok for check in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(check) for check in checks]}, indent=1))
    else:
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.line}")
            if check.fix and not check.ok:
                print(f"     fix: {check.fix}")
    return 0 if ok else 1


def run_checks(args: argparse.Namespace) -> list[Check]:
    checks = [check_tmux(), check_git()]
    has_tmux = checks[0].ok
    try:
        config = load_org(args)
    except OrgtuiError as error:
        return [*checks, Check("org", False, f"org: {error}"), check_logout()]
    checks.append(
        Check("org", True, f"org {config.org.name}: {len(config.agents)} agent(s) in {config.file}")
    )
    tmux = None
    if has_tmux:
        tmux, found = org_checks(config, socket_name(args))
        checks += found
    checks.append(check_org_dir(config.paths.org_dir))
    if config.compute.engine == "slurm":
        checks += check_slurm(config.compute.slurm, config.file)
    checks.append(check_shell_path(pane_environment(tmux)))
    return [*checks, check_logout()]


def org_checks(config: OrgConfig, given: str | None) -> tuple[Tmux, list[Check]]:
    """The org's tmux server (the one it really runs on), its session, supervisor and seats."""
    from orgtui.supervisor.state import load_state
    from orgtui.supervisor.tmux import Tmux

    state = load_state(config.paths)
    session = config.org.session_name
    socket, moved = resolve_socket(state, given, lambda s: Tmux(s).has_session(session))
    checks = [] if moved is None else [moved]
    tmux = Tmux(socket)
    up = tmux.has_session(session)
    checks.append(check_session(config.org.name, session, socket, up))
    if up or _pid_alive(state.supervisor.pid):
        checks.append(check_supervisor(config.paths, state.supervisor.pid))
    if up:
        checks += check_seats(config.paths, state)
    return tmux, checks


def _pid_alive(pid: int | None) -> bool:
    from orgtui import procs

    return procs.pid_alive(pid)


# -- tools ------------------------------------------------------------------------------------
def check_tmux() -> Check:
    if shutil.which("tmux") is None:
        return Check("tmux", False, "tmux: not found", "install tmux (>= 3.0)")
    proc = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False)
    return Check("tmux", True, f"tmux: {proc.stdout.strip() or 'installed'}")


def check_git() -> Check:
    try:
        from orgtui.supervisor.worktrees import git_version

        return Check("git", True, f"git: {git_version()}")
    except Exception as error:  # GitPython raises its own types when git is missing
        return Check("git", False, f"git: {error}", "install git")


# -- the running org --------------------------------------------------------------------------
def resolve_socket(
    state: OrgState, given: str | None, holds_session: Callable[[str | None], bool]
) -> tuple[str | None, Check | None]:
    """The tmux socket the org runs on (``seats.org_socket``), and a line when the caller
    named another or none: without ``--socket`` doctor would otherwise look at the default
    server and call a running org down."""
    from orgtui.supervisor.seats import org_socket, socket_flag, where

    socket, conflict = org_socket(state, given, holds_session)
    if conflict:
        line = f"the org runs on {where(socket)}, not on {where(given)}"
        return socket, Check("socket", False, line, f"pass {socket_flag(socket)}")
    if given is None and socket is not None:
        line = (
            f"the org runs on {where(socket)} (recorded in state.json): pass {socket_flag(socket)}"
        )
        return socket, Check("socket", True, line)
    return socket, None


def check_session(org: str, session: str, socket: str | None, up: bool) -> Check:
    from orgtui.supervisor.seats import where

    on = where(socket)
    if up:
        return Check("session", True, f"org {org}: up (tmux session {session} on {on})")
    command = "orgtui up" + (f" --socket {socket}" if socket else "")
    return Check(
        "session", False, f"org {org}: down (no tmux session {session} on {on})", f"`{command}`"
    )


def check_supervisor(paths: OrgPaths, pid: int | None, timeout: float = PING_TIMEOUT_S) -> Check:
    """Alive and answering; alive and silent (stopped, hung); or gone (a zombie is gone)."""
    from orgtui.supervisor.control import ControlError, request

    try:
        answer = request(paths, {"verb": "ping"}, timeout=timeout)
    except ControlError:
        answer = None
    if answer is not None and answer.get("ok"):
        return Check("supervisor", True, f"supervisor: pid {answer.get('pid')} answers")
    if _pid_alive(pid):
        return Check(
            "supervisor",
            False,
            f"supervisor: pid {pid} is alive but does not answer on {paths.control_socket} "
            f"within {timeout:g}s (stopped or hung)",
            f"`kill -CONT {pid}` if it was stopped; else `kill {pid}` and `orgtui up`",
        )
    gone = f" (pid {pid} in state.json has exited)" if pid else ""
    return Check("supervisor", False, f"supervisor: not running{gone}", "`orgtui up` restarts it")


def check_seats(paths: OrgPaths, state: OrgState) -> list[Check]:
    """One failing check per dead or failed seat, with its last detail; else one that passes."""
    from orgtui.supervisor.state import SeatStatus

    bad = [s for s in state.seats.values() if s.status in (SeatStatus.DEAD, SeatStatus.FAILED)]
    if not bad:
        return [Check("agents", True, f"agents: {len(state.seats)} seat(s), none dead or failed")]
    checks = []
    for seat in sorted(bad, key=lambda s: s.name):
        facts = [fact for fact in (_exit_code(paths, seat.name), seat.detail) if fact]
        if seat.status == SeatStatus.FAILED:
            fix = (
                f"read its last log in {paths.logs_dir}, fix it, then `orgtui restart {seat.name}`"
            )
        else:
            fix = f"the supervisor restarts it; `orgtui restart {seat.name}` does it now"
        line = f"agent {seat.name}: {seat.status} ({'; '.join(facts) or 'no detail'})"
        checks.append(Check(f"agent:{seat.name}", False, line, fix))
    return checks


def _exit_code(paths: OrgPaths, agent: str) -> str:
    try:
        code = paths.exit_file(agent).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return ""
    return f"exit {code}" if code.lstrip("-").isdigit() else ""


# -- the cluster ------------------------------------------------------------------------------
def check_slurm(
    spec: SlurmSpec, org_toml: Path, listing: Callable[[], dict[str, str]] | None = None
) -> list[Check]:
    """``sinfo`` answers; the partition jobs go to exists (``[compute.slurm] partition``, else
    the cluster's default); its nodes have the GPUs each job asks for. ``listing`` is sinfo's
    partitions as sinfo names them (the default with a ``*``) and their GRES."""
    from orgtui.queue.slurm import SlurmError, default_partition, partitions

    try:
        found = (listing or partitions)()
    except SlurmError as error:
        fix = "" if shutil.which("sinfo") is None else _SLURM_DOWN_FIX  # else the error says it
        return [Check("slurm", False, f"slurm: {error}", fix)]
    gres = {name.rstrip("*"): value for name, value in found.items()}
    listed = ", ".join(sorted(gres)) or "none"
    checks = [Check("slurm", True, f"slurm: sinfo answers; partitions {listed}")]
    where = f"[compute.slurm] partition in {org_toml}"
    partition = spec.partition or default_partition(list(found))
    if partition is None:
        line = "slurm: no partition set and the cluster has no default partition"
        fix = f'set [compute.slurm] partition = "NAME" in {org_toml}, NAME one of {listed}'
        return [*checks, Check("slurm_partition", False, line, fix)]
    if partition not in gres:
        line = f"slurm: partition {partition!r} ({where}) does not exist (sinfo lists {listed})"
        fix = f"set {where} to one of {listed}, or remove it for the cluster's default"
        return [*checks, Check("slurm_partition", False, line, fix)]
    how = "" if spec.partition else " (the cluster's default)"
    checks.append(Check("slurm_partition", True, f"slurm: partition {partition}{how} exists"))
    if spec.gpus > 0:
        checks.append(_check_gpus(partition, gres[partition], spec.gpus, org_toml))
    return checks


_SLURM_DOWN_FIX = (
    "start slurmctld (`scontrol ping` says whether it is up), or point SLURM_CONF at the "
    "cluster's slurm.conf"
)


def _check_gpus(partition: str, gres: str, wanted: int, org_toml: Path) -> Check:
    """Whether the partition's nodes declare at least ``wanted`` GPUs as GRES (sinfo's first
    line for the partition: its nodes, when they all have the same)."""
    gpus = sum(int(count) for count in _GPU_GRES.findall(gres))  # each type's, on one node
    if gpus >= wanted:
        return Check("slurm_gpus", True, f"slurm: partition {partition} has GPUs (GRES {gres})")
    if gpus == 0:
        line = f"slurm: partition {partition} has no GPUs configured (GRES {gres})"
        fix = (
            "declare the nodes' GPUs as GRES (Gres=gpu:N in slurm.conf, and gres.conf), choose "
            f"a GPU partition, or set [compute.slurm] gpus = 0 in {org_toml} for CPU jobs"
        )
    else:
        line = (
            f"slurm: partition {partition}'s nodes have {gpus} GPU(s) (GRES {gres}), fewer than "
            f"the {wanted} each job asks for"
        )
        fix = f"set [compute.slurm] gpus to at most {gpus} in {org_toml}, or choose a partition"
    return Check("slurm_gpus", False, line, fix)


# -- the machine ------------------------------------------------------------------------------
def check_org_dir(org_dir: Path, min_free: int = MIN_FREE_BYTES) -> Check:
    """A real atomic write (then removed) into ``.org/`` (its parent before the first `up`)."""
    from orgtui.atomic import atomic_write_text

    target = org_dir if os.path.lexists(org_dir) else org_dir.parent
    probe = target / f".doctor-probe-{os.getpid()}"
    try:
        atomic_write_text(probe, "probe\n")
        probe.unlink()
        stats = os.statvfs(target)
    except OSError as error:
        return Check(
            "org_dir", False, f"{org_dir}: cannot write ({error})", _write_fix(error, target)
        )
    free = stats.f_bavail * stats.f_frsize
    if free < min_free:
        return Check(
            "org_dir",
            False,
            f"{org_dir}: full ({free / 2**20:.1f} MiB free, {min_free / 2**20:.0f} MiB needed)",
            f"free space on the disk that holds {target}",
        )
    return Check("org_dir", True, f"{org_dir}: writable, {free / 2**30:.1f} GiB free")


def _write_fix(error: OSError, target: Path) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the disk that holds {target}"
    if error.errno == errno.EROFS:
        return f"remount {target}'s filesystem read-write, or move the org"
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{target} is not a directory: move it aside; `orgtui up` makes a new one"
    return f"make {target} writable by {os.environ.get('USER') or 'you'} (chmod u+w {target})"


def pane_environment(tmux: Tmux | None) -> dict[str, str]:
    """What a new pane of the org's tmux server starts with: the server's global environment
    (from whoever started the server), else this process's own when no server runs."""
    if tmux is None or not tmux.alive():
        return dict(os.environ)
    env = {}
    for line in tmux.cmd("show-environment", "-g", check=False):
        name, sep, value = line.partition("=")
        if sep and not name.startswith("-"):
            env[name] = value
    return env or dict(os.environ)


def check_shell_path(env: Mapping[str, str], timeout: float = PROBE_TIMEOUT_S) -> Check:
    """Whether ``orgtui`` resolves in a ``shell`` seat: a login shell, whose profile (Debian's
    /etc/profile, a ~/.profile) may reset the PATH its pane was started with."""
    from orgtui.backends.base import pane_path

    shell = env.get("SHELL") or "/bin/bash"
    probe_env = {**env, "PATH": pane_path(env.get("PATH", ""))}
    script = f'printf "\\n{_PATH_MARK}%s\\n{_WHICH_MARK}%s\\n" "$PATH" "$(command -v orgtui)"'
    try:
        proc = subprocess.run(
            [shell, "-l", "-i", "-c", script],
            env=probe_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,  # an interactive shell must not take over our terminal
            check=False,
        )
    except subprocess.TimeoutExpired:
        line = f"shell panes: `{shell} -l` did not get through its startup files in {timeout:g}s"
        fix = f"find what blocks in its profile (`{shell} -l -i -c true`): shell seats wait too"
        return Check("shell_path", False, line, fix)
    except OSError as error:
        line = f"shell panes: cannot run {shell} ({error.strerror})"
        return Check("shell_path", False, line, "set SHELL to an installed shell")
    found = dict(re.findall(rf"^({_PATH_MARK}|{_WHICH_MARK})(.*)$", proc.stdout, re.MULTILINE))
    if _PATH_MARK not in found:
        return Check("shell_path", False, f"shell panes: {shell} -l -i -c gave no answer")
    return _shell_verdict(shell, found[_PATH_MARK], found.get(_WHICH_MARK, ""))


def _shell_verdict(shell: str, path: str, where: str) -> Check:
    bin_dir = Path(sys.executable).parent
    mine = bin_dir / "orgtui"
    fix = (
        f'{shell} -l resets PATH to {path}: add `export PATH="{bin_dir}:$PATH"` at the end of '
        "the profile your login shell reads (~/.profile, ~/.bash_profile or ~/.zprofile)"
    )
    if not where:
        return Check(
            "shell_path", False, f"shell panes: `orgtui` not found on {shell} -l's PATH", fix
        )
    if mine.exists() and Path(where) != mine:
        line = f"shell panes: `orgtui` is {where}, not this installation's {mine}"
        return Check("shell_path", False, line, fix)
    return Check("shell_path", True, f"shell panes: `orgtui` resolves to {where}")


def logind_kills_user_processes(conf: Path = LOGIND_CONF) -> bool:
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


def check_logout(conf: Path = LOGIND_CONF) -> Check:
    if not logind_kills_user_processes(conf):
        return Check("logout", True, "systemd does not kill user processes at logout")
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    return Check(
        "logout",
        bool(linger_enabled(user)),
        "systemd KillUserProcesses=yes: tmux dies at SSH logout unless linger is on",
        f"loginctl enable-linger {user or '$USER'}",
    )
