"""Fake Anthropic Messages and OpenAI Responses servers on 127.0.0.1 (port 0), for tests.

Each test scripts the answers in order: a dict is a JSON body (status 200), a
``(status, body, headers)`` tuple is an error or custom reply. Every request is logged
(path, headers, JSON body) so tests can assert what the real SDKs sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any] | tuple[int, dict[str, Any], dict[str, str]]


class FakeModelServer:
    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.on_request: Callable[[], None] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if server.on_request is not None:
                    server.on_request()
                with server.lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                    reply = server.replies.pop(0) if server.replies else _error(500, "no reply")
                status, payload, headers = reply if isinstance(reply, tuple) else (200, reply, {})
                if status == 200 and body.get("stream"):
                    self._stream(payload)
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, payload: dict[str, Any]) -> None:
                events = (
                    openai_sse(payload)
                    if payload.get("object") == "response"
                    else anthropic_sse(payload)
                )
                data = b"".join(
                    f"event: {name}\ndata: {json.dumps(event)}\n\n".encode()
                    for name, event in events
                )
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FakeModelServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
    return (status, {"type": "error", "error": {"type": kind, "message": message}}, headers or {})


def error(status: int, message: str = "scripted error", **headers: str) -> Reply:
    return _error(status, message, {k.replace("_", "-"): v for k, v in headers.items()})


# --------------------------------------------------------------------------- Anthropic


def anthropic_message(*blocks: dict[str, Any], stop: str | None = None) -> dict[str, Any]:
    tool = any(b["type"] == "tool_use" for b in blocks)
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-fake",
        "content": list(blocks),
        "stop_reason": stop or ("tool_use" if tool else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }


def a_text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def a_tool(id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": args}


# --------------------------------------------------------------------------- OpenAI


def openai_response(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 0,
        "status": "completed",
        "model": "gpt-fake",
        "output": list(items),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 13,
            "output_tokens": 5,
            "total_tokens": 18,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def o_text(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def o_call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(args),
        "status": "completed",
    }


# --------------------------------------------------------------------------- streaming


def anthropic_sse(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The Messages SSE sequence for ``message`` (what clients that always stream expect)."""
    start = {**message, "content": [], "stop_reason": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            empty, delta = (
                {"type": "text", "text": ""},
                {"type": "text_delta", "text": block["text"]},
            )
        else:
            empty = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": empty},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def openai_sse(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A minimal Responses SSE sequence: created, each output item done, completed."""
    created = {**response, "status": "in_progress", "output": []}
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "response.created",
            {"type": "response.created", "response": created, "sequence_number": 0},
        )
    ]
    for index, item in enumerate(response["output"]):
        events += [
            (
                "response.output_item.added",
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": item,
                    "sequence_number": 2 * index + 1,
                },
            ),
            (
                "response.output_item.done",
                {
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": item,
                    "sequence_number": 2 * index + 2,
                },
            ),
        ]
    events.append(
        (
            "response.completed",
            {"type": "response.completed", "response": response, "sequence_number": len(events)},
        )
    )
    return events
