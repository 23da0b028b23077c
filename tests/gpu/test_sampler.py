"""The sample ring stays bounded; GPU-hours accrue per agent while its GPU is busy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orgtui.gpu import GpuSampler, ReplaySource, gpu_hours, latest_sample, read_samples
from orgtui.paths import OrgPaths
from tests.gpu.conftest import write_trace


def busy_trace(tmp_path: Path) -> Path:
    """GPU 0 busy (50%), GPU 1 idle (2%), every frame."""
    return write_trace(
        tmp_path / "busy.jsonl",
        [[{"index": 0, "util": 50, "procs": []}, {"index": 1, "util": 2}]],
    )


def test_ring_stays_bounded_and_keeps_the_newest(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    source = ReplaySource(busy_trace(tmp_path), by_call=True)
    sampler = GpuSampler(paths, source, every_s=1.0, history_s=10.0)
    taken = [sampler.tick(float(t), {}, {}) for t in range(40)]
    assert all(s is not None for s in taken)
    lines = paths.gpu_samples.read_text().splitlines()
    assert 10 <= len(lines) <= 12
    samples = read_samples(paths)
    assert samples[-1].time == 39.0
    assert [s.time for s in samples] == sorted(s.time for s in samples)
    assert [s.time for s in read_samples(paths, last_n=3)] == [37.0, 38.0, 39.0]
    latest = latest_sample(paths)
    assert latest is not None and latest.source == "replay"
    assert [g.util for g in latest.gpus] == [50, 2]


def test_not_due_samples_are_skipped(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    sampler = GpuSampler(paths, ReplaySource(busy_trace(tmp_path), by_call=True), every_s=2.0)
    assert sampler.tick(0.0, {}, {}) is not None
    assert sampler.tick(1.0, {}, {}) is None
    assert sampler.tick(2.0, {}, {}) is not None
    assert len(read_samples(paths)) == 2


def test_gpu_hours_accrue_only_while_busy(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    trace = busy_trace(tmp_path)
    gpus = {"a": 0, "b": 1, "c": None}
    sampler = GpuSampler(paths, ReplaySource(trace, by_call=True), every_s=1.0)
    for t in range(11):
        sampler.tick(1000.0 + t, {}, gpus)
    hours = gpu_hours(paths)
    assert hours["a"] == pytest.approx(10 / 3600)
    assert "b" not in hours and "c" not in hours
    # a long gap (supervisor down) counts as at most three periods
    sampler.tick(2000.0, {}, gpus)
    assert gpu_hours(paths)["a"] == pytest.approx(13 / 3600)
    # a new sampler (supervisor restart) carries on from the file
    again = GpuSampler(paths, ReplaySource(trace, by_call=True), every_s=1.0)
    again.tick(3000.0, {}, gpus)
    again.tick(3001.0, {}, gpus)
    assert gpu_hours(paths)["a"] == pytest.approx(14 / 3600)
    assert json.loads(paths.gpu_hours.read_text()) == gpu_hours(paths)


def test_readers_skip_torn_lines_and_missing_files(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    assert read_samples(paths) == [] and latest_sample(paths) is None and gpu_hours(paths) == {}
    sampler = GpuSampler(paths, ReplaySource(busy_trace(tmp_path), by_call=True))
    sampler.tick(1.0, {}, {})
    with paths.gpu_samples.open("a") as handle:
        handle.write('{"t": 2, "gpus": [')  # a writer caught mid-line
    assert [s.time for s in read_samples(paths)] == [1.0]
    assert [s.time for s in read_samples(paths, last_n=5)] == [1.0]


def test_a_torn_last_line_does_not_swallow_the_next_sample(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    trace = busy_trace(tmp_path)
    GpuSampler(paths, ReplaySource(trace, by_call=True)).tick(1.0, {}, {})
    with paths.gpu_samples.open("a") as handle:
        handle.write('{"t": 2, "gpus": [')
    GpuSampler(paths, ReplaySource(trace, by_call=True)).tick(3.0, {}, {})
    assert [s.time for s in read_samples(paths)] == [1.0, 3.0]
