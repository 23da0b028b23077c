"""Supervisor verbs: up, down, supervise, status, suspend, resume, park, restart, handoff,
spawn, attach, clean.

Operation verbs go through the running supervisor's control socket; when none runs, the
ones that can (suspend, resume, park, status, attach, down) act directly on tmux and
state.json under the org lock.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from orgtui.commands import add_parser, load_org, socket_name
from orgtui.errors import OrgtuiError

if TYPE_CHECKING:
    from orgtui.config import OrgConfig
    from orgtui.supervisor.seats import Org
    from orgtui.supervisor.verbs import Reply, Request


def register(subparsers: argparse._SubParsersAction) -> None:
    up = add_parser(
        subparsers, "up", "start the org: tmux session, supervisor, one window per agent"
    )
    up.set_defaults(func=cmd_up)
    down = add_parser(subparsers, "down", "stop every agent and the supervisor")
    down.add_argument("--park", action="store_true", help="WIP-commit each agent's work first")
    down.set_defaults(func=cmd_down)
    sup = add_parser(subparsers, "supervise", "run the supervise loop (window 0 of the session)")
    sup.set_defaults(func=cmd_supervise)
    status = add_parser(subparsers, "status", "show every agent's state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    for verb, text in (
        ("suspend", "SIGSTOP an agent's processes (GPU memory stays held)"),
        ("resume", "SIGCONT a suspended agent, or bring a parked one back in its worktree"),
        ("park", "WIP-commit an agent's work, stop it and free its GPU"),
        ("restart", "restart an agent's pane now"),
        ("attach", "take over an agent's tmux window (switch-client inside tmux)"),
    ):
        parser = add_parser(subparsers, verb, text)
        parser.add_argument("name", help="agent name")
        parser.set_defaults(func=cmd_attach if verb == "attach" else cmd_op, verb=verb)
        if verb == "resume":
            from orgtui.commands.spend import add_raise_option

            add_raise_option(parser)
    grid = add_parser(subparsers, "grid", "switch between a window per agent and tiled walls, live")
    grid.add_argument("--to", choices=("grid", "windows"), help="default: the other layout")
    grid.set_defaults(func=cmd_grid)
    handoff = add_parser(
        subparsers, "handoff", "WIP-commit, then hand the seat to another backend or agent"
    )
    handoff.add_argument("name", help="agent name")
    group = handoff.add_mutually_exclusive_group(required=True)
    group.add_argument("--backend", help="same seat (worktree, branch, GPU), new backend")
    group.add_argument("--to", metavar="OTHER", help="send the brief and branch to OTHER")
    handoff.set_defaults(func=cmd_op, verb="handoff")
    spawn = add_parser(
        subparsers,
        "spawn",
        "add an agent at runtime (kept in .org/state.json, not written to org.toml)",
    )
    spawn.add_argument("name", help="new agent name")
    spawn.add_argument("--role", required=True)
    spawn.add_argument("--backend", required=True)
    spawn.add_argument("--gpu", type=int, default=None)
    spawn.add_argument(
        "--command",
        dest="agent_command",
        default=None,
        help="for --backend command: the command line to run",
    )
    spawn.set_defaults(func=cmd_op, verb="spawn")
    clean = add_parser(
        subparsers, "clean", "remove worktrees of agents no longer in org.toml (WIP commit first)"
    )
    clean.add_argument("--dry-run", action="store_true", help="only report disk per worktree")
    clean.set_defaults(func=cmd_clean)


def _open(args: argparse.Namespace) -> Org:
    from orgtui.supervisor.seats import open_org

    return open_org(load_org(args), socket_name(args))


def _ask(org: Org, request: Request) -> Reply:
    from orgtui.supervisor.verbs import ask

    reply = ask(org, request)
    if not reply.ok:
        raise OrgtuiError(reply.error)
    return reply


def cmd_up(args: argparse.Namespace) -> int:
    from orgtui.supervisor import launch, lifecycle
    from orgtui.supervisor.control import NotRunning, request
    from orgtui.supervisor.state import org_lock

    org = _open(args)
    _check_gpus(org.config)
    with org_lock(org.paths):
        try:
            started = request(org.paths, {"verb": "up"}, timeout=30.0).get("started", [])
        except NotRunning:
            with org.transaction(held=True):
                if not org.tmux.has_session(org.session):
                    # a fresh session: nothing can be adopted, so old panes are history
                    for record in org.state.seats.values():
                        record.attach(None, None, None)
                launch.ensure_session(org)
                started = lifecycle.ensure_agents(org)
        else:
            launch.ensure_session(org)
    _wait_for_supervisor(org)
    print(
        f"org {org.config.org.name}: session {org.session}; started {len(started)} agent(s)"
        + (f": {', '.join(started)}" if started else "")
    )
    return 0


def _wait_for_supervisor(org: Org, timeout: float = 20.0) -> None:
    """Return once the supervisor answers; raise if its pane ends first (it crashed at start)."""
    import time

    from orgtui.supervisor.control import ControlError, request
    from orgtui.supervisor.launch import SUPERVISOR_WINDOW

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request(org.paths, {"verb": "ping"}, timeout=2.0)
            return
        except ControlError:
            pass
        pane = org.tmux.panes(org.session).get(SUPERVISOR_WINDOW)
        if pane is None or pane.dead:
            raise OrgtuiError(
                f"the supervisor exited at start; its last words are in {org.paths.supervisor_log}"
                f" and in window {SUPERVISOR_WINDOW!r} of tmux session {org.session}"
            )
        time.sleep(0.05)
    raise OrgtuiError(f"the supervisor did not answer within {timeout:g}s; see `orgtui doctor`")


def cmd_supervise(args: argparse.Namespace) -> int:
    from orgtui.supervisor.tick import supervise

    return supervise(load_org(args), socket_name(args))


def cmd_down(args: argparse.Namespace) -> int:
    from orgtui import procs
    from orgtui.supervisor import lifecycle
    from orgtui.supervisor.control import ControlError, request

    org = _open(args)
    pid = org.state.supervisor.pid
    try:
        answer = request(org.paths, {"verb": "down", "park": args.park}, timeout=30.0)
    except ControlError:
        answer = None
    if answer is not None and answer.get("ok"):
        procs.wait_gone(pid, 5.0)  # let it write its last state before the session goes
    else:
        lifecycle.stop_supervisor(org)
        with org.transaction():
            lifecycle.down(org, park_first=args.park)
    org.tmux.kill_session(org.session)
    print(f"org {org.config.org.name}: down" + (" (work parked)" if args.park else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from orgtui.supervisor.state import load_state
    from orgtui.supervisor.verbs import status_json

    config = load_org(args)
    data = status_json(load_state(config.paths))
    data["org"] = config.org.name
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    sup = data["supervisor"]
    print(
        f"org {data['org']}: supervisor "
        + (f"running (pid {sup['pid']})" if sup["alive"] else "not running")
    )
    for agent in data["agents"]:
        gpu = agent["gpu"] if agent["gpu"] is not None else "-"
        print(
            f"  {agent['name']:<12} {agent['status']:<10} {agent['backend']:<9} "
            f"gpu {gpu:<3} restarts {agent['restarts']:<3} {agent['branch'] or ''}"
        )
    from orgtui.gpu import describe_flags, latest_sample

    sample = latest_sample(config.paths)
    for line in describe_flags(sample) if sample else []:
        print(f"  gpu: {line}")
    return 0


def _check_gpus(config: OrgConfig) -> None:
    """Refuse to start agents on GPU indices this machine does not have."""
    from orgtui.commands.gpu import check_gpus

    if not check_gpus(config, lambda line: print(line, file=sys.stderr)):
        raise OrgtuiError("GPU assignment does not fit this machine (see above); fix org.toml")


def cmd_op(args: argparse.Namespace) -> int:
    from orgtui.supervisor.verbs import Request

    if getattr(args, "raise_budget", None):
        from orgtui.commands.spend import resume_raising

        return resume_raising(args)
    options: dict[str, Any] = {}
    if args.verb in ("handoff", "spawn"):
        options.update(backend=args.backend)
    if args.verb == "handoff":
        options.update(to=args.to)
    if args.verb == "spawn":
        options.update(role=args.role, gpu=args.gpu, command=args.agent_command)
    reply = _ask(_open(args), Request(args.verb, args.name, options))
    print(reply.said or f"{args.name}: {args.verb} done")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    import subprocess

    from orgtui.supervisor import layout

    org = _open(args)
    pane = org.tmux.panes(org.session).get(args.name)
    if pane is None:
        raise OrgtuiError(
            f"agent {args.name!r} has no window in {org.session}; "
            "`orgtui up` or `orgtui resume` it first"
        )
    on_wall = layout.on_wall(pane.window_name)
    if on_wall:  # the grid: the agent's pane fills the window while taken over
        org.tmux.zoom(pane.pane_id)
    argv = org.tmux.attach_argv(org.session, pane.window_id)
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    attaching = argv[-3] == "attach-session"
    if not on_wall:
        os.execvpe(argv[0], argv, env if attaching else dict(os.environ))
    subprocess.run(argv, env=env if attaching else None, check=False)
    if attaching:  # back from the take-over: the wall shows everyone again
        org.tmux.unzoom(pane.pane_id)
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    from orgtui.supervisor.verbs import Request

    reply = _ask(_open(args), Request("layout", options={"to": args.to}))
    moved = reply.data.get("moved", [])
    print(f"layout {reply.data.get('to')}: moved {len(moved)} agent pane(s), none restarted")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from orgtui.supervisor import worktrees
    from orgtui.supervisor.state import load_state

    config = load_org(args)
    paths = config.paths
    known = set(config.agent_names) | {
        name for name, seat in load_state(paths).seats.items() if seat.runtime
    }
    if not paths.worktrees_dir.is_dir():
        print("no worktrees")
        return 0
    for path in sorted(p for p in paths.worktrees_dir.iterdir() if p.is_dir()):
        size = worktrees.disk_usage(path) / 1e6
        if path.name in known:
            print(f"  keep    {path.name:<14} {size:9.1f} MB")
            continue
        if args.dry_run:
            print(f"  stale   {path.name:<14} {size:9.1f} MB")
            continue
        sha = worktrees.wip_commit(path, f"wip(clean): {path.name}")
        worktrees.remove_worktree(config.root, path)
        print(
            f"  removed {path.name:<14} {size:9.1f} MB"
            + (f" (work saved in {sha[:10]})" if sha else "")
        )
    sys.stdout.flush()
    return 0
