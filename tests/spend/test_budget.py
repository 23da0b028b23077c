"""Budgets: [budget] read or refused, amounts parsed, warnings and stops decided once per
limit, raises recorded; the supervisor's watch driven with a recording stop and post."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.config import ConfigError, OrgConfig, load_config, parse_config
from orgtui.errors import OrgtuiError
from orgtui.paths import OrgPaths
from orgtui.spend.amounts import BudgetError, parse_amount
from orgtui.spend.budget import (
    BudgetWatch,
    decide,
    load_budget_state,
    raise_budget,
)
from orgtui.spend.prices import Money
from orgtui.spend.report import SeatSpend
from orgtui.spend.tokens import TokenCounts
from tests.test_config import literal

ORG = """\
[org]
name = "lab"
task = "t"
[defaults]
gpus = "none"
[[agent]]
name = "boss"
role = "chief_scientist"
backend = "shell"
[[agent]]
name = "ada"
backend = "shell"
[[agent]]
name = "bob"
backend = "shell"
"""
SEATS = ("boss", "ada", "bob")


def _config(tmp_path: Path, budget: str) -> OrgConfig:
    (tmp_path / "org.toml").write_text(budget + ORG)
    return load_config(tmp_path)


def _refused(budget: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(budget + ORG)
    return caught.value


def _spend(money: float = 0.0, tokens: int = 0, hours: float = 0.0) -> SeatSpend:
    return SeatSpend({"m": TokenCounts(input=tokens)}, Money(money), hours)


def _write_spend(paths: OrgPaths, agent: str, model: str, **counts: int) -> None:
    paths.agent_dir(agent).mkdir(parents=True, exist_ok=True)
    paths.spend_file(agent).write_text(json.dumps({"models": {model: counts}}))


def _sonnet_dollars(paths: OrgPaths, agent: str, dollars: float) -> None:
    """Spend ``dollars`` at claude-sonnet-4-5's output price ($15 per million)."""
    _write_spend(paths, agent, "claude-sonnet-4-5", output=round(dollars / 15.0 * 1e6))


# -- [budget] in org.toml ---------------------------------------------------------------------


def test_budget_reads_org_and_agent_limits() -> None:
    config = parse_config(
        '[budget]\nmoney = 50.0\ntokens = 2_000_000\ngpu_hours = 10\naction = "park"\n'
        '[budget.agent."ada"]\nmoney = 5\n' + ORG
    )
    assert config.budget.org.set() == {"money": 50.0, "tokens": 2_000_000, "gpu_hours": 10.0}
    assert config.budget.agents["ada"].set() == {"money": 5.0}
    assert config.budget.action == "park" and config.budget.active
    assert not parse_config(ORG).budget.active


@pytest.mark.parametrize(
    ("budget", "key", "words"),
    [
        ('[budget.agent."carol"]\nmoney = 1\n', 'budget.agent."carol"', "no agent named 'carol'"),
        ('[budget.agent."adda"]\nmoney = 1\n', 'budget.agent."adda"', "did you mean 'ada'"),
        ('[budget.agent."gpt-5"]\nmoney = 1\n', 'budget.agent."gpt-5"', "is a model, not an agent"),
        ('[budget."gpt-5"]\nmoney = 1\n', "budget.gpt-5", "is a model"),
        ('[budget.model."gpt-5"]\nmoney = 1\n', "budget.model", "unknown key"),
        ("[budget.ada]\nmoney = 1\n", "budget.ada", '[budget.agent."ada"]'),
        ("[budget]\nmoney = -5\n", "budget.money", "above 0"),
        ("[budget]\nmoney = nan\n", "budget.money", "above 0"),
        ('[budget]\nmoney = "$5"\n', "budget.money", "expected a number"),
        ("[budget]\ntokens = 2e6\n", "budget.tokens", "whole number"),
        ("[budget]\ngpu_hours = inf\n", "budget.gpu_hours", "above 0"),
        ('[budget]\naction = "kill"\n', "budget.action", "allowed: suspend, park"),
        ('[budget.agent."ada"]\naction = "park"\n', 'budget.agent."ada".action', "unknown key"),
        ("[budget.agent]\nada = 5\n", 'budget.agent."ada"', "expected a table"),
    ],
)
def test_a_bad_budget_is_refused_naming_the_key(budget: str, key: str, words: str) -> None:
    error = _refused(budget)
    assert error.key == key, str(error)
    assert words in error.problem, str(error)


BUDGET_KEYS = ["money", "tokens", "gpu_hours", "action", "agent", "model", ""]
NAMES = ["ada", "boss", "carol", "gpt-5", "", "a.b", "ü"]


@st.composite
def budget_tables(draw: st.DrawFn) -> str:
    lines = ["[budget]"]
    for key in draw(st.lists(st.sampled_from(BUDGET_KEYS), max_size=4, unique=True)):
        lines.append(f"{json.dumps(key)} = {draw(literal)}")
    for name in draw(st.lists(st.sampled_from(NAMES) | st.text(max_size=6), max_size=2)):
        lines.append(f"[budget.agent.{json.dumps(name)}]")
        for key in draw(st.lists(st.sampled_from(BUDGET_KEYS[:4]), max_size=3, unique=True)):
            lines.append(f"{json.dumps(key)} = {draw(literal)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=budget_tables())
def test_any_value_in_any_budget_key_is_read_or_refused_naming_the_key(extra: str) -> None:
    with tempfile.TemporaryDirectory() as top:
        file = Path(top) / "org.toml"
        file.write_text(extra + ORG, encoding="utf-8", errors="surrogatepass")
        try:
            config = load_config(file)
        except ConfigError as error:
            assert str(error).startswith(f"{file}: ")
            if error.key is None:  # TOML the reader refused before any key was read
                assert "TOML" in error.problem, str(error)
            else:
                assert error.key.startswith(("budget", "line ")), str(error)
            return
    assert config.budget.action in ("suspend", "park")
    assert set(config.budget.agents) <= {"ada", "boss", "bob"}
    for limits in (config.budget.org, *config.budget.agents.values()):
        for value in limits.set().values():
            assert math.isfinite(value) and value > 0


# -- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("10", "money", 10.0),
        ("$10", "money", 10.0),
        ("2.50", "money", 2.5),
        (" $1,000 ", "money", 1000.0),
        ("2M", "tokens", 2e6),
        ("1.5m", "tokens", 1.5e6),
        ("500k", "tokens", 5e5),
        ("300000tok", "tokens", 3e5),
        ("2_000_000tokens", "tokens", 2e6),
        ("5gpuh", "gpu_hours", 5.0),
        ("0.5gpu-h", "gpu_hours", 0.5),
        ("3cpuh", "gpu_hours", 3.0),
    ],
)
def test_raise_amounts(text: str, unit: str, value: float) -> None:
    assert parse_amount(text) == (unit, value)


@pytest.mark.parametrize(
    "text", ["", "0", "-5", "$2M", "5h", "ten", "nan", "inf", "1e5", "9" * 400, "2M$", "$", "k"]
)
def test_bad_raise_amounts_say_the_syntax(text: str) -> None:
    with pytest.raises(BudgetError, match="--raise-budget"):
        parse_amount(text)


@given(text=st.text(max_size=20) | st.from_regex(r"\$?[0-9.,_]{0,30}[a-zA-Z-]{0,6}"))
def test_any_raise_text_is_an_amount_or_a_budget_error(text: str) -> None:
    try:
        unit, value = parse_amount(text)
    except BudgetError:
        return
    assert unit in ("money", "tokens", "gpu_hours") and math.isfinite(value) and value > 0


# -- deciding ---------------------------------------------------------------------------------


def test_warn_at_80_percent_stop_at_100_once_per_limit(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget.agent."ada"]\nmoney = 5.0\n')
    state = load_budget_state(config.paths)
    assert decide(config, state, {"ada": _spend(3.9)}, SEATS) == decide(config, state, {}, SEATS)
    warned = decide(config, state, {"ada": _spend(4.0)}, SEATS)
    assert [(s.agent, s.limit.key, s.spent) for s in warned.warn] == [("ada", "agent.money", 4.0)]
    assert not warned.stop
    state.mark(state.warned, "ada", warned.warn[0].limit)
    assert not decide(config, state, {"ada": _spend(4.5)}, SEATS).warn  # once
    stopped = decide(config, state, {"ada": _spend(5.0)}, SEATS)
    assert list(stopped.stop) == ["ada"] and not stopped.warn
    state.mark(state.acted, "ada", stopped.stop["ada"][0].limit)
    assert not decide(config, state, {"ada": _spend(9.0)}, SEATS).stop  # once per limit
    state.agent_limits["ada"] = {"money": 10.0}  # raised: armed again at the new limit
    again = decide(config, state, {"ada": _spend(9.0)}, SEATS)
    assert [s.limit.value for s in again.warn] == [10.0]


def test_an_org_budget_stops_everyone_but_the_chief(tmp_path: Path) -> None:
    config = _config(tmp_path, "[budget]\ntokens = 1000\n")
    state = load_budget_state(config.paths)
    spends = {"boss": _spend(tokens=600), "ada": _spend(tokens=300), "bob": _spend(tokens=100)}
    decision = decide(config, state, spends, SEATS)
    assert sorted(decision.stop) == ["ada", "bob"]
    assert [s.limit.key for s in decision.warn_org] == ["org.tokens"]
    assert all(s.spent == 1000 for seat in decision.stop.values() for s in seat)


def test_the_chief_stops_at_its_own_budget(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget]\nmoney = 10\n[budget.agent."boss"]\nmoney = 2\n')
    decision = decide(config, load_budget_state(config.paths), {"boss": _spend(2.5)}, SEATS)
    assert list(decision.stop) == ["boss"]


def test_a_raise_only_counts_while_org_toml_sets_the_limit(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    state = load_budget_state(config.paths)
    state.agent_limits["ada"] = {"money": 1.0}
    assert decide(config, state, {"ada": _spend(50.0)}, SEATS) == decide(config, state, {}, SEATS)


# -- the supervisor's watch -------------------------------------------------------------------


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.stops: list[tuple[str, str]] = []
        self.posts: list[tuple[str, str, tuple[str, ...]]] = []
        self.fail = fail

    def stop(self, name: str, verb: str) -> None:
        if self.fail:
            raise OrgtuiError(f"agent {name!r} is not running")
        self.stops.append((name, verb))

    def post(self, subject: str, body: str, to: tuple[str, ...]) -> None:
        self.posts.append((subject, body, to))


def _tick(watch: BudgetWatch, now: float, seen: Recorder, **status: str) -> list[str]:
    seats = {name: status.get(name, "working") for name in SEATS}
    return watch.tick(now, seats, seen.stop, seen.post)


def test_the_watch_warns_stops_and_does_not_repeat_after_a_restart(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget.agent."ada"]\nmoney = 5.0\n')
    paths = config.paths
    seen = Recorder()
    watch = BudgetWatch(config)
    _sonnet_dollars(paths, "ada", 4.2)
    _tick(watch, 100.0, seen)
    ((subject, body, to),) = seen.posts
    assert subject == "budget: ada at 84% of its money budget"
    assert "ada has spent $4.20 of its money budget of $5.00 (84%)" in body
    assert to == ("ada", "boss")
    _sonnet_dollars(paths, "ada", 5.25)
    assert _tick(watch, 101.0, seen) == []  # not looked at yet: every CHECK_EVERY_S
    _tick(watch, 103.0, seen)
    assert seen.stops == [("ada", "suspend")]
    subject, body, to = seen.posts[-1]
    assert subject == "budget: ada was suspended"
    assert "ada has spent $5.25 of its money budget of $5.00 (105%)" in body
    assert "orgtui resume ada --raise-budget 10" in body and to == ("ada", "boss", "human")
    # a new supervisor (a restart) reads what was done from budget.json and repeats nothing
    fresh = Recorder()
    _tick(BudgetWatch(config), 200.0, fresh, ada="suspended")
    assert fresh.posts == [] and fresh.stops == []
    acted = json.loads(paths.budget_state.read_text())["acted"]
    assert acted == {"ada": {"agent.money": 5.0}}


def test_park_is_the_verb_when_configured_and_a_failed_stop_is_retried(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget]\naction = "park"\n[budget.agent."bob"]\ntokens = 100\n')
    _write_spend(config.paths, "bob", "gpt-5", input=150)
    watch = BudgetWatch(config)
    failing = Recorder(fail=True)
    lines = _tick(watch, 10.0, failing)
    assert failing.posts == [] and "cannot park it" in lines[0]
    seen = Recorder()
    _tick(watch, 13.0, seen)  # nothing changed on disk, but the failure asked for a retry
    assert seen.stops == [("bob", "park")]
    assert seen.posts[-1][0] == "budget: bob was parked"


def test_a_seat_already_stopped_is_told_about_not_stopped_again(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget.agent."ada"]\nmoney = 1.0\n')
    _sonnet_dollars(config.paths, "ada", 2.0)
    seen = Recorder()
    _tick(BudgetWatch(config), 10.0, seen, ada="parked")
    assert seen.stops == [] and seen.posts[0][0] == "budget: ada is over budget and stays parked"


def test_no_budget_no_work(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    _sonnet_dollars(config.paths, "ada", 1e6)
    seen = Recorder()
    assert _tick(BudgetWatch(config), 10.0, seen) == [] and not seen.posts
    assert not config.paths.budget_state.exists()


# -- raising ----------------------------------------------------------------------------------


def test_raise_lifts_the_limit_that_stopped_the_agent(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget]\nmoney = 100\n[budget.agent."ada"]\nmoney = 5.0\n')
    _sonnet_dollars(config.paths, "ada", 5.25)
    (lift,) = raise_budget(config, "ada", [("money", 10.0)])
    assert (lift.scope, lift.before, lift.after) == ("agent", 5.0, 15.0)
    assert lift.text() == "ada's money budget raised from $5.00 to $15.00"
    data: dict[str, Any] = json.loads(config.paths.budget_state.read_text())
    assert data["agent_limits"] == {"ada": {"money": 15.0}}
    assert data["lifts"][0] | {"time": 0} == {
        "time": 0, "by": "human", "agent": "ada", "scope": "agent", "unit": "money",
        "from": 5.0, "to": 15.0,
    }  # fmt: skip


def test_raise_lifts_the_org_limit_when_that_stopped_it(tmp_path: Path) -> None:
    config = _config(tmp_path, "[budget]\nmoney = 5\n")
    _sonnet_dollars(config.paths, "bob", 6.0)
    (lift,) = raise_budget(config, "ada", [("money", 2.0)])
    assert (lift.scope, lift.after) == ("org", 7.0)
    assert load_budget_state(config.paths).org_limits == {"money": 7.0}


def test_a_raise_that_leaves_a_limit_spent_changes_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget.agent."ada"]\nmoney = 5.0\ntokens = 1000\n')
    _sonnet_dollars(config.paths, "ada", 6.0)  # 400k tokens: both limits spent
    with pytest.raises(BudgetError, match="token budget"):
        raise_budget(config, "ada", [("money", 10.0)])
    assert not config.paths.budget_state.exists()
    lifts = raise_budget(config, "ada", [("money", 10.0), ("tokens", 1e6)])
    assert [(x.unit, x.after) for x in lifts] == [("money", 15.0), ("tokens", 1e6 + 1000)]


def test_raising_a_unit_no_budget_limits_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, '[budget.agent."ada"]\nmoney = 5.0\n')
    with pytest.raises(BudgetError, match="no gpu_hours budget applies to ada"):
        raise_budget(config, "ada", [("gpu_hours", 5.0)])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(
    data=st.dictionaries(
        st.sampled_from(["agent_limits", "org_limits", "warned", "acted", "lifts", "x"]),
        json_values | st.dictionaries(st.sampled_from(["ada", "all", "../x"]), json_values),
    )
)
def test_a_hostile_budget_json_reads_as_sane_limits(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as top:
        paths = OrgPaths(Path(top))
        paths.org_dir.mkdir()
        paths.budget_state.write_text(json.dumps(data))
        state = load_budget_state(paths)
    for amounts in [state.org_limits, *state.agent_limits.values(), *state.acted.values()]:
        assert all(math.isfinite(v) and v > 0 for v in amounts.values())
    assert all(isinstance(lift, dict) for lift in state.lifts)
