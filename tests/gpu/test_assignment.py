"""GPU indexes the machine lacks: errors on a real machine, warnings without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgtui.cli import main
from orgtui.commands.gpu import check_gpus
from orgtui.config import load_config
from orgtui.gpu import GpuReading, NoGpu, ReplaySource, assignment_report, check_assignment
from tests.gpu.conftest import write_org, write_trace


class TwoGpuNvml:
    """Stands in for NVML on a two-GPU machine (there is no GPU here)."""

    name = "nvml"
    label = "nvml"

    def devices(self) -> list[GpuReading]:
        return [GpuReading(index=0), GpuReading(index=1)]

    def close(self) -> None:
        pass


AGENTS = [
    {"name": "a", "role": "researcher"},
    {"name": "b", "role": "researcher"},
    {"name": "c", "role": "researcher", "gpu": 5},
]


def test_missing_index_is_an_error_on_a_real_machine(tmp_path: Path) -> None:
    config = load_config(write_org(tmp_path, AGENTS))
    errors = check_assignment(config, TwoGpuNvml())
    assert len(errors) == 1
    assert "'c'" in errors[0] and "gpu = 5" in errors[0] and "GPU 0, 1" in errors[0]


def test_auto_assignment_past_the_last_gpu_is_an_error(tmp_path: Path) -> None:
    agents = [{"name": n, "role": "researcher"} for n in ("a", "b", "c")]
    config = load_config(write_org(tmp_path, agents))
    assert [s.gpu for s in config.agents] == [0, 1, 2]
    errors, warnings = assignment_report(config, TwoGpuNvml())
    assert warnings == [] and len(errors) == 1 and "'c'" in errors[0]


def test_fitting_assignment_has_no_problems(tmp_path: Path) -> None:
    config = load_config(write_org(tmp_path, AGENTS[:2]))
    assert assignment_report(config, TwoGpuNvml()) == ([], [])


def test_no_gpu_or_replay_gives_warnings_only(tmp_path: Path) -> None:
    config = load_config(write_org(tmp_path, AGENTS))
    errors, warnings = assignment_report(config, NoGpu())
    assert errors == [] and len(warnings) == 3 and "no GPU" in warnings[0]
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": 1}]])
    errors, warnings = assignment_report(config, ReplaySource(trace, by_call=True))
    assert errors == [] and len(warnings) == 2


def test_check_verb_prints_gpu_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_org(tmp_path, AGENTS, gpu='source = "none"')
    assert main(["check", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "warning: agent 'c': gpu = 5" in out


def test_check_verb_fails_on_a_bad_replay_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_org(tmp_path, AGENTS, gpu='source = "replay:nope.jsonl"')
    assert main(["check", "--root", str(tmp_path)]) == 2
    assert "cannot read replay trace" in capsys.readouterr().out


def test_check_gpus_says_warnings_then_errors(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [[{"index": 0, "util": 1}]])
    said: list[str] = []
    config = load_config(write_org(tmp_path, AGENTS, gpu=f'source = "replay:{trace}"'))
    assert check_gpus(config, said.append) is True
    assert [line.split(":")[0] for line in said] == ["warning", "warning"]
    said.clear()
    config = load_config(write_org(tmp_path, AGENTS, gpu='source = "replay:missing.jsonl"'))
    assert check_gpus(config, said.append) is False
    assert len(said) == 1 and said[0].startswith("error: ") and "missing.jsonl" in said[0]
