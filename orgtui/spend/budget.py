"""Budgets that act: limits on each agent's and the org's spend, enforced by the supervisor.

``[budget]`` in org.toml sets the org's limits and ``[budget.agent."NAME"]`` one agent's, in
money, tokens (every kind, cache reads included) or GPU-hours. The supervisor checks them
when a seat's ``spend.json``, the ledger's runs or ``.org/budget.json`` changed, and at least
every :data:`REFRESH_EVERY_S` (a running run's GPU-hours grow with the clock):

- at :data:`WARN_AT` of a limit it posts one warning to the agent and the chief (the person
  when the org has no chief); an org limit warns the chief and the person;
- at 100% it stops the agent with the supervisor's own verb (``suspend``, or ``park`` when
  ``[budget] action = "park"``) and posts which budget, spent against limit.

An org limit at 100% stops every agent but the chief: the chief is the seat that tells the
person what happened and decides what comes next, and with the others stopped it spends
little; its own ``[budget.agent."CHIEF"]`` bounds it. A flat org (no chief) stops entirely.

What was warned and acted on is kept in ``.org/budget.json`` with the limit it was at, so a
restarted supervisor does not repeat itself and a raised limit arms its warnings again. A
plain ``orgtui resume`` of a stopped agent lets it run past the limit it was stopped at (the
supervisor acts once per limit); ``orgtui resume AGENT --raise-budget X`` raises the limit
that stopped it (recorded in budget.json, never in org.toml) and resumes it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orgtui.atomic import NotRegularFile, atomic_write_json, exclusive_lock, read_regular
from orgtui.config import BudgetLimits, OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.names import is_valid_name
from orgtui.paths import OrgPaths
from orgtui.spend.amounts import BudgetError, say
from orgtui.spend.prices import price_table
from orgtui.spend.report import SeatSpend, collect, total

WARN_AT = 0.8
CHECK_EVERY_S = 2.0
"""How often the supervisor looks whether spend, runs or budget.json changed."""
REFRESH_EVERY_S = 30.0
"""How often budgets are checked even when nothing seems to have changed."""
MAX_STATE_BYTES = 1 << 20
MAX_LIFTS = 200
"""Lifts kept in budget.json (the board keeps every one)."""
WHOLE_ORG = "all"
"""budget.json's key for the org's own warnings: no agent can have this name."""
STOPPED = ("suspended", "parked", "failed")
"""Seat states in which an agent over its budget spends nothing more: nothing to stop."""


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limit:
    """One limit that applies to an agent: its own (``agent``) or the org's (``org``)."""

    scope: str
    unit: str
    value: float

    @property
    def key(self) -> str:
        return f"{self.scope}.{self.unit}"


@dataclass(frozen=True)
class Standing:
    """A limit with what has been spent against it."""

    agent: str
    limit: Limit
    spent: float

    @property
    def fraction(self) -> float:
        return self.spent / self.limit.value

    def text(self, hours: str = "GPU") -> str:
        """``ada has spent $4.10 of its money budget of $5.00 (82%)``."""
        unit = self.limit.unit
        whose = "the org has" if self.limit.scope == "org" else f"{self.agent} has"
        its = "its" if self.limit.scope == "agent" else "the org's"
        word = {"money": "money", "tokens": "token", "gpu_hours": f"{hours}-hour"}[unit]
        return (
            f"{whose} spent {say(unit, self.spent, hours)} of {its} {word} budget of "
            f"{say(unit, self.limit.value, hours)} ({self.fraction:.0%})"
        )


# --------------------------------------------------------------------------- budget.json


@dataclass
class BudgetState:
    """``.org/budget.json``: raised limits, and each warning and action with its limit."""

    agent_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    org_limits: dict[str, float] = field(default_factory=dict)
    warned: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per seat (:data:`WHOLE_ORG` for the org's own): limit key -> the limit warned at."""
    acted: dict[str, dict[str, float]] = field(default_factory=dict)
    lifts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_limits": self.agent_limits,
            "org_limits": self.org_limits,
            "warned": self.warned,
            "acted": self.acted,
            "lifts": self.lifts[-MAX_LIFTS:],
        }

    def done(self, record: dict[str, dict[str, float]], who: str, limit: Limit) -> bool:
        """Whether ``record`` (warned or acted) holds ``limit`` at its present value."""
        return record.get(who, {}).get(limit.key) == limit.value

    def mark(self, record: dict[str, dict[str, float]], who: str, limit: Limit) -> None:
        record.setdefault(who, {})[limit.key] = limit.value


def _amounts(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {
        key: float(v)
        for key, v in value.items()
        if isinstance(key, str)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and v > 0
    }


def _by_name(value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        return {}
    found = {name: _amounts(v) for name, v in value.items() if is_valid_name(name)}
    return {name: amounts for name, amounts in found.items() if amounts}


def load_budget_state(paths: OrgPaths) -> BudgetState:
    """budget.json as written; anything malformed reads as not there (never raises)."""
    try:
        data = json.loads(read_regular(paths.budget_state, MAX_STATE_BYTES))
    except (OSError, NotRegularFile, ValueError, RecursionError):
        return BudgetState()
    if not isinstance(data, dict):
        return BudgetState()
    lifts = data.get("lifts")
    return BudgetState(
        agent_limits=_by_name(data.get("agent_limits")),
        org_limits=_amounts(data.get("org_limits")),
        warned=_by_name(data.get("warned")),
        acted=_by_name(data.get("acted")),
        lifts=[x for x in lifts if isinstance(x, dict)] if isinstance(lifts, list) else [],
    )


def save_budget_state(paths: OrgPaths, state: BudgetState) -> None:
    atomic_write_json(paths.budget_state, state.to_json())


def limits_for(config: OrgConfig, state: BudgetState, agent: str) -> list[Limit]:
    """The limits on ``agent``: its own, then the org's; a raise counts only where org.toml
    sets that limit (a limit taken out of org.toml is gone, raised or not)."""
    own = _effective(
        config.budget.agents.get(agent, BudgetLimits()), state.agent_limits.get(agent, {})
    )
    org = _effective(config.budget.org, state.org_limits)
    return [Limit("agent", u, v) for u, v in own.items()] + [
        Limit("org", u, v) for u, v in org.items()
    ]


def _effective(configured: BudgetLimits, raised: Mapping[str, float]) -> dict[str, float]:
    return {unit: max(value, raised.get(unit, 0.0)) for unit, value in configured.set().items()}


def standings(
    config: OrgConfig, state: BudgetState, agent: str, spends: Mapping[str, SeatSpend]
) -> list[Standing]:
    """Each limit on ``agent`` with what has been spent against it."""
    own = spends.get(agent, SeatSpend()).units()
    org = total(spends).units()
    return [
        Standing(agent, limit, (own if limit.scope == "agent" else org)[limit.unit])
        for limit in limits_for(config, state, agent)
    ]


def org_standings(
    config: OrgConfig, state: BudgetState, spends: Mapping[str, SeatSpend]
) -> list[Standing]:
    """Each of the org's limits with what the whole org has spent against it."""
    org = total(spends).units()
    limits = _effective(config.budget.org, state.org_limits)
    return [Standing("org", Limit("org", u, v), org[u]) for u, v in limits.items()]


def chiefs_of(config: OrgConfig) -> list[str]:
    from orgtui.process import chiefs

    return chiefs(config)


# --------------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class Decision:
    """What one check found due: warnings (by seat, and the org's own) and stops by seat."""

    warn: tuple[Standing, ...] = ()
    warn_org: tuple[Standing, ...] = ()
    stop: Mapping[str, tuple[Standing, ...]] = field(default_factory=dict)


def decide(
    config: OrgConfig,
    state: BudgetState,
    spends: Mapping[str, SeatSpend],
    seats: Iterable[str],
) -> Decision:
    """What is due now and not yet done at this limit (a pure function of its arguments)."""
    chiefs = set(chiefs_of(config))
    warn: list[Standing] = []
    warn_org: dict[str, Standing] = {}
    stop: dict[str, tuple[Standing, ...]] = {}
    for seat in seats:
        over = []
        for standing in standings(config, state, seat, spends):
            limit = standing.limit
            if limit.scope == "org":
                if standing.fraction >= WARN_AT and not state.done(state.warned, WHOLE_ORG, limit):
                    warn_org.setdefault(limit.unit, standing)
                if seat in chiefs:
                    continue
            if standing.fraction >= 1.0:
                if not state.done(state.acted, seat, limit):
                    over.append(standing)
            elif (
                limit.scope == "agent"
                and standing.fraction >= WARN_AT
                and not state.done(state.warned, seat, limit)
            ):
                warn.append(standing)
        if over:
            stop[seat] = tuple(over)
    return Decision(tuple(warn), tuple(warn_org.values()), stop)


# --------------------------------------------------------------------------- the supervisor

Stop = Callable[[str, str], None]
"""Stop a seat with the supervisor's verb: (agent, "suspend" | "park"); raises OrgtuiError."""
Post = Callable[[str, str, tuple[str, ...]], None]
"""Post a system notice: (subject, body, recipients)."""


class BudgetWatch:
    """The supervisor's budget check: cheap when nothing changed, acting once per limit."""

    def __init__(self, config: OrgConfig) -> None:
        self.config = config
        self.paths = config.paths
        self.prices = price_table(config.prices)
        self.next_look = 0.0
        self.next_refresh = 0.0
        self.seen: tuple[Any, ...] = ()
        self.hours = "GPU"

    def due(self, now: float, seats: Iterable[str]) -> bool:
        """Spend, runs or budget.json changed since the last check, or it is time anyway."""
        if not self.config.budget.active or now < self.next_look:
            return False
        self.next_look = now + CHECK_EVERY_S
        files = [self.paths.budget_state, self.paths.runs_dir]
        files += [self.paths.spend_file(name) for name in seats]
        seen = tuple(_stamp(path) for path in files)
        if seen == self.seen and now < self.next_refresh:
            return False
        self.seen, self.next_refresh = seen, now + REFRESH_EVERY_S
        return True

    def tick(self, now: float, seats: Mapping[str, str], stop: Stop, post: Post) -> list[str]:
        """Check every seat (``seats``: name -> status); warn, stop and post what is due."""
        if not self.due(now, seats):
            return []
        spends = self._spends(seats)
        with exclusive_lock(self.paths.budget_lock):
            state = load_budget_state(self.paths)
            decision = decide(self.config, state, spends, seats)
            if not (decision.warn or decision.warn_org or decision.stop):
                return []
            lines = self._warn(decision, state, post)
            lines += self._stop(decision, state, seats, stop, post)
            save_budget_state(self.paths, state)
        return lines

    def _spends(self, seats: Iterable[str]) -> dict[str, SeatSpend]:
        runs = None
        if any(limit.unit == "gpu_hours" for limit in self._all_limits(seats)):
            from orgtui.ledger import Ledger, load_runs

            runs = load_runs(self.paths)
            self.hours = Ledger(runs).compute_unit
        return collect(self.paths, self.prices, runs, seats)

    def _all_limits(self, seats: Iterable[str]) -> list[Limit]:
        state = BudgetState()
        return [limit for seat in seats for limit in limits_for(self.config, state, seat)]

    def _to(self, *agents: str, person: bool = False) -> tuple[str, ...]:
        chiefs = chiefs_of(self.config)
        to = [*agents, *chiefs] + (["human"] if person or not chiefs else [])
        return tuple(dict.fromkeys(to))

    def _warn(self, decision: Decision, state: BudgetState, post: Post) -> list[str]:
        lines = []
        action = self.config.budget.action
        for standing in decision.warn:
            name = standing.agent
            post(
                f"budget: {name} at {standing.fraction:.0%} of its {standing.limit.unit} budget",
                f"{standing.text(self.hours)}. At 100% the supervisor will {action} {name}.",
                self._to(name),
            )
            state.mark(state.warned, name, standing.limit)
            lines.append(f"{name}: budget warning: {standing.text(self.hours)}")
        for standing in decision.warn_org:
            post(
                f"budget: the org at {standing.fraction:.0%} of its {standing.limit.unit} budget",
                f"{standing.text(self.hours)}. At 100% the supervisor will {action} every "
                "agent but the chief.",
                self._to(person=True),
            )
            state.mark(state.warned, WHOLE_ORG, standing.limit)
            lines.append(f"org: budget warning: {standing.text(self.hours)}")
        return lines

    def _stop(
        self,
        decision: Decision,
        state: BudgetState,
        seats: Mapping[str, str],
        stop: Stop,
        post: Post,
    ) -> list[str]:
        lines = []
        action = self.config.budget.action
        for name, over in decision.stop.items():
            why = "; ".join(standing.text(self.hours) for standing in over)
            if seats.get(name) in STOPPED:
                done = f"{name} is over budget and stays {seats[name]}"
            else:
                try:
                    stop(name, action)
                except OrgtuiError as error:  # not running just now: tried again next check
                    lines.append(f"{name}: over budget, but cannot {action} it: {error}")
                    self.next_refresh = 0.0
                    continue
                done = f"{name} was {'parked' if action == 'park' else 'suspended'}"
            unit = over[0].limit.unit
            post(
                f"budget: {done}",
                f"{done}: {why}.\n\n`orgtui resume {name} --raise-budget {_example(unit)}` "
                f"raises that budget by {say(unit, _EXAMPLE[unit], self.hours)} and resumes "
                f"{name}.",
                self._to(name, person=True),
            )
            for standing in over:
                state.mark(state.acted, name, standing.limit)
            lines.append(f"{name}: {done} ({why})")
        return lines


_EXAMPLE = {"money": 10.0, "tokens": 1e6, "gpu_hours": 5.0}


def _example(unit: str) -> str:
    return {"money": "10", "tokens": "1M", "gpu_hours": "5gpuh"}[unit]


def _stamp(path: os.PathLike[str]) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


# --------------------------------------------------------------------------- raising


@dataclass(frozen=True)
class Lift:
    """One raised limit: whose (an agent's own, or the org's), in what unit, from and to."""

    agent: str
    scope: str
    unit: str
    before: float
    after: float

    def text(self, hours: str = "GPU") -> str:
        whose = f"{self.agent}'s" if self.scope == "agent" else "the org's"
        return (
            f"{whose} {self.unit} budget raised from {say(self.unit, self.before, hours)} "
            f"to {say(self.unit, self.after, hours)}"
        )

    def to_json(self, when: float, by: str) -> dict[str, Any]:
        return {
            "time": when,
            "by": by,
            "agent": self.agent,
            "scope": self.scope,
            "unit": self.unit,
            "from": self.before,
            "to": self.after,
        }


def raise_budget(
    config: OrgConfig, agent: str, amounts: Iterable[tuple[str, float]], by: str = "human"
) -> list[Lift]:
    """Raise the limits on ``agent`` by ``amounts`` and record it in budget.json.

    Each amount raises the limits of its unit that have stopped the agent (its own, the
    org's, or both); when none has, its own limit of that unit, else the org's. Nothing is
    written when no limit of the unit applies, or when a limit of any unit would still be
    spent after the raise (resuming would only stop the agent again).
    """
    paths = config.paths
    seats = list(dict.fromkeys([*config.agent_names, agent]))
    spends = collect(paths, price_table(config.prices), _runs_if_hours(config), seats)
    with exclusive_lock(paths.budget_lock):
        state = load_budget_state(paths)
        lifts = []
        for unit, amount in amounts:
            for lift in _lifts(config, state, agent, unit, amount, spends):
                limits = state.agent_limits.setdefault(agent, {}) if lift.scope == "agent" else None
                (state.org_limits if limits is None else limits)[unit] = lift.after
                lifts.append(lift)
        still = [s for s in _binding(config, state, agent, spends) if s.fraction >= 1.0]
        if still:
            unit = still[0].limit.unit
            raise BudgetError(
                f"{still[0].text()}: raise that too (--raise-budget {_example(unit)} adds "
                f"{say(unit, _EXAMPLE[unit])}); nothing was raised"
            )
        state.lifts += [lift.to_json(time.time(), by) for lift in lifts]
        save_budget_state(paths, state)
    return lifts


def _runs_if_hours(config: OrgConfig) -> list[Any] | None:
    limits = [config.budget.org, *config.budget.agents.values()]
    if not any(each.gpu_hours for each in limits):
        return None
    from orgtui.ledger import load_runs

    return load_runs(config.paths)


def _binding(
    config: OrgConfig, state: BudgetState, agent: str, spends: Mapping[str, SeatSpend]
) -> list[Standing]:
    """The limits that can stop ``agent``: a chief is not stopped by the org's."""
    chief = agent in chiefs_of(config)
    mine = standings(config, state, agent, spends)
    return [s for s in mine if not (chief and s.limit.scope == "org")]


def _lifts(
    config: OrgConfig,
    state: BudgetState,
    agent: str,
    unit: str,
    amount: float,
    spends: Mapping[str, SeatSpend],
) -> list[Lift]:
    mine = [s for s in _binding(config, state, agent, spends) if s.limit.unit == unit]
    if not mine:
        raise BudgetError(
            f"no {unit} budget applies to {agent} ({config.file}: [budget] and "
            f'[budget.agent."{agent}"] set none): nothing to raise'
        )
    targets = [s for s in mine if s.fraction >= 1.0] or mine[:1]
    return [
        Lift(agent, s.limit.scope, unit, s.limit.value, s.limit.value + amount) for s in targets
    ]
