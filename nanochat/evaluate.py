"""Validation bits per byte: tokenizer-independent, so runs with different vocabularies compare.

bpb = (sum of next-token losses in nats) / (ln 2 x sum of UTF-8 bytes of the target tokens).
Targets that are special tokens (BOS) have 0 bytes and are left out of both sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .model import GPT


@torch.no_grad()
def evaluate_bpb(
    model: GPT,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    token_bytes: torch.Tensor,
    *,
    autocast: bool = False,
) -> float:
    was_training = model.training
    model.eval()
    nats = torch.zeros((), dtype=torch.float64, device=token_bytes.device)
    nbytes = torch.zeros((), dtype=torch.int64, device=token_bytes.device)
    for x, y in batches:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = model(x, y, reduction="none").view(-1)
        b = token_bytes[y.reshape(-1)]
        nats += (loss * (b > 0)).double().sum()
        nbytes += b.sum()
    model.train(was_training)
    return float(nats) / (math.log(2) * max(1, int(nbytes)))
