"""Idle GPUs: only a whole window of low readings counts, and the chief hears of it once."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.gpu.idle import IDLE_UTIL_PCT, MAX_GAP_S, REPEAT_S, IdleNotice, idle_gpus
from orgtui.gpu.records import GpuReading, GpuSample
from tests.gpu.strategies import NUMBERS

NOW = 1_800_000_000.0
WINDOW = 600.0


def samples(utils: dict[int, list[float | None]], step: float = 1.0, end: float = NOW):
    """One sample per ``step`` seconds ending at ``end``; ``utils[gpu][i]`` is GPU ``gpu``'s
    utilisation in sample ``i`` (None: the GPU is missing from that sample)."""
    count = max(len(values) for values in utils.values())
    out = []
    for i in range(count):
        gpus = tuple(
            GpuReading(index=gpu, util=values[i])
            for gpu, values in utils.items()
            if i < len(values) and values[i] is not None
        )
        out.append(GpuSample(time=end - (count - 1 - i) * step, source="test", gpus=gpus))
    return out


def steady(util: float, seconds: float = WINDOW, step: float = 1.0) -> list[float | None]:
    return [util] * (int(seconds / step) + 1)


def test_a_gpu_low_for_the_whole_window_is_idle_and_a_busy_one_is_not():
    history = samples({0: steady(0.0), 1: steady(99.0), 2: steady(4.9)})
    assert idle_gpus(history, NOW, WINDOW) == [0, 2]


def test_one_busy_reading_inside_the_window_breaks_it():
    utils = steady(0.0)
    utils[len(utils) // 2] = 40.0
    assert idle_gpus(samples({0: utils}), NOW, WINDOW) == []
    # ... but not once it is older than the window
    assert idle_gpus(samples({0: utils}), NOW, WINDOW / 2 - 1) == [0]


def test_the_window_must_be_covered():
    short = samples({0: steady(0.0, seconds=WINDOW - 10)})
    assert idle_gpus(short, NOW, WINDOW) == []
    assert idle_gpus(short, NOW, WINDOW - 10) == [0]


def test_a_gap_in_the_samples_is_not_idle():
    history = samples({0: steady(0.0)})
    holed = history[:100] + history[100 + int(MAX_GAP_S) + 5 :]
    assert idle_gpus(holed, NOW, WINDOW) == []
    assert idle_gpus(history[:100] + history[110:], NOW, WINDOW) == [0]  # a short hole is fine


def test_a_gpu_missing_from_samples_leaves_a_gap():
    utils = steady(0.0)
    for i in range(200, 260):
        utils[i] = None
    history = samples({0: utils, 1: steady(0.0)})
    assert idle_gpus(history, NOW, WINDOW) == [1]


def test_stale_samples_are_not_idle():
    """The supervisor stopped sampling a while ago: nobody knows what the GPU does now."""
    history = samples({0: steady(0.0)}, end=NOW - 2 * MAX_GAP_S)
    assert idle_gpus(history, NOW, WINDOW) == []


def test_samples_from_the_future_are_left_out():
    past = samples({0: steady(0.0)})
    future = samples({0: steady(90.0, seconds=60)}, end=NOW + 3600)
    assert idle_gpus(past + future, NOW, WINDOW) == [0]
    assert idle_gpus(future, NOW, WINDOW) == []


def test_unknown_or_hostile_utilisation_is_never_idle():
    for bad in (None, math.nan, -1.0, math.inf, -math.inf):
        utils = steady(0.0)
        utils[300] = bad
        history = samples({0: utils})
        if bad is None:  # missing from that sample: a one-second hole, still covered
            assert idle_gpus(history, NOW, WINDOW) == [0]
            continue
        history[300] = GpuSample(history[300].time, "test", (GpuReading(0, util=bad),))
        assert idle_gpus(history, NOW, WINDOW) == [], bad


def test_unsorted_history_and_odd_arguments():
    history = samples({0: steady(0.0), 3: steady(1.0)})
    assert idle_gpus(list(reversed(history)), NOW, WINDOW) == [0, 3]
    assert idle_gpus([], NOW, WINDOW) == []
    assert idle_gpus(history, math.nan, WINDOW) == []
    assert idle_gpus(history, NOW, math.inf) == []
    assert idle_gpus(history, NOW, 0.0) == [0, 3]  # a zero window: the newest reading decides
    assert idle_gpus(history, NOW, WINDOW, threshold_pct=1.0) == [0]


READING = st.builds(GpuReading, index=st.integers(0, 7), util=NUMBERS | st.none())
SAMPLE = st.builds(
    GpuSample,
    time=st.floats(NOW - 2 * WINDOW, NOW + 100, allow_nan=False) | NUMBERS,
    source=st.just("fuzz"),
    gpus=st.lists(READING, max_size=4).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(history=st.lists(SAMPLE, max_size=40), idle_s=NUMBERS, now=NUMBERS | st.just(NOW))
def test_any_history_gives_gpus_it_shows_low_right_up_to_now(history, idle_s, now):
    idle = idle_gpus(history, now, idle_s)
    assert idle == sorted(set(idle))
    for index in idle:
        readings = [
            (s.time, g.util)
            for s in history
            for g in s.gpus
            if g.index == index and isinstance(s.time, float | int) and s.time <= now
        ]
        newest = max(t for t, _ in readings)
        assert now - newest <= MAX_GAP_S  # a recent reading...
        recent = [u for t, u in readings if t >= now - max(0.0, idle_s)]
        assert all(0 <= u < IDLE_UTIL_PCT for u in recent)  # ... and every one in the window low


def test_the_chief_is_told_once_per_set_of_gpus_an_hour():
    notice = IdleNotice(idle_s=600.0)
    first = notice.due(NOW, [1, 0], queue_empty=True)
    assert first is not None and first.startswith("GPU 0, GPU 1 have been idle")
    assert "10 min" in first and "queue is empty" in first
    assert notice.due(NOW + 60, [0, 1], queue_empty=True) is None
    assert notice.due(NOW + 120, [0], queue_empty=True) is None  # fewer idle: nothing new
    assert notice.due(NOW + 180, [0, 1, 2], queue_empty=True) is not None  # GPU 2 is news
    assert notice.due(NOW + 240, [0, 1, 2], queue_empty=True) is None
    assert notice.due(NOW + 180 + REPEAT_S - 1, [0, 1], queue_empty=True) is None
    again = notice.due(NOW + 180 + REPEAT_S, [0, 1], queue_empty=True)  # an hour after the last
    assert again is not None and again.startswith("GPU 0, GPU 1 have")


def test_no_notice_while_jobs_wait_or_nothing_is_idle():
    notice = IdleNotice(idle_s=600.0)
    assert notice.due(NOW, [0], queue_empty=False) is None
    assert notice.due(NOW, [], queue_empty=True) is None
    assert notice.due(NOW, [0], queue_empty=True) is not None  # jobs waiting did not count


def test_state_survives_a_restart_as_json():
    notice = IdleNotice(idle_s=600.0)
    assert notice.due(NOW, [2], queue_empty=True) is not None
    again = IdleNotice(idle_s=600.0)
    again.restore(json.loads(json.dumps(notice.state())))
    assert again.due(NOW + 30, [2], queue_empty=True) is None
    assert again.due(NOW + 30, [3], queue_empty=True) is not None


def test_a_report_stamped_in_the_future_does_not_silence_forever():
    notice = IdleNotice(idle_s=600.0)
    notice.restore({"reported": {"0": NOW + 10 * REPEAT_S}})  # written before the clock went back
    assert notice.due(NOW, [0], queue_empty=True) is not None


@settings(max_examples=300, deadline=None)
@given(
    state=st.dictionaries(st.text(max_size=8), st.dictionaries(st.text(max_size=8), NUMBERS))
    | NUMBERS
    | st.none(),
    now=NUMBERS,
    idle=st.lists(st.integers(0, 64) | st.booleans(), max_size=5),
)
def test_any_restored_state_and_clock_gives_text_or_none(state, now, idle):
    notice = IdleNotice(idle_s=600.0)
    notice.restore(state)
    said = notice.due(now, idle, queue_empty=True)
    assert said is None or said.startswith("GPU ")
    assert json.loads(json.dumps(notice.state(), allow_nan=False)) == notice.state()
