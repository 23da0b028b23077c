"""nanochat on one GPU: d12/d20 tokens/s and MFU, softcap on and off, as a ratio to the anchor.

Two figures per config, both with the GPU presets' switches (compiled model and Muon, torch's
fused AdamW, fused qkv, lazy host sync):
- `step`: the bare training step (micro-batch forward/backward + Muon + AdamW) on random
  tokens, timed with CUDA events, like the anchor;
- `loop`: the real `python -m nanochat.train --preset dNN` (524,288-token steps by gradient
  accumulation, data tokenised in a thread, metrics written), its median train-line tokens/s
  after the first line, and its compile seconds. The corpus is the stdlib docstrings written
  20 times over (no network needed), unless --data names one.
`--anchor PATH` runs the anchor (`anchor_train.py`: AdamW-only GPT of the same shapes) first in
the same invocation and adds `ratio_to_anchor` for the same depth and softcap. `--ablate` also
runs d12's loop with each switch turned off in turn. Without CUDA it prints a `skipped`
record instead of inventing numbers. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = [(12, 15.0, 32), (12, 0.0, 32), (20, 15.0, 16), (20, 0.0, 16)]  # depth, softcap, rows
SWITCHES = ("compile", "compile-muon", "fused-adamw", "fused-qkv", "lazy-sync")
GOALS = {12: 1.10, 20: 1.05}
"""The issue's goal: tokens/s through ``nanochat.train`` at least this times the anchor's."""


def bench_step(depth: int, softcap: float, batch: int, steps: int, warm: int) -> dict:
    import torch

    from nanochat.flops import flops_per_token, mfu
    from nanochat.model import GPT, GPTConfig
    from nanochat.optim import make_optimizers

    torch.manual_seed(0)
    cfg = GPTConfig(depth=depth, softcap=softcap, fused_qkv=True)
    model = GPT(cfg).cuda()
    opts = make_optimizers(model, fused_adamw=True, compile_muon=True)
    compiled = torch.compile(model, dynamic=False)
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
    return {
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "step_ms": round(dt * 1000, 2),
        "tok_per_s": round(tps),
        "mfu": round(mfu(tps, fpt, torch.cuda.get_device_name(0)) or 0, 4),
        "warm_s": round(warm_s, 1),
        "max_mem_GB": round(torch.cuda.max_memory_allocated() / 1e9, 1),
        "loss": float(loss),
    }


def make_corpus(out: Path, copies: int = 20) -> Path:
    """The stdlib docstrings, each written `copies` times (tagged, so the val split has ~5%
    of them): enough rows for 2048-token batches and a val split, without a network."""
    from nanochat import data

    docs = data.stdlib_documents()
    out.mkdir(parents=True, exist_ok=True)
    text = data.DOC_SEP.join(f"{d}\n(copy {k})" for k in range(copies) for d in docs)
    (out / "corpus.txt").write_text(text + "\n", encoding="utf-8")
    return out


def bench_loop(preset: str, softcap: float, corpus: Path, steps: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "nanochat.train",
            "--preset",
            preset,
            "--softcap",
            str(softcap),
        ]
        cmd += ["--data", str(corpus), "--max-steps", str(steps), "--log-every", "10"]
        cmd += ["--eval-every", "0", "--eval-tokens", "65536", "--run-dir", tmp, *extra]
        t0 = time.time()
        subprocess.run(cmd, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
        wall = time.time() - t0
        lines = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["event"] == "train"][1:]  # the first covers cold caches
    compile_s = [r["compile_s"] for r in lines if r["event"] == "compile"]
    return {
        "tok_per_s": round(statistics.median(r["tok_per_sec"] for r in train)),
        "mfu": round(statistics.median(r["mfu"] or 0 for r in train), 4),
        "step_s": round(statistics.median(r["dt"] for r in train), 3),
        "compile_s": round(compile_s[0], 1) if compile_s else None,
        "process_s": round(wall, 1),
        "last_loss": round(train[-1]["loss"], 3),
    }


def run_anchor(path: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, path], check=True, env={**os.environ, "OUT": tmp})
        return json.loads((Path(tmp) / "results.json").read_text())["runs"]


def guarded(fn, *args) -> dict:
    """An OOM or crash in one config must not hide the others."""
    import torch

    try:
        return fn(*args)
    except Exception as e:
        return {"error": repr(e)[:300]}
    finally:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def with_ratio(r: dict, anchor: dict | None) -> dict:
    if anchor and "tok_per_s" in r:
        r["ratio_to_anchor"] = round(r["tok_per_s"] / anchor["tok_per_s"], 3)
    return r


def goals_met(runs: list[dict]) -> dict[str, bool | None]:
    """Per depth and softcap: the training loop's ratio to the anchor against ``GOALS``
    (None when there was no anchor or the run failed)."""
    met: dict[str, bool | None] = {}
    for r in runs:
        ratio = r["loop"].get("ratio_to_anchor")
        key = f"d{r['depth']}_softcap{r['softcap']:g}_loop_at_least_{GOALS[r['depth']]:.2f}x_anchor"
        met[key] = None if ratio is None else ratio >= GOALS[r["depth"]]
    return met


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor", help="path of anchor_train.py, run first for the ratio")
    ap.add_argument("--steps", type=int, default=30, help="timed bare steps")
    ap.add_argument("--warm", type=int, default=8, help="untimed bare steps (compilation)")
    ap.add_argument("--loop-steps", type=int, default=30, help="training steps of each loop run")
    ap.add_argument("--data", type=Path, help="corpus for the loop (default: stdlib x 20)")
    ap.add_argument("--depths", type=int, nargs="*", default=[12, 20])
    ap.add_argument("--no-step", action="store_true", help="time only the training loop")
    ap.add_argument("--ablate", action="store_true", help="d12 loop with each switch off")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "nanochat_gpu", "skipped": "no GPU (CUDA) available"}))
        return
    anchor = run_anchor(args.anchor) if args.anchor else []
    tmp = tempfile.TemporaryDirectory()
    corpus = args.data or make_corpus(Path(tmp.name))
    runs = []
    for depth, softcap, batch in (c for c in CONFIGS if c[0] in args.depths):
        ref = next((a for a in anchor if (a["depth"], a["softcap"]) == (depth, softcap)), None)
        r: dict = {"depth": depth, "softcap": softcap, "batch": batch}
        if not args.no_step:
            r["step"] = with_ratio(
                guarded(bench_step, depth, softcap, batch, args.steps, args.warm), ref
            )
        r["loop"] = with_ratio(
            guarded(bench_loop, f"d{depth}", softcap, corpus, args.loop_steps, []), ref
        )
        if ref:
            r["anchor"] = {k: ref[k] for k in ("tok_per_s", "mfu_vs_989", "step_ms")}
        print(json.dumps(r), flush=True)
        runs.append(r)
    ablation = {}
    for switch in SWITCHES if args.ablate else ():
        off = [f"--no-{switch}"]
        ablation[switch] = guarded(bench_loop, "d12", 15.0, corpus, args.loop_steps, off)
        print(json.dumps({"off": switch, **ablation[switch]}), flush=True)
    print(
        json.dumps(
            {
                "benchmark": "nanochat_gpu",
                "device": torch.cuda.get_device_name(0),
                "torch": torch.__version__,
                "runs": runs,
                "goals_met": goals_met(runs),
                "d12_loop_with_switch_off": ablation,
            }
        )
    )


if __name__ == "__main__":
    main()
