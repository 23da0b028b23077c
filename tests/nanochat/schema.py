"""A small validator for metrics.jsonl, written from the DESIGN schema (not from the trainer)."""

from __future__ import annotations

NUM = (int, float)
SCHEMA: dict[str, dict[str, tuple]] = {
    "run_start": {
        "run_id": (str,),
        "agent": (str, type(None)),
        "branch": (str, type(None)),
        "commit": (str, type(None)),
        "dirty": (bool, type(None)),
        "variant": (str,),
        "seed": (int,),
        "config": (dict,),
        "params": (int,),
        "flops_per_token": NUM,
        "time": NUM,
    },
    "train": {
        "step": (int,),
        "tokens": (int,),
        "flops": NUM,
        "loss": NUM,
        "lr": NUM,
        "dt": NUM,
        "tok_per_sec": NUM,
        "mfu": (*NUM, type(None)),
    },
    "compile": {"compile_s": NUM},  # the uncounted warm-up step, when compiling
    "eval": {"step": (int,), "tokens": (int,), "flops": NUM, "val_bpb": NUM},
    "run_end": {"status": (str,), "wall_s": NUM, "final_val_bpb": (*NUM, type(None))},
}


def validate(lines: list[dict]) -> list[str]:
    """Problems found (empty when valid): required keys/types, event order, monotone counters."""
    problems = []
    if not lines or lines[0].get("event") != "run_start":
        problems.append("first line is not run_start")
    if not lines or lines[-1].get("event") != "run_end":
        problems.append("last line is not run_end")
    last = {"train": (0, 0, 0.0)}
    for i, rec in enumerate(lines):
        fields = SCHEMA.get(rec.get("event"))
        if fields is None:
            problems.append(f"line {i}: unknown event {rec.get('event')!r}")
            continue
        for key, types in fields.items():
            if key not in rec:
                problems.append(f"line {i}: {rec['event']} lacks {key}")
            elif not isinstance(rec[key], types) or (
                isinstance(rec[key], bool) and bool not in types
            ):
                problems.append(
                    f"line {i}: {rec['event']}.{key} has type {type(rec[key]).__name__}"
                )
        if rec.get("event") == "train" and not problems:
            step, tokens, flops = last["train"]
            if not (rec["step"] > step and rec["tokens"] > tokens and rec["flops"] > flops):
                problems.append(f"line {i}: step/tokens/flops not increasing")
            last["train"] = (rec["step"], rec["tokens"], rec["flops"])
        if rec.get("event") == "run_end" and rec.get("status") not in ("ok", "crash", "killed"):
            problems.append(f"line {i}: bad status {rec.get('status')!r}")
    return problems
