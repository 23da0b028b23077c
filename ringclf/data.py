"""The dataset: two interleaved spirals with Gaussian noise, made from a fixed data seed.

Every run of every variant sees the same points and the same train/val split (nothing is
downloaded); what a run's seed changes is the model's init and the order of its batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DATA_SEED = 1234
N_PER_CLASS = 1000
VAL_FRACTION = 0.5
TURNS = 1.25
NOISE = 0.1


@dataclass(frozen=True)
class Split:
    """Inputs (n, 2) float32 and labels (n,) int64 of one split."""

    x: torch.Tensor
    y: torch.Tensor


def spirals(n_per_class: int = N_PER_CLASS, seed: int = DATA_SEED) -> tuple[Split, Split]:
    """(train, val): class 1 is class 0's spiral turned half a circle, both blurred by noise."""
    gen = torch.Generator().manual_seed(seed)
    r = torch.rand(n_per_class, generator=gen, dtype=torch.float64).sqrt()
    theta = r * TURNS * 2 * math.pi
    arms = []
    for k in (0, 1):
        angle = theta + k * math.pi
        arms.append(torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1))
    x = torch.cat(arms) + NOISE * torch.randn(
        2 * n_per_class, 2, generator=gen, dtype=torch.float64
    )
    y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
    order = torch.randperm(2 * n_per_class, generator=gen)
    x, y = x[order].float(), y[order]
    n_val = int(2 * n_per_class * VAL_FRACTION)
    return Split(x[n_val:], y[n_val:]), Split(x[:n_val], y[:n_val])
