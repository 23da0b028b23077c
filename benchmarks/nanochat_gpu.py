"""nanochat on one GPU: d12/d20 tokens/s and MFU, softcap on and off, Muon included.

Designed to run in the same session as the anchor (a plain AdamW + torch.compile GPT of the
same shape, `anchor_train.py`): pass `--anchor PATH` and it is run first in a subprocess, then
each config is reported as a ratio to the anchor's tokens/s for the same depth and softcap.
Random tokens, like the anchor, so data loading is not measured. Without CUDA it prints a
`skipped` record instead of inventing numbers. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONFIGS = [(12, 15.0, 32), (12, 0.0, 32), (20, 15.0, 16), (20, 0.0, 16)]  # depth, softcap, batch


def bench(depth: int, softcap: float, batch: int, steps: int, warm: int) -> dict:
    import torch

    from nanochat.flops import flops_per_token, mfu
    from nanochat.model import GPT, GPTConfig
    from nanochat.optim import make_optimizers

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=32768, seq_len=2048, depth=depth, softcap=softcap)
    model = GPT(cfg).cuda()
    opts = make_optimizers(model)
    compiled = torch.compile(model)
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len), device="cuda")
    y = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len), device="cuda")

    def step() -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = compiled(x, y)
        loss.backward()
        for opt in opts:
            opt.step()
        model.zero_grad(set_to_none=True)
        return loss

    t0 = time.time()
    for _ in range(warm):
        step()
    torch.cuda.synchronize()
    warm_s = time.time() - t0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        loss = step()
    end.record()
    torch.cuda.synchronize()
    dt = start.elapsed_time(end) / 1000 / steps
    tps = batch * cfg.seq_len / dt
    fpt = flops_per_token(model)
    name = torch.cuda.get_device_name(0)
    out = {
        "depth": depth,
        "dim": cfg.dim,
        "softcap": softcap,
        "batch": batch,
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "step_ms": round(dt * 1000, 2),
        "tok_per_s": round(tps),
        "flops_per_tok": fpt,
        "mfu": round(mfu(tps, fpt, name) or 0, 4),
        "warm_s": round(warm_s, 1),
        "max_mem_GB": round(torch.cuda.max_memory_allocated() / 1e9, 1),
        "loss": float(loss),
    }
    print(json.dumps(out), flush=True)
    return out


def run_anchor(path: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, path], check=True, env={**os.environ, "OUT": tmp})
        return json.loads((Path(tmp) / "results.json").read_text())["runs"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor", help="path of anchor_train.py, run first for the ratio")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warm", type=int, default=8)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "nanochat_gpu", "skipped": "no CUDA device"}))
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    anchor = run_anchor(args.anchor) if args.anchor else []
    runs = []
    for depth, softcap, batch in CONFIGS:
        try:
            r = bench(depth, softcap, batch, args.steps, args.warm)  # frees its model on return
        except Exception as e:  # an OOM on one config must not hide the rest
            r = {"depth": depth, "softcap": softcap, "batch": batch, "error": repr(e)[:300]}
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        ref = [a for a in anchor if a["depth"] == depth and a["softcap"] == softcap]
        if ref and "tok_per_s" in r:
            r["anchor_tok_per_s"] = ref[0]["tok_per_s"]
            r["ratio_to_anchor"] = round(r["tok_per_s"] / ref[0]["tok_per_s"], 3)
        runs.append(r)
    print(
        json.dumps(
            {
                "benchmark": "nanochat_gpu",
                "device": torch.cuda.get_device_name(0),
                "torch": torch.__version__,
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
