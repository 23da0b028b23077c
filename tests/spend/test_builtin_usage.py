"""The builtin agent's usage.jsonl: the real SDKs' usage, exact; hostile lines skipped."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.agent.loop import run_agent
from orgtui.config import OrgConfig
from orgtui.spend.records import MAX_CALL_TOKENS
from orgtui.spend.tokens import MAX_TOKENS, TokenCounts
from tests.agent.conftest import PLANTED_ANTHROPIC, PLANTED_OPENAI
from tests.agent.fakes import (
    FakeModelServer,
    a_text,
    a_tool,
    anthropic_message,
    o_call,
    o_text,
    openai_response,
)
from tests.spend.helpers import as_json, collect, seat

FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


def test_anthropic_usage_with_cache_tokens_is_exact(
    org: OrgConfig, clean_env: pytest.MonkeyPatch
) -> None:
    served = [(11, 7, 13, 17), (19, 23, 29, 31), (37, 41, 0, 43)]
    replies = [
        anthropic_message(a_tool("t1", "bash", {"command": "echo one"})),
        anthropic_message(a_tool("t2", "bash", {"command": "echo two"})),
        anthropic_message(a_text("done")),
    ]
    for reply, (i, o, cw, cr) in zip(replies, served, strict=True):
        reply["usage"] = {
            "input_tokens": i,
            "output_tokens": o,
            "cache_creation_input_tokens": cw,
            "cache_read_input_tokens": cr,
        }
    clean_env.setenv("ANTHROPIC_API_KEY", PLANTED_ANTHROPIC)
    with FakeModelServer(replies).running() as server:
        clean_env.setenv("ANTHROPIC_BASE_URL", server.url)
        assert run_agent(org, org.agent("ada"), first="go", interactive=False, cwd=org.root) == 0
    expected = TokenCounts(*(sum(s[k] for s in served) for k in range(4)))
    assert collect(org.paths) == ({"claude-fake": expected}, [])
    assert collect(org.paths) == ({"claude-fake": expected}, [])  # read once


def test_openai_cached_tokens_are_not_counted_as_input_too(
    org: OrgConfig, clean_env: pytest.MonkeyPatch
) -> None:
    (org.root / "worktrees" / "oli").mkdir(parents=True)
    first = openai_response(o_call("c1", "bash", {"command": "echo hi"}))
    second = openai_response(o_text("done"))
    for reply, (given_, cached, out, reasoning) in (
        (first, (101, 41, 13, 5)),
        (second, (211, 97, 17, 0)),
    ):
        reply["usage"] = {
            "input_tokens": given_,
            "output_tokens": out,
            "total_tokens": given_ + out,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens_details": {"reasoning_tokens": reasoning},
        }
    clean_env.setenv("OPENAI_API_KEY", PLANTED_OPENAI)
    with FakeModelServer([first, second]).running() as server:
        clean_env.setenv("OPENAI_BASE_URL", server.url + "/v1")
        assert run_agent(org, org.agent("oli"), first="go", interactive=False, cwd=org.root) == 0
    expected = TokenCounts(input=(101 - 41) + (211 - 97), output=13 + 17, cache_read=41 + 97)
    assert collect(org.paths, "oli") == ({"gpt-fake": expected}, [])


def test_a_rewritten_usage_file_counts_each_call_once(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    usage = paths.agent_dir("ada") / "usage.jsonl"
    lines = [
        as_json({"id": f"c{n}", "model": "m", "input_tokens": n, "output_tokens": 1})
        for n in range(1, 4)
    ]
    usage.write_bytes(b"".join(lines[:2]))
    assert collect(paths)[0] == {"m": TokenCounts(input=3, output=2)}
    fresh = usage.with_suffix(".new")
    fresh.write_bytes(b"".join(lines))
    os.replace(fresh, usage)  # replaced: read again from the start, old ids skipped
    found, warnings = collect(paths)
    assert found == {"m": TokenCounts(input=6, output=3)}
    assert any("replaced or truncated" in w for w in warnings)


def test_a_total_that_would_pass_the_cap_is_refused_not_wrapped(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    usage = paths.agent_dir("ada") / "usage.jsonl"
    per_call = MAX_CALL_TOKENS
    calls = MAX_TOKENS // per_call
    usage.write_bytes(as_json({"model": "m", "input_tokens": per_call}))
    collect(paths)
    spend = json.loads(paths.spend_file("ada").read_text())
    spend["models"]["m"]["input"] = per_call * (calls - 1)  # as if counted over years
    paths.spend_file("ada").write_text(json.dumps(spend))
    with usage.open("ab") as handle:
        handle.write(as_json({"model": "m", "input_tokens": per_call}) * 2)
    found, warnings = collect(paths)
    assert found == {"m": TokenCounts(input=MAX_TOKENS)}
    assert any("would pass" in w for w in warnings)


values = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _valid(value: object) -> bool:
    return value is None or (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CALL_TOKENS
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(
        st.tuples(
            st.fixed_dictionaries({k: values for k in FIELDS}),
            st.one_of(st.just("gpt-x"), st.text(max_size=3), st.integers(), st.none()),
            st.sampled_from(("whole", "junk", "cut", "not-an-object")),
        ),
        max_size=12,
    )
)
def test_any_record_is_counted_exactly_or_skipped(tmp_path_factory, records: list) -> None:
    """Fuzzed: wrong types, negative, huge, NaN and infinite counts, odd models, random
    bytes, lines cut mid-way, lines that are not objects: valid records count exactly, the
    rest are skipped, and nothing raises."""
    paths = seat(tmp_path_factory.mktemp("org"))
    usage = paths.agent_dir("ada") / "usage.jsonl"
    usage.write_bytes(b"")
    expected: dict[str, TokenCounts] = {}
    for number, (fields, model, shape) in enumerate(records):
        line = json.dumps({"id": f"r{number}", "model": model, **fields}).encode() + b"\n"
        if shape == "junk":
            line = os.urandom(number * 7).replace(b"\n", b"") + b"\n"
        elif shape == "not-an-object":
            line = json.dumps([fields]).encode() + b"\n"
        with usage.open("ab") as handle:
            if shape == "cut":
                handle.write(line[: len(line) // 2])
                handle.flush()
                collect(paths)
                line = line[len(line) // 2 :]
            handle.write(line)
        if shape in ("whole", "cut") and all(_valid(v) for v in fields.values()):
            counts = TokenCounts(*(fields[k] or 0 for k in FIELDS))
            name = (
                model
                if isinstance(model, str)
                and model
                and model.isprintable()
                and model == model.strip()
                else "unknown"
            )
            if counts.total:
                expected[name] = expected.get(name, TokenCounts()) + counts
        found, _ = collect(paths)
        assert found == expected
    assert not any(math.isnan(c.total) for c in expected.values())


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_usage_file_that_is_not_a_file_is_refused_without_blocking(
    tmp_path: Path, kind: str
) -> None:
    paths = seat(tmp_path)
    usage = paths.agent_dir("ada") / "usage.jsonl"
    if kind == "fifo":
        os.mkfifo(usage)
    elif kind == "dev-zero":
        usage.symlink_to("/dev/zero")
    else:
        usage.mkdir()
    found, warnings = collect(paths)
    assert found == {}
    assert any("not a plain file" in w for w in warnings)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=2000))
def test_a_corrupt_spend_file_is_recounted_from_the_records(
    tmp_path_factory, garbage: bytes
) -> None:
    paths = seat(tmp_path_factory.mktemp("org"))
    usage = paths.agent_dir("ada") / "usage.jsonl"
    usage.write_bytes(
        b"".join(as_json({"id": f"c{n}", "model": "m", "output_tokens": 5}) for n in range(3))
    )
    assert collect(paths)[0] == {"m": TokenCounts(output=15)}
    paths.spend_file("ada").write_bytes(garbage)
    assert collect(paths)[0] == {"m": TokenCounts(output=15)}
