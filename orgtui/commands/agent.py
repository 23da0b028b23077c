"""Agent-side verbs: ``agent`` (builtin loop), ``play`` (scripted), ``status-hook``."""

from __future__ import annotations

import argparse
import sys

from orgtui.commands import add_parser, load_org


def register(subparsers: argparse._SubParsersAction) -> None:
    agent = add_parser(subparsers, "agent", "run the builtin model agent of a seat (in its pane)")
    agent.add_argument("name", help="the seat in org.toml")
    agent.add_argument("--message", help="first user message (default: the kickoff)")
    agent.add_argument(
        "--exit-when-idle",
        action="store_true",
        help="return after the first answer instead of waiting for typed input",
    )
    agent.set_defaults(func=_agent)

    play = add_parser(subparsers, "play", "run the scripted playbook of a seat (in its pane)")
    play.add_argument("name", help="the seat in org.toml")
    play.add_argument(
        "--exit", action="store_true", help="exit when the playbook ends (default: stay idle)"
    )
    play.set_defaults(func=_play)

    hook = add_parser(
        subparsers,
        "status-hook",
        "record an agent CLI event (Claude Code hook on stdin, Codex notify as last argument)",
    )
    hook.add_argument("--agent", help="the seat (default: $ORGTUI_AGENT)")
    hook.add_argument("--source", choices=("claude", "codex"), default="claude")
    hook.add_argument("event", nargs="?", help="event JSON (Codex notify); else read stdin")
    hook.set_defaults(func=_status_hook)


def _agent(args: argparse.Namespace) -> int:
    from orgtui.agent.loop import run_agent

    config = load_org(args)
    return run_agent(
        config, config.agent(args.name), first=args.message, interactive=not args.exit_when_idle
    )


def _play(args: argparse.Namespace) -> int:
    from orgtui.agent.scripted import run_playbook

    config = load_org(args)
    return run_playbook(config, config.agent(args.name), stay=not args.exit)


def _status_hook(args: argparse.Namespace) -> int:
    import os

    from orgtui.backends.hooks import record_event

    agent = args.agent or os.environ.get("ORGTUI_AGENT")
    root = getattr(args, "root", None) or os.environ.get("ORGTUI_ROOT")
    if not agent or not root:
        print(
            "status-hook: needs ORGTUI_AGENT and ORGTUI_ROOT (or --agent, --root)", file=sys.stderr
        )
        return 0  # never break the CLI that called us
    payload = args.event if args.event is not None else sys.stdin.read()
    record_event(root, agent, args.source, payload)
    return 0
