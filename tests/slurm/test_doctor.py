"""``orgtui doctor``'s Slurm checks against a real Slurm: the partition exists and has the
GPUs each job asks for, an unknown partition and a stopped slurmctld are named with the fix."""

from __future__ import annotations

from pathlib import Path

from orgtui.commands import doctor
from orgtui.config import SlurmSpec
from tests.slurm.cluster import Cluster

ORG_TOML = Path("/org/org.toml")


def findings(spec: SlurmSpec) -> dict[str, doctor.Check]:
    return {check.name: check for check in doctor.check_slurm(spec, ORG_TOML)}


def test_the_partition_exists_and_has_gpus(slurm_cluster: Cluster) -> None:
    found = findings(SlurmSpec(partition=slurm_cluster.partition, gpus=1))
    assert all(check.ok for check in found.values()), found
    assert found["slurm"].line == "slurm: sinfo answers; partitions debug, urgent"
    assert found["slurm_partition"].line == "slurm: partition debug exists"
    assert f"GRES gpu:{slurm_cluster.gpus}" in found["slurm_gpus"].line


def test_an_unknown_partition_is_named(slurm_cluster: Cluster) -> None:
    found = findings(SlurmSpec(partition="nosuch"))
    check = found["slurm_partition"]
    assert found["slurm"].ok and not check.ok
    assert "partition 'nosuch'" in check.line and "does not exist (sinfo lists debug, urgent)" in (
        check.line
    )
    assert "set [compute.slurm] partition in /org/org.toml to one of debug, urgent" in check.fix


def test_more_gpus_than_a_node_has_is_named(slurm_cluster: Cluster) -> None:
    wanted = slurm_cluster.gpus + 1
    check = findings(SlurmSpec(partition=slurm_cluster.partition, gpus=wanted))["slurm_gpus"]
    assert not check.ok
    assert f"{slurm_cluster.gpus} GPU(s) (GRES gpu:{slurm_cluster.gpus}), fewer than" in check.line


def test_a_stopped_controller_is_named(slurm_cluster: Cluster) -> None:
    slurm_cluster.stop_controller()
    [check] = doctor.check_slurm(SlurmSpec(partition=slurm_cluster.partition), ORG_TOML)
    assert not check.ok and check.line.startswith("slurm: `sinfo` ")
    assert "slurmctld" in check.fix


def test_without_a_partition_the_clusters_default_is_checked(slurm_cluster: Cluster) -> None:
    found = findings(SlurmSpec(gpus=1))
    assert all(check.ok for check in found.values()), found
    assert found["slurm_partition"].line == "slurm: partition debug (the cluster's default) exists"
