"""BPE tokenizer: trained locally with rustbpe, served by tiktoken, as nanochat's.

- nanochat's split pattern: GPT-4's, but numbers split into runs of at most 2 digits, not 3
  (fewer vocab entries spent on numbers at a 32K vocab);
- nanochat's special tokens after the merges: <|bos|> first, then the chat ones;
- training reads at most `max_chars` characters, each document cropped to `doc_cap`.
Saved as one JSON file in a directory (pattern, base64 merge ranks, special tokens), so a
trained tokenizer is cached next to its corpus and never retrained by tests or demos. A file
saved before the chat tokens existed (only <|bos|>) loads as it was saved.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

BOS = "<|bos|>"
SPECIAL_TOKENS = (
    BOS,  # starts every document
    "<|user_start|>",  # the rest render conversations when finetuning
    "<|user_end|>",
    "<|assistant_start|>",
    "<|assistant_end|>",
    "<|python_start|>",
    "<|python_end|>",
    "<|output_start|>",
    "<|output_end|>",
)
SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}|"""
    r""" ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)
MAX_CHARS = 2_000_000_000  # characters read to train (nanochat's defaults)
DOC_CAP = 10_000  # characters kept of each document
FILE = "tokenizer.json"


def capped(
    texts: Iterable[str], max_chars: int = MAX_CHARS, doc_cap: int = DOC_CAP
) -> Iterator[str]:
    """The documents cropped to doc_cap characters, until max_chars have been yielded."""
    seen = 0
    for text in texts:
        if seen >= max_chars:
            return
        text = text[:doc_cap]
        seen += len(text)
        yield text


class Tokenizer:
    def __init__(self, pattern: str, ranks: dict[bytes, int], special: Iterable[str] = (BOS,)):
        import tiktoken

        self.pattern = pattern
        self.ranks = ranks
        self.special = {name: len(ranks) + i for i, name in enumerate(special)}
        self.bos_id = self.special[BOS]
        self.enc = tiktoken.Encoding(
            name="nanochat",
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens=self.special,
        )

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        *,
        max_chars: int = MAX_CHARS,
        doc_cap: int = DOC_CAP,
    ) -> Tokenizer:
        """Train BPE merges; vocab_size includes the 256 byte tokens and the special tokens."""
        import rustbpe

        least = 256 + len(SPECIAL_TOKENS)
        if vocab_size < least:
            raise ValueError(f"vocab_size {vocab_size} < {least} (256 bytes + special tokens)")
        tok = rustbpe.Tokenizer()
        texts = capped(texts, max_chars, doc_cap)
        tok.train_from_iterator(texts, vocab_size - len(SPECIAL_TOKENS), pattern=SPLIT_PATTERN)
        ranks = {bytes(b): r for b, r in tok.get_mergeable_ranks()}
        return cls(tok.get_pattern(), ranks, SPECIAL_TOKENS)

    def encode(self, text: str, *, bos: bool = False) -> list[int]:
        ids = self.enc.encode_ordinary(text)
        return [self.bos_id, *ids] if bos else ids

    def encode_batch(self, texts: list[str], *, bos: bool = False) -> list[list[int]]:
        out = self.enc.encode_ordinary_batch(texts)
        return [[self.bos_id, *ids] for ids in out] if bos else out

    def decode(self, ids: Iterable[int]) -> str:
        return self.enc.decode([i for i in ids if i != self.bos_id])

    def token_bytes(self) -> list[int]:
        """UTF-8 length of each token id (0 for special ones): the denominator of bits-per-byte."""
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
        data = {"pattern": self.pattern, "bos": BOS, "special": list(self.special), "ranks": ranks}
        tmp = d / (FILE + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, d / FILE)
        return d / FILE

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tokenizer:
        data = json.loads((Path(directory) / FILE).read_text())
        ranks = {base64.b64decode(k): v for k, v in data["ranks"].items()}
        return cls(data["pattern"], ranks, data.get("special", [data["bos"]]))


def load_or_train(
    directory: str | os.PathLike,
    texts: Iterator[str],
    vocab_size: int,
    *,
    max_chars: int = MAX_CHARS,
    doc_cap: int = DOC_CAP,
) -> Tokenizer:
    """The tokenizer cached in `directory` (named by the requested vocab), else train one.

    A small corpus can run out of merges, leaving a smaller vocab than asked: that is still
    the tokenizer for this request, so it is cached and reused, not retrained every run.
    """
    d = Path(directory)
    if (d / FILE).exists():
        return Tokenizer.load(d)
    tok = Tokenizer.train(texts, vocab_size, max_chars=max_chars, doc_cap=doc_cap)
    tok.save(d)
    return tok
