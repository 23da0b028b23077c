"""``orgtui doctor`` on an org whose jobs run on Slurm: ``sinfo`` missing from PATH is named,
and what sinfo lists (partitions, the default one, their GPUs) is read into clear findings.
Against a real Slurm: tests/slurm/test_doctor.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from orgtui.commands import doctor
from orgtui.config import SlurmSpec, load_config
from tests.conftest import run_orgtui
from tests.supervisor.helpers import write_org
from tests.supervisor.test_doctor import FIXED_PROFILE, make_home

ON_SLURM = '[compute]\nengine = "slurm"\n'
ORG_TOML = Path("/org/org.toml")


def slurm_org(repo: Path, slurm: str = "") -> Path:
    write_org(repo, {"a1": "sleep 1000"}, extra=ON_SLURM + (f"[compute.slurm]\n{slurm}"))
    return repo


def tools_dir(where: Path, *names: str) -> Path:
    """A directory holding links to these tools only: a PATH without Slurm's."""
    where.mkdir()
    for name in names:
        found = shutil.which(name)
        assert found is not None, name
        (where / name).symlink_to(found)
    return where


def test_sinfo_missing_from_path_is_named(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load_config(slurm_org(git_repo))
    monkeypatch.setenv("PATH", str(tools_dir(tmp_path / "bin")))
    [check] = doctor.check_slurm(config.compute.slurm, config.file)
    assert not check.ok and check.name == "slurm"
    assert "`sinfo` is not on PATH" in check.line and "install Slurm's client tools" in check.line


def test_doctor_reports_sinfo_missing_and_fails(
    git_repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    """The whole command: a failing ``slurm`` line, exit 1; a local org has no such line."""
    slurm_org(git_repo, 'partition = "gpu"\n')
    tools = tools_dir(tmp_path / "bin", "tmux", "git", "bash")
    home = make_home(tmp_path / "home", FIXED_PROFILE)
    env = {**os.environ, "PATH": str(tools), "HOME": str(home), "SHELL": "/bin/bash"}
    proc = run_orgtui("doctor", root=git_repo, socket=tmux_socket, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL slurm: `sinfo` is not on PATH" in proc.stdout
    proc = run_orgtui("doctor", "--json", root=git_repo, socket=tmux_socket, env=env)
    checks = {check["name"]: check for check in json.loads(proc.stdout)["checks"]}
    assert checks["slurm"]["ok"] is False and "slurm_partition" not in checks
    write_org(git_repo, {"a1": "sleep 1000"})  # the local engine: Slurm is not looked at
    proc = run_orgtui("doctor", "--json", root=git_repo, socket=tmux_socket, env=env)
    names = {check["name"] for check in json.loads(proc.stdout)["checks"]}
    assert "slurm" not in names and "tmux" in names


def findings(spec: SlurmSpec, listing: dict[str, str]) -> dict[str, doctor.Check]:
    """The checks made of what sinfo lists (partition names as sinfo prints them)."""
    return {c.name: c for c in doctor.check_slurm(spec, ORG_TOML, lambda: dict(listing))}


def test_without_a_partition_the_default_one_is_checked() -> None:
    found = findings(SlurmSpec(), {"debug*": "gpu:4", "cpu": "(null)"})
    assert all(check.ok for check in found.values())
    assert found["slurm_partition"].line == "slurm: partition debug (the cluster's default) exists"
    found = findings(SlurmSpec(gpus=1), {"cpu*": "(null)", "debug": "gpu:4"})
    assert not found["slurm_gpus"].ok and "partition cpu has no GPUs" in found["slurm_gpus"].line


def test_no_default_partition_and_none_set_says_which_to_set() -> None:
    found = findings(SlurmSpec(), {"a100": "gpu:8", "h100": "gpu:4"})
    check = found["slurm_partition"]
    assert not check.ok and "no default partition" in check.line
    assert 'partition = "NAME"' in check.fix and "a100, h100" in check.fix
    assert "slurm_gpus" not in found


def test_an_unknown_partition_is_named_with_the_ones_that_exist() -> None:
    found = findings(SlurmSpec(partition="gpu"), {"debug*": "gpu:4", "urgent": "gpu:4"})
    check = found["slurm_partition"]
    assert not check.ok
    assert "partition 'gpu' ([compute.slurm] partition in /org/org.toml) does not exist" in (
        check.line
    )
    assert "debug, urgent" in check.line and found["slurm"].ok


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [
        ("gpu:4", 4),
        ("gpu:a100:8(S:0-1)", 8),
        ("mps:400,gpu:2", 2),
        ("gpu:tesla:2,gpu:a100:4(S:0)", 6),
        ("(null)", 0),
        ("mps:400", 0),
        ("gpuish:4", 0),
    ],
)
def test_gpus_are_read_from_each_gres_form(gres: str, gpus: int) -> None:
    for wanted in (1, 2, 4, 6):
        check = findings(SlurmSpec(partition="p", gpus=wanted), {"p": gres})["slurm_gpus"]
        assert check.ok == (gpus >= wanted), (gres, wanted, check)
        if not check.ok:
            assert f"GRES {gres}" in check.line and "[compute.slurm] gpus" in check.fix
    assert "slurm_gpus" not in findings(SlurmSpec(partition="p", gpus=0), {"p": gres})
