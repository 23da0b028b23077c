"""state.json tolerance and the control socket protocol (no tmux needed)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from orgtui.paths import OrgPaths
from orgtui.supervisor.control import ControlError, ControlServer, request
from orgtui.supervisor.state import AGENT_KEYS, load_state, new_agent, save_state


def test_load_state_tolerant(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    assert load_state(paths)["agents"] == {}
    paths.org_dir.mkdir()
    for junk in ("{not json", "[1, 2]", '{"agents": 3}', ""):
        paths.state_file.write_text(junk)
        state = load_state(paths)
        assert state["agents"] == {} and state["version"] == 1
    state = load_state(paths)
    state["agents"]["a1"] = new_agent("a1", "researcher", "command", pane_pid=12)
    save_state(paths, state)
    again = load_state(paths)
    assert set(again["agents"]["a1"]) >= set(AGENT_KEYS)
    assert again["agents"]["a1"]["pane_pid"] == 12
    # a record missing keys reads with every contract key present
    paths.state_file.write_text(json.dumps({"agents": {"b": {"status": "idle"}}}))
    record = load_state(paths)["agents"]["b"]
    assert record["name"] == "b" and record["status"] == "idle" and record["restarts"] is None


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
