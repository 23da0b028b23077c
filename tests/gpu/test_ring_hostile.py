"""The ``.org/gpu.jsonl`` ring and the GPU-hours file under hostile contents and file types.

Readers return the good samples and skip the rest; nothing raises, and nothing blocks on a
FIFO (each test that meets one carries a short timeout, so a hang fails it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.gpu import (
    GpuError,
    GpuSample,
    GpuSampler,
    ReplaySource,
    gpu_hours,
    latest_sample,
    read_samples,
)
from orgtui.paths import OrgPaths
from tests.gpu.conftest import write_trace
from tests.gpu.strategies import SAMPLE, VALID_SAMPLE, sane_sample


def _line(sample: GpuSample) -> bytes:
    return json.dumps(sample.to_json(), separators=(",", ":")).encode()


HOSTILE_LINE = (
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
    | SAMPLE.map(lambda d: json.dumps(d).encode())
    | VALID_SAMPLE.flatmap(lambda s: st.integers(0, len(_line(s)) - 1).map(lambda n: _line(s)[:n]))
    | st.sampled_from([b"\xff\xfe{", b'{"t": 1e400}', b"[" * 5000, b'{"t": 1, "gpus": "ab"}'])
)
"""A line of the ring that is not a good sample: bytes, hostile fields, torn, nested deep."""


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.tuples(st.booleans(), VALID_SAMPLE, HOSTILE_LINE), min_size=1, max_size=12),
    last_n=st.integers(1, 6),
)
def test_readers_keep_every_good_sample_among_hostile_lines(
    lines: list[tuple[bool, GpuSample, bytes]], last_n: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = OrgPaths(Path(tmp))
        paths.org_dir.mkdir()
        good = [sample for is_good, sample, _ in lines if is_good]
        body = b"\n".join(_line(s) if is_good else bad for is_good, s, bad in lines)
        paths.gpu_samples.write_bytes(body)
        samples = read_samples(paths)
        assert all(sane_sample(s) for s in samples)
        assert _subsequence(good, samples)
        tail = read_samples(paths, last_n=last_n)
        assert len(tail) <= last_n and tail == samples[len(samples) - len(tail) :]
        if lines[-1][0]:  # a good last line is always the latest
            assert latest_sample(paths) == good[-1]


def _subsequence(needles: list[GpuSample], haystack: list[GpuSample]) -> bool:
    found = iter(haystack)
    return all(any(n == h for h in found) for n in needles)


@pytest.mark.timeout(20)
def test_a_fifo_or_directory_in_place_of_the_files_reads_as_empty(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    paths.org_dir.mkdir()
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": 50}]])
    for make in (os.mkfifo, os.mkdir):
        make(paths.gpu_samples)
        make(paths.gpu_hours)
        assert read_samples(paths) == [] and read_samples(paths, last_n=3) == []
        assert latest_sample(paths) is None and gpu_hours(paths) == {}
        with pytest.raises(GpuError, match=r"gpu\.jsonl: not a regular file.*remove it"):
            GpuSampler(paths, ReplaySource(trace, by_call=True))
        with pytest.raises(GpuError, match="not a regular file"):
            ReplaySource(paths.gpu_samples)
        os.rmdir(paths.gpu_samples) if paths.gpu_samples.is_dir() else paths.gpu_samples.unlink()
        os.rmdir(paths.gpu_hours) if paths.gpu_hours.is_dir() else paths.gpu_hours.unlink()


@pytest.mark.timeout(20)
def test_a_ring_turned_fifo_mid_run_fails_the_tick_without_blocking(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": 50}]])
    sampler = GpuSampler(paths, ReplaySource(trace, by_call=True))
    assert sampler.tick(1.0, {}, {"a": 0}) is not None
    paths.gpu_samples.unlink()
    os.mkfifo(paths.gpu_samples)
    with pytest.raises(GpuError, match="not a regular file"):
        sampler.tick(2.0, {}, {"a": 0})
    paths.gpu_samples.unlink()
    assert sampler.tick(3.0, {}, {"a": 0}) is not None
    assert [s.time for s in read_samples(paths)] == [3.0]
    # the failed tick's busy second was kept, not lost and not counted twice
    assert gpu_hours(paths)["a"] == pytest.approx(2 / 3600)


def test_non_utf8_lines_are_skipped_and_trimmed_away(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    paths.org_dir.mkdir()
    paths.gpu_samples.write_bytes(b"\xff\xfe\x00garbage\n" * 3)
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": 50}]])
    sampler = GpuSampler(paths, ReplaySource(trace, by_call=True), every_s=1.0, history_s=4.0)
    for t in range(6):
        sampler.tick(float(t), {}, {})
    # capacity 4, trimmed back to 4 lines whenever it passes 5
    assert [s.time for s in read_samples(paths)] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert b"\xff" not in paths.gpu_samples.read_bytes()


def test_hostile_gpu_hours_keep_only_finite_non_negative_values(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    paths.org_dir.mkdir()
    paths.gpu_hours.write_text(
        '{"a": 1.5, "b": NaN, "c": -2, "d": "3", "e": 1e400, "f": true, "g": 2}'
    )
    assert gpu_hours(paths) == {"a": 1.5, "g": 2.0}
    for text in ("[1, 2]", "{", "\udcff", "[" * 5000):
        paths.gpu_hours.write_bytes(text.encode(errors="surrogateescape"))
        assert gpu_hours(paths) == {}
