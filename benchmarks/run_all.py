"""Run every benchmark in this directory and print one JSON document.

Each benchmark is a script that prints one JSON object on its last stdout line. Options are
passed through per benchmark with ``--args NAME="..."`` (e.g. ``--args supervisor_cpu="--seconds 10"``).
``--anchor PATH`` hands the GPU anchor trainer to nanochat_gpu, which runs it in the same
invocation and reports its figures as ``ratio_to_anchor``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all"}


def machine() -> dict[str, object]:
    import os

    info: dict[str, object] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = None
    return info


def run_one(script: Path, extra: list[str], timeout: float) -> dict[str, object]:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(script), *extra],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f}s"}
    elapsed = round(time.monotonic() - started, 2)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"ok": False, "returncode": proc.returncode, "error": " | ".join(tail)}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        try:
            result = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return {"ok": False, "error": "last line is not JSON", "stdout_tail": lines[-1]}
    return {"ok": True, "seconds": elapsed, "result": result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    parser.add_argument("--skip", nargs="*", default=[], help="benchmark names to skip")
    parser.add_argument("--args", action="append", default=[], metavar='NAME="ARGS"')
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    parser.add_argument("--anchor", type=Path, help="anchor_train.py, for nanochat_gpu's ratio")
    options = parser.parse_args()

    extra: dict[str, list[str]] = {}
    for item in options.args:
        name, _, value = item.partition("=")
        extra[name] = shlex.split(value)
    if options.anchor:
        extra.setdefault("nanochat_gpu", []).extend(["--anchor", str(options.anchor.resolve())])

    scripts = sorted(p for p in HERE.glob("*.py") if p.stem not in SKIP)
    if options.only:
        scripts = [p for p in scripts if p.stem in options.only]
    scripts = [p for p in scripts if p.stem not in options.skip]

    document: dict[str, object] = {"machine": machine(), "time": time.time(), "benchmarks": {}}
    for script in scripts:
        print(f"running {script.stem} ...", file=sys.stderr, flush=True)
        document["benchmarks"][script.stem] = run_one(  # type: ignore[index]
            script, extra.get(script.stem, []), options.timeout
        )
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
