"""ORGTUI_MAX_FLOPS: a matched-compute control trains to the other side's compute."""

from __future__ import annotations

import pytest

from .test_train import of


def test_env_flops_budget_replaces_the_command_line_budget(run_trainer, monkeypatch):
    _, probe = run_trainer("--max-steps", "1", name="probe")
    limit = probe[0]["flops_per_token"] * 4 * 32 * 6  # six steps of compute
    _, alone = run_trainer("--max-flops", str(limit), name="alone")
    monkeypatch.setenv("ORGTUI_MAX_FLOPS", repr(float(limit)))
    code, lines = run_trainer("--max-steps", "3", "--max-seconds", "0.001", name="matched")
    assert code == 0
    train = of(lines, "train")
    assert train[-1]["step"] == 6 and train[-1]["flops"] == limit  # past its own 3 steps
    # The LR schedule runs over the FLOPs budget, exactly as a run given only --max-flops.
    assert [r["lr"] for r in train] == [r["lr"] for r in of(alone, "train")]
    assert lines[-1]["final_val_bpb"] == alone[-1]["final_val_bpb"]
    assert lines[0]["config"]["max_flops"] == limit and lines[0]["config"]["max_steps"] is None


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e400", "lots"])
def test_a_bad_env_flops_budget_is_refused(monkeypatch, capsys, value):
    from nanochat.train import parse_args

    monkeypatch.setenv("ORGTUI_MAX_FLOPS", value)
    with pytest.raises(SystemExit):
        parse_args(["--max-steps", "3"])
    assert "ORGTUI_MAX_FLOPS" in capsys.readouterr().err
