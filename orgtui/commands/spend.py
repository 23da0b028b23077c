"""``orgtui spend``: tokens, money and GPU-hours by agent; budgets; what improvements cost.

Also the cost figures ``orgtui report`` adds, and ``orgtui resume AGENT --raise-budget X``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from orgtui.commands import add_parser, load_org, socket_name

if TYPE_CHECKING:
    from orgtui.config import OrgConfig
    from orgtui.spend.budget import Lift

ATTRIBUTION = (
    "A verified improvement is a variant whose verdict against the baseline is improvement "
    "with no flag that blocks adoption. Tokens are not recorded per variant, so each one is "
    "charged with a share of the spend of the agents whose runs make it up: every agent's "
    "tokens, money and GPU-hours split equally among the verified improvements it took part in."
)


BUDGETS = (
    'Budgets: [budget] money, tokens (every kind) or gpu_hours for the org, [budget.agent."NAME"] '
    "for one agent. At 80% of a limit the supervisor warns the agent and the chief; at 100% it "
    'suspends the agent (or parks it: [budget] action = "park"); an org limit stops every agent '
    "but the chief. `orgtui resume NAME --raise-budget X` raises the limit and resumes it."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    spend = add_parser(
        subparsers,
        "spend",
        "model tokens, money and GPU-hours by agent, budgets, and the cost per verified "
        "improvement",
        epilog='Money is tokens times [prices."MODEL"] in org.toml or the shipped prices; a '
        "model with no price shows its tokens and 'no price', and money totals say they leave "
        "it out. GPU-hours are the ledger's runs by agent (CPU-hours without GPUs). Per "
        "verified improvement: the org's totals divided by their number. "
        + ATTRIBUTION
        + " "
        + BUDGETS,
    )
    spend.add_argument("--json", action="store_true", help="machine-readable output")
    spend.set_defaults(func=cmd_spend)


def add_raise_option(parser: argparse.ArgumentParser) -> None:
    """``resume``'s ``--raise-budget X`` (given once per unit)."""
    from orgtui.spend.amounts import RAISE_SYNTAX

    parser.add_argument(
        "--raise-budget",
        metavar="X",
        action="append",
        help="raise the budget that stopped the agent by X, then resume it (recorded in "
        f".org/budget.json and on the board; org.toml is not changed). X is {RAISE_SYNTAX}. "
        "Give it once per unit to raise several.",
    )


# --------------------------------------------------------------------------- figures


def spend_data(config: OrgConfig) -> dict[str, Any]:
    """The ``orgtui spend --json`` shape."""
    from orgtui.spend.budget import load_budget_state, org_standings, standings
    from orgtui.spend.prices import PRICES_AS_OF, price_table
    from orgtui.spend.report import figures, models_json, per_improvement, spend_json, total

    ledger, spends, verified = figures(config)
    prices = price_table(config.prices)
    state = load_budget_state(config.paths)
    org = total(spends)
    budgets = [
        _standing_json(name, standing)
        for name in spends
        for standing in standings(config, state, name, spends)
        if standing.limit.scope == "agent"
    ]
    budgets += [_standing_json(None, s) for s in org_standings(config, state, spends)]
    return {
        "prices_as_of": PRICES_AS_OF,
        "compute_unit": ledger.compute_unit,
        "agents": [
            {"name": name, **spend_json(spend), "models": models_json(spend, prices)}
            for name, spend in spends.items()
        ],
        "total": spend_json(org),
        "verified_improvements": len(verified),
        "per_verified_improvement": per_improvement(org, len(verified)),
        "budgets": budgets,
    }


def _standing_json(agent: str | None, standing: Any) -> dict[str, Any]:
    return {
        "agent": agent,
        "scope": standing.limit.scope,
        "unit": standing.limit.unit,
        "limit": standing.limit.value,
        "spent": standing.spent,
        "fraction": standing.fraction,
    }


def cmd_spend(args: argparse.Namespace) -> int:
    config = load_org(args)
    _collect(config)
    data = spend_data(config)
    if args.json:
        print(json.dumps(data, allow_nan=False))
        return 0
    for line in spend_lines(data):
        print(line)
    return 0


def _collect(config: OrgConfig) -> None:
    """Count what the seats' records hold now, as the supervisor does every few seconds: the
    figures are current without a supervisor too (its lock keeps the two from counting the
    same lines twice). Warnings go to stderr."""
    import sys

    from orgtui.spend.usage import UsageCollector

    collector = UsageCollector(config.paths, lambda line: print(line, file=sys.stderr))
    collector.collect(config.agent_names)


def _money(money: float | None, unpriced: list[str]) -> str:
    if money is None or (money == 0 and unpriced):
        return "no price"
    return f"${money:,.2f}" + ("*" if unpriced else "")


KIND_COLUMNS = ("input", "output", "cache_write", "cache_read")


def _row(width: int, name: str, tokens: dict[str, int], money: str, hours: str = "") -> str:
    from orgtui.spend.amounts import count

    kinds = "".join(f"{count(tokens[k]):>9}" for k in KIND_COLUMNS)
    return f"{name:<{width}}{kinds}{money:>12}{hours:>9}"


def _spend_row(width: int, name: str, entry: dict[str, Any]) -> str:
    money = _money(entry["money"], entry["unpriced_models"])
    return _row(width, name, entry["tokens"], money, f"{entry['gpu_hours']:.2f}")


def spend_lines(data: dict[str, Any]) -> list[str]:
    """``orgtui spend`` for a person."""
    from orgtui.spend.amounts import count, say

    unit = data["compute_unit"]
    names = [a["name"] for a in data["agents"]]
    names += [f"  {m['model']}" for a in data["agents"] for m in a["models"]]
    width = max([16, *map(len, names)]) + 2
    heads = "".join(f"{h:>9}" for h in ("input", "output", "cache-w", "cache-r"))
    lines = [
        f"spend (shipped prices as of {data['prices_as_of']}, in US$ per million tokens, "
        "unless org.toml's [prices] says otherwise)",
        f"{'agent':<{width}}{heads}{'money':>12}{unit + '-h':>9}",
    ]
    for agent in data["agents"]:
        lines.append(_spend_row(width, agent["name"], agent))
        for model in agent["models"]:
            money = _money(model["money"], [])
            lines.append(_row(width, f"  {model['model']}", model["tokens"], money))
    lines.append(_spend_row(width, "total", data["total"]))
    unpriced = data["total"]["unpriced_models"]
    if unpriced:
        lines.append(
            f"* money leaves out the tokens of models with no price: {', '.join(unpriced)} "
            '(add [prices."MODEL"] to org.toml)'
        )
    per = data["per_verified_improvement"]
    found = data["verified_improvements"]
    if found:
        lines.append(
            f"per verified improvement ({found}): ${per['money']:,.2f}, "
            f"{count(per['tokens'])} tokens, {per['gpu_hours']:.2f} {unit}-h"
        )
    else:
        lines.append("per verified improvement: none verified yet")
    for budget in data["budgets"]:
        who = budget["agent"] or "org"
        lines.append(
            f"budget {who} {budget['unit']}: {say(budget['unit'], budget['spent'], unit)} of "
            f"{say(budget['unit'], budget['limit'], unit)} ({budget['fraction']:.0%})"
        )
    return lines


# --------------------------------------------------------------------------- raise


def resume_raising(args: argparse.Namespace) -> int:
    """``orgtui resume AGENT --raise-budget X``: raise, resume, and say so on the board."""
    from orgtui.errors import OrgtuiError
    from orgtui.spend.amounts import BudgetError, parse_amount
    from orgtui.spend.budget import raise_budget
    from orgtui.supervisor.seats import open_org, seat_names
    from orgtui.supervisor.verbs import Request, ask

    config = load_org(args)
    amounts = [parse_amount(text) for text in args.raise_budget]
    org = open_org(config, socket_name(args))
    if args.name not in seat_names(org):
        raise BudgetError(f"no agent named {args.name!r} in {config.file} (or spawned at runtime)")
    by = _identity()
    if by == args.name:
        raise BudgetError(
            f"{args.name} cannot raise its own budget: the chief or a person can "
            f"(`orgtui resume {args.name} --raise-budget X`)"
        )
    lifts = raise_budget(config, args.name, amounts, by=by)
    reply = ask(org, Request("resume", args.name))
    if not reply.ok:
        raise OrgtuiError(f"budget raised, but {reply.error}")
    _post_lifts(config, args.name, lifts, by)
    for lift in lifts:
        print(lift.text())
    print(reply.said or f"{args.name}: resume done")
    return 0


def _identity() -> str:
    from orgtui.names import is_valid_name

    name = os.environ.get("ORGTUI_AGENT") or "human"
    return name if is_valid_name(name) and name != "all" else "human"


def _post_lifts(config: OrgConfig, agent: str, lifts: list[Lift], by: str) -> None:
    from orgtui import board
    from orgtui.spend.budget import chiefs_of

    to = list(dict.fromkeys([agent, *chiefs_of(config), "human"]))
    body = "\n".join(f"- {lift.text()}" for lift in lifts)
    board.post(
        config.paths,
        sender=by,
        to=to,
        subject=f"budget: {agent} raised and resumed",
        body=f"{by} raised a budget and resumed {agent}:\n\n{body}\n",
        kind="system",
    )
