"""Replay traces: odd fields read as None; a line without ``t`` and ``index`` is an error
that names its line; no other exception ever escapes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.gpu import GpuError, GpuReading, ReplaySource
from orgtui.gpu.replay import reading_from_trace, trace_row
from tests.gpu.strategies import JSON, TRACE_ROW, sane_reading


@settings(max_examples=150, deadline=None)
@given(frames=st.lists(st.lists(TRACE_ROW, min_size=1, max_size=3), min_size=1, max_size=5))
def test_hostile_trace_fields_read_as_none(frames: list[list[dict[str, object]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "t.jsonl"
        rows = [
            json.dumps(row | {"t": 10.0 + number, "index": index})
            for number, frame in enumerate(frames)
            for index, row in enumerate(frame)
        ]
        trace.write_text("\n".join(rows) + "\n")
        source = ReplaySource(trace, by_call=True)
        assert source.frame_count == len(frames)
        for frame in frames:
            readings = source.devices()
            assert [r.index for r in readings] == list(range(len(frame)))
            assert all(sane_reading(r) and r.source == "replay" for r in readings)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))
        | JSON.map(lambda v: json.dumps(v).encode())
        | st.builds(
            lambda t, index, rest: json.dumps(rest | {"t": t, "index": index}).encode(),
            JSON,
            JSON,
            TRACE_ROW,
        ),
        max_size=6,
    )
)
def test_any_trace_file_opens_or_is_a_gpu_error(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "t.jsonl"
        trace.write_bytes(b"\n".join(lines))
        try:
            source = ReplaySource(trace, by_call=True)
        except GpuError as error:
            assert str(trace) in str(error)
            return
        for _ in range(source.frame_count):
            assert all(sane_reading(r) for r in source.devices())


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('{"t": NaN, "index": 0}', "t=nan"),
        ('{"t": 1e400, "index": 0}', "t=inf"),
        ('{"t": 1, "index": Infinity}', "index=inf"),
        ('{"t": 1, "index": "0"}', "index='0'"),
        ('{"t": 1, "index": -1}', "index=-1"),
        ("[1, 2]", "needs a JSON object"),
        ("[" * 5000, "not JSON"),
    ],
)
def test_a_line_without_time_and_index_names_its_line(
    tmp_path: Path, line: str, found: str
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"t": 0, "index": 0}\n' + line + "\n")
    with pytest.raises(GpuError, match=r"t\.jsonl:2: not a GPU trace line") as caught:
        ReplaySource(trace)
    assert found in str(caught.value)


@pytest.mark.timeout(20)
def test_unreadable_traces_are_gpu_errors(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"t": 0, "index": 0, "name": "\xe9"}\n')
    with pytest.raises(GpuError, match=r"latin1.jsonl: cannot read replay trace \(not UTF-8"):
        ReplaySource(bad)
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(GpuError, match=r"fifo.jsonl: cannot read replay trace \(not a regular"):
        ReplaySource(fifo)
    with pytest.raises(GpuError, match="positive number"):
        ReplaySource(fifo, speed=float("nan"))


@settings(max_examples=100, deadline=None)
@given(row=TRACE_ROW, index=st.integers(0, 8))
def test_trace_row_writes_what_reading_from_trace_reads(row: dict[str, object], index: int) -> None:
    reading = reading_from_trace(row | {"index": index}, "replay", 5.0)
    again = reading_from_trace(trace_row(reading, 1.0), "replay", 5.0)
    assert _rounded(again) == _rounded(reading)


def _rounded(reading: GpuReading) -> tuple[object, ...]:
    """Power in whole milliwatts, as a trace stores it."""
    power = (reading.power_w, reading.power_limit_w)
    watts = tuple(None if w is None else round(w * 1000) for w in power)
    return (reading.index, reading.name, reading.util, reading.mem_used, reading.procs, watts)
