"""GPU probe on a real machine: NVML values rise under training, the trainer's pid maps to its
pane, and the sampler's own cost. Prints one JSON object.

Starts a private tmux server with one session and two panes: pane "idle" runs a sleeping
shell, pane "trainer" runs a small torch training loop pinned by ``CUDA_VISIBLE_DEVICES``.
A ``GpuSampler`` ticks every ``--every`` s into a throwaway org directory while the probe
watches readings before, during and after training. With ``--trace-out FILE`` it also
records a replay trace (the format of ``tests/fixtures/nvml_h100_trace.jsonl``).

Needs a GPU (NVML). ``--source replay:PATH`` runs the same plumbing against a trace, for
checking the script without a GPU; its figures are then the trace's, labelled "replay".

Usage: python benchmarks/gpu_probe.py [--gpu 0] [--seconds 30] [--every 0.2]
       [--trace-out tests/fixtures/nvml_probe_trace.jsonl]
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
import uuid
from pathlib import Path

TRAINER = """
import sys, time, torch
seconds = float(sys.argv[1])
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
model = torch.nn.Sequential(
    torch.nn.Linear(2048, 8192), torch.nn.GELU(), torch.nn.Linear(8192, 2048)
).to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
x = torch.randn(4096, 2048, device=device)
end = time.monotonic() + seconds
step = 0
while time.monotonic() < end:
    loss = (model(x) - x).pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    step += 1
    if step % 50 == 0:
        if device == "cuda":
            torch.cuda.synchronize()
        print(f"step {step} loss {loss.item():.4f}", flush=True)
print("done", step, flush=True)
"""


def tmux(socket: str, *args: str) -> str:
    out = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=30.0, help="training time")
    parser.add_argument("--idle", type=float, default=3.0, help="idle time before and after")
    parser.add_argument("--every", type=float, default=0.2, help="sample period, s")
    parser.add_argument("--source", default="nvml", help="nvml (default) or replay:PATH")
    parser.add_argument("--trace-out", type=Path, default=None)
    args = parser.parse_args()

    from orgtui.gpu import GpuError, GpuSampler, open_source
    from orgtui.gpu.replay import trace_row
    from orgtui.paths import OrgPaths

    try:
        source = open_source(args.source, Path.cwd())
    except GpuError as error:
        print(json.dumps({"error": str(error), "ran": False}))
        return 1

    socket = f"orgtui-probe-{uuid.uuid4().hex[:8]}"
    result: dict[str, object] = {"source": source.label, "gpu": args.gpu}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "train.py").write_text(TRAINER)
        paths = OrgPaths(work)
        sampler = GpuSampler(paths, source, every_s=args.every, history_s=3600.0)
        try:
            tmux(socket, "new-session", "-d", "-s", "probe", "-n", "org", "sleep 3600")
            idle_pid = int(
                tmux(socket, "display-message", "-p", "-t", "probe:org.0", "#{pane_pid}")
            )
            trainer_cmd = (
                f"sleep {args.idle}; CUDA_VISIBLE_DEVICES={args.gpu} {sys.executable} {work / 'train.py'} "
                f"{args.seconds} > {work / 'train.log'} 2>&1; sleep 3600"
            )
            pane = tmux(
                socket,
                "split-window",
                "-d",
                "-P",
                "-F",
                "#{pane_id}",
                "-t",
                "probe:org",
                "sh",
                "-c",
                trainer_cmd,
            )
            trainer_pid = int(tmux(socket, "display-message", "-p", "-t", pane, "#{pane_pid}"))
            agent_pids = {"idle": idle_pid, "trainer": trainer_pid}
            agent_gpus: dict[str, int | None] = {"idle": None, "trainer": args.gpu}

            ticks_ms: list[float] = []
            phases: dict[str, list[object]] = {"before": [], "during": [], "after": []}
            trace: list[dict[str, object]] = []
            owners_seen: dict[int, dict[str, object]] = {}
            cpu0 = os.times()
            start = time.monotonic()
            # the trainer waits --idle s first, so "before" is an idle GPU (then CUDA start-up)
            total = args.idle + args.seconds + args.idle
            while (elapsed := time.monotonic() - start) < total:
                tick_start = time.perf_counter()
                sample = sampler.tick(time.time(), agent_pids, agent_gpus)
                if sample is not None:
                    ticks_ms.append((time.perf_counter() - tick_start) * 1000)
                    phase = (
                        "before"
                        if elapsed < args.idle
                        else "during"
                        if elapsed < args.idle + args.seconds
                        else "after"
                    )
                    reading = sample.gpu(args.gpu)
                    if reading is not None:
                        phases[phase].append(reading)
                        trace.append(trace_row(reading, sample.time))
                    for owner in sample.owners:
                        owners_seen[owner.pid] = owner.to_json()
                time.sleep(max(0.0, args.every - (time.perf_counter() - tick_start)))
            cpu1 = os.times()
            wall = time.monotonic() - start
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
            sampler.close()
        log = (work / "train.log").read_text() if (work / "train.log").exists() else ""
        ring_bytes = paths.gpu_samples.stat().st_size if paths.gpu_samples.exists() else 0
        result["train_log_tail"] = log.strip().splitlines()[-2:]

    def stats(readings: list[object], field: str) -> dict[str, float | None]:
        values = [getattr(r, field) for r in readings if getattr(r, field) is not None]
        if not values:
            return {"mean": None, "max": None}
        return {"mean": round(statistics.fmean(values), 2), "max": max(values)}

    for phase, readings in phases.items():
        result[phase] = {
            "samples": len(readings),
            "util": stats(readings, "util"),
            "mem_used_gib": {
                k: None if v is None else round(v / 2**30, 2)
                for k, v in stats(readings, "mem_used").items()
            },
            "power_w": stats(readings, "power_w"),
        }
    during_util = result["during"]["util"]["mean"]  # type: ignore[index]
    before_util = result["before"]["util"]["mean"]  # type: ignore[index]
    result["util_rose"] = (
        during_util is not None and before_util is not None and during_util > before_util + 20
    )
    result["owners"] = list(owners_seen.values())
    result["trainer_mapped"] = any(
        o["agent"] == "trainer" and o["flag"] is None for o in owners_seen.values()
    )
    result["unowned"] = [o for o in owners_seen.values() if o["agent"] is None]
    ticks = sorted(ticks_ms)
    result["sampler"] = {
        "every_s": args.every,
        "ticks": len(ticks),
        "tick_ms_p50": round(ticks[len(ticks) // 2], 3) if ticks else None,
        "tick_ms_p95": round(ticks[int(len(ticks) * 0.95)], 3) if ticks else None,
        "tick_ms_max": round(ticks[-1], 3) if ticks else None,
        "probe_cpu_pct_of_core": round(
            100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall, 2
        ),
        "ring_bytes": ring_bytes,
    }
    if args.trace_out is not None:
        args.trace_out.parent.mkdir(parents=True, exist_ok=True)
        args.trace_out.write_text("".join(json.dumps(row) + "\n" for row in trace))
        result["trace_out"] = str(args.trace_out)
        result["trace_lines"] = len(trace)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
