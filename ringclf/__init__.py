"""ringclf: a seconds-scale CPU classification task (two noisy interleaved spirals, a small MLP).

orgtui's second task beside nanochat: its metric (validation accuracy) is higher-is-better and
its cost is wall-clock seconds, so nothing in the ledger can stay bpb- and FLOP-only.
"""
