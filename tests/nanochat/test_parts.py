"""Model, FLOPs, tokenizer and data pieces, each checked against an independent computation."""

from __future__ import annotations

from itertools import islice

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nanochat import data
from nanochat.flops import flops_per_token, mfu
from nanochat.model import GPT, GPTConfig
from nanochat.optim import lr_multiplier
from nanochat.tokenizer import Tokenizer


def math_attention(q, k, v, is_causal=False, **_):
    """Full (non-causal-skipping) attention as plain matmuls, so FlopCounterMode sees them."""
    T = q.size(-2)
    att = (q @ k.transpose(-2, -1)) / q.size(-1) ** 0.5
    if is_causal:
        att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return att.softmax(-1) @ v


def test_flops_formula_matches_an_independent_count(monkeypatch):
    cfg = GPTConfig(vocab_size=300, seq_len=32, depth=2, head_dim=32, softcap=0)
    model = GPT(cfg)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    B, T = 2, 32
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", math_attention)
    x = torch.randint(0, 300, (B, T))
    with FlopCounterMode(display=False) as counter:
        model(x, x).backward()
    counted = counter.get_total_flops() / (B * T)
    assert 6 * linear + 12 * cfg.depth * cfg.dim * T == flops_per_token(model)
    assert counted == flops_per_token(model)


def test_model_shapes_follow_the_depth_rule():
    cfg = GPTConfig(vocab_size=256, seq_len=16, depth=4)
    assert (cfg.dim, cfg.n_head) == (256, 2)
    wide = GPTConfig(vocab_size=256, seq_len=16, depth=2, width=384, head_dim=64)
    assert (wide.dim, wide.n_head) == (384, 6)
    model = GPT(wide)
    assert model(torch.zeros(1, 16, dtype=torch.long)).shape == (1, 16, 256)
    assert all(not isinstance(m, nn.Linear) or m.bias is None for m in model.modules())
    assert model.wte.weight.data_ptr() != model.lm_head.weight.data_ptr()  # untied


def test_softcap_bounds_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=256, seq_len=8, depth=1, head_dim=32, softcap=2.0))
    nn.init.normal_(model.lm_head.weight, std=10.0)
    logits = model(torch.randint(0, 256, (1, 8)))
    assert logits.abs().max() <= 2.0
    assert logits.abs().max() > 1.0


def test_mfu_is_none_without_a_known_peak():
    assert mfu(1e6, 1000, None) is None
    assert mfu(1e6, 1000, "Some CPU") is None
    assert mfu(1e6, 989_000, "NVIDIA H100 80GB HBM3") == 1e6 * 989_000 / 989e12


def test_lr_schedule_warmup_constant_warmdown():
    assert lr_multiplier(0.5, warmup_frac=0.1, warmdown_frac=0.2) == 1.0
    assert lr_multiplier(0.05, warmup_frac=0.1) == 0.5
    assert lr_multiplier(0.9, warmdown_frac=0.2) == pytest.approx(0.5)
    assert lr_multiplier(1.0, warmdown_frac=0.2, final_frac=0.1) == pytest.approx(0.1)


def test_tokenizer_round_trips_and_saves(tmp_path):
    texts = ["def f(x):\n    return x ** 2\n", "Ünïcödé and emoji 🙂 survive.", "aaa bbb " * 50]
    tok = Tokenizer.train(iter(texts * 20), vocab_size=300)
    assert tok.vocab_size == 300
    for t in [*texts, "text never seen: Zürich 42!"]:
        ids = tok.encode(t, bos=True)
        assert ids[0] == tok.bos_id
        assert tok.decode(ids) == t
    tok.save(tmp_path / "tok")
    again = Tokenizer.load(tmp_path / "tok")
    assert again.encode(texts[2]) == tok.encode(texts[2])
    assert len(tok.encode(texts[2])) < len(texts[2].encode())  # merges were learned
    assert sum(tok.token_bytes()[i] for i in tok.encode(texts[1])) == len(texts[1].encode())


def test_sample_corpus_split_and_cached_tokenizer():
    train = list(data.split_documents(data.SAMPLE, "train"))
    val = list(data.split_documents(data.SAMPLE, "val"))
    assert len(val) > 5 and len(train) > 10 * len(val)
    assert not set(train) & set(val)
    assert (data.tokenizer_dir(data.SAMPLE, 1024) / "tokenizer.json").exists()  # committed
    tok = data.get_tokenizer(data.SAMPLE, 1024)
    assert tok.vocab_size == 1024
    assert tok.bytes_per_token(val) > 2.0


def test_rows_are_bos_aligned_and_seeded(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(data.DOC_SEP.join(f"document {i} " + "word " * (i % 30) for i in range(200)))
    tok = Tokenizer.train(data.iter_documents(corpus), vocab_size=280)
    rows = list(islice(data.packed_rows(corpus, tok, 16, seed=0), 20))
    assert all(len(r) == 17 and r[0] == tok.bos_id for r in rows)
    again = list(islice(data.packed_rows(corpus, tok, 16, seed=0), 20))
    other = list(islice(data.packed_rows(corpus, tok, 16, seed=1), 20))
    assert rows == again and rows != other
    x, y = next(data.batches(iter(rows), 4))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_parquet_shards_are_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["alpha doc", "", "beta doc"]}), tmp_path / "s0.parquet")
    pq.write_table(pa.table({"text": ["gamma doc"]}), tmp_path / "s1.parquet")
    assert list(data.iter_documents(tmp_path)) == ["alpha doc", "beta doc", "gamma doc"]


def test_stdlib_builder_makes_documents(tmp_path):
    info = data.build_stdlib(tmp_path, max_bytes=50_000)
    text = (tmp_path / "stdlib.txt").read_text()
    assert info["documents"] > 20 and 10_000 < len(text) < 120_000
    docs = list(data.iter_documents(tmp_path))
    assert len(docs) == info["documents"]


def test_prefetch_keeps_order_and_reraises():
    assert list(data.prefetch(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise ValueError("bad shard")

    it = data.prefetch(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad shard"):
        next(it)


def test_tokenizer_is_cached_next_to_the_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(data.DOC_SEP.join(f"doc {i} text here" for i in range(100)))
    tok = data.get_tokenizer(corpus, 270)
    cached = data.tokenizer_dir(corpus, 270) / "tokenizer.json"
    before = cached.stat().st_mtime_ns
    again = data.get_tokenizer(corpus, 270)
    assert cached.stat().st_mtime_ns == before  # loaded, not retrained
    assert again.encode("doc 7 text here") == tok.encode("doc 7 text here")
    assert len(list(data.iter_documents(corpus))) == 100  # the cache is not read as corpus


def test_tokenizer_splits_numbers_into_at_most_two_digits_and_has_chat_tokens(tmp_path):
    from nanochat.tokenizer import SPECIAL_TOKENS, SPLIT_PATTERN

    texts = ["2024 123456 999 " * 30] * 20  # with {1,3}, 999/123/456 would become tokens
    tok = Tokenizer.train(iter(texts), vocab_size=270)
    assert tok.pattern == SPLIT_PATTERN and tok.vocab_size == 270
    pieces = [tok.decode([i]) for i in tok.encode("2024 123456 999")]
    assert max(len(p.strip()) for p in pieces if p.strip().isdigit()) == 2
    assert list(tok.special) == list(SPECIAL_TOKENS)
    assert tok.bos_id == tok.special["<|bos|>"] == len(tok.ranks)
    assert tok.enc.encode("<|user_start|>", allowed_special="all") == [tok.bos_id + 1]
    assert tok.encode("<|user_start|>") != [tok.bos_id + 1]  # ordinary text stays text
    assert all(tok.token_bytes()[i] == 0 for i in tok.special.values())
    tok.save(tmp_path)
    assert Tokenizer.load(tmp_path).special == tok.special


def test_tokenizer_training_reads_at_most_max_chars_each_doc_cropped():
    from nanochat.tokenizer import capped

    pulled = []

    def docs():
        for i in range(1000):
            pulled.append(i)
            yield "x" * 50

    out = list(capped(docs(), max_chars=100, doc_cap=30))
    assert out == ["x" * 30] * 4 and len(pulled) == 5  # stops once 120 >= 100 chars are out
    texts = ["common words here " * 10] * 50 + ["zqzqzqzq " * 200]  # the cap cuts the last
    capped_tok = Tokenizer.train(iter(texts), vocab_size=300, max_chars=50 * 170)
    full = Tokenizer.train(iter(texts), vocab_size=300)
    assert len(capped_tok.encode("zqzqzqzq")) > len(full.encode("zqzqzqzq"))
