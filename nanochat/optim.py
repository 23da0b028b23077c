"""Optimizers and LR schedule in nanochat's style.

- Muon for the matrices inside the transformer blocks: SGD-momentum (Nesterov) whose
  update is orthogonalised by a few Newton–Schulz iterations, scaled by sqrt(max(1, rows/cols)).
  Its momentum warms up from 0.85 to 0.95 over the first steps, as nanochat's does.
- AdamW for the embedding, the lm head (and any scalar/1-D parameter).
- Schedule: linear warmup, constant, then linear warmdown to `final_frac` of the peak.
- Speed switches (the GPU presets turn them on): Newton–Schulz under torch.compile, and
  torch's own AdamW (one fused kernel on CUDA, foreach on CPU). Both import torch._dynamo
  (~1.4 s), which would dominate a short CPU run, so the CPU preset keeps the plain versions.
"""

from __future__ import annotations

from typing import TypeAlias

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
    """Nesterov momentum + Newton–Schulz orthogonalisation, for matrices only.

    Matrices of the same shape are stacked and orthogonalised in one batched call (one
    kernel launch per shape rather than per matrix: matters on a GPU). A parameter with
    leading dimensions (the fused (3, dim, dim) qkv) is a stack of matrices, each its own.
    A plain class, not a torch.optim.Optimizer: that base imports torch._dynamo (~1.4 s),
    which dominated the start of a CPU run.
    """

    def __init__(
        self,
        params,
        lr: float = 0.02,
        momentum: float = 0.95,
        ns_steps: int = 5,
        compile: bool = False,
    ):
        self.momentum, self.ns_steps = momentum, ns_steps
        self.orthogonalise = zeropower_via_newtonschulz5
        if compile:  # one static graph per stacked shape, built by warm_up()
            self.orthogonalise = torch.compile(zeropower_via_newtonschulz5, dynamic=False)
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
            g = self.orthogonalise(grads.lerp_(buf, self.momentum), self.ns_steps)
            scale = max(1.0, ps[0].size(-2) / ps[0].size(-1)) ** 0.5
            torch._foreach_add_(ps, list(g.to(ps[0].dtype).unbind(0)), alpha=-group["lr"] * scale)

    @torch.no_grad()  # as in step(): a change of grad mode would compile again
    def warm_up(self) -> None:
        """Run Newton–Schulz once per stacked shape (on zeros), so compiling it is not timed."""
        for buf in self.buffers:
            self.orthogonalise(torch.zeros_like(buf), self.ns_steps)


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


Optimizer: TypeAlias = AdamW | Muon | torch.optim.AdamW


def make_optimizers(
    model: GPT,
    *,
    matrix_lr: float = 0.02,
    embedding_lr: float = 0.2,
    unembedding_lr: float = 0.004,
    weight_decay: float = 0.0,
    fused_adamw: bool = False,
    compile_muon: bool = False,
) -> list[Optimizer]:
    """[AdamW, Muon]: Muon for block matrices, AdamW for embedding/head (LRs x (dim/768)^-0.5).

    fused_adamw: torch's AdamW, one fused kernel on CUDA (foreach on CPU), same maths.
    compile_muon: Newton–Schulz under torch.compile; call warm_up() before timing a step.
    """
    matrices = [p for p in model.blocks.parameters() if p.ndim >= 2]
    others = [p for p in model.blocks.parameters() if p.ndim < 2]
    scale = (model.cfg.dim / 768) ** -0.5
    groups = [
        dict(params=[model.wte.weight], lr=embedding_lr * scale),
        dict(params=[model.lm_head.weight], lr=unembedding_lr * scale),
    ]
    if others:
        groups.append(dict(params=others, lr=embedding_lr * scale))
    if fused_adamw:
        kernel = {"fused": True} if model.wte.weight.is_cuda else {"foreach": True}
        adamw: Optimizer = torch.optim.AdamW(
            groups, betas=(0.8, 0.95), eps=1e-10, weight_decay=weight_decay, **kernel
        )
    else:
        adamw = AdamW(groups, weight_decay=weight_decay)
    opts = [adamw, Muon(matrices, lr=matrix_lr, compile=compile_muon)]
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


def muon_momentum(step: int, warmup_steps: int = 300) -> float:
    """nanochat's Muon momentum warmup: 0.85 at step 0 to 0.95 at `warmup_steps` (0: 0.95)."""
    frac = min(step / warmup_steps, 1.0) if warmup_steps else 1.0
    return 0.85 + 0.10 * frac


def set_lr(opts: list[Optimizer], mult: float) -> None:
    for opt in opts:
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * mult
