"""`python -m nanochat.data download` against a real HTTP server on 127.0.0.1 serving parquet
shards made here: resuming, checksums, damaged shards fetched again, a clear error offline."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanochat import data, fineweb


def parquet_bytes(texts: list[str]) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": texts}), sink)
    return sink.getvalue().to_pybytes()


SHARDS = {
    fineweb.shard_name(i): parquet_bytes([f"shard {i} document {j} " * 20 for j in range(30)])
    for i in range(3)
}


class Server:
    """Hugging Face's layout: /NAME redirects (302, X-Linked-Etag: sha256) to /blob/NAME, which
    serves the bytes with Range support. `faults[name]` lists what to do to the next answers:
    "truncate" (half the body, then close) or "corrupt" (one byte changed)."""

    def __init__(self) -> None:
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                name = self.path.rpartition("/")[2]
                body = SHARDS.get(name)
                if body is None:
                    self.send_error(404)
                elif not self.path.startswith("/blob/"):
                    self.send_response(302)
                    self.send_header("Location", f"/blob/{name}")
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(body).hexdigest()}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.serve(name, body)

            def serve(self, name: str, body: bytes) -> None:
                start = int((self.headers.get("Range") or "bytes=0-")[6:].rstrip("-"))
                fault = (server.faults.get(name) or [None]).pop(0)
                if fault == "corrupt":
                    mid = len(body) // 2
                    body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1 :]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                rest = body[start:]
                self.wfile.write(rest[: len(rest) // 2] if fault == "truncate" else rest)
                if fault == "truncate":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/resolve/main"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def gets(self) -> int:
        return sum(1 for path, _ in self.requests if path.startswith("/blob/"))


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def fetch(out: Path, url: str, shards: int = 2) -> dict:
    return fineweb.download(shards, out, url, attempts=3, backoff=0)


def test_download_checks_records_and_skips_what_is_complete(server, tmp_path):
    info = fetch(tmp_path, server.url)
    assert info["fetched"] == 2
    for i in range(2):
        shard = tmp_path / fineweb.shard_name(i)
        assert shard.read_bytes() == SHARDS[shard.name]
        sha = hashlib.sha256(SHARDS[shard.name]).hexdigest()
        assert (tmp_path / f"{shard.name}.sha256").read_text().strip() == sha
    assert not list(tmp_path.glob("*.part"))
    docs = list(data.iter_documents(tmp_path))  # sidecar files are not read as corpus
    assert len(docs) == 60 and docs[0].startswith("shard 0 document 0")
    before = server.gets()
    assert fetch(tmp_path, server.url, shards=3)["fetched"] == 1  # only the new one
    assert server.gets() == before + 1


def test_a_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    name = fineweb.shard_name(0)
    server.faults[name] = ["truncate"]
    server.requests.clear()
    fetch(tmp_path, server.url, shards=1)
    assert (tmp_path / name).read_bytes() == SHARDS[name]
    ranges = [r for path, r in server.requests if path == f"/blob/{name}"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(SHARDS[name]) // 2}-"


def test_a_corrupted_transfer_is_fetched_again(server, tmp_path):
    name = fineweb.shard_name(1)
    server.faults[name] = ["corrupt"]
    fetch(tmp_path, server.url)
    assert (tmp_path / name).read_bytes() == SHARDS[name]
    assert server.faults[name] == []  # the corrupted answer was served, then a good one


def test_a_corrupted_transfer_every_time_fails_naming_the_url(server, tmp_path):
    name = fineweb.shard_name(0)
    server.faults[name] = ["corrupt"] * 3
    with pytest.raises(fineweb.DownloadError, match=rf"{server.url}/{name}: sha256 .*corrupted"):
        fetch(tmp_path, server.url, shards=1)
    assert not (tmp_path / name).exists()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, len(SHARDS[fineweb.shard_name(0)]) - 1), flip=st.booleans())
def test_a_damaged_shard_on_disk_is_detected_and_fetched_again(server, tmp_path_factory, cut, flip):
    out = tmp_path_factory.mktemp("shards")
    name = fineweb.shard_name(0)
    fetch(out, server.url, shards=1)
    shard, good = out / name, SHARDS[name]
    damaged = good[:cut] + bytes([good[cut] ^ 0x01]) + good[cut + 1 :] if flip else good[:cut]
    shard.write_bytes(damaged)
    assert not fineweb.is_complete(shard)
    assert fetch(out, server.url, shards=1)["fetched"] == 1
    assert shard.read_bytes() == good


def test_no_network_is_a_clear_error_naming_the_url(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/resolve/main"
    with pytest.raises(fineweb.DownloadError) as e:
        fineweb.download(1, tmp_path, url, attempts=2, backoff=0)
    message = str(e.value)
    assert f"{url}/shard_00000.parquet" in message and "refused" in message.lower()
    assert "--base-url" in message


def test_cli_takes_the_url_from_the_environment_and_reports_errors(
    server, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(fineweb.URL_ENV, server.url)
    assert data.main(["download", "--shards", "1", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / fineweb.shard_name(0)).exists()
    assert data.main(["download", "--shards", "4", "--dir", str(tmp_path)]) == 1  # 3 of 4
    err = capsys.readouterr().err
    assert f"error: {server.url}/shard_00003.parquet: HTTP 404" in err
