"""The read model never raises: whatever state.json, agent names or pane ids it meets, the
snapshot comes back and the fields it could not read say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.paths import OrgPaths
from orgtui.snapshot import Feed, OrgSnapshot, pid_exists
from tests.tui.conftest import NOW, build_org

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
SEAT_FIELDS = st.sampled_from(
    ["role", "backend", "status", "branch", "gpu", "pane_id", "window_id", "restarts", "detail"]
)
HOSTILE_NAMES = st.text(max_size=40) | st.sampled_from(["..", "../../etc", "-x", "a/b", "", "\0"])
STATE = st.fixed_dictionaries(
    {
        "agents": st.dictionaries(
            HOSTILE_NAMES, st.dictionaries(SEAT_FIELDS, JSON, max_size=6) | JSON, max_size=4
        ),
        "supervisor": JSON,
        "org": JSON,
        "session": JSON,
        "tmux_socket": JSON,
    }
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(state=STATE)
def test_any_state_json_gives_a_snapshot(tmp_path: Path, state: dict) -> None:
    root = tmp_path / "lab"
    if not root.exists():  # one org per test; each example rewrites its state.json
        root.mkdir()
        build_org(root)
    OrgPaths(root).state_file.write_text(json.dumps(state, allow_nan=True))
    snapshot = Feed(root).snapshot(now=NOW)
    assert isinstance(snapshot, OrgSnapshot)
    assert [a.name for a in snapshot.agents][:4] == ["chief", "ada", "bo", "cy"]
    for view in snapshot.agents:
        assert isinstance(view.status, str) and isinstance(view.restarts, int)
        assert view.gpu is None or isinstance(view.gpu, int)
    roster = Feed(root).roster(now=NOW)  # the first frame's read: state.json's seats
    assert not roster.complete and isinstance(roster.supervisor_alive, bool)
    full = {a.name: (a.status, a.gpu) for a in snapshot.agents}
    assert {a.name: (a.status, a.gpu) for a in roster.agents}.items() <= full.items()
    if not roster.agents:  # no seat read: org.toml's agents, as the full read has them
        assert [a.name for a in snapshot.agents] == ["chief", "ada", "bo", "cy"]


def test_the_first_read_tells_the_supervisor_alive_without_psutil(tmp_path: Path) -> None:
    """The seats' read (the first frame's) asks the kernel; it agrees with the full read for a
    live supervisor, one that has ended, and no supervisor."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # reaped: its pid names no process
    for pid, alive in ((os.getpid(), True), (ended.pid, False), (None, False)):
        root = tmp_path / f"lab-{pid}"
        root.mkdir()
        build_org(root, supervisor_pid=pid)
        feed = Feed(root)
        assert feed.roster(now=NOW).supervisor_alive is alive
        assert feed.snapshot(now=NOW).supervisor_alive is alive
    for pid in (0, -1, 1 << 40, 1 << 70):
        assert pid_exists(pid) is False
    code = (
        "import sys; from pathlib import Path; from orgtui.snapshot import Feed; "
        f"Feed(Path({str(root)!r})).roster(); print('psutil' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@FUZZ
@given(name=HOSTILE_NAMES, pane=st.text(max_size=30))
def test_hostile_names_and_pane_ids_read_as_nothing(tmp_path: Path, name: str, pane: str) -> None:
    feed = Feed(tmp_path, socket="orgtui-test-no-such-server")
    assert feed.commits(name, 3) == []
    assert feed.pane_text(pane, 3) == ""


def test_importing_the_tui_loads_no_system_library() -> None:
    """The first frame waits for no tmux, git or process-table library: they load in workers."""
    code = (
        "import sys, orgtui.tui.app; "
        "print(sorted(m for m in ('libtmux', 'git', 'psutil', 'pynvml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


JOB_FIELDS = st.sampled_from(
    ["state", "agent", "slot", "started", "ended", "created", "priority", "seed", "kind", "reason"]
)


@FUZZ
@given(
    changes=st.lists(st.dictionaries(JOB_FIELDS, JSON, max_size=4), max_size=5),
    junk=st.lists(st.binary(max_size=40), max_size=2),
)
def test_any_queue_files_give_a_snapshot(tmp_path: Path, changes: list, junk: list) -> None:
    """Hand-edited job files: each is a job the queue shows, or a file shown as malformed."""
    root = tmp_path / "lab"
    if not root.exists():
        root.mkdir()
        build_org(root)
    paths = OrgPaths(root)
    paths.queue_dir.mkdir(parents=True, exist_ok=True)
    for old in paths.queue_dir.iterdir():
        old.unlink()
    for i, change in enumerate(changes):
        job = {"id": f"j{i}", "variant": "nocap", "run_id": f"r{i}", "command": ["x"]} | change
        paths.job_file(f"j{i}").write_text(json.dumps(job, allow_nan=True))
    for i, data in enumerate(junk):
        paths.job_file(f"k{i}").write_bytes(data)
    snapshot = Feed(root).snapshot(now=NOW)
    shown = {job.id for job in snapshot.queue.jobs}
    assert shown <= {f"j{i}" for i in range(len(changes))} | {f"k{i}" for i in range(len(junk))}
    assert len(shown) == len(changes) + len(junk)  # fewer finished ones than are listed
    assert {f"k{i}" for i in range(len(junk))} <= {
        j.id for j in snapshot.queue.jobs if j.state == "malformed"
    }
    ada = snapshot.agent("ada")
    assert ada is not None and ada.jobs_queued + ada.jobs_running <= len(changes)
