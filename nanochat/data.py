"""Corpora, train/val split and BOS-aligned packing into (B, T) batches.

Sources:
- text files or directories of them (*.txt, *.md): documents are separated by two blank lines;
- parquet shards with a `text` column (the FineWeb-Edu layout), one document per row;
- `python -m nanochat.data build --source stdlib OUT`: an offline corpus made of the docstrings
  of the installed Python standard library (ast only, no imports, no network);
- `python -m nanochat.data download --shards N`: FineWeb-Edu parquet shards (see fineweb.py).
The split is by a hash of each document, so it does not depend on file order or seed.
"""

from __future__ import annotations

import argparse
import ast
import random
import sys
import sysconfig
import zlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import torch

from . import fineweb
from .tokenizer import DOC_CAP, MAX_CHARS, Tokenizer

DOC_SEP = "\n\n\n"
TEXT_SUFFIXES = (".txt", ".md")
SAMPLE = Path(__file__).parent / "sample"  # the committed sample corpus


def corpus_files(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"corpus not found: {p}")
    files = sorted(
        f for f in p.rglob("*") if f.is_file() and f.suffix in (*TEXT_SUFFIXES, ".parquet")
    )
    if not files:
        raise FileNotFoundError(f"no .txt/.md/.parquet files under {p}")
    return files


def iter_documents(path: str | Path) -> Iterator[str]:
    """Every document of the corpus, in a fixed order."""
    for f in corpus_files(path):
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                for text in pf.read_row_group(i, columns=["text"]).column("text").to_pylist():
                    if text:
                        yield text
        else:
            for doc in f.read_text(encoding="utf-8", errors="replace").split(DOC_SEP):
                if doc.strip():
                    yield doc.strip("\n")


def is_val(doc: str, val_pct: float) -> bool:
    return zlib.crc32(doc.encode("utf-8")) % 10000 < val_pct * 100


def split_documents(path: str | Path, split: str, val_pct: float = 5.0) -> Iterator[str]:
    want_val = split == "val"
    for doc in iter_documents(path):
        if is_val(doc, val_pct) == want_val:
            yield doc


def tokenizer_dir(path: str | Path, vocab_size: int) -> Path:
    """Where the tokenizer trained on this corpus is cached (next to it)."""
    p = Path(path)
    base = p if p.is_dir() else p.parent
    return base / f".tokenizer-{vocab_size}"


def get_tokenizer(path: str | Path, vocab_size: int, **caps: int) -> Tokenizer:
    """The corpus's cached tokenizer, else one trained on its train split (caps: max_chars,
    doc_cap)."""
    from .tokenizer import load_or_train

    docs = split_documents(path, "train")
    return load_or_train(tokenizer_dir(path, vocab_size), docs, vocab_size, **caps)


def packed_rows(
    path: str | Path,
    tok: Tokenizer,
    seq_len: int,
    *,
    split: str = "train",
    seed: int = 0,
    loop: bool = True,
    val_pct: float = 5.0,
    shuffle_buffer: int = 1024,
) -> Iterator[list[int]]:
    """Rows of seq_len + 1 tokens, each starting with BOS at a document start.

    Documents (BOS + tokens, long ones cut into seq_len pieces) fill a row; the one that
    overflows is cropped, as nanochat does. Document order is shuffled within a buffer
    with a seeded RNG, so a seed fixes the data order exactly.
    """
    row_len = seq_len + 1
    epoch = 0
    while True:
        rng = random.Random(seed * 1_000_003 + epoch)
        row: list[int] = []
        docs = split_documents(path, split, val_pct)
        n = 0
        while True:
            chunk = list(islice(docs, shuffle_buffer))
            if not chunk:
                break
            if split == "train":
                rng.shuffle(chunk)
            for ids in tok.encode_batch(chunk):
                for i in range(0, max(1, len(ids)), seq_len):
                    row.extend([tok.bos_id, *ids[i : i + seq_len]])
                    if len(row) >= row_len:
                        n += 1
                        yield row[:row_len]
                        row = []
        if n == 0:
            raise ValueError(f"{split} split of {path} is too small for one row of {row_len}")
        if not loop:
            return
        epoch += 1


def batches(
    rows: Iterator[list[int]], batch_size: int, device: str | torch.device = "cpu"
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) pairs of shape (B, T); y is x shifted by one."""
    while True:
        block = list(islice(rows, batch_size))
        if len(block) < batch_size:
            return
        t = torch.tensor(block, dtype=torch.long)
        if str(device).startswith("cuda"):
            t = t.pin_memory().to(device, non_blocking=True)
        yield t[:, :-1].contiguous(), t[:, 1:].contiguous()


def prefetch(it: Iterator, depth: int = 4) -> Iterator:
    """Run `it` in a background thread, `depth` items ahead (tokenising overlaps GPU work).

    Order is unchanged (one producer), so determinism is kept; a producer error is re-raised.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for item in it:
                q.put(item)
        except BaseException as e:  # handed to the consumer
            q.put(e)
        q.put(done)

    threading.Thread(target=produce, daemon=True, name="nanochat-prefetch").start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


# --- building an offline corpus from the standard library ---------------------------------


def _clean(doc: str) -> str:
    lines = [ln.rstrip() for ln in doc.strip().splitlines()]
    out: list[str] = []
    for ln in lines:  # at most one blank line in a row: two would end the document
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out)


def _signature(node: ast.AST) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}"
    return f"def {node.name}({ast.unparse(node.args)})"


def module_documents(path: Path, name: str) -> list[str]:
    """Documents of one module: its docstring, then each top-level class/function with the
    docstrings of its methods."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    docs = []
    if doc := ast.get_docstring(tree):
        docs.append(f"Module {name}\n\n{_clean(doc)}")
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if not isinstance(node, defs):
            continue
        parts = [
            f"{_signature(n)}:\n{_clean(d)}"
            for n in ast.walk(node)
            if isinstance(n, defs) and (d := ast.get_docstring(n)) and len(d) > 40
        ]
        if parts:
            docs.append(f"# {name}\n" + "\n\n".join(parts))
    return docs


def stdlib_documents() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        if rel.parts[0] in ("site-packages", "test", "idlelib", "lib2to3") or "tests" in rel.parts:
            continue
        out.extend(module_documents(f, ".".join(rel.with_suffix("").parts)))
    return out


def build_stdlib(out: Path, max_bytes: int = 0) -> dict:
    """Write the stdlib corpus to OUT/stdlib.txt; max_bytes > 0 keeps an evenly spread subset."""
    docs = stdlib_documents()
    total = sum(len(d.encode()) for d in docs)
    if max_bytes and total > max_bytes:
        step = -(-total // max_bytes)
        docs = docs[::step]
    out.mkdir(parents=True, exist_ok=True)
    text = DOC_SEP.join(docs) + "\n"
    (out / "stdlib.txt").write_text(text, encoding="utf-8")
    return {"documents": len(docs), "bytes": len(text.encode()), "path": str(out / "stdlib.txt")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nanochat.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build an offline corpus")
    b.add_argument("--source", choices=["stdlib"], default="stdlib")
    b.add_argument("--max-bytes", type=int, default=0, help="keep an evenly spread subset")
    b.add_argument("out", type=Path)
    t = sub.add_parser("tokenizer", help="train (or load the cached) tokenizer of a corpus")
    t.add_argument("corpus", type=Path)
    t.add_argument("--vocab-size", type=int, default=1024)
    t.add_argument("--max-chars", type=int, default=MAX_CHARS, help="characters to train on")
    t.add_argument("--doc-cap", type=int, default=DOC_CAP, help="characters kept per document")
    d = sub.add_parser("download", help="fetch FineWeb-Edu parquet shards (resumable, checked)")
    d.add_argument("--shards", type=int, required=True, help="shards 0..N-1, ~100 MB each")
    d.add_argument("--dir", type=Path, default=fineweb.DEFAULT_DIR, help="default: %(default)s")
    d.add_argument("--base-url", help=f"default: ${fineweb.URL_ENV}, else {fineweb.BASE_URL}")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        print(build_stdlib(args.out, args.max_bytes))
    elif args.cmd == "download":
        try:
            print(fineweb.download(args.shards, args.dir, args.base_url))
        except fineweb.DownloadError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    else:
        caps = {"max_chars": args.max_chars, "doc_cap": args.doc_cap}
        tok = get_tokenizer(args.corpus, args.vocab_size, **caps)
        bpt = tok.bytes_per_token(split_documents(args.corpus, "val"))
        print(
            {
                "vocab_size": tok.vocab_size,
                "bytes_per_token": round(bpt, 3),
                "dir": str(tokenizer_dir(args.corpus, args.vocab_size)),
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
