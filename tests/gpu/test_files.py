"""Reading the ring from its end: the same lines as reading it whole, within a byte limit."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.gpu.files import is_regular_or_missing, open_regular, read_regular, tail_lines

LINES = st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    lines=LINES,
    torn=st.booleans(),
    count=st.none() | st.integers(0, 40),
    limit=st.integers(1, 10_000),
)
def test_tail_lines_is_the_end_of_splitlines(
    lines: list[bytes], torn: bool, count: int | None, limit: int
) -> None:
    body = b"\n".join(lines) + (b"" if torn else b"\n")
    whole = body.splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ring.jsonl"
        path.write_bytes(body)
        handle = open_regular(path)
        assert handle is not None
        with handle:
            tail = tail_lines(handle, count, limit)
    want = whole if count is None else whole[max(0, len(whole) - count) :]
    if len(body) <= limit:
        assert tail == want
    else:  # only whole lines from the last ``limit``-odd bytes: a suffix of the answer
        assert tail == want[len(want) - len(tail) :]
        assert len(b"\n".join(tail)) <= limit


@pytest.mark.timeout(20)
def test_only_plain_files_are_opened(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"a\nb\n")
    link = tmp_path / "link"
    link.symlink_to(plain)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_regular(plain, 10) == b"a\nb\n" and read_regular(plain, 3) is None
    for path in (link, fifo, tmp_path, tmp_path / "missing"):
        assert open_regular(path) is None and open_regular(path, "ab") is None
        assert read_regular(path, 100) is None
    assert is_regular_or_missing(plain) and is_regular_or_missing(tmp_path / "missing")
    assert not any(is_regular_or_missing(p) for p in (link, fifo, tmp_path))
