"""A validator for ringclf's metrics.jsonl, written from the contract (not from the trainer)."""

from __future__ import annotations

NUM = (int, float)
SCHEMA: dict[str, dict[str, tuple]] = {
    "run_start": {
        "run_id": (str,),
        "variant": (str,),
        "seed": (int,),
        "config": (dict,),
        "time": NUM,
    },
    "train": {"step": (int,), "loss": NUM, "elapsed_s": NUM},
    "eval": {"step": (int,), "val_acc": NUM, "val_loss": NUM, "elapsed_s": NUM, "time": NUM},
    "run_end": {"status": (str,), "wall_s": NUM, "final_val_acc": (*NUM, type(None))},
}


def _typed(rec: dict, i: int) -> list[str]:
    problems = []
    for key, types in SCHEMA[rec["event"]].items():
        if key not in rec:
            problems.append(f"line {i}: {rec['event']} lacks {key}")
        elif not isinstance(rec[key], types) or (isinstance(rec[key], bool) and bool not in types):
            problems.append(f"line {i}: {rec['event']}.{key} has type {type(rec[key]).__name__}")
    return problems


def validate(lines: list[dict]) -> list[str]:
    """Problems found (empty when valid): keys and types, event order, steps and elapsed
    seconds that never go back, accuracies in [0, 1]."""
    problems = []
    if not lines or lines[0].get("event") != "run_start":
        problems.append("first line is not run_start")
    if not lines or lines[-1].get("event") != "run_end":
        problems.append("last line is not run_end")
    last = {"train": (0, 0.0), "eval": (-1, 0.0)}
    for i, rec in enumerate(lines):
        event = rec.get("event")
        if event not in SCHEMA:
            problems.append(f"line {i}: unknown event {event!r}")
            continue
        typed = _typed(rec, i)
        problems += typed
        if event in last and not typed:
            step, elapsed = last[event]
            if not (rec["step"] > step and rec["elapsed_s"] >= elapsed):
                problems.append(f"line {i}: {event} step/elapsed_s not increasing")
            last[event] = (rec["step"], rec["elapsed_s"])
        if event == "eval" and not typed and not 0 <= rec["val_acc"] <= 1:
            problems.append(f"line {i}: val_acc {rec['val_acc']} outside [0, 1]")
        if event == "run_end" and rec.get("status") not in ("ok", "crash", "killed"):
            problems.append(f"line {i}: bad status {rec.get('status')!r}")
    return problems
