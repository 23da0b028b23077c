"""Claude Code transcripts: each message once, read incrementally, whatever the file does."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.paths import OrgPaths
from orgtui.spend.claude import TRANSCRIPTS_FILE, allowed_transcript, remember_transcript
from orgtui.spend.tokens import TokenCounts
from tests.spend.helpers import add, claude_line, collect, rewrite, seat, totals

counts = st.builds(
    TokenCounts,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
MODELS = ("claude-a", "claude-b")


def transcript(paths: OrgPaths, name: str = "s1") -> Path:
    path = paths.agent_dir("ada") / "home" / ".claude" / "projects" / "-wt-ada" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def test_a_message_on_several_lines_counts_once_at_its_largest(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    path = transcript(paths)
    early = TokenCounts(input=7, output=1, cache_write=13, cache_read=17)
    final = TokenCounts(input=7, output=29, cache_write=13, cache_read=17)
    append(path, claude_line("msg_1", "claude-a", early, 0))
    assert collect(paths)[0] == {"claude-a": early}
    append(
        path,
        claude_line("msg_1", "claude-a", final, 1) + claude_line("msg_1", "claude-a", final, 2),
    )
    assert collect(paths)[0] == {"claude-a": final}
    assert collect(paths)[0] == {"claude-a": final}  # nothing new: nothing added


def test_a_line_cut_midway_waits_for_its_end(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    path = transcript(paths)
    line = claude_line("msg_1", "claude-a", TokenCounts(3, 5, 7, 11))
    append(path, line[:40])
    assert collect(paths) == ({}, [])
    append(path, line[40:])
    assert collect(paths) == ({"claude-a": TokenCounts(3, 5, 7, 11)}, [])


def test_a_resumed_session_copying_old_messages_is_not_counted_twice(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    old, new = transcript(paths, "s1"), transcript(paths, "s2")
    first = claude_line("msg_1", "claude-a", TokenCounts(3, 5, 7, 11))
    append(old, first)
    collect(paths)
    append(new, first + claude_line("msg_2", "claude-a", TokenCounts(1, 1, 1, 1)))
    assert collect(paths)[0] == {"claude-a": TokenCounts(4, 6, 8, 12)}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("message"), st.sampled_from(MODELS), counts, st.integers(1, 3)),
            st.tuples(st.just("cut"), st.sampled_from(MODELS), counts, st.integers(1, 200)),
            st.tuples(st.just("junk"), st.binary(max_size=300)),
            st.tuples(
                st.just("bad"),
                st.sampled_from(
                    (
                        "input_tokens",
                        "output_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    )
                ),
                st.one_of(
                    st.integers(max_value=-1),
                    st.integers(min_value=10**9 + 1),
                    st.floats(allow_nan=True),
                    st.text(max_size=5),
                    st.booleans(),
                    st.lists(st.integers(), max_size=2),
                ),
            ),
            st.tuples(st.just("truncate")),
            st.tuples(st.just("replace")),
            st.tuples(st.just("resume")),
            st.tuples(st.just("collect")),
        ),
        max_size=25,
    )
)
def test_totals_equal_what_was_written_whatever_happens_to_the_file(
    tmp_path_factory, steps: list[tuple]
) -> None:
    """Fuzzed: messages on several lines, lines cut mid-way, random bytes, bad values,
    the file truncated and rewritten, replaced, a resume copying everything: after each
    collection the totals are exactly the complete messages written, never more."""
    paths = seat(tmp_path_factory.mktemp("org"))
    path = transcript(paths)
    path.write_bytes(b"")
    written = bytearray()  # every byte of the session so far (what a resume copies)
    expected: dict[str, TokenCounts] = {}
    pending, pending_counts = b"", ("", TokenCounts())

    def write(data: bytes) -> None:
        nonlocal pending, pending_counts
        append(path, pending + data)
        written.extend(pending + data)
        if pending:
            add(expected, *pending_counts)
        pending, pending_counts = b"", ("", TokenCounts())

    for number, step in enumerate(steps):
        mid = f"msg_{number}"
        if step[0] == "message":
            _, model, figures, blocks = step
            write(b"".join(claude_line(mid, model, figures, b) for b in range(blocks)))
            add(expected, model, figures)
        elif step[0] == "cut":  # the head now, the rest with the next write
            _, model, figures, at = step
            write(b"")
            line = claude_line(mid, model, figures)
            append(path, line[:at])
            written.extend(line[:at])
            pending, pending_counts = line[at:], (model, figures)
        elif step[0] == "junk":
            write(step[1].replace(b"\n", b" ") + b"\n")
        elif step[0] == "bad":
            line = json.loads(claude_line(mid, "claude-a", TokenCounts(1, 1, 1, 1)))
            line["message"]["usage"][step[1]] = step[2]
            write(json.dumps(line).encode() + b"\n")
        elif step[0] in ("replace", "truncate"):
            rewrite(path, bytes(written), step[0])
        elif step[0] == "resume":
            path = transcript(paths, f"resumed{number}")
            path.write_bytes(bytes(written))
        assert collect(paths)[0] == totals(expected)
    write(b"")
    assert collect(paths)[0] == totals(expected)


def test_a_fifo_or_device_in_a_transcripts_place_is_refused_without_blocking(
    tmp_path: Path,
) -> None:
    paths = seat(tmp_path)
    fifo = transcript(paths, "fifo")
    os.mkfifo(fifo)
    transcript(paths, "zero").symlink_to("/dev/zero")
    good = transcript(paths, "good")
    append(good, claude_line("msg_1", "claude-a", TokenCounts(3, 5, 7, 11)))
    found, warnings = collect(paths)
    assert found == {"claude-a": TokenCounts(3, 5, 7, 11)}
    remember_transcript(paths, "ada", str(fifo))  # named by a hook: still never opened
    found, warnings = collect(paths)
    assert found == {"claude-a": TokenCounts(3, 5, 7, 11)}
    assert any("fifo.jsonl: not a plain file" in w for w in warnings)


def test_a_hook_may_name_only_transcripts_under_the_seats_dirs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "person"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    paths = seat(tmp_path / "org")
    seat(tmp_path / "org", "bob")
    own = transcript(paths)
    own.write_bytes(b"")
    person = tmp_path / "person" / ".claude" / "projects" / "-wt"
    person.mkdir(parents=True)
    (person / "s.jsonl").write_bytes(b"")
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(claude_line("msg_x", "claude-a", TokenCounts(1, 1, 1, 1)))
    link_dir = paths.agent_dir("ada") / "home" / "out"
    link_dir.symlink_to(tmp_path)
    refused = [
        str(outside),
        "/etc/passwd",
        "/dev/zero",
        "relative/t.jsonl",
        str(link_dir / "elsewhere.jsonl"),  # a symlinked dir leading out
        str(paths.agent_dir("bob") / "t.jsonl"),  # another seat's
        str(own.parent / ".." / ".." / ".." / ".." / ".." / ".." / "elsewhere.jsonl"),
        str(own.with_suffix(".txt")),
        str(own) + "\0",
    ]
    for raw in refused:
        assert allowed_transcript(paths, "ada", raw) is None, raw
    assert allowed_transcript(paths, "ada", str(own)) == own.resolve()
    assert allowed_transcript(paths, "ada", str(person / "s.jsonl")) is not None
    for raw in [*refused, 42, None, ["x"]]:
        remember_transcript(paths, "ada", raw)
    assert not (paths.agent_dir("ada") / TRANSCRIPTS_FILE).exists()
    assert collect(paths)[0] == {}


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.one_of(
        st.text(max_size=300),
        st.binary(max_size=50).map(repr),
        st.none(),
        st.integers(),
        st.lists(st.text(max_size=5), max_size=3),
    )
)
def test_any_hook_payload_path_is_either_under_an_allowed_root_or_refused(
    tmp_path_factory, raw: object
) -> None:
    root = tmp_path_factory.mktemp("org")
    paths = seat(root)
    remember_transcript(paths, "ada", raw)
    found = allowed_transcript(paths, "ada", raw)
    if found is not None:
        roots = [paths.agent_dir("ada").resolve(), (Path.home() / ".claude" / "projects").resolve()]
        assert any(r == found.parent or r in found.parents for r in roots)
    collect(paths)  # never raises
