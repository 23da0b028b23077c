"""A loopback model server for the real CLIs: each test answers requests with a function.

The CLIs send side requests (titles, summaries) between the turns of the conversation, so a
fixed list of replies would break on any new CLI version: the test's ``respond`` looks at
each request and decides. ``hold`` makes the next conversation turn wait until the test
releases it, so a state that lasts only as long as the model "thinks" can be observed.
Every request is logged with its path, headers and JSON body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.agent.fakes import anthropic_sse, openai_sse

Respond = Callable[[dict[str, Any]], dict[str, Any]]


class ModelServer:
    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._send(404, b'{"error": {"message": "not here"}}', "application/json")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                reply = server.respond(body)
                if reply.get("hold"):
                    server.gate.wait(60)
                    reply = {k: v for k, v in reply.items() if k != "hold"}
                if body.get("stream"):
                    events = (
                        openai_sse(reply)
                        if reply.get("object") == "response"
                        else (anthropic_sse(reply))
                    )
                    data = b"".join(
                        f"event: {name}\ndata: {json.dumps(event)}\n\n".encode()
                        for name, event in events
                    )
                    self._send(200, data, "text/event-stream")
                else:
                    self._send(200, json.dumps(reply).encode(), "application/json")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", kind)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a pane killed at teardown)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def hold(self) -> None:
        """The next held reply waits for ``release``."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.requests]

    @contextmanager
    def running(self) -> Iterator[ModelServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.gate.set()
            self.httpd.shutdown()
            self.httpd.server_close()


def text_of(content: object) -> str:
    """All the text in a message's content (a string, or a list of blocks), tool results too."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                for key in ("text", "content", "output"):
                    if key in block:
                        parts.append(text_of(block[key]))
            elif isinstance(block, str):
                parts.append(block)
    return "\n".join(parts)


def everything(body: dict[str, Any]) -> str:
    """The whole request as text: system prompt, instructions and every message."""
    return json.dumps(body, ensure_ascii=False)
