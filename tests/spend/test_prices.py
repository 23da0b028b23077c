"""Prices: the shipped table, org.toml's overrides, money from tokens, and bad price tables."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.agent.providers import DEFAULT_MODELS
from orgtui.config import ConfigError, load_config, parse_config
from orgtui.spend.prices import (
    DEFAULT_PRICES,
    MAX_PRICE,
    PRICES_AS_OF,
    Price,
    money_of,
    price_of,
    price_problem,
    price_table,
)
from orgtui.spend.tokens import TokenCounts
from tests.test_config import literal

ORG = """\
[org]
name = "lab"
task = "t"
[defaults]
gpus = "none"
[[agent]]
name = "ada"
backend = "shell"
"""


def _config(extra: str):
    return parse_config(extra + ORG)


def _refused(extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _config(extra)
    return caught.value


def test_shipped_prices_are_dated_and_cover_the_backends_default_models() -> None:
    assert date.fromisoformat(PRICES_AS_OF)
    for model in DEFAULT_MODELS.values():
        assert model in DEFAULT_PRICES
    for model, price in DEFAULT_PRICES.items():
        assert all(price_problem(v) is None for v in price.to_json().values()), model
        assert price.output >= price.input >= price.cache_read, model


def test_money_is_tokens_times_price_per_million() -> None:
    sonnet = DEFAULT_PRICES["claude-sonnet-4-5"]
    tokens = TokenCounts(input=1_000_000, output=200_000, cache_write=40_000, cache_read=3_000_000)
    assert sonnet.cost(tokens) == pytest.approx(3.0 + 0.2 * 15.0 + 0.04 * 3.75 + 3 * 0.3)
    money = money_of({"claude-sonnet-4-5": tokens}, DEFAULT_PRICES)
    assert money.total == pytest.approx(7.05) and money.unpriced == ()


def test_a_model_without_a_price_is_named_never_guessed() -> None:
    usage = {"gpt-5": TokenCounts(input=2_000_000), "home-brew-7b": TokenCounts(input=10**9)}
    money = money_of(usage, DEFAULT_PRICES)
    assert money.total == pytest.approx(2.5)  # only gpt-5's tokens
    assert money.unpriced == ("home-brew-7b",)
    assert price_of("home-brew-7b", DEFAULT_PRICES) is None
    # an unused unpriced model leaves the total complete
    assert money_of({"home-brew-7b": TokenCounts()}, DEFAULT_PRICES).unpriced == ()


def test_a_dated_snapshot_takes_its_models_price_unless_listed_itself() -> None:
    table = price_table()
    assert price_of("claude-sonnet-4-5-20250929", table) == table["claude-sonnet-4-5"]
    own = Price(9, 9, 9, 9)
    assert price_of("claude-sonnet-4-5-20250929", {"claude-sonnet-4-5-20250929": own}) == own
    assert price_of("claude-sonnet-4-5-x", table) is None  # not a date: not the same model


def test_org_toml_overrides_one_kind_of_a_shipped_price_and_adds_a_model() -> None:
    config = _config(
        '[prices."gpt-5"]\ninput = 1.0\n'
        '[prices."local/llama-70b"]\ninput = 0\noutput = 0.5\ncache_write = 0\ncache_read = 0\n'
    )
    table = price_table(config.prices)
    assert table["gpt-5"] == Price(1.0, 10.0, 1.25, 0.125)
    assert table["local/llama-70b"] == Price(0.0, 0.5, 0.0, 0.0)
    assert table["claude-opus-4-5"] == DEFAULT_PRICES["claude-opus-4-5"]


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ('[prices."gpt-5"]\ninput = -1.0\n', 'prices."gpt-5".input', "from 0 to"),
        ('[prices."gpt-5"]\noutput = "ten"\n', 'prices."gpt-5".output', "expected a number"),
        ('[prices."gpt-5"]\ncache_read = nan\n', 'prices."gpt-5".cache_read', "from 0 to"),
        ('[prices."gpt-5"]\ninput = inf\n', 'prices."gpt-5".input', "from 0 to"),
        ('[prices."gpt-5"]\ninput = 1e9\n', 'prices."gpt-5".input', "from 0 to"),
        ('[prices."gpt-5"]\ninput = true\n', 'prices."gpt-5".input', "expected a number"),
        ('[prices."gpt-5"]\ninput = [1]\n', 'prices."gpt-5".input', "expected a number"),
        ('[prices."gpt-5"]\ninptu = 1\n', 'prices."gpt-5".inptu', "did you mean 'input'"),
        ('[prices."new-model"]\ninput = 1\n', 'prices."new-model".output', "missing"),
        ('[prices]\n"gpt-5" = 3\n', 'prices."gpt-5"', "expected a table"),
        ("prices = 3\n", "prices", "expected a table"),
    ],
)
def test_a_bad_price_table_is_refused_naming_the_key(extra: str, key: str, words: str) -> None:
    error = _refused(extra)
    assert error.key == key, str(error)
    assert words in error.problem


def test_a_bad_price_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text('[prices."o3"]\ninput = -2\n' + ORG)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value).startswith(f'{tmp_path / "org.toml"}: prices."o3".input: ')


MODELS = ["gpt-5", "claude-opus-4-5", "new-model", "a b", "", "x" * 300, "ü", "[", "gpt-5.1"]
KEYS = ["input", "output", "cache_write", "cache_read", "price", ""]


@st.composite
def price_tables(draw: st.DrawFn) -> str:
    lines = []
    for model in draw(st.lists(st.sampled_from(MODELS) | st.text(max_size=8), max_size=3)):
        lines.append(f"[prices.{json.dumps(model)}]")
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True)):
            lines.append(f"{json.dumps(key)} = {draw(literal)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=price_tables())
def test_any_value_in_any_price_key_is_read_or_refused_naming_the_key(extra: str) -> None:
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
                assert error.key.startswith(("prices", "line ")), str(error)
            return
    for price in config.prices.values():
        for value in price.to_json().values():
            assert isinstance(value, float) and math.isfinite(value) and 0 <= value <= MAX_PRICE
