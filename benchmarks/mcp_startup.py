"""Start-up of ``orgtui mcp``, printed as one JSON object.

- ``orgtui_ms``: from spawning ``python -m orgtui mcp`` to its answer to the first
  ``tools/list`` (after ``initialize``), median of ``--runs`` starts.
- ``minimal_ms``: the same for a minimal server on the same SDK (``MCPServer`` with one
  trivial tool), started the same way; ``ratio`` is orgtui's over it.
- ``first_call_ms``: after that, orgtui's first ``tools/call`` (``board`` on an empty org),
  where the org's modules load.

The client is raw JSON-RPC lines on the pipes, so only the servers are measured.
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
from typing import IO, Any

ORG_TOML = '[org]\nname = "bench"\ntask = "t"\n\n[[agent]]\nname = "ada"\nrole = "researcher"\n'
ORG_TOML += 'backend = "shell"\n'

MINIMAL_SERVER = '''\
from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


server.run()
'''

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}


def _send(pipe: IO[str], message: dict[str, Any]) -> None:
    pipe.write(json.dumps(message) + "\n")
    pipe.flush()


def _answer(pipe: IO[str], request_id: int) -> dict[str, Any]:
    """The response to ``request_id`` (notifications and log lines in between are skipped)."""
    while True:
        line = pipe.readline()
        if not line:
            raise RuntimeError(f"the server closed its output before answering {request_id}")
        message = json.loads(line)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"request {request_id} failed: {message['error']}")
            return message["result"]


def start_once(argv: list[str], cwd: Path, env: dict[str, str], call: str | None) -> tuple:
    """Seconds to the first tools/list answer, and to the first call of ``call`` after it."""
    started = time.perf_counter()
    server = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        _send(server.stdin, INITIALIZE)
        _answer(server.stdout, 1)
        _send(server.stdin, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _send(server.stdin, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = _answer(server.stdout, 2)["tools"]
        listed = time.perf_counter() - started
        called = None
        if call is not None:
            before = time.perf_counter()
            request = {"name": call, "arguments": {}}
            _send(
                server.stdin, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": request}
            )
            result = _answer(server.stdout, 3)
            assert not result.get("isError"), result
            called = time.perf_counter() - before
        return listed, called, len(tools)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="starts of each server (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orgtui-mcp-bench-") as tmp:
        root = Path(tmp)
        (root / "org.toml").write_text(ORG_TOML)
        (root / "minimal.py").write_text(MINIMAL_SERVER)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORGTUI_")}
        env |= {"ORGTUI_AGENT": "ada", "ORGTUI_ROOT": str(root)}
        orgtui_argv = [sys.executable, "-m", "orgtui", "mcp"]
        minimal_argv = [sys.executable, str(root / "minimal.py")]
        ours, minimal, calls = [], [], []
        start_once(minimal_argv, root, env, None)  # warm the file cache for both
        for _ in range(args.runs):  # interleaved: the machine's other work hits both alike
            listed, called, count = start_once(orgtui_argv, root, env, "board")
            ours.append(listed)
            calls.append(called)
            minimal.append(start_once(minimal_argv, root, env, None)[0])
    ours_ms = statistics.median(ours) * 1000
    minimal_ms = statistics.median(minimal) * 1000
    result = {
        "benchmark": "mcp_startup",
        "runs": args.runs,
        "tools": count,
        "orgtui_ms": round(ours_ms, 1),
        "minimal_ms": round(minimal_ms, 1),
        "ratio": round(ours_ms / minimal_ms, 2),
        "first_call_ms": round(statistics.median(calls) * 1000, 1),
        "orgtui_all_ms": [round(s * 1000, 1) for s in ours],
        "minimal_all_ms": [round(s * 1000, 1) for s in minimal],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
