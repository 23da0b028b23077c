"""``orgtui gpus``: the table and --json, from a replay source or the supervisor's ring."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from orgtui.cli import main
from orgtui.gpu import GpuSampler, ReplaySource
from orgtui.paths import OrgPaths
from tests.conftest import run_orgtui
from tests.gpu.conftest import H100_TRACE, write_org, write_trace

AGENTS = [{"name": "a", "role": "researcher"}]


def test_gpus_json_on_replay_source(tmp_path: Path) -> None:
    (tmp_path / "trace.jsonl").write_bytes(H100_TRACE.read_bytes())
    write_org(tmp_path, AGENTS, gpu='source = "replay:trace.jsonl"')
    result = run_orgtui("gpus", "--json", root=tmp_path, check=True)
    data = json.loads(result.stdout)
    assert data["source"] == "replay" and data["from"] == "direct"
    (gpu,) = data["gpus"]
    assert gpu["index"] == 0 and gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["mem_total"] == 85520809984 and gpu["source"] == "replay"


def test_gpus_prefers_a_fresh_supervisor_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(
        tmp_path / "t.jsonl", [[{"index": 0, "util": 77, "procs": [{"pid": 999999, "used": 1}]}]]
    )
    write_org(tmp_path, AGENTS, gpu='source = "none"')
    sampler = GpuSampler(OrgPaths(tmp_path), ReplaySource(trace, by_call=True))
    sampler.tick(time.time(), {}, {"a": 0})
    assert main(["gpus", "--json", "--root", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["from"] == "supervisor" and data["gpus"][0]["util"] == 77
    assert data["owners"] == [
        {"gpu": 0, "pid": 999999, "used": 1, "agent": None, "flag": "unowned"}
    ]
    # the table names the source and flags the stray process
    assert main(["gpus", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "replay" in out and "unowned" in out and "77%" in out


def test_gpus_stale_ring_falls_back_to_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": 77}]])
    write_org(tmp_path, AGENTS, gpu='source = "none"')
    GpuSampler(OrgPaths(tmp_path), ReplaySource(trace, by_call=True)).tick(100.0, {}, {})
    assert main(["gpus", "--json", "--root", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"t": data["t"], "source": "no GPU", "gpus": [], "owners": [], "from": "direct"}
    assert main(["gpus", "--root", str(tmp_path)]) == 0
    assert "no GPU" in capsys.readouterr().out
