"""Records read back from disk never raise, and never carry a number nobody measured."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.gpu import GpuProcess, GpuReading, GpuSample, ProcessOwner
from tests.gpu.strategies import SAMPLE, VALID_SAMPLE, sane_sample


@settings(max_examples=300, deadline=None)
@given(data=SAMPLE | st.lists(SAMPLE, max_size=2) | st.text(max_size=4) | st.none())
def test_hostile_sample_fields_read_as_none_never_raise(data: object) -> None:
    for parsed in (data, _through_json(data)):
        sample = GpuSample.from_json(parsed)
        assert sample is None or sane_sample(sample)


@settings(max_examples=200, deadline=None)
@given(sample=VALID_SAMPLE)
def test_a_sample_round_trips_through_a_ring_line(sample: GpuSample) -> None:
    line = json.dumps(sample.to_json(), separators=(",", ":"))
    assert GpuSample.from_json(json.loads(line)) == sample


def test_each_hostile_value_becomes_none() -> None:
    line = (
        '{"t": 5, "source": 7, "gpus": [{"index": 0, "util": NaN, "mem_util": -3,'
        ' "mem_used": 1e400, "mem_total": 18446744073709551615, "power_w": Infinity,'
        ' "power_limit_w": "700", "temp_c": true, "sm_clock": 1980.9, "name": ["x"],'
        ' "procs": [{"pid": -1}, {"pid": 0}, {"pid": "9"}, {"pid": 7, "used_bytes": -1}, 5],'
        ' "time": -1}, {"index": -1}, {"index": 1.0}, "gpu"],'
        ' "owners": [{"gpu": 0, "pid": 7, "used": NaN, "agent": 3, "flag": "odd"}, {"pid": 8}]}'
    )
    sample = GpuSample.from_json(json.loads(line))
    assert sample is not None and sample.time == 5.0 and sample.source == ""
    (gpu,) = sample.gpus
    assert gpu == GpuReading(index=0, sm_clock=1980, procs=(GpuProcess(7, None),), time=0.0)
    assert sample.owners == (ProcessOwner(0, 7, None, None, None),)


def test_a_line_without_a_finite_time_is_no_sample() -> None:
    for t in (None, "1", float("nan"), float("inf"), -1.0, True, 10**400):
        assert GpuSample.from_json({"t": t, "gpus": []}) is None
    assert GpuSample.from_json([1, 2]) is None
    assert GpuReading.from_json({"index": "0"}) is None
    assert ProcessOwner.from_json({"gpu": 0, "pid": True}) is None


def _through_json(data: object) -> object:
    """``data`` as a ring reader sees it after the writer's json.dumps (NaN/Infinity kept)."""
    try:
        return json.loads(json.dumps(data))
    except (ValueError, OverflowError):
        return None


def test_non_finite_numbers_survive_json_as_written() -> None:
    # the premise of the fuzz above: Python's json writes and reads these spellings
    assert math.isnan(json.loads(json.dumps(float("nan"))))
    assert json.loads("1e400") == math.inf
