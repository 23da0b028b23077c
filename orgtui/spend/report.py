"""What each agent has spent: tokens by kind and model, money, GPU-hours; and what each
verified improvement cost.

- Tokens come from each seat's ``spend.json`` (:mod:`orgtui.spend.tokens`); money from the
  price table (:mod:`orgtui.spend.prices`): a model without a price adds its tokens but no
  money, and every money figure names the models it leaves out.
- GPU-hours are the ledger's runs by agent, counted as ``orgtui report`` counts them (a run
  with no agent is the person's, ``human``); CPU-hours when every run ran on the CPU.
- A verified improvement is a variant whose verdict against the baseline is ``improvement``
  with no flag that blocks adoption (``ledger.adopt.BLOCKING_FLAGS``): what the adopt gate
  would let through on the verdict alone.
- Tokens are not recorded per variant, so an improvement is charged with the spend of the
  agents whose runs make it up: each agent's tokens, money and GPU-hours are split equally
  among the verified improvements it took part in (a variant of two agents gets a share of
  each). Summed over improvements, that is the whole spend of the agents who produced one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orgtui.errors import OrgtuiError
from orgtui.ledger.adopt import BLOCKING_FLAGS
from orgtui.ledger.runs import Run
from orgtui.ledger.verdicts import Ledger
from orgtui.paths import OrgPaths
from orgtui.spend.amounts import count
from orgtui.spend.prices import Money, Price, money_of, price_of, price_table
from orgtui.spend.tokens import KINDS, TokenCounts, seat_usage

if TYPE_CHECKING:
    from orgtui.config import OrgConfig

PERSON = "human"
"""Whose runs those without an agent are, as ``orgtui report`` names them."""


@dataclass(frozen=True)
class SeatSpend:
    """One agent's spend (or several agents' summed)."""

    models: Mapping[str, TokenCounts] = field(default_factory=dict)
    money: Money = field(default_factory=Money)
    gpu_hours: float = 0.0

    @property
    def tokens(self) -> TokenCounts:
        return sum(self.models.values(), TokenCounts())

    def units(self) -> dict[str, float]:
        """What a budget compares with its limits, by unit."""
        return {"money": self.money.total, "tokens": self.tokens.total, "gpu_hours": self.gpu_hours}

    def __add__(self, other: SeatSpend) -> SeatSpend:
        models = dict(self.models)
        for model, counts in other.models.items():
            models[model] = models.get(model, TokenCounts()) + counts
        return SeatSpend(models, self.money + other.money, self.gpu_hours + other.gpu_hours)

    def share(self, parts: int) -> SeatSpend:
        """1/``parts`` of this spend (tokens rounded down)."""
        models = {
            m: TokenCounts(*(getattr(c, k) // parts for k in KINDS)) for m, c in self.models.items()
        }
        money = Money(self.money.total / parts, self.money.unpriced)
        return SeatSpend(models, money, self.gpu_hours / parts)


def gpu_hours_by_agent(runs: Iterable[Run]) -> dict[str, float]:
    """GPU-hours (CPU-hours without GPUs) of the ledger's runs, by the agent that ran them."""
    hours: dict[str, float] = {}
    for run in runs:
        agent = run.agent or PERSON
        hours[agent] = hours.get(agent, 0.0) + run.gpu_hours
    return hours


def collect(
    paths: OrgPaths,
    prices: Mapping[str, Price],
    runs: Iterable[Run] | None,
    names: Iterable[str] = (),
) -> dict[str, SeatSpend]:
    """Spend by agent: ``names`` always, and anyone with tokens or runs.

    ``runs`` None leaves GPU-hours out (0): reading the ledger is the dear part.
    """
    names = list(names)
    hours = gpu_hours_by_agent(runs or ())
    found: dict[str, SeatSpend] = {}
    for name in dict.fromkeys([*names, *_seats_on_disk(paths), *hours]):
        usage = seat_usage(paths, name) if name != PERSON else {}
        spend = SeatSpend(usage, money_of(usage, prices), hours.get(name, 0.0))
        if name in names or usage or name in hours:
            found[name] = spend
    return found


def _seats_on_disk(paths: OrgPaths) -> list[str]:
    from orgtui.names import is_valid_name

    try:
        entries = sorted(e.name for e in paths.agents_dir.iterdir() if e.is_dir())
    except OSError:
        return []
    return [name for name in entries if is_valid_name(name)]


def total(spends: Mapping[str, SeatSpend]) -> SeatSpend:
    return sum(spends.values(), SeatSpend())


# --------------------------------------------------------------------------- improvements


def verified_improvements(ledger: Ledger) -> dict[str, float]:
    """What each variant the adopt gate would pass on its verdict (``improvement`` against
    the baseline with no blocking flag) gained, in the task's metric (positive: better)."""
    verified = {}
    for variant, gain in ledger.verified_gains().items():
        flags = ledger.compare(ledger.baseline or "", variant).flags
        if not any(flag.split()[0] in BLOCKING_FLAGS for flag in flags):
            verified[variant] = gain
    return verified


@dataclass(frozen=True)
class ImprovementCost:
    """What one verified improvement cost: its producing agents' shares of their spend."""

    variant: str
    gain: float
    """In the task's metric, positive when better."""
    agents: tuple[str, ...]
    spend: SeatSpend
    variant_gpu_hours: float
    """The GPU-hours of the variant's own runs (already inside its agents' share)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "gain": self.gain,
            "agents": list(self.agents),
            **spend_json(self.spend),
            "variant_gpu_hours": self.variant_gpu_hours,
        }


def improvement_costs(
    ledger: Ledger, spends: Mapping[str, SeatSpend], verified: Mapping[str, float]
) -> list[ImprovementCost]:
    """Each verified improvement with its share of its agents' spend, best gain first."""
    agents_of = {
        variant: tuple(sorted({run.agent or PERSON for run in ledger.variants[variant]}))
        for variant in verified
    }
    produced: dict[str, int] = {}
    for agents in agents_of.values():
        for agent in agents:
            produced[agent] = produced.get(agent, 0) + 1
    costs = []
    for variant, gain in sorted(verified.items(), key=lambda item: (-item[1], item[0])):
        agents = agents_of[variant]
        share = sum((spends.get(a, SeatSpend()).share(produced[a]) for a in agents), SeatSpend())
        own_hours = sum(run.gpu_hours for run in ledger.variants[variant])
        costs.append(ImprovementCost(variant, gain, agents, share, own_hours))
    return costs


def gain_per_money(verified: Mapping[str, float], spent: SeatSpend) -> float | None:
    """The best verified gain (in the task's metric) per unit of money spent on tokens; None
    without either."""
    if not verified or spent.money.total <= 0:
        return None
    return max(verified.values()) / spent.money.total


# --------------------------------------------------------------------------- JSON


def tokens_json(tokens: TokenCounts) -> dict[str, int]:
    return tokens.to_json() | {"total": tokens.total}


def spend_json(spend: SeatSpend) -> dict[str, Any]:
    """The stable shape of one spend: tokens by kind, money, what money leaves out, hours."""
    return {
        "tokens": tokens_json(spend.tokens),
        "money": spend.money.total,
        "unpriced_models": list(spend.money.unpriced),
        "gpu_hours": spend.gpu_hours,
    }


def models_json(spend: SeatSpend, prices: Mapping[str, Price]) -> list[dict[str, Any]]:
    rows = []
    for model, tokens in sorted(spend.models.items()):
        price = price_of(model, prices)
        money = price.cost(tokens) if price is not None else None
        rows.append({"model": model, "tokens": tokens_json(tokens), "money": money})
    return rows


def per_improvement(spent: SeatSpend, count: int) -> dict[str, float | None]:
    """The org's money, tokens and GPU-hours over its verified improvements (None for none)."""
    if count == 0:
        return {"money": None, "tokens": None, "gpu_hours": None}
    return {
        "money": spent.money.total / count,
        "tokens": spent.tokens.total / count,
        "gpu_hours": spent.gpu_hours / count,
    }


# --------------------------------------------------------------------------- orgtui report and spend


def figures(config: OrgConfig) -> tuple[Ledger, dict[str, SeatSpend], dict[str, float]]:
    """The ledger, every agent's spend and the verified improvements, from one read of runs."""
    from orgtui.ledger import load_runs
    from orgtui.supervisor.state import load_state

    paths = config.paths
    runs = load_runs(paths)
    ledger = Ledger.load(paths, runs=runs)
    runtime = [name for name, seat in load_state(paths).seats.items() if seat.runtime]
    names = [*config.agent_names, *runtime]
    spends = collect(paths, price_table(config.prices), runs, names)
    return ledger, spends, verified_improvements(ledger)


def report_costs(paths: OrgPaths) -> dict[str, Any]:
    """What ``orgtui report`` adds: gain per dollar and each verified improvement's cost."""
    from orgtui.config import load_config

    try:
        config = load_config(paths.root)
    except OrgtuiError as error:
        return {
            "money": None,
            "unpriced_models": [],
            "verified_gain_per_dollar": None,
            "improvement_costs": [],
            "spend_error": str(error),
        }
    ledger, spends, verified = figures(config)
    spent = total(spends)
    bpb = ledger.measure.metric == "val_bpb"  # the old key, kept where it is still true
    return {
        **ledger.measure.to_json(),
        "money": spent.money.total,
        "unpriced_models": list(spent.money.unpriced),
        "verified_gain_per_dollar": gain_per_money(verified, spent),
        "improvement_costs": [
            c.to_json() | ({"gain_bpb": c.gain} if bpb else {})
            for c in improvement_costs(ledger, spends, verified)
        ],
    }


def report_lines(costs: dict[str, Any], unit: str) -> list[str]:
    """``report_costs`` for a person, in ``orgtui report``'s words."""
    from orgtui.ledger.measure import Measure

    if "spend_error" in costs:
        return [f"money: not counted ({costs['spend_error']})"]
    measure = Measure(costs["metric"], costs["direction"], costs["cost_unit"])
    star = "*" if costs["unpriced_models"] else ""
    lines = [f"money on model tokens: ${costs['money']:,.2f}{star}"]
    per = costs["verified_gain_per_dollar"]
    if per is not None:
        lines.append(f"verified gain per dollar: {per:.4g} {measure.label}/$")
    if costs["improvement_costs"]:
        lines.append("cost of each verified improvement (its agents' spend, shared):")
    for cost in costs["improvement_costs"]:
        lines.append(
            f"  {cost['variant']}: {measure.gain_text(cost['gain'])} by "
            f"{', '.join(cost['agents'])}: "
            f"${cost['money']:,.2f}, {count(cost['tokens']['total'])} tokens, "
            f"{cost['gpu_hours']:.2f} {unit}-h (its own runs {cost['variant_gpu_hours']:.2f})"
        )
    if star:
        lines.append(f"* leaves out models with no price: {', '.join(costs['unpriced_models'])}")
    return lines
