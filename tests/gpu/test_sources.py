"""Sources: the replay trace's values and looping, NoGpu, and choosing a source from org.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgtui.config import GpuSpec
from orgtui.gpu import GpuError, NoGpu, NvmlSource, ReplaySource, open_source
from tests.gpu.conftest import H100_TRACE, write_trace


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_replay_h100_trace_values_match_the_file() -> None:
    clock = Clock()
    source = ReplaySource(H100_TRACE, clock=clock)
    assert source.label == "replay"
    assert source.frame_count == 1015
    first = source.devices()
    assert len(first) == 1
    gpu = first[0]
    assert gpu.index == 0 and gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.util == 0 and gpu.mem_total == 85520809984
    assert gpu.power_w == pytest.approx(70.221) and gpu.power_limit_w == 700.0
    assert gpu.source == "replay"
    # during training (mid trace) the GPU is busy and the trainer's process is listed
    busy = []
    for step in range(0, 240, 5):
        clock.now = float(step)
        busy.append(source.devices()[0])
    assert max(r.util or 0 for r in busy) > 90
    assert any(r.procs and (r.procs[0].used_bytes or 0) > 2**30 for r in busy)


def test_replay_loops_by_clock_and_speed(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": u}] for u in (10, 20, 30)])
    clock = Clock()
    source = ReplaySource(trace, clock=clock)
    seen = []
    for t in (0.0, 0.5, 1.0, 2.2, 3.0, 4.1, 5.9, 6.0):
        clock.now = t
        seen.append(source.devices()[0].util)
    # period is 3 s (two 1 s gaps plus one more step), so 3.0 wraps to the start
    assert seen == [10, 10, 20, 30, 10, 20, 30, 10]
    fast = ReplaySource(trace, clock=clock, speed=2.0)
    clock.now += 1.0  # 2 s of trace
    assert fast.devices()[0].util == 30


def test_replay_without_loop_holds_last_frame(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": u}] for u in (1, 2)])
    clock = Clock()
    source = ReplaySource(trace, clock=clock, loop=False)
    clock.now = 100.0
    assert source.devices()[0].util == 2
    by_call = ReplaySource(trace, by_call=True)
    assert [by_call.devices()[0].util for _ in range(5)] == [1, 2, 1, 2, 1]


def test_replay_multi_gpu_frames_and_missing_fields(tmp_path: Path) -> None:
    frames = [
        [{"index": 0, "util": 5}, {"index": 1, "util": 50, "procs": [{"pid": 7, "used": 9}]}],
        [{"index": 0}, {"index": 1, "util": 60}],
    ]
    trace = write_trace(tmp_path / "t.jsonl", frames)
    source = ReplaySource(trace, by_call=True)
    assert source.frame_count == 2
    first = source.devices()
    assert [r.index for r in first] == [0, 1]
    assert first[1].procs[0].pid == 7 and first[1].procs[0].used_bytes == 9
    second = source.devices()
    # a field the trace lacks is None, never a made-up number
    assert second[0].util is None and second[0].power_w is None and second[0].temp_c is None


def test_replay_bad_traces_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GpuError, match="cannot read"):
        ReplaySource(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(GpuError, match="empty"):
        ReplaySource(tmp_path / "empty.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"t": 1, "index": 0}\n{"util": 3}\n')
    with pytest.raises(GpuError, match=r"bad.jsonl:2"):
        ReplaySource(tmp_path / "bad.jsonl")


def test_no_gpu_has_no_devices() -> None:
    source = NoGpu()
    assert source.devices() == []
    assert source.label == "no GPU" and source.name == "none"
    source.close()


def test_open_source_choices(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", [[{"index": 0, "util": 1}]])
    assert open_source(GpuSpec(source="none"), tmp_path).name == "none"
    # relative replay paths are under the org root
    assert open_source(GpuSpec(source="replay:trace.jsonl"), tmp_path).name == "replay"
    assert open_source(f"replay:{trace}", "/").name == "replay"
    try:
        NvmlSource().close()
    except GpuError:
        pass
    else:
        return  # a GPU machine: the no-GPU fallbacks below do not apply
    # this machine has no GPU: auto falls back to NoGpu, an explicit nvml is an error
    assert open_source(GpuSpec(source="auto"), tmp_path).name == "none"
    with pytest.raises(GpuError, match="NVML"):
        open_source("nvml", tmp_path)
    with pytest.raises(GpuError, match="allowed"):
        open_source("cuda", tmp_path)
