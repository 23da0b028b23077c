"""nanochat's training regime and the speed switches, each checked against the plain path."""

from __future__ import annotations

import functools

import pytest
import torch

from nanochat.model import GPT, GPTConfig
from nanochat.optim import make_optimizers, muon_momentum
from nanochat.train import forward_backward, parse_args

from .schema import validate

CFG = GPTConfig(vocab_size=300, seq_len=16, depth=2, head_dim=32)


def of(lines: list[dict], event: str) -> list[dict]:
    return [r for r in lines if r["event"] == event]


def grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def trained_a_little(model: GPT) -> GPT:
    """Zero-initialised projections and head give zero gradients to much: move off them."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def test_gradient_accumulation_equals_one_big_batch():
    torch.manual_seed(0)
    big = trained_a_little(GPT(CFG))
    acc = GPT(CFG)
    acc.load_state_dict(big.state_dict())
    x = torch.randint(0, 300, (8, 16))
    y = torch.randint(0, 300, (8, 16))
    loss_big = forward_backward(big, [(x, y)], 1, autocast=False)
    micro = [(x[i : i + 2], y[i : i + 2]) for i in range(0, 8, 2)]
    loss_acc = forward_backward(acc, iter(micro), 4, autocast=False)
    assert loss_acc.item() == pytest.approx(loss_big.item(), rel=1e-6)
    for g_big, g_acc in zip(grads(big), grads(acc), strict=True):
        assert g_big.abs().sum() > 0
        torch.testing.assert_close(g_acc, g_big, rtol=1e-5, atol=1e-7)


def test_accumulated_run_matches_the_big_batch_run(run_trainer):
    """Four micro-batches of 1 row a step train like one batch of 4 rows, step after step."""
    _, big = run_trainer("--max-steps", "4", name="big")
    _, acc = run_trainer("--max-steps", "4", "--batch-size", "1", "--total-batch-size", "128")
    assert validate(acc) == []
    assert acc[0]["config"]["total_batch_size"] == 4 * 32
    assert [r["tokens"] for r in of(acc, "train")] == [r["tokens"] for r in of(big, "train")]
    losses = [r["loss"] for r in of(acc, "train")]
    assert losses == pytest.approx([r["loss"] for r in of(big, "train")], rel=1e-5)
    assert len(set(losses)) == 4  # the weights moved between steps


def test_total_batch_size_must_be_a_multiple_of_the_micro_batch(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--batch-size", "4", "--seq-len", "32", "--total-batch-size", "200"])
    assert "--total-batch-size 200 is not a multiple of" in capsys.readouterr().err


def test_gpu_presets_carry_nanochat_regime_and_the_switches():
    for preset, rows in (("d12", 32), ("d20", 16)):
        a = parse_args(["--preset", preset, "--device", "cpu"])
        assert a.total_batch_size == 524_288 and a.batch_size == rows
        assert a.eval_tokens == 20 * 524_288 and a.eval_batches == a.eval_tokens // (rows * 2048)
        assert a.momentum_warmup == 300
        assert a.compile and a.compile_muon and a.fused_adamw and a.fused_qkv and a.lazy_sync
        assert not parse_args(["--preset", preset, "--no-compile"]).compile
    tiny = parse_args([])
    assert tiny.eval_batches == 8 and tiny.total_batch_size == 8 * 64
    assert not (tiny.compile or tiny.compile_muon or tiny.fused_adamw or tiny.fused_qkv)
    assert parse_args(["--eval-tokens", "2048"]).eval_batches == 4
    assert parse_args(["--eval-tokens", "2048", "--eval-batches", "3"]).eval_batches == 3


def test_muon_momentum_warms_up_like_nanochat():
    assert muon_momentum(0) == pytest.approx(0.85)
    assert muon_momentum(150) == pytest.approx(0.90)
    assert muon_momentum(300) == muon_momentum(10_000) == pytest.approx(0.95)
    assert muon_momentum(0, warmup_steps=0) == pytest.approx(0.95)


def test_fused_qkv_computes_the_same_function_and_gradients():
    torch.manual_seed(0)
    plain = trained_a_little(GPT(CFG))
    fused = GPT(GPTConfig(**{**CFG.__dict__, "fused_qkv": True}))
    state = plain.state_dict()
    for i in range(CFG.depth):
        a = f"blocks.{i}.attn."
        state[a + "c_qkv"] = torch.stack([state.pop(a + f"c_{n}.weight") for n in "qkv"])
    fused.load_state_dict(state)
    x = torch.randint(0, 300, (2, 16))
    torch.testing.assert_close(fused(x, x), plain(x, x))
    fused(x, x).backward()
    plain(x, x).backward()
    for i, block in enumerate(fused.blocks):
        p = plain.blocks[i].attn
        want = torch.stack([p.c_q.weight.grad, p.c_k.weight.grad, p.c_v.weight.grad])
        torch.testing.assert_close(block.attn.c_qkv.grad, want)


def test_muon_orthogonalises_each_fused_matrix_on_its_own():
    """One Muon step moves the fused (3, d, d) weight exactly as it moves q, k and v apart."""
    torch.manual_seed(0)
    plain, fused = GPT(CFG), GPT(GPTConfig(**{**CFG.__dict__, "fused_qkv": True}))
    for p in plain.parameters():
        p.grad = torch.randn_like(p)
    fused_params = dict(fused.named_parameters())
    for name, p in plain.named_parameters():
        if name in fused_params:
            with torch.no_grad():
                fused_params[name].copy_(p)
            fused_params[name].grad = p.grad.clone()
    for bp, bf in zip(plain.blocks, fused.blocks, strict=True):
        qkv = (bp.attn.c_q.weight, bp.attn.c_k.weight, bp.attn.c_v.weight)
        with torch.no_grad():
            bf.attn.c_qkv.copy_(torch.stack(qkv))
        bf.attn.c_qkv.grad = torch.stack([w.grad for w in qkv])
    make_optimizers(plain)[1].step()
    make_optimizers(fused)[1].step()
    for bp, bf in zip(plain.blocks, fused.blocks, strict=True):
        want = torch.stack([bp.attn.c_q.weight, bp.attn.c_k.weight, bp.attn.c_v.weight])
        assert bf.attn.c_qkv.abs().sum() > 0
        torch.testing.assert_close(bf.attn.c_qkv, want)
        torch.testing.assert_close(bf.mlp.c_fc.weight, bp.mlp.c_fc.weight)


def test_torch_adamw_takes_the_same_steps_as_the_plain_one():
    torch.manual_seed(0)
    models = [trained_a_little(GPT(CFG)), GPT(CFG)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [make_optimizers(m, weight_decay=0.1)[0] for m in models]
    assert isinstance(opts[1], type(opts[0]))  # same class before the switch
    opts[1] = make_optimizers(models[1], weight_decay=0.1, fused_adamw=True)[0]
    assert isinstance(opts[1], torch.optim.AdamW)
    for _ in range(3):
        g = torch.randn_like(models[0].wte.weight)
        for m, opt in zip(models, opts, strict=True):
            m.wte.weight.grad = g.clone()
            m.lm_head.weight.grad = g[: m.lm_head.weight.size(0)].clone()
            opt.step()
    torch.testing.assert_close(models[1].wte.weight, models[0].wte.weight)
    torch.testing.assert_close(models[1].lm_head.weight, models[0].lm_head.weight)


def test_compile_warms_up_outside_the_clock_and_leaves_the_run_unchanged(run_trainer, monkeypatch):
    """The warm-up compiles (here with the eager backend: CPU tests cannot wait for inductor),
    records its seconds, and trains exactly like the uncompiled run: no step, batch or
    weight is spent on it."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    _, plain = run_trainer("--max-steps", "3", name="plain")
    code, compiled = run_trainer("--max-steps", "3", "--compile", "--compile-muon", name="c")
    assert code == 0 and validate(compiled) == []
    (event,) = of(compiled, "compile")
    assert event["compile_s"] > 0 and compiled.index(event) == 1  # right after run_start
    assert [r["step"] for r in of(compiled, "train")] == [1, 2, 3]
    assert [r["lr"] for r in of(compiled, "train")] == [r["lr"] for r in of(plain, "train")]
    assert [r["loss"] for r in of(compiled, "train")] == pytest.approx(
        [r["loss"] for r in of(plain, "train")], rel=1e-5
    )


def test_lazy_sync_writes_a_line_per_log_interval_covering_its_steps(run_trainer):
    _, every = run_trainer("--max-steps", "10", "--eval-every", "3", name="every")
    code, lazy = run_trainer(
        "--max-steps", "10", "--eval-every", "3", "--log-every", "4", "--lazy-sync", name="lazy"
    )
    assert code == 0 and validate(lazy) == []
    train = of(lazy, "train")
    assert [r["step"] for r in train] == [3, 4, 6, 8, 9, 10]  # log, eval and last steps
    assert [r["tokens"] for r in train] == [s * 4 * 32 for s in (3, 4, 6, 8, 9, 10)]
    losses = {r["step"]: r["loss"] for r in of(every, "train")}
    assert [r["loss"] for r in train] == [losses[r["step"]] for r in train]
    assert [e["step"] for e in of(lazy, "eval")] == [3, 6, 9, 10]
