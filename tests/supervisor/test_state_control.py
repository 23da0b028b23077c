"""state.json tolerance and the control socket protocol (no tmux needed)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.paths import OrgPaths
from orgtui.supervisor.control import ControlError, ControlServer, request
from orgtui.supervisor.state import OrgState, Seat, SeatStatus, load_state, save_state


def test_load_state_tolerant(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    assert load_state(paths).seats == {}
    paths.org_dir.mkdir()
    for junk in ("{not json", "[1, 2]", '{"agents": 3}', "", "\udcff"):
        paths.state_file.write_text(junk, errors="surrogateescape")
        assert load_state(paths) == OrgState()
    state = load_state(paths)
    state.seats["a1"] = Seat("a1", role="researcher", backend="command", pane_pid=12)
    save_state(paths, state)
    again = load_state(paths)
    assert again.seats["a1"] == state.seats["a1"]
    assert json.loads(paths.state_file.read_text())["agents"]["a1"]["status"] == "starting"
    # a record missing keys, or with keys of the wrong type, reads with defaults
    paths.state_file.write_text(
        json.dumps({"agents": {"b": {"status": "idle", "restarts": "x", "gpu": True}}})
    )
    record = load_state(paths).seats["b"]
    assert record.name == "b" and record.status is SeatStatus.IDLE
    assert record.restarts == 0 and record.gpu is None


def test_state_file_that_is_not_a_file_reads_as_empty(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    paths.org_dir.mkdir()
    os.mkfifo(paths.state_file)  # a reader that opened it would hang
    assert load_state(paths) == OrgState()


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_field = st.sampled_from([f.name for f in dataclasses.fields(Seat)] + ["junk"])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.dictionaries(
        st.text(max_size=6), st.dictionaries(_field, _json, max_size=8), max_size=4
    ),
    supervisor=_json,
    top=st.dictionaries(st.sampled_from(["org", "session", "tmux_socket", "layout"]), _json),
)
def test_state_fuzz_loads_typed_and_round_trips(
    tmp_path: Path, records: dict, supervisor: object, top: dict
) -> None:
    """Whatever state.json holds, loading gives typed seats, and saving keeps them."""
    paths = OrgPaths(tmp_path)
    paths.org_dir.mkdir(exist_ok=True)
    data = {"agents": records, "supervisor": supervisor, **top}
    paths.state_file.write_text(json.dumps(data))
    state = load_state(paths)
    for name, seat in state.seats.items():
        assert seat.name == name and isinstance(seat.status, SeatStatus)
        assert isinstance(seat.restarts, int) and seat.restarts >= 0
        assert seat.gpu is None or type(seat.gpu) is int
        assert seat.pane_pid is None or type(seat.pane_pid) is int
        assert all(math.isfinite(t) for t in seat.deaths)
    assert state.supervisor.pid is None or type(state.supervisor.pid) is int
    save_state(paths, state)
    assert load_state(paths) == state


def test_control_roundtrip(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    with pytest.raises(ControlError, match="not running"):
        request(paths, {"verb": "ping"})
    server = ControlServer(paths, lambda p: {"ok": True, "echo": p})
    server.start()
    try:
        assert paths.control_socket.stat().st_mode & 0o777 == 0o600
        answer = request(paths, {"verb": "ping", "agent": "a1"})
        assert answer == {"ok": True, "echo": {"verb": "ping", "agent": "a1"}}
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(paths.control_socket))
            sock.sendall(b"garbage\n")
            reply = json.loads(sock.makefile().readline())
        assert reply["ok"] is False and "bad request" in reply["error"]
    finally:
        server.close()
    assert not paths.control_socket.exists()
    with pytest.raises(ControlError):
        request(paths, {"verb": "ping"})


def test_control_socket_of_an_org_deeper_than_a_unix_address(tmp_path: Path) -> None:
    """AF_UNIX addresses hold 107 bytes; an org below a long path still gets its socket."""
    paths = OrgPaths(tmp_path / ("x" * 100) / ("y" * 100))
    assert len(str(paths.control_socket)) > 200
    with pytest.raises(ControlError, match="not running"):
        request(paths, {"verb": "ping"})
    server = ControlServer(paths, lambda p: {"ok": True, "echo": p})
    server.start()
    try:
        assert paths.control_socket.is_socket()
        assert paths.control_socket.stat().st_mode & 0o777 == 0o600
        assert request(paths, {"verb": "ping"}) == {"ok": True, "echo": {"verb": "ping"}}
    finally:
        server.close()
    assert not paths.control_socket.exists()
