"""Train and evaluate the spiral classifier: `python -m ringclf.train [--hidden N] [--lr X]`.

One run is one seed of one config: an MLP (tanh, Adam, constant LR) on the fixed spiral data
(ringclf/data.py), evaluated on the validation split every --eval-every steps and at the end.
The seed (--seed, else ORGTUI_SEED, else 0) fixes the init and the batch order, so a run on the
CPU is deterministic given its seed and config. Torch uses OMP_NUM_THREADS threads (else one).

With a run directory (--run-dir, else ORGTUI_RUN_DIR, as `orgtui run` sets it) it writes
<run-dir>/metrics.jsonl, one flushed JSON object a line: run_start, train, eval (val_acc,
val_loss), run_end (status ok|killed|crash, wall_s, final_val_acc). Without one it only prints.
`elapsed_s` counts seconds of training steps (evals excluded): the task's cost axis.
The run stops at the first budget reached (--steps, --max-seconds). ORGTUI_MAX_COST in
ORGTUI_COST_UNIT (wall_seconds or gpu_seconds: seconds on this one device; flops), or
ORGTUI_MAX_FLOPS, is a matched-compute control: it replaces the budgets of the command line.
SIGTERM/SIGINT end the run with status "killed".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn
from torch.nn import functional as F

from .data import Split, spirals

SECONDS_UNITS = ("wall_seconds", "gpu_seconds")


class Killed(Exception):
    """Raised from the signal handler so the loop unwinds and records run_end killed."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m ringclf.train", description=__doc__.split("\n")[0])
    add = ap.add_argument
    add("--hidden", type=int, default=16, help="units per hidden layer")
    add("--depth", type=int, default=2, help="hidden layers")
    add("--lr", type=float, default=0.003, help="Adam learning rate (constant)")
    add("--batch-size", type=int, default=64)
    add("--steps", type=int, default=2000, help="training steps (a budget)")
    add("--max-seconds", type=float, default=None, help="seconds of training (a budget)")
    add("--eval-every", type=int, default=250, help="steps between evals (0: only at the end)")
    add("--log-every", type=int, default=10, help="steps between train lines")
    add("--seed", type=int, default=None)
    add("--variant", default=None)
    add("--run-id", default=None)
    add("--run-dir", default=None)
    args = ap.parse_args(argv)
    for name in ("hidden", "depth", "batch_size", "steps", "log_every"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: give a positive integer")
    if args.eval_every < 0:
        ap.error(f"--eval-every {args.eval_every}: give 0 (only at the end) or more")
    for name in ("lr", "max_seconds"):
        value = getattr(args, name)
        if value is not None and not 0 < value < math.inf:
            ap.error(f"--{name.replace('_', '-')} {value}: give a positive number")
    env = os.environ
    text = str(args.seed) if args.seed is not None else (env.get("ORGTUI_SEED") or "0")
    if not (text.isascii() and text.isdigit() and int(text) < 2**63):
        ap.error(f"seed {text!r:.40} (--seed, else ORGTUI_SEED): give a whole number 0..2**63-1")
    args.seed = int(text)
    args.variant = args.variant or env.get("ORGTUI_VARIANT") or "baseline"
    args.run_id = args.run_id or env.get("ORGTUI_RUN_ID") or f"ringclf-s{args.seed}"
    args.run_dir = args.run_dir or env.get("ORGTUI_RUN_DIR") or None
    args.max_flops = None
    matched_budget(ap, args, env)
    return args


def matched_budget(
    ap: argparse.ArgumentParser, args: argparse.Namespace, env: Mapping[str, str]
) -> None:
    """A matched-compute control's budget from the environment, replacing the command line's."""
    if env.get("ORGTUI_MAX_COST"):
        unit = env.get("ORGTUI_COST_UNIT", "")
        if unit not in (*SECONDS_UNITS, "flops"):
            ap.error(
                f"ORGTUI_COST_UNIT={unit!r:.40} with ORGTUI_MAX_COST: set it to wall_seconds, "
                "gpu_seconds or flops"
            )
        name, text = "ORGTUI_MAX_COST", env["ORGTUI_MAX_COST"]
    elif env.get("ORGTUI_MAX_FLOPS"):
        unit, name, text = "flops", "ORGTUI_MAX_FLOPS", env["ORGTUI_MAX_FLOPS"]
    else:
        return
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        ap.error(f"{name}={text!r:.40} is not a positive number of {unit}")
    args.steps = None
    args.max_seconds = value if unit in SECONDS_UNITS else None
    args.max_flops = value if unit == "flops" else None


def threads() -> int:
    """OMP_NUM_THREADS when it is a positive integer, else 1: one core unless told more."""
    text = os.environ.get("OMP_NUM_THREADS", "")
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= 1024 else 1


class Metrics:
    """metrics.jsonl writer (one JSON object a line, flushed at once); a no-op without a file."""

    def __init__(self, path: Path | None):
        self.f: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, event: str, **fields: Any) -> None:
        if self.f is not None:
            self.f.write(json.dumps({"event": event, **fields}) + "\n")
            self.f.flush()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def mlp(hidden: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = 2
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.Tanh()]
        width = hidden
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


class Batches:
    """Shuffled mini-batches of the training split, reshuffled each epoch by the run's seed."""

    def __init__(self, split: Split, size: int, seed: int):
        self.split, self.size = split, size
        self.gen = torch.Generator().manual_seed(seed)
        self.order, self.at = torch.randperm(len(split.y), generator=self.gen), 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.at + self.size > len(self.order):
            self.order, self.at = torch.randperm(len(self.split.y), generator=self.gen), 0
        idx = self.order[self.at : self.at + self.size]
        self.at += self.size
        return self.split.x[idx], self.split.y[idx]


class Adam:
    """Adam (torch's defaults: betas 0.9/0.999, eps 1e-8), written out because creating any
    torch.optim optimizer imports torch._dynamo: 1-2 s of start-up, as long as the training."""

    def __init__(self, params: list[nn.Parameter], lr: float):
        self.params, self.lr, self.t = params, lr, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = 0.9, 0.999
        correct1, correct2 = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.addcdiv_(m, (v.sqrt() / correct2).add_(1e-8), value=-self.lr / correct1)
            p.grad = None


class Budget:
    """The share of the run's budget used: the largest of steps, seconds and FLOPs."""

    def __init__(self, args: argparse.Namespace, flops_per_step: int):
        self.args, self.fps = args, flops_per_step

    def used(self, step: int, elapsed: float) -> float:
        a = self.args
        shares = [0.0]
        if a.steps:
            shares.append(step / a.steps)
        if a.max_seconds:
            shares.append(elapsed / a.max_seconds)
        if a.max_flops:
            shares.append(step * self.fps / a.max_flops)
        return max(shares)


@torch.no_grad()
def evaluate(model: nn.Module, val: Split) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on the whole validation split."""
    logits = model(val.x)
    acc = (logits.argmax(dim=1) == val.y).double().mean().item()
    return acc, F.cross_entropy(logits, val.y).item()


def train(args: argparse.Namespace, metrics: Metrics) -> float:
    """The training loop; returns the final validation accuracy."""
    torch.set_num_threads(threads())
    train_split, val = spirals()
    torch.manual_seed(args.seed)
    model = mlp(args.hidden, args.depth)
    params = sum(p.numel() for p in model.parameters())
    flops_per_step = 6 * params * args.batch_size  # forward and backward, per example
    config = {
        k: v for k, v in vars(args).items() if k not in ("run_id", "run_dir", "variant", "seed")
    }
    metrics.write(
        "run_start",
        run_id=args.run_id,
        agent=os.environ.get("ORGTUI_AGENT"),
        variant=args.variant,
        seed=args.seed,
        config=config,
        params=params,
        threads=torch.get_num_threads(),  # how it ran, not what: outside config (drift)
        time=time.time(),
    )
    opt = Adam(list(model.parameters()), lr=args.lr)
    batches = Batches(train_split, args.batch_size, args.seed)
    budget = Budget(args, flops_per_step)

    def eval_at(step: int, elapsed: float) -> float:
        acc, loss = evaluate(model, val)
        metrics.write(
            "eval",
            step=step,
            val_acc=acc,
            val_loss=loss,
            elapsed_s=elapsed,
            flops=step * flops_per_step,
            time=time.time(),
        )
        print(f"step {step:5d} | val_acc {acc:.4f} | {elapsed:.2f}s", file=sys.stderr, flush=True)
        return acc

    step, elapsed = 0, 0.0
    while budget.used(step, elapsed) < 1.0:
        t0 = time.perf_counter()
        x, y = batches.next()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        step += 1
        elapsed += time.perf_counter() - t0
        if step % args.log_every == 0:
            metrics.write("train", step=step, loss=loss.item(), elapsed_s=elapsed)
        if args.eval_every and step % args.eval_every == 0 and budget.used(step, elapsed) < 1.0:
            eval_at(step, elapsed)
    acc = eval_at(step, elapsed)
    print(f"done: {step} steps, val_acc {acc:.4f}", file=sys.stderr, flush=True)
    return acc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir) if args.run_dir else None
    metrics = Metrics(run_dir / "metrics.jsonl" if run_dir else None)
    if run_dir:
        print(f"run {args.run_id} -> {run_dir}", file=sys.stderr, flush=True)

    def on_signal(signum: int, _frame: object) -> None:
        raise Killed(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.time()
    status, error, acc, code = "ok", None, None, 0
    try:
        acc = train(args, metrics)
    except Killed as e:
        status, error, code = "killed", str(e), 128 + signal.Signals[str(e)].value
    except Exception as e:
        status, error, code = "crash", f"{type(e).__name__}: {e}", 1
        traceback.print_exc()
    finally:  # a second signal must not cut the run_end line short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    end: dict[str, Any] = {"status": status, "wall_s": time.time() - t0, "final_val_acc": acc}
    if error:
        end["error"] = error
    metrics.write("run_end", **end)
    metrics.close()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return code


def run() -> None:
    """The command line's entry: :func:`main`, then out at once. Interpreter teardown with
    torch loaded takes about a second of freeing modules; the metrics file is closed and the
    streams are flushed here, so it has nothing left to do."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
