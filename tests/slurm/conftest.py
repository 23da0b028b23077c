"""The ``slurm_cluster`` fixture: one real Slurm per test process, clean for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slurm.cluster import Cluster, running_cluster


@pytest.fixture(scope="session")
def _slurm_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Started once per pytest-xdist worker (a few seconds), stopped when the worker ends."""
    with running_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture
def slurm_cluster(_slurm_session: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """The worker's cluster with its client environment set; afterwards no job is left and
    slurmctld is up again, whatever the test did."""
    for key, value in _slurm_session.env.items():
        monkeypatch.setenv(key, value)
    yield _slurm_session
    _slurm_session.start_controller()
    _slurm_session.cancel_all()
