"""Optimizers and LR schedule in nanochat's style.

- Muon for the 2-D matrices inside the transformer blocks: SGD-momentum (Nesterov) whose
  update is orthogonalised by a few Newton–Schulz iterations, scaled by sqrt(max(1, rows/cols)).
- AdamW for the embedding, the lm head (and any scalar/1-D parameter).
- Schedule: linear warmup, constant, then linear warmdown to `final_frac` of the peak.
"""

from __future__ import annotations

import torch

from .model import GPT


@torch.no_grad()
def zeropower_via_newtonschulz5(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately orthogonalise G (the quintic iteration from the Muon paper)."""
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.bfloat16() if G.is_cuda else G.float()
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    if transposed:
        X = X.mT
    return X


class Muon(torch.optim.Optimizer):
    """Momentum + Newton–Schulz orthogonalisation, for 2-D weight matrices only."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, ns_steps: int = 5):
        super().__init__(params, dict(lr=lr, momentum=momentum, ns_steps=ns_steps))

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                g = p.grad.lerp(buf, group["momentum"])  # Nesterov
                g = zeropower_via_newtonschulz5(g, group["ns_steps"])
                scale = max(1.0, p.size(-2) / p.size(-1)) ** 0.5
                p.add_(g.to(p.dtype), alpha=-group["lr"] * scale)


def make_optimizers(
    model: GPT,
    *,
    matrix_lr: float = 0.02,
    embedding_lr: float = 0.2,
    unembedding_lr: float = 0.004,
    weight_decay: float = 0.0,
) -> list[torch.optim.Optimizer]:
    """Muon for block matrices, AdamW for embedding/head; AdamW LRs scaled by (dim/768)^-0.5."""
    matrices = [p for p in model.blocks.parameters() if p.ndim == 2]
    others = [p for p in model.blocks.parameters() if p.ndim != 2]
    scale = (model.cfg.dim / 768) ** -0.5
    groups = [
        dict(params=[model.wte.weight], lr=embedding_lr * scale),
        dict(params=[model.lm_head.weight], lr=unembedding_lr * scale),
    ]
    if others:
        groups.append(dict(params=others, lr=embedding_lr * scale))
    fused = next(model.parameters()).is_cuda
    adamw = torch.optim.AdamW(
        groups, betas=(0.8, 0.95), eps=1e-10, weight_decay=weight_decay, fused=fused
    )
    muon = Muon(matrices, lr=matrix_lr)
    opts: list[torch.optim.Optimizer] = [adamw, muon]
    for opt in opts:
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
    return opts


def lr_multiplier(
    step: int, total: int, *, warmup_frac: float = 0.0, warmdown_frac: float = 0.2,
    final_frac: float = 0.0,
) -> float:
    """Warmup -> constant -> linear warmdown. `total` may be an estimate (time/flops budgets)."""
    warmup = round(warmup_frac * total)
    warmdown = round(warmdown_frac * total)
    if warmup and step < warmup:
        return (step + 1) / warmup
    if step <= total - warmdown:
        return 1.0
    progress = (total - step) / max(1, warmdown)
    return max(final_frac, progress * 1.0 + (1 - progress) * final_frac)


def set_lr(opts: list[torch.optim.Optimizer], mult: float) -> None:
    for opt in opts:
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * mult
