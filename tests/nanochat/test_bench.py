"""The GPU benchmark on a machine without a GPU: a clean exit that says so, no numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_without_a_gpu_exits_cleanly_saying_so(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a machine with one
    cmd = [sys.executable, str(ROOT / "benchmarks" / "nanochat_gpu.py"), "--anchor", "none.py"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.splitlines()[-1])
    assert last == {"benchmark": "nanochat_gpu", "skipped": "no GPU (CUDA) available"}
