"""FineWeb-Edu shards, from where nanochat fetches them: `python -m nanochat.data download`.

- the source: karpathy/fineweb-edu-100b-shuffle on Hugging Face, parquet shards of ~100 MB
  (shard_00000.parquet .. shard_01822.parquet) with a `text` column; --base-url or
  $NANOCHAT_DATA_URL points elsewhere (a mirror, a local server);
- resumable: a shard is written to NAME.part and renamed once checked; an interrupted one
  continues from its size with an HTTP Range request;
- checked: the size the server gives, the parquet magic at both ends, and the sha256 (the
  server's where it gives one: Hugging Face's X-Linked-Etag). The sum is kept in NAME.sha256,
  so a later run checks a shard without the network and fetches a damaged one again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_URL = "https://huggingface.co/datasets/karpathy/fineweb-edu-100b-shuffle/resolve/main"
URL_ENV = "NANOCHAT_DATA_URL"
MAX_SHARD = 1822  # the last shard is shard_01822.parquet
DEFAULT_DIR = Path.home() / ".cache" / "nanochat" / "fineweb-edu"
MAGIC = b"PAR1"  # a parquet file starts and ends with it
SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(Exception):
    """A shard could not be fetched or checked; the message names the URL and the fix."""


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.parquet"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sum_file(shard: Path) -> Path:
    return shard.with_name(shard.name + ".sha256")


def is_complete(shard: Path) -> bool:
    """The shard and its recorded sha256 exist and agree."""
    recorded = sum_file(shard)
    return shard.exists() and recorded.exists() and recorded.read_text().strip() == sha256_of(shard)


class _KeepRedirectHeaders(urllib.request.HTTPRedirectHandler):
    """Follows redirects, keeping each hop's headers: Hugging Face puts the sha256 of a large
    file on the redirect, not on the storage server's answer."""

    def __init__(self) -> None:
        self.headers: list = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _expected_sha(all_headers: list) -> str | None:
    for headers in all_headers:
        for key in ("X-Linked-Etag", "ETag"):
            value = (headers.get(key) or "").removeprefix("W/").strip('"').lower()
            if SHA256.fullmatch(value):
                return value
    return None


def _fetch(url: str, part: Path, show: Progress, timeout: float) -> tuple[int | None, str | None]:
    """Append the rest of `url` to `part`; returns the (size, sha256) the server gives."""
    have = part.stat().st_size if part.exists() else 0
    redirects = _KeepRedirectHeaders()
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # nothing past `have`: the part is whole (or too long: the check says)
            return have, _expected_sha([*redirects.headers, e.headers])
        raise
    with response:
        if response.status == 200:  # the server ignored the range: start again
            have = 0
        total = response.headers.get("Content-Range", "").rpartition("/")[2]  # a-b/total
        length = response.headers.get("Content-Length")
        size = int(total) if total.isdigit() else (have + int(length) if length else None)
        with open(part, "ab" if have else "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                have += len(chunk)
                show(part.name.removesuffix(".part"), have, size)
        return size, _expected_sha([*redirects.headers, response.headers])


def _check(part: Path, size: int | None, sha: str | None) -> str | None:
    """What is wrong with a fetched part (None: nothing); its sha256 goes to `part.sha`."""
    got = part.stat().st_size
    if size is not None and got < size:
        return f"truncated: {got} of {size} bytes"
    with open(part, "rb") as f:
        head = f.read(4)
        f.seek(max(0, got - 4))
        tail = f.read(4)
    if (size is not None and got > size) or head != MAGIC or tail != MAGIC:
        return f"not a parquet file of {size} bytes (corrupted)"
    digest = sha256_of(part)
    if sha is not None and digest != sha:
        return f"sha256 {digest[:12]}.. is not the server's {sha[:12]}.. (corrupted)"
    part.with_name(part.name + ".sha").write_text(digest + "\n")
    return None


def download_shard(
    url: str, shard: Path, show: Progress, *, attempts: int = 5, backoff: float = 2.0
) -> None:
    """Fetch one shard (resuming a part), check it and record its sha256."""
    part = shard.with_name(shard.name + ".part")
    problem = "not tried"
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            size, sha = _fetch(url, part, show, timeout=30)
        except urllib.error.HTTPError as e:
            if e.code < 500 and e.code != 429:  # retrying will not help
                raise DownloadError(
                    f"{url}: HTTP {e.code} {e.reason}; check --base-url (or ${URL_ENV})"
                ) from e
            problem = f"HTTP {e.code} {e.reason}"
            continue
        except (OSError, http.client.HTTPException) as e:  # no network, dropped connection
            problem = str(getattr(e, "reason", None) or e)
            continue
        problem = _check(part, size, sha)
        if problem is None:
            digest = part.with_name(part.name + ".sha")
            os.replace(part, shard)
            os.replace(digest, sum_file(shard))
            return
        if not problem.startswith("truncated"):
            part.unlink()  # damaged: start this shard again
    raise DownloadError(
        f"{url}: {problem} after {attempts} attempts; check the network, or point --base-url"
        f" (or ${URL_ENV}) at a mirror"
    )


class Progress:
    """One progress bar on stderr, redrawn in place on a terminal, one line a shard otherwise."""

    def __init__(self, total_shards: int):
        self.total, self.done, self.t0, self.last = total_shards, 0, time.time(), 0.0
        self.interactive = sys.stderr.isatty()

    def __call__(self, name: str, have: int, size: int | None) -> None:
        now = time.time()
        if not self.interactive or (now - self.last < 0.1 and have != size):
            return
        self.last = now
        frac = have / size if size else 0.0
        bar = "#" * int(frac * 20)
        rate = have / max(1e-9, now - self.t0) / 1e6
        print(
            f"\r[{bar:.<20}] {frac:4.0%} {name} ({self.done + 1}/{self.total}) "
            f"{have / 1e6:.1f}/{(size or 0) / 1e6:.1f} MB {rate:.1f} MB/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def shard_done(self, name: str, fetched: bool) -> None:
        self.done += 1
        self.t0 = time.time()
        state = "fetched" if fetched else "already here"
        print(
            ("\r" if self.interactive else "") + f"{name}: {state} ({self.done}/{self.total})",
            file=sys.stderr,
            flush=True,
        )


def download(
    shards: int,
    out: Path = DEFAULT_DIR,
    base_url: str | None = None,
    *,
    attempts: int = 5,
    backoff: float = 2.0,
) -> dict[str, object]:
    """Make shards 0..shards-1 complete under `out`; returns what was done."""
    if not 1 <= shards <= MAX_SHARD + 1:
        raise DownloadError(f"--shards {shards}: give 1 to {MAX_SHARD + 1}")
    base = (base_url or os.environ.get(URL_ENV) or BASE_URL).rstrip("/")
    out.mkdir(parents=True, exist_ok=True)
    show = Progress(shards)
    fetched = 0
    for index in range(shards):
        shard = out / shard_name(index)
        ok = is_complete(shard)
        if not ok:
            shard.unlink(missing_ok=True)
            download_shard(f"{base}/{shard.name}", shard, show, attempts=attempts, backoff=backoff)
            fetched += 1
        show.shard_done(shard.name, fetched=not ok)
    return {"shards": shards, "fetched": fetched, "dir": str(out), "source": base}
