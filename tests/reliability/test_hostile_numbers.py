"""Hostile numbers in ``metrics.jsonl`` and ``run.json``: read as missing, never a crash.

Every value a broken trainer (or a person) can write where a number belongs goes through
the whole path the org uses: the reader, the verdicts, ``report``, the ``--json`` output and
the standup digest the supervisor builds every cycle.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui import process
from orgtui.commands.ledger import report_json, row_json
from orgtui.config import load_config
from orgtui.ledger import VERDICTS, Ledger, Run, load_run, load_runs
from orgtui.ledger.runs import MAX_LINE_BYTES
from orgtui.paths import OrgPaths
from tests.conftest import run_orgtui
from tests.ledger.synth import power_law, write_run, write_variant

HOSTILE = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "-1",
    "-0.5",
    "1e308",
    '"3.5"',
    '"NaN"',
    "true",
    "[]",
    "{}",
    '{"a": 1}',
    "1" + "0" * 400,  # an int too large for a float
    "-" + "9" * 300,
]
"""JSON literals (as the file holds them) where a number belongs; none is a usable value."""
NUMERIC_KEYS = ("step", "tokens", "flops", "loss", "val_bpb")
ORG_TOML = """\
[org]
name = "lab"
task = "remove the softcap"

[defaults]
backend = "shell"
gpus = "none"

[[agent]]
name = "ada"
role = "researcher"

[ledger]
baseline = "base"
"""


def finite_numbers(value: Any) -> bool:
    """True when every float anywhere in ``value`` is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite_numbers(v) for v in value)
    return True


def run_numbers(run: Run) -> list[Any]:
    return [run.started, run.wall_s, run.tokens, run.flops, run.final_val_bpb, run.gpu_hours]


def append(run_dir: Path, *lines: str) -> None:
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write("".join(line + "\n" for line in lines))


def check_ledger(paths: OrgPaths, baseline: str = "base") -> Ledger:
    """Everything the org computes from ``paths``: finite, allowed labels, strict JSON."""
    runs = load_runs(paths)
    for run in runs:
        assert finite_numbers(run_numbers(run)) and finite_numbers(run.evals + run.train)
        assert run.gpu_hours >= 0
    ledger = Ledger(runs, baseline=baseline)
    for a in ledger.variants:
        for b in ledger.variants:
            comparison = ledger.compare(a, b)
            assert comparison.verdict in VERDICTS
            json.dumps(comparison.to_json(), allow_nan=False)
            if comparison.p_value is not None:
                assert 0.0 <= comparison.p_value <= 1.0
    rows = ledger.table()
    json.dumps([row_json(row) for row in rows], allow_nan=False)
    for row in rows:
        assert row.verdict is None or row.verdict in VERDICTS
    report = ledger.report()
    json.dumps(report_json(report), allow_nan=False)
    assert 0.0 <= report.gpu_hours < 1e12
    return ledger


@pytest.fixture
def paths(tmp_path: Path) -> OrgPaths:
    return OrgPaths(tmp_path)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
@pytest.mark.parametrize("literal", HOSTILE)
def test_every_hostile_value_in_every_field_is_read_as_missing(
    paths: OrgPaths, key: str, literal: str
) -> None:
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    (run_dir,) = write_variant(paths.runs_dir, "v", 1, curve=power_law(offset=-0.1))
    event = "train" if key in ("loss", "tokens") else "eval"
    fields = {"step": "7", "tokens": "100", "flops": "1e9", "loss": "3.0", "val_bpb": "2.0"}
    fields[key] = literal
    body = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    append(run_dir, f'{{"event": "{event}", {body}}}')
    run = load_run(run_dir)
    assert any(f" {key} " in problem for problem in run.problems), run.problems
    assert "bad_values" in check_ledger(paths).compare("base", "v").flags


@pytest.mark.parametrize("key", ("wall_s", "final_val_bpb"))
@pytest.mark.parametrize("literal", HOSTILE)
def test_hostile_run_end_and_start_values(paths: OrgPaths, key: str, literal: str) -> None:
    run_dir = write_run(paths.runs_dir, "v-s0", variant="v", seed=0, curve=power_law())
    text = (run_dir / "metrics.jsonl").read_text().splitlines()
    end = json.loads(text[-1])
    end.pop(key)
    text[-1] = json.dumps(end)[:-1] + f', "{key}": {literal}}}'
    start = json.loads(text[0])
    start.pop("time"), start.pop("seed")
    text[0] = json.dumps(start)[:-1] + f', "time": {literal}, "seed": {literal}}}'
    (run_dir / "metrics.jsonl").write_text("\n".join(text) + "\n")
    run = load_run(run_dir)
    assert finite_numbers(run_numbers(run))
    assert run.started == 0.0 and run.seed == 0 and run.gpu_hours >= 0
    assert getattr(run, key) is None
    check_ledger(paths, baseline="v")


def test_nan_bpb_on_every_seed_is_not_comparable(paths: OrgPaths) -> None:
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    for run_dir in write_variant(paths.runs_dir, "nan", 3, curve=power_law()):
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        lines = [line.replace('"val_bpb": ', '"val_bpb": NaN, "was": ') for line in lines]
        (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    result = check_ledger(paths).compare("base", "nan")
    assert result.verdict == "not_comparable"
    assert result.p_value is None and result.delta_bpb is None and result.n_b == 0


@pytest.mark.parametrize("value", (-0.1, -1e-9, -5.0, 2e6))
def test_an_impossible_bpb_marks_the_run_invalid(paths: OrgPaths, value: float) -> None:
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    write_variant(paths.runs_dir, "neg", 3, curve=lambda flops: value, noises=(0.0, 0.0, 0.0))
    ledger = check_ledger(paths)
    assert all(run.invalid for run in ledger.variants["neg"])
    assert not any(run.usable for run in ledger.variants["neg"])
    result = ledger.compare("base", "neg")
    assert result.verdict == "not_comparable" and "invalid_metrics" in result.flags
    (row,) = [row for row in ledger.table() if row.variant == "neg"]
    assert "invalid_metrics" in row.flags


def test_an_empty_run_directory_costs_no_gpu_hours(paths: OrgPaths) -> None:
    write_variant(paths.runs_dir, "base", 2, curve=power_law())
    (paths.runs_dir / "empty").mkdir()
    (paths.runs_dir / "meta-only").mkdir()
    (paths.runs_dir / "meta-only" / "run.json").write_text('{"variant": "x", "started": NaN}')
    report = check_ledger(paths).report()
    assert report.gpu_hours == pytest.approx(2 * 100 * 0.01 / 3600)
    assert report.wall_s < 3600


def test_torn_random_and_huge_lines_are_skipped(paths: OrgPaths) -> None:
    (run_dir,) = write_variant(paths.runs_dir, "base", 1, curve=power_law())
    with (run_dir / "metrics.jsonl").open("ab") as f:
        f.write(b"\xff\xfe\x00garbage\n" + b"[" * 100_000 + b"\n")
        f.write(b'{"event": "eval", "val_bpb": ' + b"1" * (MAX_LINE_BYTES + 10) + b"}\n")
        f.write(b'{"event": "eval", "step": 1, "flops": 1, "val_bpb": 1.0' + b" " * 3_000_000)
    run = load_run(run_dir)
    assert run.usable and len(run.evals) == 5
    check_ledger(paths)


# -- fuzz -------------------------------------------------------------------------------------

literal = st.one_of(
    st.sampled_from(HOSTILE),
    st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=8).map(json.dumps),
    st.sampled_from(["null", "1.5", "3", "0", "2.9"]),
)
event = st.sampled_from(['"train"', '"eval"', '"run_end"', '"run_start"', '"other"', "7", "null"])
KEYS = [*NUMERIC_KEYS, "wall_s", "final_val_bpb", "time", "seed", "status", "variant", "agent"]


@st.composite
def hostile_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object", "object", "object", "torn", "bytes", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "nested":
        return b"[" * draw(st.integers(1, 5000))
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=6))
    body = ", ".join([f'"event": {draw(event)}'] + [f'"{k}": {draw(literal)}' for k in keys])
    line = ("{" + body + "}").encode()
    return line[: draw(st.integers(0, len(line)))] if kind == "torn" else line


@st.composite
def hostile_org(draw: st.DrawFn) -> list[tuple[str, bool, list[bytes], bytes | None]]:
    """Runs as (variant, starts from an honest curve, lines to mix in, run.json bytes)."""
    runs = []
    for _ in range(draw(st.integers(1, 5))):
        variant = draw(st.sampled_from(["base", "v1", "v2"]))
        lines = draw(st.lists(hostile_line(), max_size=8))
        meta = draw(st.one_of(st.none(), hostile_line()))
        runs.append((variant, draw(st.booleans()), lines, meta))
    return runs


def write_org(root: Path, runs: list[tuple[str, bool, list[bytes], bytes | None]]) -> OrgPaths:
    paths = OrgPaths(root)
    for index, (variant, honest, lines, meta) in enumerate(runs):
        run_id = f"{variant}-s{index}"
        if honest:
            run_dir = write_run(
                paths.runs_dir, run_id, variant=variant, seed=index, curve=power_law()
            )
        else:
            run_dir = paths.run_dir(run_id)
            run_dir.mkdir(parents=True)
        with (run_dir / "metrics.jsonl").open("ab") as f:
            f.write(b"".join(line + b"\n" for line in lines))
        if meta is not None:
            (run_dir / "run.json").write_bytes(meta)
    return paths


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=hostile_org())
def test_fuzzed_metrics_through_verdicts_report_and_the_digest(runs) -> None:
    with tempfile.TemporaryDirectory() as top:
        root = Path(top)
        (root / "org.toml").write_text(ORG_TOML)
        paths = write_org(root, runs)
        check_ledger(paths)
        config = load_config(root)
        digest = process.build_digest(config, process.StandupState())
        assert "## Ledger" in digest and "ledger unavailable" not in digest
        for line in process._ledger_lines(config):
            assert not re.search(r"bpb (?!—|\d+\.\d{4},)", line), line


def test_cli_json_and_tables_on_a_hostile_org(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text(ORG_TOML)
    paths = OrgPaths(tmp_path)
    write_variant(paths.runs_dir, "base", 3, curve=power_law())
    for run_dir in write_variant(paths.runs_dir, "v1", 3, curve=power_law(offset=-0.1)):
        append(
            run_dir,
            '{"event": "eval", "step": NaN, "flops": -1, "val_bpb": Infinity, "tokens": 1e400}',
        )
    (paths.runs_dir / "empty").mkdir()
    (paths.runs_dir / "neg").mkdir()
    (paths.runs_dir / "neg" / "metrics.jsonl").write_text(
        '{"event": "run_start", "variant": "v1", "time": -5}\n'
        '{"event": "eval", "step": 1, "flops": 1e9, "val_bpb": -2}\n'
        '{"event": "run_end", "status": "ok", "wall_s": NaN}\n'
    )
    env = os.environ | {"COLUMNS": "200"}
    for verb in (["ledger", "--json"], ["report", "--json"], ["compare", "base", "v1", "--json"]):
        out = run_orgtui(*verb, root=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert finite_numbers(data)
        assert "NaN" not in out.stdout and "Infinity" not in out.stdout
    report = json.loads(run_orgtui("report", "--json", root=tmp_path).stdout)
    assert report["gpu_hours"] < 1.0
    for verb in (["ledger"], ["report"], ["compare", "base", "v1"]):
        out = run_orgtui(*verb, root=tmp_path, env=env)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    table = run_orgtui("ledger", root=tmp_path, env=env).stdout
    assert "invalid_metrics" in table and "bad_values" in table
