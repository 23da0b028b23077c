"""A task whose metric is not bpb (val_acc, higher is better, on wall-seconds): the cards, the
ledger strip and the best improvement speak its metric, never bpb."""

from __future__ import annotations

from pathlib import Path

from orgtui.paths import OrgPaths
from orgtui.snapshot import Feed
from tests.ledger.synth import accuracy, write_variant
from tests.tui.conftest import NOW, build_org

SECONDS = {"metric": "val_acc", "cost": "wall_seconds", "started": NOW - 60}


def test_the_snapshot_speaks_the_tasks_metric(tmp_path: Path) -> None:
    build_org(tmp_path)
    toml = (tmp_path / "org.toml").read_text()
    toml = toml.replace('[ledger]\nbaseline = "baseline"', "[ledger]\n" + '\n'.join(
        ['baseline = "small"', 'metric = "val_acc"', 'direction = "max"', 'cost = "wall_seconds"']
    ))  # fmt: skip
    (tmp_path / "org.toml").write_text(toml)
    runs = OrgPaths(tmp_path).runs_dir
    write_variant(runs, "small", 3, curve=accuracy(), **SECONDS)
    write_variant(runs, "wide", 3, curve=accuracy(offset=0.05), **SECONDS)

    snapshot = Feed(tmp_path).snapshot(now=NOW)
    ada = snapshot.agent("ada")
    assert ada is not None and ada.last_eval.startswith("val_acc 0.9")
    (verdict,) = [v for v in snapshot.verdicts if v.variant == "wide"]  # the rest: no val_acc
    assert (verdict.variant, verdict.verdict) == ("wide", "improvement")
    assert verdict.delta.startswith("+0.05") and verdict.delta.endswith(" val_acc")
    assert snapshot.best_improvement == "val_acc +0.05 (higher is better) (wide)"
    assert "bpb" not in ada.last_eval + verdict.delta + snapshot.best_improvement
