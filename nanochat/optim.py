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


class Muon:
    """Nesterov momentum + Newton–Schulz orthogonalisation, for 2-D matrices only.

    Matrices of the same shape are stacked and orthogonalised in one batched call (one
    kernel launch per shape rather than per matrix: matters on a GPU).
    A plain class, not a torch.optim.Optimizer: that base imports torch._dynamo (~1.4 s),
    which dominated the start of a CPU run.
    """

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, ns_steps: int = 5):
        self.momentum, self.ns_steps = momentum, ns_steps
        by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
        for p in params:
            by_shape.setdefault(tuple(p.shape), []).append(p)
        self.param_groups = [dict(params=ps, lr=lr) for ps in by_shape.values()]
        self.buffers = [
            torch.zeros(len(ps), *ps[0].shape, device=ps[0].device, dtype=ps[0].dtype)
            for ps in by_shape.values()
        ]

    @torch.no_grad()
    def step(self) -> None:
        for group, buf in zip(self.param_groups, self.buffers, strict=True):
            ps = group["params"]
            if ps[0].grad is None:
                continue
            grads = torch.stack([p.grad for p in ps])  # (n, rows, cols)
            buf.lerp_(grads, 1 - self.momentum)
            g = zeropower_via_newtonschulz5(grads.lerp_(buf, self.momentum), self.ns_steps)
            scale = max(1.0, ps[0].size(-2) / ps[0].size(-1)) ** 0.5
            torch._foreach_add_(ps, list(g.to(ps[0].dtype).unbind(0)), alpha=-group["lr"] * scale)


class AdamW:
    """AdamW (decoupled weight decay) for embeddings, head and any non-matrix parameter."""

    def __init__(self, groups, betas=(0.8, 0.95), eps: float = 1e-10, weight_decay: float = 0.0):
        self.param_groups = groups
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0
        self.state = {
            p: (torch.zeros_like(p), torch.zeros_like(p)) for g in groups for p in g["params"]
        }

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                m, v = self.state[p]
                m.lerp_(p.grad, 1 - b1)
                v.lerp_(p.grad.square(), 1 - b2)
                m_hat = m / (1 - b1**self.t)
                v_hat = v / (1 - b2**self.t)
                p.mul_(1 - group["lr"] * self.weight_decay)
                p.addcdiv_(m_hat, v_hat.sqrt_().add_(self.eps), value=-group["lr"])


def make_optimizers(
    model: GPT,
    *,
    matrix_lr: float = 0.02,
    embedding_lr: float = 0.2,
    unembedding_lr: float = 0.004,
    weight_decay: float = 0.0,
) -> list[AdamW | Muon]:
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
    opts: list[AdamW | Muon] = [
        AdamW(groups, weight_decay=weight_decay),
        Muon(matrices, lr=matrix_lr),
    ]
    for opt in opts:
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
    return opts


def lr_multiplier(
    progress: float,
    *,
    warmup_frac: float = 0.0,
    warmdown_frac: float = 0.2,
    final_frac: float = 0.0,
) -> float:
    """Warmup -> constant -> linear warmdown, as a function of budget progress in [0, 1].

    Progress (not steps) so that token, FLOP and time budgets all get a proper warmdown.
    """
    if warmup_frac and progress < warmup_frac:
        return max(progress / warmup_frac, 0.01)
    if warmdown_frac and progress > 1 - warmdown_frac:
        left = max(0.0, 1 - progress) / warmdown_frac
        return left + (1 - left) * final_frac
    return 1.0


def set_lr(opts: list[AdamW | Muon], mult: float) -> None:
    for opt in opts:
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * mult
