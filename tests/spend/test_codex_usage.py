"""Codex rollouts: cumulative token_count totals counted by what they grew, once per thread."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.paths import OrgPaths
from orgtui.spend.tokens import TokenCounts
from tests.spend.helpers import as_json, collect, rewrite, seat

THREAD = "01a23c77-1a7d-70d2-a392-87d1488ad3c0"


def rollout(paths: OrgPaths, name: str = THREAD) -> Path:
    path = paths.agent_dir("ada") / "codex" / "sessions" / "2026" / "12" / "03"
    path.mkdir(parents=True, exist_ok=True)
    return path / f"rollout-2026-12-03T15-12-48-{name}.jsonl"


def meta(thread: str = THREAD) -> bytes:
    return as_json({"type": "session_meta", "payload": {"id": thread, "source": "cli"}})


def turn(model: str) -> bytes:
    return as_json({"type": "turn_context", "payload": {"model": model, "turn_id": "t"}})


def usage(given: int, cached: int, output: int, written: int = 0) -> dict:
    return {
        "input_tokens": given,
        "cached_input_tokens": cached,
        "cache_write_input_tokens": written,
        "output_tokens": output,
        "reasoning_output_tokens": output // 3,
        "total_tokens": given + output,
    }


def token_count(total: dict, last: dict | None = None) -> bytes:
    info = {"total_token_usage": total, "last_token_usage": last or total}
    return as_json({"type": "event_msg", "payload": {"type": "token_count", "info": info}})


def test_cumulative_totals_count_what_they_grew_and_repeats_add_nothing(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    path = rollout(paths)
    path.write_bytes(meta() + turn("gpt-a") + token_count(usage(100, 40, 7)))
    assert collect(paths)[0] == {"gpt-a": TokenCounts(input=60, output=7, cache_read=40)}
    rate_limits = as_json({"type": "event_msg", "payload": {"type": "token_count", "info": None}})
    with path.open("ab") as handle:
        handle.write(token_count(usage(100, 40, 7)) + rate_limits)  # the same total again
        handle.write(token_count(usage(250, 90, 20, 10), usage(150, 50, 13, 10)))
    assert collect(paths)[0] == {
        "gpt-a": TokenCounts(input=250 - 90 - 10, output=20, cache_write=10, cache_read=90)
    }


def test_a_resume_appending_to_the_same_thread_continues_its_total(tmp_path: Path) -> None:
    """As Codex 0.171 does: ``codex resume`` appends to the rollout, the total goes on."""
    paths = seat(tmp_path)
    path = rollout(paths)
    path.write_bytes(meta() + turn("gpt-a") + token_count(usage(100, 40, 7)))
    collect(paths)
    with path.open("ab") as handle:
        handle.write(turn("gpt-b") + token_count(usage(300, 100, 10), usage(200, 60, 3)))
    assert collect(paths)[0] == {
        "gpt-a": TokenCounts(input=60, output=7, cache_read=40),
        "gpt-b": TokenCounts(input=140, output=3, cache_read=60),
    }


def test_the_same_thread_in_a_second_file_is_not_counted_twice(tmp_path: Path) -> None:
    """Should a resume copy the thread into a new rollout, its totals are already counted."""
    paths = seat(tmp_path)
    first = meta() + turn("gpt-a") + token_count(usage(100, 40, 7))
    rollout(paths).write_bytes(first)
    collect(paths)
    rollout(paths, "copy").write_bytes(first + token_count(usage(130, 40, 9), usage(30, 0, 2)))
    assert collect(paths)[0] == {"gpt-a": TokenCounts(input=90, output=9, cache_read=40)}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(
                st.just("call"),
                st.integers(0, 10**5),
                st.integers(0, 10**5),
                st.integers(0, 10**5),
                st.integers(0, 10**5),
            ),
            st.tuples(st.just("repeat")),
            st.tuples(st.just("cut"), st.integers(1, 120)),
            st.tuples(st.just("junk"), st.binary(max_size=200)),
            st.tuples(
                st.just("bad"),
                st.sampled_from(("input_tokens", "cached_input_tokens", "output_tokens")),
                st.one_of(
                    st.integers(max_value=-1),
                    st.integers(min_value=10**9 + 1),
                    st.floats(),
                    st.text(max_size=3),
                    st.booleans(),
                ),
            ),
            st.tuples(st.just("replace")),
            st.tuples(st.just("truncate")),
            st.tuples(st.just("model"), st.sampled_from(("gpt-a", "gpt-b"))),
        ),
        max_size=25,
    )
)
def test_totals_equal_the_calls_made_whatever_happens_to_the_rollout(
    tmp_path_factory, steps: list[tuple]
) -> None:
    """Fuzzed: calls, repeated events, cut lines, random bytes, bad values, the file
    replaced or rewritten in place, model changes: totals are exactly the calls recorded."""
    paths = seat(tmp_path_factory.mktemp("org"))
    path = rollout(paths)
    written = bytearray(meta() + turn("gpt-a"))
    path.write_bytes(bytes(written))
    model, total = "gpt-a", usage(0, 0, 0)
    expected: dict[str, TokenCounts] = {}
    pending: tuple[bytes, str, TokenCounts] | None = None

    def write(data: bytes) -> None:
        nonlocal pending
        if pending is not None:
            data, (_, name, counts) = pending[0] + data, pending
            expected[name] = expected.get(name, TokenCounts()) + counts
            pending = None
        with path.open("ab") as handle:
            handle.write(data)
        written.extend(data)

    for step in steps:
        if step[0] in ("call", "cut"):
            given, cached, written_, output = step[1:] if step[0] == "call" else (9, 3, 2, 5)
            cached, written_ = min(cached, given), min(written_, given - min(cached, given))
            last = usage(given, cached, output, written_)
            total = {k: total[k] + last[k] for k in total}
            counts = TokenCounts(given - cached - written_, output, written_, cached)
            line = token_count(total, last)
            if step[0] == "call":
                write(line)
                if counts.total:
                    expected[model] = expected.get(model, TokenCounts()) + counts
            else:
                write(b"")
                at = min(step[1], len(line) - 1)
                write(line[:at])
                pending = (line[at:], model, counts)
        elif step[0] == "repeat":
            write(token_count(total))
        elif step[0] == "junk":
            write(step[1].replace(b"\n", b" ") + b"\n")
        elif step[0] == "bad":
            bad = json.loads(token_count(total))
            bad["payload"]["info"]["total_token_usage"][step[1]] = step[2]
            write(as_json(bad))
        elif step[0] == "model":
            model = step[1]
            write(turn(model))
        elif step[0] in ("replace", "truncate"):
            rewrite(path, bytes(written), step[0])
        found, _ = collect(paths)
        assert found == {m: c for m, c in expected.items() if c.total}
    write(b"")
    assert collect(paths)[0] == {m: c for m, c in expected.items() if c.total}


def test_a_symlinked_dir_leading_out_of_the_sessions_is_not_followed(tmp_path: Path) -> None:
    paths = seat(tmp_path / "org")
    other = seat(tmp_path / "other")
    rollout(other).write_bytes(meta() + turn("gpt-a") + token_count(usage(100, 40, 7)))
    sessions = paths.agent_dir("ada") / "codex" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "2026").symlink_to(other.agent_dir("ada") / "codex" / "sessions" / "2026")
    found, warnings = collect(paths)
    assert found == {}
    assert any("leads outside" in w for w in warnings)
    assert collect(other)[0] == {"gpt-a": TokenCounts(input=60, output=7, cache_read=40)}
