"""The collector as the supervisor runs it: stat first, one seat's trouble never another's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orgtui.backends.hooks import record_event
from orgtui.spend import usage as usage_module
from orgtui.spend.claude import TRANSCRIPTS_FILE
from orgtui.spend.tokens import TokenCounts, seat_usage
from orgtui.spend.usage import UsageCollector
from tests.spend.helpers import as_json, claude_line, collect, seat


def test_an_unchanged_file_is_only_stat_ed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = seat(tmp_path)
    usage = paths.agent_dir("ada") / "usage.jsonl"
    usage.write_bytes(as_json({"id": "a", "model": "m", "input_tokens": 3}))
    assert collect(paths)[0] == {"m": TokenCounts(input=3)}
    before = paths.spend_file("ada").stat().st_mtime_ns

    real_open = os.open

    def refuse(path: object, *args: object, **kwargs: object) -> int:
        assert Path(str(path)) != usage, "opened a file that had not changed"
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(usage_module.os, "open", refuse)
    assert collect(paths) == ({"m": TokenCounts(input=3)}, [])
    assert paths.spend_file("ada").stat().st_mtime_ns == before  # nothing rewritten either


def test_one_broken_seat_is_logged_and_the_others_are_collected(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    seat(tmp_path, "bob")
    os.mkfifo(paths.agent_dir("ada") / "spend.lock")
    (paths.agent_dir("bob") / "usage.jsonl").write_bytes(
        as_json({"model": "m", "output_tokens": 2})
    )
    lines: list[str] = []
    collector = UsageCollector(paths, lines.append)
    assert collector.collect(["ada", "bob", "ghost"]) == ["bob"]
    assert seat_usage(paths, "bob") == {"m": TokenCounts(output=2)}
    assert len([line for line in lines if "ada: usage not collected" in line]) == 1
    collector.collect(["ada", "bob"])
    assert len([line for line in lines if "ada: usage not collected" in line]) == 1  # once


def test_a_claude_hook_names_the_transcript_the_collector_reads(tmp_path: Path) -> None:
    paths = seat(tmp_path)
    projects = paths.agent_dir("ada") / "home" / ".claude" / "projects" / "-wt"
    projects.mkdir(parents=True)
    transcript = tmp_path / "elsewhere" / "s1.jsonl"  # the person's login: a named file
    transcript.parent.mkdir()
    transcript.write_bytes(claude_line("msg_1", "claude-a", TokenCounts(2, 3, 5, 7)))
    inside = projects / "s1.jsonl"
    os.link(transcript, inside)
    event = {"hook_event_name": "Stop", "session_id": "s1", "transcript_path": str(inside)}
    record_event(tmp_path, "ada", "claude", json.dumps(event))
    hostile = {**event, "transcript_path": str(transcript)}
    record_event(tmp_path, "ada", "claude", json.dumps(hostile))
    record_event(tmp_path, "ada", "codex", json.dumps({**event, "transcript_path": "/x.jsonl"}))
    named = json.loads((paths.agent_dir("ada") / TRANSCRIPTS_FILE).read_text())
    assert named == [str(inside.resolve())]
    assert collect(paths)[0] == {"claude-a": TokenCounts(2, 3, 5, 7)}


@pytest.mark.parametrize("chunk", [64, 100, 257])
def test_a_line_longer_than_a_read_is_skipped_whole_and_the_next_ones_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(usage_module, "READ_CHUNK", chunk)
    paths = seat(tmp_path)
    usage = paths.agent_dir("ada") / "usage.jsonl"
    long = as_json({"id": "long", "model": "m", "input_tokens": 1000, "pad": "x" * 700})
    short = as_json({"id": "s", "model": "m", "output_tokens": 3})
    usage.write_bytes(short + long[:300])
    warnings: list[str] = []
    for _ in range(30):  # a few reads: each takes at most one chunk
        warnings += collect(paths)[1]
    with usage.open("ab") as handle:
        handle.write(long[300:] + short.replace(b'"s"', b'"t"'))
    for _ in range(30):
        warnings += collect(paths)[1]
    assert seat_usage(paths, "ada") == {"m": TokenCounts(output=6)}
    assert any("is over" in w for w in warnings)
