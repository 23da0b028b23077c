"""``[compute.slurm]`` is hostile input like the rest of org.toml, and the ``sbatch`` command
line the engine builds runs exactly the worker it means, whatever the org's path holds."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.config import ConfigError, SlurmSpec, parse_config
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job
from orgtui.queue.slurm import NAME_PREFIX, SlurmJob, sbatch_argv

ORG = '[org]\nname = "o"\ntask = "t"\n'
KEYS = ("partition", "account", "time", "gpus", "cpus", "extra", "requeue", "max_jobs")
toml_values = st.recursive(
    st.none().map(lambda _: "")
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def org_text(table: dict) -> str:
    return ORG + tomli_w.dumps({"compute": {"engine": "slurm", "slurm": table}})


def parse(table: dict) -> SlurmSpec:
    return parse_config(org_text(table)).compute.slurm


def test_a_full_table_reads_as_written() -> None:
    spec = parse(
        {
            "partition": "gpu",
            "account": "proj-1",
            "time": "1-12:00:00",
            "gpus": 2,
            "cpus": 8,
            "extra": ["--qos=high", "--constraint=a100"],
            "requeue": True,
            "max_jobs": 5,
        }
    )
    assert spec == SlurmSpec(
        "gpu", "proj-1", "1-12:00:00", 2, 8, ("--qos=high", "--constraint=a100"), True, 5
    )
    assert parse({}) == SlurmSpec()


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"partition": "gpu; rm -rf /"}, "compute.slurm.partition", "Slurm partition name"),
        ({"partition": "-p"}, "compute.slurm.partition", "Slurm partition name"),
        ({"time": "forever"}, "compute.slurm.time", "Slurm's time format"),
        ({"gpus": -1}, "compute.slurm.gpus", "whole number"),
        ({"gpus": 1.5}, "compute.slurm.gpus", "whole number"),
        ({"extra": ["qos=high"]}, "compute.slurm.extra", "one sbatch option"),
        ({"extra": ["--wrap=sleep 1"]}, "compute.slurm.extra", "sets --wrap itself"),
        ({"extra": ["--job-name=x"]}, "compute.slurm.extra", "sets --job-name itself"),
        ({"extra": "--qos=high"}, "compute.slurm.extra", "list of strings"),
        ({"requeue": "yes"}, "compute.slurm.requeue", "true or false"),
        ({"max_jobs": 0}, "compute.slurm.max_jobs", "whole number"),
        ({"partiton": "gpu"}, "compute.slurm.partiton", "did you mean"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(table: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(table)
    assert key in str(raised.value) and words in str(raised.value)


def test_an_unknown_engine_lists_the_engines() -> None:
    with pytest.raises(ConfigError, match="allowed: local, slurm"):
        parse_config(ORG + '[compute]\nengine = "kubernetes"\n')


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=toml_values)
def test_any_value_of_any_key_is_read_or_refused_naming_it(key: str, value: object) -> None:
    text = org_text({key: value})
    try:
        spec = parse_config(text).compute.slurm
    except ConfigError as error:
        assert f"compute.slurm.{key}" in str(error)
        return
    assert getattr(spec, key) == (tuple(value) if key == "extra" else value)  # as written


job_ids = st.from_regex(r"j[0-9]{20}-[0-9a-f]{6}", fullmatch=True)
roots = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/"), min_size=1, max_size=30
)


@settings(max_examples=200)
@given(root_name=roots, job_id=job_ids, python=st.sampled_from(["/usr/bin/python3", "/a b/py"]))
def test_the_wrapped_command_is_exactly_the_worker(
    root_name: str, job_id: str, python: str
) -> None:
    root = Path("/srv") / root_name
    job = Job(id=job_id, variant="v", seed=0, command=("true",), run_id="r", commit=None)
    argv = sbatch_argv(SlurmSpec(extra=("--qos=x",)), OrgPaths(root), job, python)
    assert argv[:2] == ["sbatch", "--parsable"]
    assert f"--job-name={NAME_PREFIX}{job_id}" in argv and "--gres=gpu:1" in argv
    assert "--qos=x" in argv and "--no-requeue" in argv
    wrap = argv[-1]
    assert wrap.startswith("--wrap=exec ")
    assert shlex.split(wrap.removeprefix("--wrap=")) == [
        "exec",
        python,
        "-m",
        "orgtui.queue.worker",
        "--root",
        str(root),
        job_id,
    ]


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("CANCELLED", "killed"),
        ("TIMEOUT", "killed"),
        ("PREEMPTED", "killed"),
        ("NODE_FAIL", "crash"),
        ("OUT_OF_MEMORY", "crash"),
        ("COMPLETED", None),
        ("RUNNING", None),
        ("COMPLETING", None),
    ],
)
def test_how_slurm_ended_a_job_is_its_runs_status(state: str, status: str | None) -> None:
    ending = SlurmJob("7", f"{NAME_PREFIX}j1", state).ending
    assert (ending.status if ending else None) == status
    if ending is not None:
        assert "Slurm job 7" in ending.reason and state in ending.reason
        assert ending.preempted == (state == "PREEMPTED")
