"""GPT in nanochat's style.

Notable design choices:
- rotary position embeddings, no learned positions
- QK-norm (parameterless RMSNorm on queries and keys)
- ReLU² MLP, no biases anywhere, parameterless RMSNorm
- untied token embedding and lm head
- width = depth x 64 (the `aspect` ratio), head dim 128 (clamped for tiny models)
- optional logit softcap: `softcap * tanh(logits / softcap)`, off when 0
- SDPA attention with is_causal (flash kernels on GPU)
- `fused_qkv` switch: q, k and v as one (3, dim, dim) weight and one matmul; Muon still
  orthogonalises each of the three matrices on its own, so the maths is unchanged
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 32768
    seq_len: int = 2048
    depth: int = 12
    width: int = 0  # 0 = depth * aspect
    aspect: int = 64
    head_dim: int = 128
    softcap: float = 15.0  # 0 = no logit softcap
    fused_qkv: bool = False  # one (3, dim, dim) weight for q, k, v: one matmul, not three

    @property
    def dim(self) -> int:
        return self.width or self.depth * self.aspect

    @property
    def n_head(self) -> int:
        return max(1, self.dim // self.head_dim)

    def to_dict(self) -> dict:
        return asdict(self) | {"dim": self.dim, "n_head": self.n_head}


def norm(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.size(-1),))


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.fused_qkv = cfg.n_head, cfg.fused_qkv
        if cfg.fused_qkv:
            self.c_qkv = nn.Parameter(torch.empty(3, cfg.dim, cfg.dim))  # q, k, v stacked
        else:
            self.c_q = nn.Linear(cfg.dim, cfg.dim, bias=False)
            self.c_k = nn.Linear(cfg.dim, cfg.dim, bias=False)
            self.c_v = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.c_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hd = C // self.n_head
        if self.fused_qkv:
            qkv = F.linear(x, self.c_qkv.flatten(0, 1))  # (B, T, 3C)
            q, k, v = qkv.view(B, T, 3, self.n_head, hd).unbind(2)
        else:
            q = self.c_q(x).view(B, T, self.n_head, hd)
            k = self.c_k(x).view(B, T, self.n_head, hd)
            v = self.c_v(x).view(B, T, self.n_head, hd)
        q, k = norm(apply_rotary(q, cos, sin)), norm(apply_rotary(k, cos, sin))  # QK-norm
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.dim, 4 * cfg.dim, bias=False)
        self.c_proj = nn.Linear(4 * cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.relu(self.c_fc(x)).square())  # ReLU²


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(norm(x), cos, sin)
        return x + self.mlp(norm(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        hd = cfg.dim // cfg.n_head
        inv_freq = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.outer(torch.arange(cfg.seq_len).float(), inv_freq)  # (T, hd/2)
        self.register_buffer("cos", freqs.cos()[None, :, None, :], persistent=False)
        self.register_buffer("sin", freqs.sin()[None, :, None, :], persistent=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """nanochat-like init: small embeddings, zeroed output projections and head."""
        nn.init.normal_(self.wte.weight, std=1.0)
        nn.init.zeros_(self.lm_head.weight)
        bound = 3**0.5 * self.cfg.dim**-0.5  # uniform with std 1/sqrt(fan_in)
        for block in self.blocks:
            a = block.attn
            qkv = a.c_qkv.unbind(0) if a.fused_qkv else (a.c_q.weight, a.c_k.weight, a.c_v.weight)
            for w in (*qkv, block.mlp.c_fc.weight):
                nn.init.uniform_(w, -bound, bound)
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean"
    ) -> torch.Tensor:
        """Return the loss when targets are given, else the logits (B, T, V) in float32."""
        T = idx.size(1)
        cos, sin = self.cos[:, :T], self.sin[:, :T]
        if torch.is_autocast_enabled():
            cos, sin = cos.to(torch.bfloat16), sin.to(torch.bfloat16)
        x = norm(self.wte(idx))
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(norm(x)).float()
        c = self.cfg.softcap
        if c:
            logits = c * torch.tanh(logits / c)
        if targets is None:
            return logits
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)),
            targets.reshape(-1),
            ignore_index=-1,
            reduction=reduction,
        )
