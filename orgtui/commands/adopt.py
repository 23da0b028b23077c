"""``orgtui adopt``: merge a verified variant into the program branch and make it the baseline."""

from __future__ import annotations

import argparse
import json

from orgtui.commands import add_parser, org_root

REFUSED_EXIT = 2
"""The gate said no: the verdict and what is missing are printed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    adopt = add_parser(
        subparsers,
        "adopt",
        "merge a variant into the program branch once the ledger verifies it as an improvement",
    )
    adopt.add_argument("variant", metavar="VARIANT", help="the variant to adopt")
    adopt.add_argument(
        "--override",
        metavar="REASON",
        help="adopt whatever the verdict (the reason and the verdict are posted to the board)",
    )
    adopt.add_argument("--json", action="store_true")
    adopt.set_defaults(func=cmd_adopt)


def cmd_adopt(args: argparse.Namespace) -> int:
    from orgtui.ledger.adopt import AdoptRefused, adopt
    from orgtui.ledger.verdicts import describe
    from orgtui.paths import OrgPaths

    paths = OrgPaths(org_root(args))
    try:
        done = adopt(paths, args.variant, override=args.override)
    except AdoptRefused as refused:
        comparison = refused.comparison
        if args.json:
            data = {
                "adopted": False,
                "comparison": comparison.to_json() if comparison else None,
                "missing": list(refused.missing),
            }
            print(json.dumps(data, allow_nan=False))
            return REFUSED_EXIT
        print(describe(comparison) if comparison else f"{args.variant}: no baseline to face")
        print("not adopted; missing:")
        for item in refused.missing:
            print(f"  - {item}")
        print(f"a person can adopt anyway: orgtui adopt {args.variant} --override 'REASON'")
        return REFUSED_EXIT
    if args.json:
        print(json.dumps({"adopted": True, **done.to_json()}, allow_nan=False))
        return 0
    was = f" (was {done.previous_baseline})" if done.previous_baseline else ""
    print(
        f"adopted {done.variant}: {done.commit[:12]} merged into {done.program_branch} "
        f"(now {done.merged_head[:12]}); the baseline is now {done.variant}{was}"
    )
    if done.comparison:
        print(describe(done.comparison))
    if done.override:
        print(f"override: {done.override}")
    if done.message_id:
        print(f"posted {done.message_id}")
    return 0
