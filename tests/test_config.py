"""org.toml validation: every bad input names the file, the key and a fix, and exits 2."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.cli import main
from orgtui.config import (
    DURATIONS,
    WHOLE_NUMBERS,
    ConfigError,
    OrgConfig,
    load_config,
    parse_duration,
)
from orgtui.names import RESERVED_AGENT_NAMES, WALL_PREFIX, is_valid_name
from tests.conftest import git, run_orgtui

GOOD = """\
[org]
name = "softcap"
program = "remove-softcap"
task = "Remove the logit softcap without a val-bpb regression."

[defaults]
backend = "shell"

[[agent]]
name = "chief"
role = "chief_scientist"

[[agent]]
name = "ada"
role = "researcher"
gpu = 3

[[agent]]
name = "bo"
role = "researcher"
"""

AGENTS = """\
[org]
name = "o"
task = "t"
"""

# (toml text, key the message must name, words the message must contain)
BAD_INPUTS = [
    ("[org\nname = 'x'", "line 1", "TOML syntax error"),
    ("[defaults]\nbackend='shell'", "org", "missing"),
    ("[org]\ntask='t'", "org.name", "required"),
    ("[org]\nname='x'", "org.task", "required"),
    ("[org]\nname='x'\ntask='  '", "org.task", "empty"),
    ("[org]\nname='Big Org'\ntask='t'", "org.name", "lowercase"),
    ("[org]\nname='x'\ntask='t'\nlayout='tiles'", "org.layout", "windows, grid"),
    ("[org]\nname='x'\ntask='t'\nnmae='y'", "org.nmae", "did you mean 'name'"),
    ("[orgg]\nname='x'", "orgg", "did you mean 'org'"),
    (AGENTS + "[defaults]\nbackend='claud'", "defaults.backend", "did you mean 'claude'"),
    (AGENTS + "[defaults]\ngpus='all'", "defaults.gpus", "auto, none"),
    (AGENTS + "[[agent]]\nrole='researcher'", "agent[0].name", "required"),
    (
        AGENTS + "[[agent]]\nname='a'\n[[agent]]\nname='b'\n[[agent]]\nname='x'\nbackend='cdex'",
        "agent[2].backend",
        "did you mean 'codex'",
    ),
    (AGENTS + "[[agent]]\nname='a'\n[[agent]]\nname='a'", "agent[1].name", "duplicate"),
    (AGENTS + "[[agent]]\nname='../etc'", "agent[0].name", "lowercase"),
    (AGENTS + "[[agent]]\nname='a'\nrole='janitor'", "agent[0].role", "roles/janitor.md"),
    (AGENTS + "[[agent]]\nname='a'\nrole='reseacher'", "agent[0].role", "did you mean"),
    (AGENTS + "[[agent]]\nname='a'\ngpu=-1", "agent[0].gpu", ">= 0"),
    (AGENTS + "[[agent]]\nname='a'\ngpu='0'", "agent[0].gpu", "whole number"),
    (
        AGENTS + "[[agent]]\nname='a'\ngpu=0\n[[agent]]\nname='b'\ngpu=0",
        "agent[1].gpu",
        "share_gpu",
    ),
    (
        AGENTS + "[[agent]]\nname='a'\nshare_gpus=true",
        "agent[0].share_gpus",
        "did you mean 'share_gpu'",
    ),
    (AGENTS + "[[agent]]\nname='a'\nbackend='command'", "agent[0].command", "needs command"),
    (AGENTS + "[[agent]]\nname='supervisor'", "agent[0].name", "reserved"),
    (AGENTS + "[[agent]]\nname='all'", "agent[0].name", "reserved"),
    (AGENTS + "[[agent]]\nname='human'", "agent[0].name", "reserved"),
    (AGENTS + "[[agent]]\nname='a'\n[[agent]]\nname='wall-2'", "agent[1].name", "'wall-'"),
    (AGENTS + "[[agent]]\nname='a'\nrole='../../etc/passwd'", "agent[0].role", "lowercase"),
    (AGENTS + "[[agent]]\nname='a'\ngpu=100000", "agent[0].gpu", "<= 1023"),
    ("[org]\nname='x'\ntask='t'\ngrid_max=0", "org.grid_max", ">= 1 and <= 64"),
    (AGENTS + "[supervisor]\nrestart_limit=" + "9" * 30, "supervisor.restart_limit", "<= 100"),
    (
        AGENTS + "[supervisor]\nbackoff_initial='1h'\nbackoff_max='1m'",
        "supervisor.backoff_max",
        ">= backoff_initial",
    ),
    (AGENTS + "[gpu]\nsample_every='0.1s'\nhistory='7d'", "gpu.history", "samples"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n" + AGENTS, "org.toml", "cannot be read"),
    ("a = 1" + "0" * 5000 + "\n" + AGENTS, "org.toml", "cannot be read"),
    (AGENTS + "[[agent]]\nname='a'\nprovider='google'", "agent[0].provider", "anthropic"),
    (AGENTS + "[process.standup]\nevery='daily'", "process.standup.every", "duration"),
    (AGENTS + "[process.standup]\nevery='1h'\nat='09:00'", "process.standup", "exactly one"),
    (AGENTS + "[process.standup]\nat='25:00'", "process.standup.at", "24-hour"),
    (AGENTS + "[worktree]\ncopy=['../secrets']", "worktree.copy[0]", "relative"),
    (AGENTS + "[gpu]\nsource='cuda'", "gpu.source", "replay:PATH"),
    (AGENTS + "[ledger]\nalpha=2", "ledger.alpha", "between"),
    (AGENTS + "[supervisor]\nrestart_limit=0", "supervisor.restart_limit", ">= 1"),
    ("agent = 3\n" + AGENTS, "agent", "[[agent]]"),
    (AGENTS + "[compute]\nslots=0", "compute.slots", ">= 1"),
    (AGENTS + "[compute]\nengine='k8s'", "compute.engine", "local"),
    (AGENTS + "[compute]\ncpus=2", "compute.cpus", "slots"),
    (AGENTS + "[discipline]\nmin_seeds=1.5", "discipline.min_seeds", "whole number"),
    (AGENTS + "[discipline]\nmax_auto_gpu_hours=nan", "discipline.max_auto_gpu_hours", "between"),
    (AGENTS + "[discipline]\nmax_auto_gpu_hours=-1", "discipline.max_auto_gpu_hours", "between"),
    (AGENTS + "[discipline]\nidle_minutes='10m'", "discipline.idle_minutes", "a number"),
    (AGENTS + "[discipline]\nbaseline_command=' '", "discipline.baseline_command", "empty"),
    (AGENTS + "[discipline]\nauto='yes'", "discipline.auto", "true or false"),
]


@pytest.mark.parametrize(("text", "key", "words"), BAD_INPUTS)
def test_bad_org_toml_names_file_key_and_fix_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, words: str
) -> None:
    (tmp_path / "org.toml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "org.toml") in message
    assert key in message
    assert words in message

    code = main(["check", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert key in err and "Traceback" not in err


def test_good_config_resolves_roles_defaults_and_gpus(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text(GOOD)
    config = load_config(tmp_path)
    assert config.org.program_branch == "prog/remove-softcap"
    assert config.org.session_name == "orgtui-softcap"
    assert [a.backend for a in config.agents] == ["shell"] * 3
    # ada claims GPU 3 explicitly; auto fills 0 and 1 for the others in order.
    assert [a.gpu for a in config.agents] == [0, 3, 1]
    assert config.agent("ada").branch(config.org.program) == "feat/remove-softcap/ada"
    with pytest.raises(ConfigError, match="did you mean 'ada'"):
        config.agent("adb")


def test_shared_gpu_is_allowed_when_both_agents_say_so(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text(
        AGENTS + "[[agent]]\nname='a'\ngpu=0\nshare_gpu=true\n"
        "[[agent]]\nname='b'\ngpu=0\nshare_gpu=true\n"
    )
    assert [a.gpu for a in load_config(tmp_path).agents] == [0, 0]


def test_gpus_none_leaves_agents_unpinned(tmp_path: Path) -> None:
    (tmp_path / "org.toml").write_text(AGENTS + "[defaults]\ngpus='none'\n[[agent]]\nname='a'\n")
    assert load_config(tmp_path).agents[0].gpu is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("500ms", 0.5), (2, 2)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_init_hierarchy_then_check_in_a_new_repo(
    git_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(git_repo)
    assert main(["init", "--preset", "hierarchy", "--agents", "4", "--task", "Find a win"]) == 0
    text = (git_repo / "org.toml").read_text()
    assert text.startswith("# org.toml")
    config = load_config(git_repo)
    assert [a.role for a in config.agents] == ["chief_scientist"] + ["researcher"] * 3
    assert config.org.task == "Find a win"
    assert (git_repo / "roles" / "protocol.md").is_file()
    assert f"prog/{config.org.program}" in git(git_repo, "branch", "--list")

    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "chief_scientist" in out and "ok" in out

    # A second init refuses to overwrite what the person may have edited.
    assert main(["init"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["init", "--force", "--preset", "flat", "--backend", "codex"]) == 0
    flat = load_config(git_repo)
    assert len(flat.agents) == 8 and {a.backend for a in flat.agents} == {"codex"}


def test_init_outside_git_repo_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--root", str(tmp_path)]) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_help_lists_verbs_and_version() -> None:
    out = run_orgtui("--help", check=True).stdout
    for verb in ("init", "check"):
        assert verb in out
    version = run_orgtui("--version", check=True).stdout
    assert version.startswith("orgtui ")


# -- ranges of every number -------------------------------------------------------------------

OUT_OF_RANGE = ["nan", "inf", "-inf", "-1", "0", "1e400", '"0s"', '"-5s"', '"nan"', '"inf"']
OUT_OF_RANGE += ['"' + "9" * 400 + 'd"', '"1000d"', '"1e3s"', "1" + "0" * 30]


def _section_text(key_path: str, literal: str) -> str:
    section, _, key = key_path.rpartition(".")
    return f"[{section}]\n{key} = {literal}\n"


@pytest.mark.parametrize("literal", OUT_OF_RANGE)
@pytest.mark.parametrize("key_path", sorted(DURATIONS))
def test_every_duration_refuses_non_finite_negative_and_absurd_values(
    tmp_path: Path, key_path: str, literal: str
) -> None:
    (tmp_path / "org.toml").write_text(AGENTS + _section_text(key_path, literal))
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "org.toml") in message and key_path in message
    assert "expected a duration from" in message and "found " in message


@pytest.mark.parametrize("literal", ["-1", "nan", "inf", "1.5", '"3"', "true", "9" * 30])
@pytest.mark.parametrize("key_path", ["org.grid_max", "supervisor.restart_limit"])
def test_every_whole_number_has_a_range(tmp_path: Path, key_path: str, literal: str) -> None:
    text = AGENTS + (f"grid_max = {literal}\n" if key_path == "org.grid_max" else "")
    if key_path != "org.grid_max":
        text += _section_text(key_path, literal)
    (tmp_path / "org.toml").write_text(text)
    low, high = WHOLE_NUMBERS[key_path]
    with pytest.raises(ConfigError, match=f">= {low} and <= {high}") as raised:
        load_config(tmp_path)
    assert key_path in str(raised.value)


def test_durations_at_the_edges_of_their_range_are_accepted(tmp_path: Path) -> None:
    text = AGENTS + "[supervisor]\ntick = 0.05\nbackoff_initial = '1h'\nbackoff_max = '1d'\n"
    (tmp_path / "org.toml").write_text(text)
    spec = load_config(tmp_path).supervisor
    assert (spec.tick_s, spec.backoff_initial_s, spec.backoff_max_s) == (0.05, 3600, 86400)


# -- fuzz: any value anywhere -----------------------------------------------------------------

BASE = {
    "org": {"name": '"o"', "task": '"t"', "program": '"p"', "layout": '"grid"', "grid_max": "4"},
    "defaults": {"backend": '"shell"', "gpus": '"auto"', "role": '"researcher"'},
    "agent": {"name": '"ada"', "role": '"researcher"', "gpu": "1", "env": '{ A = "b" }'},
    "process.standup": {"every": '"1h"'},
    "process.review": {"required": "false"},
    "worktree": {"copy": '["data"]', "setup": '"make"'},
    "ledger": {"baseline": '"base"', "alpha": "0.05"},
    "gpu": {"source": '"auto"', "sample_every": '"1s"', "history": '"1h"'},
    "supervisor": {"tick": '"1s"', "backoff_initial": "1", "restart_limit": "5", "nudge": "true"},
    "keys": {"anthropic": '"ANTHROPIC_API_KEY"'},
}
EXTRA_KEYS = {
    "agent": ["backend", "share_gpu", "command", "playbook", "model", "provider", "name"],
    "supervisor": ["backoff_max", "restart_window"],
    "process.standup": ["at"],
    "defaults": ["provider", "model", "skip_permissions"],
}
WORDS = [
    *RESERVED_AGENT_NAMES,
    f"{WALL_PREFIX}1",
    "../../etc/passwd",
    "/etc/passwd",
    "[/]",
    "[bold]x[/bold",
    "nan",
    "inf",
    "-1s",
    "0ms",
    "1e400s",
    "9" * 400 + "d",
    "ＳＵＰＥＲ",
    "ada\n",
    "",
    " ",
    "\u202e",
    "claude",
    "researcher",
]
literal = st.one_of(
    st.sampled_from(['"30m"', '"0.5s"', "2", "0.2", '"researcher"', '"codex"', "false", "3"]),
    st.sampled_from(["nan", "inf", "-inf", "+inf", "-nan", "1e400", "-0.0", "0", "true"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(WORDS).map(json.dumps),
    st.text(max_size=12).map(json.dumps),
    st.sampled_from(["[]", "[1, 2]", '["a", 3]', "{}", "{ a = 1 }", "1979-05-27T07:32:00Z"]),
    st.sampled_from(["07:32:00", "1" + "0" * 5000, "[" * 2000 + "]" * 2000, '"""x"""']),
)


@st.composite
def org_toml(draw: st.DrawFn) -> str:
    tables = {section: dict(keys) for section, keys in BASE.items()}
    for _ in range(draw(st.integers(0, 3))):
        section = draw(st.sampled_from(sorted(tables)))
        key = draw(st.sampled_from(sorted(tables[section]) + EXTRA_KEYS.get(section, [])))
        tables[section][key] = draw(literal)
    out = []
    for section, keys in tables.items():
        out.append(f"[[{section}]]" if section == "agent" else f"[{section}]")
        out += [f"{key} = {value}" for key, value in keys.items()]
    return "\n".join(out) + "\n"


def _within_ranges(config: OrgConfig) -> None:
    """What a config that loads promises the supervisor: every number finite and in range."""
    durations = {
        "process.standup.every": config.standup.every_s if config.standup else None,
        "gpu.sample_every": config.gpu.sample_every_s,
        "gpu.history": config.gpu.history_s,
        "supervisor.tick": config.supervisor.tick_s,
        "supervisor.backoff_initial": config.supervisor.backoff_initial_s,
        "supervisor.backoff_max": config.supervisor.backoff_max_s,
        "supervisor.restart_window": config.supervisor.restart_window_s,
    }
    for key, value in durations.items():
        low, high = DURATIONS[key]
        assert value is None or (math.isfinite(value) and low <= value <= high), key
    assert 1 <= config.org.grid_max <= 64 and 1 <= config.supervisor.restart_limit <= 100
    assert 0 < config.ledger.alpha < 0.5
    for spec in config.agents:
        assert is_valid_name(spec.name) and is_valid_name(spec.role)
        assert spec.name not in RESERVED_AGENT_NAMES and not spec.name.startswith(WALL_PREFIX)
        assert spec.gpu is None or 0 <= spec.gpu <= 1023


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=org_toml())
def test_fuzzed_org_toml_raises_only_config_errors_naming_file_and_key(text: str) -> None:
    with tempfile.TemporaryDirectory() as top:
        file = Path(top) / "org.toml"
        file.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            config = load_config(file)
        except ConfigError as error:
            assert str(error).startswith(f"{file}: ")
            assert error.key is not None or "TOML" in error.problem, str(error)
        else:
            _within_ranges(config)


# -- the person's text is text, never rich markup ---------------------------------------------

MARKUP = [
    "[/]",
    "[bold]",
    "[/bold]",
    "x [/] y",
    "[[/]]",
    "[red",
    "\\[escaped]",
    "[link=file:///etc/passwd]click[/link]",
    "[@click=app.quit]quit[/]",
    "[#ff0000 on blue]",
    "[b]" * 20,
    ":warning: [/] :smile:",
    "trailing backslash \\",
]


def _check_output(root: Path) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", "--root", str(root)])
    return code, out.getvalue()


@pytest.mark.parametrize("task", MARKUP)
def test_check_prints_a_task_full_of_markup_as_written(tmp_path: Path, task: str) -> None:
    text = f"[org]\nname = 'o'\ntask = {json.dumps(task)}\n[defaults]\ngpus = 'none'\n"
    (tmp_path / "org.toml").write_text(text + "[[agent]]\nname = 'ada'\nbackend = 'shell'\n")
    code, out = _check_output(tmp_path)
    assert code == 0
    assert task in " ".join(out.split("\n")), out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task=st.text(alphabet="[]/\\:@=#ab ", min_size=1, max_size=30).filter(str.strip))
def test_check_survives_any_bracketed_task(task: str) -> None:
    with tempfile.TemporaryDirectory() as top:
        (Path(top) / "org.toml").write_text(
            f"[org]\nname = 'o'\ntask = {json.dumps(task)}\n[defaults]\ngpus = 'none'\n"
        )
        code, out = _check_output(Path(top))
        assert code == 0 and task.strip() in out
