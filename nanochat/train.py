"""Pretrain a GPT and record the run: `python -m nanochat.train --preset tiny`.

Writes <run-dir>/metrics.jsonl (run_start, train, eval, run_end lines; see the orgtui DESIGN
"Experiments and the ledger"), one flushed JSON object a line, and a progress line on stderr.
The run stops at the first budget reached (--max-steps/--max-tokens/--max-flops/--max-seconds)
and always evaluates at the end. SIGTERM/SIGINT end the run with status "killed".
Environment defaults (set by `orgtui run`): ORGTUI_RUN_ID, ORGTUI_RUN_DIR, ORGTUI_VARIANT,
ORGTUI_SEED, ORGTUI_ROOT, ORGTUI_AGENT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from . import data
from .evaluate import evaluate_bpb
from .flops import flops_per_token, mfu
from .model import GPT, GPTConfig
from .optim import lr_multiplier, make_optimizers, set_lr

# Documented starting points; any explicit flag overrides its preset value.
PRESETS: dict[str, dict[str, Any]] = {
    # CPU: a few seconds for 100 steps on 2 cores (tests, the demo).
    "tiny": dict(
        depth=2,
        head_dim=64,
        seq_len=64,
        batch_size=8,
        vocab_size=1024,
        max_steps=100,
        eval_every=50,
        eval_batches=8,
        log_every=10,
    ),
    # GPU: nanochat's d12 / d20 shapes.
    "d12": dict(
        depth=12,
        seq_len=2048,
        batch_size=32,
        vocab_size=32768,
        max_seconds=300,
        eval_every=250,
        eval_batches=8,
        log_every=10,
    ),
    "d20": dict(
        depth=20,
        seq_len=2048,
        batch_size=16,
        vocab_size=32768,
        max_seconds=300,
        eval_every=250,
        eval_batches=8,
        log_every=10,
    ),
}
DEFAULTS: dict[str, Any] = dict(
    depth=2,
    width=0,
    aspect=64,
    head_dim=128,
    seq_len=64,
    batch_size=8,
    vocab_size=1024,
    softcap=15.0,
    matrix_lr=0.02,
    embedding_lr=0.2,
    unembedding_lr=0.004,
    weight_decay=0.0,
    warmup_frac=0.0,
    warmdown_frac=0.2,
    final_lr_frac=0.0,
    eval_every=0,
    eval_batches=4,
    log_every=10,
    max_steps=None,
    max_tokens=None,
    max_flops=None,
    max_seconds=None,
)


class Killed(Exception):
    """Raised from the signal handler so the loop unwinds and records run_end killed."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m nanochat.train", description=__doc__.split("\n")[0]
    )
    add = ap.add_argument
    add("--preset", choices=sorted(PRESETS), default="tiny")
    add(
        "--data", default=str(data.SAMPLE), help="text file/dir or parquet shards (default: sample)"
    )
    g = ap.add_argument_group("model")
    g.add_argument("--depth", type=int)
    g.add_argument("--width", type=int, help="model dim; default depth x aspect")
    g.add_argument("--aspect", type=int)
    g.add_argument("--head-dim", type=int)
    g.add_argument("--seq-len", type=int)
    g.add_argument("--vocab-size", type=int)
    g.add_argument("--softcap", type=float, help="logit softcap c (c*tanh(x/c)); 0 = off")
    g = ap.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--matrix-lr", type=float, help="Muon LR for block matrices")
    g.add_argument("--embedding-lr", type=float)
    g.add_argument("--unembedding-lr", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--warmup-frac", type=float)
    g.add_argument("--warmdown-frac", type=float)
    g.add_argument("--final-lr-frac", type=float)
    g = ap.add_argument_group("budget (first reached wins)")
    g.add_argument("--max-steps", type=int)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--max-flops", type=float)
    g.add_argument("--max-seconds", type=float, help="seconds of training steps (evals excluded)")
    g = ap.add_argument_group("run")
    g.add_argument("--eval-every", type=int, help="steps between evals (0: only at the end)")
    g.add_argument("--eval-batches", type=int)
    g.add_argument("--log-every", type=int)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--variant", default=None)
    g.add_argument("--run-id", default=None)
    g.add_argument("--run-dir", default=None)
    g.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    g.add_argument("--fail-at-step", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for key, value in (DEFAULTS | PRESETS[args.preset]).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    env = os.environ
    args.seed = args.seed if args.seed is not None else int(env.get("ORGTUI_SEED", 0))
    args.variant = args.variant or env.get("ORGTUI_VARIANT") or "baseline"
    args.run_id = args.run_id or env.get("ORGTUI_RUN_ID") or default_run_id(args)
    if args.run_dir is None:
        if env.get("ORGTUI_RUN_DIR"):
            args.run_dir = env["ORGTUI_RUN_DIR"]
        elif env.get("ORGTUI_ROOT"):
            args.run_dir = str(Path(env["ORGTUI_ROOT"]) / ".org" / "runs" / args.run_id)
        else:
            args.run_dir = str(Path("runs") / args.run_id)
    if not any(getattr(args, k) for k in ("max_steps", "max_tokens", "max_flops", "max_seconds")):
        ap.error("no budget: give --max-steps, --max-tokens, --max-flops or --max-seconds")
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return args


def default_run_id(args: argparse.Namespace) -> str:
    variant = "".join(c if c.isalnum() or c in "-_" else "-" for c in args.variant.lower())
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{variant}-s{args.seed}-{os.getpid()}"


def git_info() -> dict[str, Any]:
    """Branch, commit and dirty flag of the working directory's repo (None outside git)."""

    def git(*a: str) -> str | None:
        try:
            r = subprocess.run(["git", *a], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"branch": None, "commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "commit": commit,
        "dirty": bool(status),
    }


class Metrics:
    """metrics.jsonl writer: one JSON object a line, flushed at once (the TUI tails it)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, event: str, **fields: Any) -> None:
        self.f.write(json.dumps({"event": event, **fields}) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def progress_line(step: int, budget: float, loss: float, tps: float, bpb: float | None) -> str:
    width = 20
    fill = min(width, int(budget * width))
    extra = f" | val_bpb {bpb:.4f}" if bpb is not None else ""
    return (
        f"[{'#' * fill}{'.' * (width - fill)}] {budget:4.0%} step {step:5d} | "
        f"loss {loss:.4f} | {tps:,.0f} tok/s{extra}"
    )


def train(args: argparse.Namespace, metrics: Metrics) -> float | None:
    """The training loop; returns the final val bpb."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    tok = data.get_tokenizer(args.data, args.vocab_size)
    cfg = GPTConfig(
        vocab_size=tok.vocab_size,
        seq_len=args.seq_len,
        depth=args.depth,
        width=args.width,
        aspect=args.aspect,
        head_dim=args.head_dim,
        softcap=args.softcap,
    )
    model = GPT(cfg).to(device)
    fpt = flops_per_token(model)
    params = sum(p.numel() for p in model.parameters())
    config = {
        k: v for k, v in vars(args).items() if k not in ("run_id", "run_dir", "variant", "seed")
    }
    metrics.write(
        "run_start",
        run_id=args.run_id,
        agent=os.environ.get("ORGTUI_AGENT"),
        **git_info(),
        variant=args.variant,
        seed=args.seed,
        config=config | {"model": cfg.to_dict()},
        params=params,
        flops_per_token=fpt,
        time=time.time(),
    )
    opts = make_optimizers(
        model,
        matrix_lr=args.matrix_lr,
        embedding_lr=args.embedding_lr,
        unembedding_lr=args.unembedding_lr,
        weight_decay=args.weight_decay,
    )
    step_model = torch.compile(model) if args.compile else model
    rows = data.packed_rows(args.data, tok, args.seq_len, seed=args.seed)
    train_batches = data.batches(rows, args.batch_size, device)
    if on_cuda:  # tokenise in a thread while the GPU trains
        train_batches = data.prefetch(train_batches)
    val_rows = data.packed_rows(args.data, tok, args.seq_len, split="val", loop=False)
    val = list(islice(data.batches(val_rows, args.batch_size, device), args.eval_batches))
    if not val:
        raise ValueError(f"val split of {args.data} has fewer than {args.batch_size} rows")
    token_bytes = torch.tensor(tok.token_bytes(), device=device)
    device_name = torch.cuda.get_device_name(device) if on_cuda else None
    tokens_per_step = args.batch_size * args.seq_len

    def evaluate(step: int) -> float:
        bpb = evaluate_bpb(model, val, token_bytes, autocast=on_cuda)
        metrics.write(
            "eval",
            step=step,
            tokens=step * tokens_per_step,
            flops=step * tokens_per_step * fpt,
            val_bpb=bpb,
        )
        return bpb

    def budget_used(step: int, elapsed: float) -> float:
        tokens = step * tokens_per_step
        used = [0.0]
        if args.max_steps:
            used.append(step / args.max_steps)
        if args.max_tokens:
            used.append(tokens / args.max_tokens)
        if args.max_flops:
            used.append(tokens * fpt / args.max_flops)
        if args.max_seconds:
            used.append(elapsed / args.max_seconds)
        return max(used)

    step, elapsed, bpb = 0, 0.0, None
    interactive = sys.stderr.isatty()
    while budget_used(step, elapsed) < 1.0:
        if args.fail_at_step is not None and step == args.fail_at_step:
            raise RuntimeError(f"--fail-at-step {step}: injected failure")
        t0 = time.perf_counter()
        lr = lr_multiplier(
            budget_used(step, elapsed),
            warmup_frac=args.warmup_frac,
            warmdown_frac=args.warmdown_frac,
            final_frac=args.final_lr_frac,
        )
        set_lr(opts, lr)
        x, y = next(train_batches)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
            loss = step_model(x, y)
        loss.backward()
        for opt in opts:
            opt.step()
        model.zero_grad(set_to_none=True)
        loss_f = loss.item()  # syncs the GPU, so dt is honest
        dt = time.perf_counter() - t0
        elapsed += dt
        step += 1
        tps = tokens_per_step / dt
        metrics.write(
            "train",
            step=step,
            tokens=step * tokens_per_step,
            flops=step * tokens_per_step * fpt,
            loss=loss_f,
            lr=lr,
            dt=dt,
            tok_per_sec=tps,
            mfu=mfu(tps, fpt, device_name),
        )
        done = budget_used(step, elapsed) >= 1.0
        if args.eval_every and step % args.eval_every == 0 and not done:
            bpb = evaluate(step)
        if interactive or step % args.log_every == 0 or done:
            line = progress_line(step, budget_used(step, elapsed), loss_f, tps, bpb)
            print(
                ("\r" if interactive else "") + line,
                end="" if interactive else "\n",
                file=sys.stderr,
                flush=True,
            )
    bpb = evaluate(step)
    print(
        ("\n" if interactive else "") + f"done: {step} steps, val_bpb {bpb:.4f}",
        file=sys.stderr,
        flush=True,
    )
    return bpb


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir)
    metrics = Metrics(run_dir / "metrics.jsonl")
    print(f"run {args.run_id} -> {run_dir}", file=sys.stderr, flush=True)

    def on_signal(signum: int, _frame: object) -> None:
        raise Killed(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.time()
    status, error, bpb, code = "ok", None, None, 0
    try:
        bpb = train(args, metrics)
    except Killed as e:
        status, error, code = "killed", str(e), 128 + signal.Signals[str(e)].value
    except Exception as e:
        status, error, code = "crash", f"{type(e).__name__}: {e}", 1
        traceback.print_exc()
    finally:  # a second signal must not cut the run_end line short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    end: dict[str, Any] = {"status": status, "wall_s": time.time() - t0, "final_val_bpb": bpb}
    if error:
        end["error"] = error
    metrics.write("run_end", **end)
    metrics.close()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return code


if __name__ == "__main__":
    sys.exit(main())
