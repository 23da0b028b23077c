"""BPE tokenizer: trained locally with rustbpe, served by tiktoken.

Saved as one JSON file in a directory (pattern, base64 merge ranks, special tokens), so a
trained tokenizer is cached next to its corpus and never retrained by tests or demos.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

BOS = "<|bos|>"
FILE = "tokenizer.json"


class Tokenizer:
    def __init__(self, pattern: str, ranks: dict[bytes, int]):
        import tiktoken

        self.pattern = pattern
        self.ranks = ranks
        self.bos_id = len(ranks)
        self.enc = tiktoken.Encoding(
            name="nanochat",
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens={BOS: self.bos_id},
        )

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> Tokenizer:
        """Train BPE merges; vocab_size includes the 256 byte tokens and BOS."""
        import rustbpe

        if vocab_size < 257:
            raise ValueError(f"vocab_size {vocab_size} < 257 (256 bytes + BOS)")
        tok = rustbpe.Tokenizer()
        tok.train_from_iterator(iter(texts), vocab_size - 1)
        ranks = {bytes(b): r for b, r in tok.get_mergeable_ranks()}
        return cls(tok.get_pattern(), ranks)

    def encode(self, text: str, *, bos: bool = False) -> list[int]:
        ids = self.enc.encode_ordinary(text)
        return [self.bos_id, *ids] if bos else ids

    def encode_batch(self, texts: list[str], *, bos: bool = False) -> list[list[int]]:
        out = self.enc.encode_ordinary_batch(texts)
        return [[self.bos_id, *ids] for ids in out] if bos else out

    def decode(self, ids: Iterable[int]) -> str:
        return self.enc.decode([i for i in ids if i != self.bos_id])

    def token_bytes(self) -> list[int]:
        """UTF-8 length of each token id (0 for BOS): the denominator of bits-per-byte."""
        out = [0] * self.vocab_size
        for b, r in self.ranks.items():
            out[r] = len(b)
        return out

    def bytes_per_token(self, texts: Iterable[str]) -> float:
        nbytes = ntok = 0
        for t in texts:
            nbytes += len(t.encode("utf-8"))
            ntok += len(self.encode(t))
        return nbytes / max(1, ntok)

    def save(self, directory: str | os.PathLike) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        ranks = {base64.b64encode(b).decode(): r for b, r in self.ranks.items()}
        data = {"pattern": self.pattern, "bos": BOS, "ranks": ranks}
        tmp = d / (FILE + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, d / FILE)
        return d / FILE

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tokenizer:
        data = json.loads((Path(directory) / FILE).read_text())
        ranks = {base64.b64decode(k): v for k, v in data["ranks"].items()}
        return cls(data["pattern"], ranks)


def load_or_train(directory: str | os.PathLike, texts: Iterator[str], vocab_size: int) -> Tokenizer:
    """The tokenizer cached in `directory` (named by the requested vocab), else train one.

    A small corpus can run out of merges, leaving a smaller vocab than asked: that is still
    the tokenizer for this request, so it is cached and reused, not retrained every run.
    """
    d = Path(directory)
    if (d / FILE).exists():
        return Tokenizer.load(d)
    tok = Tokenizer.train(texts, vocab_size)
    tok.save(d)
    return tok
