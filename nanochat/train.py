"""Pretrain a GPT and record the run: `python -m nanochat.train --preset tiny`.

Writes <run-dir>/metrics.jsonl (run_start, train, eval, run_end lines; see the orgtui DESIGN
"Experiments and the ledger"), one flushed JSON object a line, and a progress line on stderr.
The run stops at the first budget reached (--max-steps/--max-tokens/--max-flops/--max-seconds)
and always evaluates at the end. SIGTERM/SIGINT end the run with status "killed".
A step is nanochat's: --total-batch-size tokens, reached by accumulating the gradients of
--batch-size-row micro-batches. With --compile, one uncounted warm-up step compiles before the
clock and the LR schedule start (a "compile" line records how long it took). With --lazy-sync
the host waits for the GPU only at log and eval steps; a train line then covers the steps since
the previous one (their mean dt and tokens/s).
Environment defaults (set by `orgtui run`): ORGTUI_RUN_ID, ORGTUI_RUN_DIR, ORGTUI_VARIANT,
ORGTUI_SEED, ORGTUI_ROOT, ORGTUI_AGENT. ORGTUI_MAX_FLOPS (a matched-compute control) replaces
every budget given on the command line: the run trains to that many FLOPs, its LR schedule
spread over them.
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
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from . import data
from .evaluate import evaluate_bpb
from .flops import flops_per_token, mfu
from .model import GPT, GPTConfig
from .optim import Muon, lr_multiplier, make_optimizers, muon_momentum, set_lr

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
        eval_tokens=8 * 8 * 64,
        log_every=10,
    ),
    # GPU: nanochat's d12 / d20 shapes and regime (524,288 tokens a step, ~10M eval tokens).
    "d12": dict(
        depth=12,
        seq_len=2048,
        batch_size=32,
        total_batch_size=524_288,
        momentum_warmup=300,
        vocab_size=32768,
        max_seconds=300,
        eval_every=250,
        eval_tokens=20 * 524_288,
        log_every=10,
        compile=True,
        compile_muon=True,
        fused_adamw=True,
        fused_qkv=True,
        lazy_sync=True,
    ),
    "d20": dict(
        depth=20,
        seq_len=2048,
        batch_size=16,
        total_batch_size=524_288,
        momentum_warmup=300,
        vocab_size=32768,
        max_seconds=300,
        eval_every=250,
        eval_tokens=20 * 524_288,
        log_every=10,
        compile=True,
        compile_muon=True,
        fused_adamw=True,
        fused_qkv=True,
        lazy_sync=True,
    ),
}
DEFAULTS: dict[str, Any] = dict(
    depth=2,
    width=0,
    aspect=64,
    head_dim=128,
    seq_len=64,
    batch_size=8,
    total_batch_size=0,
    vocab_size=1024,
    softcap=15.0,
    matrix_lr=0.02,
    embedding_lr=0.2,
    unembedding_lr=0.004,
    weight_decay=0.0,
    warmup_frac=0.0,
    warmdown_frac=0.2,
    final_lr_frac=0.0,
    momentum_warmup=0,
    eval_every=0,
    eval_tokens=4 * 8 * 64,
    log_every=10,
    max_steps=None,
    max_tokens=None,
    max_flops=None,
    max_seconds=None,
    compile=False,
    compile_muon=False,
    fused_adamw=False,
    fused_qkv=False,
    lazy_sync=False,
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
    g.add_argument("--batch-size", type=int, help="rows of --seq-len tokens per forward pass")
    g.add_argument(
        "--total-batch-size",
        type=int,
        help="tokens per optimizer step, by gradient accumulation (0: one micro-batch)",
    )
    g.add_argument("--matrix-lr", type=float, help="Muon LR for block matrices")
    g.add_argument("--embedding-lr", type=float)
    g.add_argument("--unembedding-lr", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--warmup-frac", type=float)
    g.add_argument("--warmdown-frac", type=float)
    g.add_argument("--final-lr-frac", type=float)
    g.add_argument("--momentum-warmup", type=int, help="steps of Muon momentum 0.85 -> 0.95")
    g = ap.add_argument_group("budget (first reached wins)")
    g.add_argument("--max-steps", type=int)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--max-flops", type=float)
    g.add_argument("--max-seconds", type=float, help="seconds of training steps (evals excluded)")
    g = ap.add_argument_group("run")
    g.add_argument("--eval-every", type=int, help="steps between evals (0: only at the end)")
    g.add_argument("--eval-tokens", type=int, help="validation tokens per eval")
    g.add_argument("--eval-batches", type=int, help="overrides --eval-tokens")
    g.add_argument("--log-every", type=int)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--variant", default=None)
    g.add_argument("--run-id", default=None)
    g.add_argument("--run-dir", default=None)
    g.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    g.add_argument("--fail-at-step", type=int, default=None, help=argparse.SUPPRESS)
    g = ap.add_argument_group("speed switches (on in the GPU presets)")
    on_off = argparse.BooleanOptionalAction
    g.add_argument("--compile", action=on_off, help="torch.compile the model")
    g.add_argument("--compile-muon", action=on_off, help="torch.compile Newton–Schulz")
    g.add_argument("--fused-adamw", action=on_off, help="torch's fused (CUDA)/foreach AdamW")
    g.add_argument("--fused-qkv", action=on_off, help="q, k, v as one matmul")
    g.add_argument("--lazy-sync", action=on_off, help="wait for the GPU only at log/eval steps")
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
    if env.get("ORGTUI_MAX_FLOPS"):
        args.max_flops = matched_flops(ap, env["ORGTUI_MAX_FLOPS"])
        args.max_steps = args.max_tokens = args.max_seconds = None
    if not any(getattr(args, k) for k in ("max_steps", "max_tokens", "max_flops", "max_seconds")):
        ap.error("no budget: give --max-steps, --max-tokens, --max-flops or --max-seconds")
    micro = args.batch_size * args.seq_len
    args.total_batch_size = args.total_batch_size or micro
    if args.total_batch_size % micro:
        ap.error(
            f"--total-batch-size {args.total_batch_size} is not a multiple of --batch-size x "
            f"--seq-len = {micro}: give a multiple, or 0 for one micro-batch a step"
        )
    args.eval_batches = args.eval_batches or max(1, args.eval_tokens // micro)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return args


def matched_flops(ap: argparse.ArgumentParser, text: str) -> float:
    """ORGTUI_MAX_FLOPS as a budget: a positive, finite number of FLOPs."""
    try:
        flops = float(text)
    except ValueError:
        flops = float("nan")
    if not 0 < flops < float("inf"):
        ap.error(f"ORGTUI_MAX_FLOPS={text!r} is not a positive number of FLOPs")
    return flops


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


class Budget:
    """The share of the run's budget used: the largest of steps, tokens, FLOPs and seconds."""

    def __init__(self, args: argparse.Namespace, flops_per_token: int):
        self.args, self.fpt = args, flops_per_token

    def used(self, step: int, elapsed: float) -> float:
        a = self.args
        tokens = step * a.total_batch_size
        used = [0.0]
        if a.max_steps:
            used.append(step / a.max_steps)
        if a.max_tokens:
            used.append(tokens / a.max_tokens)
        if a.max_flops:
            used.append(tokens * self.fpt / a.max_flops)
        if a.max_seconds:
            used.append(elapsed / a.max_seconds)
        return max(used)


class TrainLog:
    """Train lines and the progress line. A line covers the steps since the previous one (one,
    unless the host syncs lazily): its dt and tok_per_sec are their mean."""

    def __init__(self, metrics: Metrics, args: argparse.Namespace, fpt: int, device: str | None):
        self.metrics, self.args, self.fpt, self.device = metrics, args, fpt, device
        self.interactive = sys.stderr.isatty()
        self.steps, self.seconds = 0, 0.0

    def add(self, dt: float) -> None:
        self.steps += 1
        self.seconds += dt

    def write(self, step: int, loss: float, lr: float, budget: float, bpb: float | None) -> None:
        per_step = self.args.total_batch_size
        dt = self.seconds / self.steps
        tps = per_step / dt
        self.metrics.write(
            "train",
            step=step,
            tokens=step * per_step,
            flops=step * per_step * self.fpt,
            loss=loss,
            lr=lr,
            dt=dt,
            tok_per_sec=tps,
            mfu=mfu(tps, self.fpt, self.device),
        )
        self.steps, self.seconds = 0, 0.0
        if self.interactive or step % self.args.log_every == 0 or budget >= 1.0:
            line = progress_line(step, budget, loss, tps, bpb)
            print(
                ("\r" if self.interactive else "") + line,
                end="" if self.interactive else "\n",
                file=sys.stderr,
                flush=True,
            )


def forward_backward(
    model: torch.nn.Module,
    micro_batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n: int,
    autocast: bool,
) -> torch.Tensor:
    """Accumulate the gradient of the mean loss over n micro-batches: each backward adds the
    gradient of its loss / n, which sums to one big batch's. Returns that mean loss, on the
    device (reading it is a host sync)."""
    losses = []
    for x, y in islice(micro_batches, n):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = model(x, y) / n
        loss.backward()
        losses.append(loss.detach())
    return torch.stack(losses).sum()


def warm_up(
    step_model: torch.nn.Module,
    model: GPT,
    muon: Muon,
    batch: tuple[torch.Tensor, torch.Tensor],
    autocast: bool,
) -> float:
    """Compile before the clock and the schedule start; returns the seconds it took.

    One forward/backward on a val batch whose gradients are dropped, and Newton–Schulz on
    zeros: no weight, optimizer state or training batch is touched, so the run is the same
    as without the warm-up.
    """
    t0 = time.perf_counter()
    forward_backward(step_model, [batch], 1, autocast)
    model.zero_grad(set_to_none=True)
    muon.warm_up()
    if autocast:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def train(args: argparse.Namespace, metrics: Metrics) -> float | None:
    """The training loop; returns the final val bpb."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    tok = data.get_tokenizer(args.data, args.vocab_size)
    cfg = GPTConfig(
        vocab_size=max(tok.vocab_size, args.vocab_size),  # a small corpus's short vocab: padded
        seq_len=args.seq_len,
        depth=args.depth,
        width=args.width,
        aspect=args.aspect,
        head_dim=args.head_dim,
        softcap=args.softcap,
        fused_qkv=args.fused_qkv,
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
        fused_adamw=args.fused_adamw,
        compile_muon=args.compile_muon,
    )
    muon = opts[-1]  # [AdamW, Muon]
    step_model = torch.compile(model, dynamic=False) if args.compile else model
    accum = args.total_batch_size // (args.batch_size * args.seq_len)
    rows = data.packed_rows(args.data, tok, args.seq_len, seed=args.seed)
    train_batches = data.batches(rows, args.batch_size, device)
    if on_cuda:  # tokenise in a thread while the GPU trains
        train_batches = data.prefetch(train_batches, depth=max(4, 2 * accum))
    val_rows = data.packed_rows(args.data, tok, args.seq_len, split="val", loop=False)
    val = list(islice(data.batches(val_rows, args.batch_size, device), args.eval_batches))
    if not val:
        raise ValueError(f"val split of {args.data} has fewer than {args.batch_size} rows")
    token_bytes = torch.tensor(tok.token_bytes(), device=device)
    if args.compile or args.compile_muon:
        metrics.write("compile", compile_s=warm_up(step_model, model, muon, val[0], on_cuda))

    def evaluate(step: int) -> float:
        bpb = evaluate_bpb(model, val, token_bytes, autocast=on_cuda)
        tokens = step * args.total_batch_size
        metrics.write("eval", step=step, tokens=tokens, flops=tokens * fpt, val_bpb=bpb)
        return bpb

    budget = Budget(args, fpt)
    log = TrainLog(metrics, args, fpt, torch.cuda.get_device_name(device) if on_cuda else None)
    step, elapsed, bpb = 0, 0.0, None
    while budget.used(step, elapsed) < 1.0:
        if args.fail_at_step is not None and step == args.fail_at_step:
            raise RuntimeError(f"--fail-at-step {step}: injected failure")
        t0 = time.perf_counter()
        lr = lr_multiplier(
            budget.used(step, elapsed),
            warmup_frac=args.warmup_frac,
            warmdown_frac=args.warmdown_frac,
            final_frac=args.final_lr_frac,
        )
        set_lr(opts, lr)
        muon.momentum = muon_momentum(step, args.momentum_warmup)
        loss = forward_backward(step_model, train_batches, accum, on_cuda)
        for opt in opts:
            opt.step()
        model.zero_grad(set_to_none=True)
        step += 1
        eval_due = bool(args.eval_every) and step % args.eval_every == 0
        dt = time.perf_counter() - t0  # on a GPU: the launch time, unless synced below
        done = budget.used(step, elapsed + dt) >= 1.0
        sync = not args.lazy_sync or step % args.log_every == 0 or eval_due or done
        if sync:
            loss_f = loss.item()  # waits for the GPU, so dt is honest
            dt = time.perf_counter() - t0
        elapsed += dt
        log.add(dt)
        if sync:
            log.write(step, loss_f, lr, budget.used(step, elapsed), bpb)
        if eval_due and budget.used(step, elapsed) < 1.0:
            bpb = evaluate(step)
    bpb = evaluate(step)
    print(
        ("\n" if log.interactive else "") + f"done: {step} steps, val_bpb {bpb:.4f}",
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
