"""The shipped task files load, and the ringclf task has headroom over its baseline."""

from __future__ import annotations

import statistics
from pathlib import Path

from orgtui.tasks import load_task
from ringclf import train

from .conftest import RunTrainer

REPO = Path(train.__file__).resolve().parents[1]


def test_ringclf_task_is_max_accuracy_on_seconds():
    task = load_task("ringclf")
    assert (task.metric, task.direction, task.cost) == ("val_acc", "max", "wall_seconds")
    assert task.source == REPO / "ringclf"
    assert task.command[1:] == ("-m", "ringclf.train")
    assert task.baseline == "baseline" and task.seeds >= 3


def test_nanochat_softcap_task_is_min_bpb_on_flops():
    task = load_task("nanochat-softcap")
    assert (task.metric, task.direction, task.cost) == ("val_bpb", "min", "flops")
    assert task.source == REPO / "nanochat"
    assert task.command[1:3] == ("-m", "nanochat.train")


def test_the_baseline_leaves_headroom_larger_than_its_seed_noise(run_trainer: RunTrainer):
    """The task's own command against a wider model, three seeds each: the seeds of the
    baseline differ (noise is real), and every seed of the wider model beats every seed of
    the baseline (a better variant exists)."""
    extra = load_task("ringclf").command[3:]

    def accs(*flags: str) -> list[float]:
        finals = []
        for seed in range(3):
            code, lines = run_trainer(*extra, *flags, "--seed", str(seed), name=f"{flags}{seed}")
            assert code == 0
            finals.append(lines[-1]["final_val_acc"])
        return finals

    baseline, wide = accs(), accs("--hidden", "64")
    assert statistics.stdev(baseline) > 0
    assert min(wide) > max(baseline)
    assert statistics.mean(wide) - statistics.mean(baseline) > statistics.stdev(baseline)
