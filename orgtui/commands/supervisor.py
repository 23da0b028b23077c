"""Supervisor verbs: up, down, supervise, status, suspend, resume, park, restart, handoff,
spawn, attach, doctor, clean.

Operation verbs go through the running supervisor's control socket; when none runs, the
ones that can (suspend, resume, park, status, attach, down) act directly on tmux and
state.json under the org lock.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from orgtui.commands import add_parser, load_org, socket_name
from orgtui.errors import OrgtuiError


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
    doctor = add_parser(subparsers, "doctor", "check tmux, git, the org, the socket and logout")
    doctor.set_defaults(func=cmd_doctor)
    clean = add_parser(
        subparsers, "clean", "remove worktrees of agents no longer in org.toml (WIP commit first)"
    )
    clean.add_argument("--dry-run", action="store_true", help="only report disk per worktree")
    clean.set_defaults(func=cmd_clean)


def _open(args: argparse.Namespace) -> Any:
    from orgtui.supervisor import ops

    config = load_org(args)
    return ops.open_org(config, socket_name(args))


def _ask(org: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The supervisor's answer, or None when no supervisor is running."""
    from orgtui.supervisor.control import ControlError, request

    try:
        answer = request(org.paths, payload, timeout=30.0)
    except ControlError:
        return None
    if not answer.get("ok"):
        raise OrgtuiError(f"supervisor: {answer.get('error')}")
    return answer


def cmd_up(args: argparse.Namespace) -> int:
    from orgtui.supervisor import ops

    org = _open(args)
    _check_gpus(org.config)
    with ops.org_lock(org.paths):
        answer = _ask(org, {"verb": "up"})
        if answer is None:
            org.state = ops.load_state(org.paths)
            org.state.update(
                org=org.config.org.name, session=org.session, tmux_socket=org.tmux.socket_name
            )
            if not org.tmux.has_session(org.session):
                # a fresh session: nothing can be adopted, so old restart counts are history
                for record in org.state["agents"].values():
                    record.update(window_id=None, pane_id=None, pane_pid=None)
            ops.ensure_session(org)
            started = ops.ensure_agents(org)
            ops.save(org)
        else:
            started = answer.get("started", [])
            ops.ensure_session(org)
    print(
        f"org {org.config.org.name}: session {org.session}; started {len(started)} agent(s)"
        + (f": {', '.join(started)}" if started else "")
    )
    return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    from orgtui.supervisor.daemon import supervise

    return supervise(load_org(args), socket_name(args))


def cmd_down(args: argparse.Namespace) -> int:
    from orgtui.supervisor import ops

    org = _open(args)
    pid = ops.load_state(org.paths)["supervisor"].get("pid")
    answer = _ask(org, {"verb": "down", "park": args.park})
    if answer is not None and isinstance(pid, int):
        _wait_exit(pid, 5.0)  # let it write its last state before the session goes
    if answer is None:
        ops.stop_supervisor(org)
        with ops.org_lock(org.paths):
            org.state = ops.load_state(org.paths)
            ops.down(org, park_first=args.park)
            ops.save(org)
    org.tmux.kill_session(org.session)
    print(f"org {org.config.org.name}: down" + (" (work parked)" if args.park else ""))
    return 0


def _wait_exit(pid: int, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def cmd_status(args: argparse.Namespace) -> int:
    from orgtui.supervisor import ops
    from orgtui.supervisor.state import load_state

    config = load_org(args)
    data = ops.status_json(config.org.name, load_state(config.paths))
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    sup = data["supervisor"]
    print(
        f"org {data['org']}: supervisor "
        + (f"running (pid {sup['pid']})" if sup["alive"] else "not running")
    )
    for agent in data["agents"]:
        print(
            f"  {agent['name']:<12} {agent['status'] or '?':<10} {agent['backend'] or '':<9} "
            f"gpu {agent['gpu'] if agent['gpu'] is not None else '-':<3} "
            f"restarts {agent['restarts'] or 0:<3} {agent['branch'] or ''}"
        )
    from orgtui.gpu import describe_flags, latest_sample

    sample = latest_sample(config.paths)
    for line in describe_flags(sample) if sample else []:
        print(f"  gpu: {line}")
    return 0


def _check_gpus(config: Any) -> None:
    """Refuse to start agents on GPU indices this machine does not have."""
    import sys

    from orgtui.gpu import check_gpus

    if not check_gpus(config, lambda line: print(line, file=sys.stderr)):
        raise OrgtuiError("GPU assignment does not fit this machine (see above); fix org.toml")


def cmd_op(args: argparse.Namespace) -> int:
    from orgtui.supervisor import ops

    org = _open(args)
    payload: dict[str, Any] = {"verb": args.verb, "agent": args.name}
    if args.verb == "handoff":
        payload.update(backend=args.backend, to=args.to)
    if args.verb == "spawn":
        payload.update(
            role=args.role, backend=args.backend, gpu=args.gpu, command=args.agent_command
        )
    answer = _ask(org, payload)
    if answer is None:
        with ops.org_lock(org.paths):
            org.state = ops.load_state(org.paths)
            org.state.update(
                org=org.config.org.name, session=org.session, tmux_socket=org.tmux.socket_name
            )
            record = _direct(org, args)
            ops.save(org)
    else:
        record = answer.get("agent") or {}
    print(f"{args.name}: {args.verb} done; status {record.get('status')}")
    return 0


def _direct(org: Any, args: argparse.Namespace) -> dict[str, Any]:
    from orgtui.supervisor import ops

    verb = args.verb
    if verb in ops.SEAT_OPS:
        return ops.SEAT_OPS[verb](org, args.name)
    if verb == "handoff":
        return ops.handoff(org, args.name, backend=args.backend, to=args.to)
    if verb == "spawn":
        return ops.spawn(org, args.name, args.role, args.backend, args.gpu, args.agent_command)
    raise OrgtuiError(f"{verb}: needs the supervisor; start it with `orgtui up`")


def cmd_attach(args: argparse.Namespace) -> int:
    import subprocess

    org = _open(args)
    pane = org.tmux.panes(org.session).get(args.name)
    if pane is None:
        raise OrgtuiError(
            f"agent {args.name!r} has no window in {org.session}; "
            "`orgtui up` or `orgtui resume` it first"
        )
    on_wall = pane.window_name.startswith("wall-")
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
    from orgtui.supervisor import ops

    org = _open(args)
    with ops.org_lock(org.paths):
        org.state = ops.load_state(org.paths)
        to = args.to or ("windows" if ops.layout(org) == "grid" else "grid")
    answer = _ask(org, {"verb": "layout", "to": to})
    if answer is None:
        with ops.org_lock(org.paths):
            org.state = ops.load_state(org.paths)
            moved = ops.switch_layout(org, to)
            ops.save(org)
    else:
        moved = answer.get("moved", [])
    print(f"layout {to}: moved {len(moved)} agent pane(s), none restarted")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from orgtui.supervisor.doctor import run_doctor

    return run_doctor(args)


def cmd_clean(args: argparse.Namespace) -> int:
    from orgtui.supervisor import ops, worktrees

    config = load_org(args)
    paths = config.paths
    known = set(config.agent_names) | {
        n for n, r in ops.load_state(paths)["agents"].items() if r.get("runtime")
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
