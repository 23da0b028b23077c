"""Process verbs: ``standup``, ``propose`` and ``demo``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orgtui.commands import add_parser, load_org, socket_name


def register(subparsers: argparse._SubParsersAction) -> None:
    standup = add_parser(subparsers, "standup", "call a standup, or post its digest")
    group = standup.add_mutually_exclusive_group(required=True)
    group.add_argument("--now", action="store_true", help="post the standup call now")
    group.add_argument("--digest", action="store_true", help="post the digest of the open call")
    standup.set_defaults(func=cmd_standup)

    propose = add_parser(subparsers, "propose", "pre-register an experiment with the chief")
    propose.add_argument("--variant", required=True, help="the variant to be run")
    propose.add_argument("--hypothesis", required=True, help="what you expect, and why")
    propose.add_argument("--baseline", help="compared against (default: the ledger's)")
    propose.add_argument("--seeds", type=int, default=3, help="seeds per variant (default 3)")
    propose.add_argument("--budget-flops", type=float, help="FLOPs per run")
    propose.add_argument("--as", dest="as_", metavar="NAME", help="default: $ORGTUI_AGENT")
    propose.set_defaults(func=cmd_propose)

    demo = add_parser(
        subparsers, "demo", "run the demo org offline (no API key, no GPU), watched in the TUI"
    )
    demo.add_argument("--dir", default="orgtui-demo", help="where to build it (./orgtui-demo)")
    demo.add_argument("--headless", action="store_true", help="no TUI: print ledger and report")
    demo.add_argument(
        "--live", action="store_true", help="real claude/codex/builtin agents (keys, GPUs)"
    )
    demo.add_argument("--keep", action="store_true", help="headless: leave the org running")
    demo.add_argument(
        "--force", action="store_true", help="rebuild an existing demo dir and play it again"
    )
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    demo.set_defaults(func=cmd_demo)


def cmd_standup(args: argparse.Namespace) -> int:
    from orgtui import process

    config = load_org(args)
    if args.now:
        message = process.call_standup(config)
        print(f"standup called: {message.id}")
        return 0
    state = process.load_standup(config.paths)
    if not state.open:
        print("no standup is open: call one with `orgtui standup --now`", file=sys.stderr)
        return 1
    print(f"digest posted: {process.post_digest(config, state).id}")
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    from orgtui import process

    sender = args.as_ or os.environ.get("ORGTUI_AGENT") or "human"
    message = process.propose_as(
        load_org(args),
        sender,
        variant=args.variant,
        hypothesis=args.hypothesis,
        baseline=args.baseline,
        seeds=args.seeds,
        budget_flops=args.budget_flops,
    )
    print(f"proposal {message.id}: run it with `orgtui run --proposal {message.id} ...`")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orgtui.commands.tui import launch_tui
    from orgtui.demo import DEMO_SOCKET, run_demo

    return run_demo(
        Path(args.dir),
        socket=socket_name(args) or DEMO_SOCKET,
        headless=args.headless,
        live=args.live,
        keep=args.keep,
        force=args.force,
        timeout_s=args.timeout,
        say=lambda line: print(line, flush=True),
        open_tui=lambda root, socket, narrator: launch_tui(root, socket, narrator=narrator),
    )
