"""Scripted agents: two playbooks talk through the board; one runs an experiment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orgtui import board
from orgtui.agent.scripted import PlaybookError, Player, load_playbook
from orgtui.agentstatus import read_status
from orgtui.backends import LAUNCHERS, LaunchContext, launch_for
from orgtui.backends.builtin import scripted
from orgtui.config import OrgConfig
from tests.conftest import ORGTUI

PATCH = """\
--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 research repo
+softcap removed
"""


def _toml_str(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\") + '"""'


def test_two_scripted_agents_exchange_messages_and_run_an_experiment(
    org: OrgConfig, git_repo: Path
) -> None:
    trainer = f"{sys.executable} -c \"print('val_bpb 1.234')\""
    # Through the ledger's `orgtui run` (uncommitted patch: --allow-dirty; sue posts herself).
    command = f"orgtui run --variant tiny --allow-dirty --no-post -- {trainer}"
    (org.root / "sam.toml").write_text(
        """
[[step]]
action = "post"
to = ["sue"]
kind = "directive"
subject = "run tiny"
body = "Please run the tiny variant."

[[step]]
action = "wait_message"
from = "sue"
kind = "result"
timeout = 60

[[step]]
action = "post"
to = "human"
subject = "summary from {agent}"
body = "sue says: {last_message}"
"""
    )
    (org.root / "sue.toml").write_text(
        f"""
[[step]]
action = "wait_message"
from = "sam"
kind = "directive"
timeout = 60

[[step]]
action = "apply_patch"
patch = {_toml_str(PATCH)}

[[step]]
action = "run"
command = {_toml_str(command)}

[[step]]
action = "post"
to = ["sam"]
kind = "result"
subject = "tiny done"
body = "{{last_output}}"
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGTUI_")}

    def play(name: str, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*ORGTUI, "play", name, "--exit", "--root", str(org.root)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    sue = play("sue", git_repo)
    sam = play("sam", org.root)
    sam_out, _ = sam.communicate(timeout=60)
    sue_out, _ = sue.communicate(timeout=60)
    assert (sam.returncode, sue.returncode) == (0, 0), sam_out + sue_out

    msgs = board.messages(org.paths)
    assert [(m.sender, m.kind, m.subject) for m in msgs] == [
        ("sam", "directive", "run tiny"),
        ("sue", "result", "tiny done"),
        ("sam", "note", "summary from sam"),
    ]
    assert "val_bpb 1.234" in msgs[1].body
    assert "sue says: " in msgs[2].body and "val_bpb 1.234" in msgs[2].body
    assert (git_repo / "README.md").read_text() == "research repo\nsoftcap removed\n"
    for name in ("sam", "sue"):
        status = read_status(org.paths, name)
        assert (status.state, status.detail, status.source) == ("idle", "playbook done", "scripted")
    assert board.unread(org.paths, "sam") == [] and board.unread(org.paths, "sue") == []
    assert "[2/4] apply_patch" in sue_out and "val_bpb 1.234" in sue_out
    (run_dir,) = org.paths.runs_dir.iterdir()
    assert json.loads((run_dir / "run.json").read_text())["dirty"] is True


def test_wait_message_times_out_with_a_clear_error(org: OrgConfig) -> None:
    (org.root / "sam.toml").write_text(
        '[[step]]\naction = "wait_message"\nfrom = "sue"\ntimeout = 0.2\n'
    )
    steps = load_playbook(org.root / "sam.toml")
    player = Player(org, org.agent("sam"), steps, cwd=org.root, out=lambda line: None)
    with pytest.raises(PlaybookError, match=r"no message \(from=sue\) within 0.2s"):
        player.play()


def test_bad_playbooks_name_the_file_and_step(tmp_path: Path) -> None:
    book = tmp_path / "bad.toml"
    book.write_text('[[step]]\naction = "post"\nto = "x"\n\n[[step]]\naction = "dance"\n')
    with pytest.raises(PlaybookError, match=r"bad.toml: step 1 \(post\) needs subject"):
        load_playbook(book)
    book.write_text('[[step]]\naction = "dance"\n')
    with pytest.raises(PlaybookError, match="step 1: action 'dance' is not one of"):
        load_playbook(book)


def test_scripted_and_builtin_launch_orgtui_itself_in_the_worktree(org: OrgConfig) -> None:
    worktree = org.root / "worktrees" / "ada"
    launch = launch_for(LaunchContext(org, org.agent("sam"), worktree))
    assert LAUNCHERS["scripted"] is scripted
    assert launch.command.endswith(f"-m orgtui play sam --root {org.root}")
    assert launch.cwd == worktree and launch.env["ORGTUI_AGENT"] == "sam"
    builtin = launch_for(LaunchContext(org, org.agent("ada"), worktree))
    assert f"-m orgtui agent ada --root {org.root}" in builtin.command
    assert "API_KEY" not in " ".join(builtin.env)
