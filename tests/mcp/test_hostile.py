"""Hostile calls: fuzzed arguments are refused (or done inside the org), never a crash."""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.client import Client

from orgtui.agent.tools import BY_NAME as AGENT_TOOLS
from orgtui.agent.tools import ToolContext, execute
from orgtui.config import load_config
from orgtui.errors import OrgtuiError
from orgtui.mcp import tools
from orgtui.mcp.server import build_server
from orgtui.mcp.tools import TOOLS, Seat, ToolError, call, check_arguments
from tests.mcp.conftest import mcp_session, text

HOSTILE_PIECES = (
    "../",
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    "\x00",
    "\x1b[2J\x1b[31m",
    "\r\n",
    "\u202e",
    "all",
    "human",
    "{agent}",
    "%s%n",
    "$(touch pwned)",
    "`touch pwned`",
    ";rm -rf .",
    "ünïcødé🙂",
    " ",
    "",
    "A",
)

GOOD: dict[str, dict[str, Any]] = {
    "post": {"to": "chief", "body": "hello", "subject": "s", "thread": "t1", "refs": ["r1"]},
    "read": {"id": "20260101T000000.000000Z-ada-abcdef"},
    "board": {"thread": "t1", "limit": 5},
    "run": {"variant": "fz", "command": ["python", "-c", "pass"], "thread": "t", "proposal": "p"},
    "compare": {"a": "base", "b": "nocap"},
    "propose": {"variant": "fz", "hypothesis": "h", "baseline": "base", "budget_flops": 2e13},
    "standup_answer": {"done": "d", "next": "n", "blocked": "b", "runs": ["r1"]},
}


def hostile_string(rng: random.Random) -> str:
    """A concatenation of hostile pieces; now and then huge (past every size limit)."""
    text_ = "".join(rng.choice(HOSTILE_PIECES) for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.1:
        text_ += "x" * rng.choice((300, 70_000, 400_000))
    return text_


def hostile_call(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A good call of a random tool with one argument made hostile (a string, a number or a
    list, whatever the schema wants there)."""
    name = rng.choice(sorted(GOOD))
    args = dict(GOOD[name])
    key = rng.choice(sorted(args))
    value = args[key]
    if isinstance(value, list):
        args[key] = [hostile_string(rng) for _ in range(rng.randint(0, 3))]
    elif isinstance(value, str):
        args[key] = hostile_string(rng)
    else:
        args[key] = rng.choice((0, -1, 10**30, -(10**30), 1e308, -0.0, 2.5, "1e13"))
    return name, args


def files_outside(root: Path, top: Path) -> set[Path]:
    """Every file under ``top`` except the org's own state (.org)."""
    return {p for p in top.rglob("*") if p.is_file() and (root / ".org") not in p.parents}


async def test_fuzzed_calls_are_answered_and_the_server_stays_up(org: Path, tmp_path: Path) -> None:
    rng = random.Random(20231)
    errlog = tmp_path / "server.err"
    before = files_outside(org, tmp_path)
    answered = []
    async with mcp_session(org, errlog=errlog) as session:
        for _ in range(60):
            name, args = hostile_call(rng)
            result = await session.call_tool(name, args)
            answered.append((name, args, result))
        after = await session.call_tool("compare", {"a": "base", "b": "nocap"})
    for name, args, result in answered:
        assert result.content and text(result), (name, args)
        if result.is_error:
            assert "failed inside orgtui" not in text(result), (name, text(result))
    assert sum(r.is_error for *_, r in answered) >= 20  # the generator does reach refusals
    assert not after.is_error and "verdict: improvement" in text(after)
    assert files_outside(org, tmp_path) - {errlog} == before - {errlog}
    assert "Traceback" not in errlog.read_text()


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from([tool.name for tool in TOOLS]),
    arguments=st.dictionaries(
        st.sampled_from(["to", "body", "a", "b", "limit", "seeds", "budget_flops", "command", "x"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()  # nan, inf and -inf included
            | st.text(max_size=50),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=5,
        ),
    ),
)
def test_argument_checks_refuse_with_a_tool_error_only(name: str, arguments: dict) -> None:
    tool = tools.BY_NAME[name]
    try:
        checked = check_arguments(tool, arguments)
    except ToolError as error:
        assert str(error).startswith(f"{name}: ")
        return
    for key, value in checked.items():  # what passes is what the schema says
        kind = tool.schema["properties"][key].get("type")
        if kind == "integer":
            assert type(value) is int
        if kind == "number":
            assert isinstance(value, float) and math.isfinite(value) and value > 0
        if kind == "string":
            assert isinstance(value, str) and "\x00" not in value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400, True, "2e13"])
def test_non_finite_and_absurd_numbers_are_refused(value: object) -> None:
    with pytest.raises(ToolError, match="budget_flops"):
        check_arguments(
            tools.BY_NAME["propose"], {"variant": "v", "hypothesis": "h"} | {"budget_flops": value}
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    variant=st.text(st.sampled_from("../\x00 aZ-_\n\u202e"), max_size=12)
    | st.sampled_from(HOSTILE_PIECES)
)
def test_hostile_names_reach_the_verbs_and_are_refused_cleanly(org: Path, variant: str) -> None:
    seat = Seat("ada", org, org)
    for name, args in (
        ("compare", {"a": "base", "b": variant}),
        ("read", {"id": variant}),
        ("board", {"thread": variant}),
        ("run", {"variant": variant, "command": "python -c pass"}),
    ):
        with contextlib.suppress(OrgtuiError):  # a refusal; anything else fails the test
            call(seat, name, args)
    assert not (org.parent / "etc").exists()


async def test_an_unexpected_exception_is_a_tool_error_and_the_server_goes_on(
    org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(seat: Seat, args: dict[str, Any]) -> str:
        raise RuntimeError("the ledger fell over")

    monkeypatch.setitem(tools.BY_NAME, "ledger", replace(tools.BY_NAME["ledger"], run=broken))
    monkeypatch.setenv("ORGTUI_AGENT", "ada")
    async with Client(build_server(str(org))) as client:
        failed = await client.call_tool("ledger", {})
        fine = await client.call_tool("compare", {"a": "base", "b": "nocap"})
    assert failed.is_error
    assert "ledger failed inside orgtui (RuntimeError: the ledger fell over)" in text(failed)
    assert "orgtui ledger" in text(failed)
    assert not fine.is_error and "improvement" in text(fine)


def test_the_builtin_agent_offers_the_same_org_tools(org: Path) -> None:
    for tool in TOOLS:
        assert AGENT_TOOLS[tool.name].parameters is tool.schema
        assert AGENT_TOOLS[tool.name].description == tool.description
    ctx = ToolContext(load_config(org), "ada", org)
    assert "verdict: improvement" in execute(ctx, "compare", {"a": "base", "b": "nocap"})
    refused = execute(ctx, "compare", {"a": "base"})
    assert refused.startswith("error: compare: missing required argument 'b'")
