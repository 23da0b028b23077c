"""FLOPs per token and MFU, as nanochat estimates them.

FLOPs/token = 6 x (matmul parameters, i.e. all but the embedding table)
            + 12 x depth x dim x seq_len  (attention scores and values, fwd+bwd, 2 matmuls)
MFU is only reported against a known accelerator peak; on CPU it is None, never invented.
"""

from __future__ import annotations

from .model import GPT

# Dense bf16 peak FLOP/s by substring of the device name (first match wins).
PEAK_FLOPS = (
    ("H200", 989e12),
    ("H100", 989e12),  # SXM; a PCIe part is lower, a name with "PCIe" matches below first
    ("A100", 312e12),
)
PCIE_PEAK = {"H100 PCIe": 756e12}


def matmul_params(model: GPT) -> int:
    return sum(p.numel() for p in model.parameters()) - model.wte.weight.numel()


def flops_per_token(model: GPT) -> int:
    c = model.cfg
    return 6 * matmul_params(model) + 12 * c.depth * c.dim * c.seq_len


def peak_flops(device_name: str | None) -> float | None:
    if not device_name:
        return None
    for key, peak in PCIE_PEAK.items():
        if key in device_name:
            return peak
    for key, peak in PEAK_FLOPS:
        if key in device_name:
            return peak
    return None


def mfu(tok_per_sec: float, fpt: int, device_name: str | None) -> float | None:
    peak = peak_flops(device_name)
    return None if peak is None else tok_per_sec * fpt / peak
