"""org.toml validation: every bad input names the file, the key and a fix, and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgtui.cli import main
from orgtui.config import ConfigError, load_config, parse_duration
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
    (AGENTS + "[[agent]]\nname='a'\nprovider='google'", "agent[0].provider", "anthropic"),
    (AGENTS + "[process.standup]\nevery='daily'", "process.standup.every", "duration"),
    (AGENTS + "[process.standup]\nevery='1h'\nat='09:00'", "process.standup", "exactly one"),
    (AGENTS + "[process.standup]\nat='25:00'", "process.standup.at", "24-hour"),
    (AGENTS + "[worktree]\ncopy=['../secrets']", "worktree.copy[0]", "relative"),
    (AGENTS + "[gpu]\nsource='cuda'", "gpu.source", "replay:PATH"),
    (AGENTS + "[ledger]\nalpha=2", "ledger.alpha", "between"),
    (AGENTS + "[supervisor]\nrestart_limit=0", "supervisor.restart_limit", ">= 1"),
    ("agent = 3\n" + AGENTS, "agent", "[[agent]]"),
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
