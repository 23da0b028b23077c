"""Hostile files dropped into a running org's board and runs: the supervisor keeps
supervising (no failed tick), digests the standup, nudges, and loses no message."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from orgtui import board
from orgtui.paths import OrgPaths
from orgtui.supervisor.control import request
from tests.conftest import wait_for
from tests.supervisor.helpers import FAST, agent_states, orgtui, supervisor_up

pytestmark = pytest.mark.timeout(180)

HOSTILE_NUMBERS = [
    float("nan"),
    float("inf"),
    -float("inf"),
    1e400,
    -1.0,
    0,
    2**80,
    "1.5",
    None,
    True,
]


def _board_file(rng: random.Random) -> bytes:
    """A board file somebody wrote by hand, badly: bad front matter, bad bytes, odd dates."""
    head = {
        "id": rng.choice(["29991231T235959.000000Z-ada-zzzzzz", "x", "", "../../etc", 3]),
        "from": rng.choice(["ada", "nobody", "", "all", "../x", 7]),
        "to": rng.choice([["ada"], "ada", [], ["all"], [1, 2], None]),
        "subject": rng.choice(["[/]", "[bold]x", "\x1b[2J", "s", "", "é" * 300]),
        "kind": rng.choice(["note", "result", "bogus", None]),
        "time": rng.choice(["2999-01-01T00:00:00Z", "0000", "yesterday", 1e400, None]),
    }
    lines = ["+++"]
    for key, value in head.items():
        if value is not None:
            lines.append(f"{key} = {json.dumps(value)}")
    if rng.random() < 0.3:
        lines.append("this is = = not toml")
    lines += ["+++", "body [/] $(rm -rf /) `orgtui inbox`"]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:
        data += bytes(rng.randrange(256) for _ in range(40))
    return data


def _metrics_line(rng: random.Random, run_id: str) -> str:
    number = lambda: rng.choice([*HOSTILE_NUMBERS, rng.uniform(-5, 5)])  # noqa: E731
    event = rng.choice(["run_start", "train", "eval", "run_end", "bogus"])
    record = {
        "event": event,
        "run_id": run_id,
        "agent": "ada",
        "variant": rng.choice(["baseline", "nocap", "", "[/]"]),
        "seed": number(),
        "step": number(),
        "tokens": number(),
        "flops": number(),
        "loss": number(),
        "val_bpb": number(),
        "final_val_bpb": number(),
        "flops_per_token": number(),
        "time": number(),
        "wall_s": number(),
        "status": rng.choice(["ok", "crash", "killed", "??"]),
    }
    try:
        text = json.dumps(record)
    except ValueError:
        text = str(record)
    return text if rng.random() > 0.1 else text[: rng.randrange(len(text))]


def test_hostile_files_never_stop_a_running_org(git_repo: Path, tmux_socket: str) -> None:
    rng = random.Random(2026)
    lines = [
        '[org]\nname = "t"\nprogram = "p1"\ntask = "t [/] [bold]"',
        '[defaults]\ngpus = "none"',
        FAST.replace("nudge = false", "nudge = true"),
        '[process.standup]\nevery = "1s"',
        '[[agent]]\nname = "chief"\nrole = "chief_scientist"\nbackend = "command"\n'
        'command = "exec sleep 600"',
        '[[agent]]\nname = "ada"\nrole = "researcher"\nbackend = "command"\n'
        'command = "exec /bin/sh"',
    ]
    (git_repo / "org.toml").write_text("\n".join(lines) + "\n")
    orgtui(git_repo, tmux_socket, "up")
    paths = OrgPaths(git_repo)
    try:
        wait_for(lambda: agent_states(git_repo).get("ada") == "idle", "ada's idle shell")
        posted = [
            board.post(paths, sender="human", to=["ada"], subject=f"before {i}", body="x")
            for i in range(3)
        ]
        for i in range(40):
            (paths.board_dir / f"hostile-{i}.md").write_bytes(_board_file(rng))
        os.mkfifo(paths.board_dir / "fifo.md")
        (paths.board_dir / "dir.md").mkdir()
        for i in range(12):
            run = paths.runs_dir / f"r{i}"
            run.mkdir(parents=True)
            (run / "metrics.jsonl").write_text(
                "\n".join(_metrics_line(rng, f"r{i}") for _ in range(rng.randrange(0, 30)))
            )
            if rng.random() < 0.5:
                (run / "meta.json").write_text(rng.choice(["{", "[]", '{"pid": 1e400}', "null"]))
        os.mkfifo(paths.runs_dir / "r0" / "fifo")
        # the standup digest reads every run's metrics: wait for one after the files landed
        since = len(board.messages(paths))
        try:
            wait_for(
                lambda: any(m.subject == "standup digest" for m in board.messages(paths)[since:]),
                "a standup digest over the hostile runs",
                timeout=60,
            )
        except AssertionError:
            raise AssertionError(paths.supervisor_log.read_text()[-3000:]) from None
        posted.append(board.post(paths, sender="human", to=["ada"], subject="after", body="y"))
        # nothing lost: every well-formed message is still unread for ada
        unread = {m.id for m in board.unread(paths, "ada")}
        assert {m.id for m in posted} <= unread
        wait_for(lambda: board.nudge_due(paths, "ada") == [], "ada nudged about her mail")
        assert supervisor_up(git_repo)
        stats = request(paths, {"verb": "stats"})
        assert stats["failed_ticks"] == 0, (git_repo / ".org/logs/supervisor.log").read_text()
        assert set(agent_states(git_repo)) == {"chief", "ada"}
        assert not {"dead", "failed"} & set(agent_states(git_repo).values())
        for verb in ("board", "ledger", "report", "status"):
            proc = orgtui(git_repo, tmux_socket, verb, check=False)
            assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, (verb, proc)
    finally:
        orgtui(git_repo, tmux_socket, "down", check=False)
