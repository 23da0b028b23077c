"""Hypothesis strategies for GPU data, good and hostile, and the check that a record holds
nothing invented."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from orgtui.gpu import GpuProcess, GpuReading, GpuSample, ProcessOwner
from orgtui.gpu.records import MAX_INT

NUMBERS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([10**400, -(10**400), -1, -0.0, 2**63, 2**64 - 1, True, False])
)
"""Numbers a ring line or trace row can hold, from sane to overflowing."""

JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Any JSON value (NaN and Infinity included, as Python's json writes and reads them)."""

ANY = NUMBERS | JSON

READING_FIELDS = (
    "name",
    "util",
    "mem_util",
    "mem_used",
    "mem_total",
    "power_w",
    "power_limit_w",
    "temp_c",
    "sm_clock",
    "source",
    "time",
)

PROCESS = st.fixed_dictionaries({}, optional={"pid": ANY, "used_bytes": ANY, "used": ANY})

READING = st.fixed_dictionaries(
    {},
    optional={"index": ANY, "procs": st.lists(PROCESS | ANY, max_size=3) | ANY}
    | {name: ANY for name in READING_FIELDS},
)

OWNER = st.fixed_dictionaries(
    {},
    optional={
        "gpu": ANY,
        "pid": ANY,
        "used": ANY,
        "agent": ANY,
        "flag": st.sampled_from(["unowned", "wrong_gpu", "odd"]) | ANY,
    },
)

SAMPLE = st.fixed_dictionaries(
    {},
    optional={
        "t": ANY,
        "source": ANY,
        "gpus": st.lists(READING | ANY, max_size=3) | ANY,
        "owners": st.lists(OWNER | ANY, max_size=3) | ANY,
    },
)
"""A dict shaped like a ring line, every field possibly hostile."""

TRACE_ROW = st.fixed_dictionaries(
    {},
    optional={"procs": st.lists(PROCESS | ANY, max_size=3) | ANY, "power_mw": ANY}
    | {"power_limit_mw": ANY}
    | {name: ANY for name in READING_FIELDS},
)
"""The fields of a trace row other than ``t`` and ``index``, every one possibly hostile."""


FINITE = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
COUNT = st.integers(min_value=0, max_value=2**63 - 1)
VALID_READING = st.builds(
    GpuReading,
    index=st.integers(min_value=0, max_value=64),
    name=st.none() | st.text(max_size=12),
    util=st.none() | FINITE,
    mem_util=st.none() | FINITE,
    mem_used=st.none() | COUNT,
    mem_total=st.none() | COUNT,
    power_w=st.none() | FINITE,
    power_limit_w=st.none() | FINITE,
    temp_c=st.none() | FINITE,
    sm_clock=st.none() | COUNT,
    procs=st.lists(st.builds(GpuProcess, st.integers(1, 2**22), st.none() | COUNT), max_size=3).map(
        tuple
    ),
    source=st.sampled_from(["nvml", "replay"]),
    time=FINITE,
)
VALID_SAMPLE = st.builds(
    GpuSample,
    time=FINITE,
    source=st.sampled_from(["nvml", "replay", "no GPU"]),
    gpus=st.lists(VALID_READING, max_size=3).map(tuple),
    owners=st.lists(
        st.builds(
            ProcessOwner,
            gpu=st.integers(0, 8),
            pid=st.integers(1, 2**22),
            used=st.none() | COUNT,
            agent=st.none() | st.text(max_size=8),
            flag=st.sampled_from([None, "unowned", "wrong_gpu"]),
        ),
        max_size=3,
    ).map(tuple),
)
"""A sample as the sampler writes it."""


def _count(value: object) -> bool:
    return value is None or (type(value) is int and 0 <= value <= MAX_INT)


def _measure(value: object) -> bool:
    return value is None or (type(value) is float and math.isfinite(value) and value >= 0)


def sane_reading(reading: GpuReading) -> bool:
    """Every field is None or a finite, non-negative number of its kind: nothing invented."""
    return (
        type(reading.index) is int
        and 0 <= reading.index <= MAX_INT
        and (reading.name is None or isinstance(reading.name, str))
        and all(
            _measure(v)
            for v in (
                reading.util,
                reading.mem_util,
                reading.power_w,
                reading.power_limit_w,
                reading.temp_c,
            )
        )
        and all(_count(v) for v in (reading.mem_used, reading.mem_total, reading.sm_clock))
        and all(type(p.pid) is int and 0 < p.pid <= MAX_INT for p in reading.procs)
        and all(_count(p.used_bytes) for p in reading.procs)
        and isinstance(reading.source, str)
        and _measure(reading.time)
    )


def sane_sample(sample: GpuSample) -> bool:
    return (
        _measure(sample.time)
        and isinstance(sample.source, str)
        and all(sane_reading(g) for g in sample.gpus)
        and all(
            type(o.gpu) is int
            and type(o.pid) is int
            and o.pid > 0
            and _count(o.used)
            and (o.agent is None or isinstance(o.agent, str))
            and o.flag in (None, "unowned", "wrong_gpu")
            for o in sample.owners
        )
    )
