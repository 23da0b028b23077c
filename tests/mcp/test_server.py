"""``orgtui mcp`` through the SDK's own stdio client, in a real org."""

from __future__ import annotations

from pathlib import Path

from orgtui import board, process
from orgtui.config import load_config
from orgtui.mcp.tools import TOOLS
from orgtui.paths import OrgPaths
from orgtui.queue.jobs import Job, read_queue
from tests.conftest import run_orgtui
from tests.mcp.conftest import mcp_session, text


async def test_tools_are_listed_with_the_tables_schemas(org: Path) -> None:
    async with mcp_session(org) as session:
        assert session.server_info.name == "orgtui"
        listed = (await session.list_tools()).tools
    assert [tool.name for tool in listed] == [
        "post",
        "inbox",
        "read",
        "board",
        "run",
        "queue",
        "compare",
        "ledger",
        "propose",
        "standup_answer",
        "gpus",
    ]
    by_name = {tool.name: tool for tool in TOOLS}
    for tool in listed:
        assert tool.input_schema == by_name[tool.name].schema
        assert tool.description == by_name[tool.name].description
    post = next(tool for tool in listed if tool.name == "post")
    assert post.input_schema["required"] == ["to", "body"]
    assert post.input_schema["additionalProperties"] is False
    assert set(post.input_schema["properties"]) == {
        "to",
        "body",
        "subject",
        "kind",
        "thread",
        "reply_to",
        "refs",
    }


async def test_board_tools_act_as_the_seat(org: Path) -> None:
    paths = OrgPaths(org)
    config = load_config(org)
    mail = board.post(
        paths, sender="chief", to=["ada"], subject="try nocap", body="3 seeds", kind="directive"
    )
    async with mcp_session(org, "ada") as session:
        posted = await session.call_tool(
            "post", {"to": "chief,bob", "body": "on it\nseeds follow", "refs": ["base-s0"]}
        )
        inbox = await session.call_tool("inbox", {})
        again = await session.call_tool("inbox", {})
        read = await session.call_tool("read", {"id": mail.id})
        thread = await session.call_tool("board", {"thread": mail.thread})
        everything = await session.call_tool("board", {"limit": 1})
        call = process.call_standup(config)
        answer = await session.call_tool(
            "standup_answer", {"done": "read the directive", "next": "nocap", "runs": ["base-s1"]}
        )
        proposal = await session.call_tool(
            "propose", {"variant": "nocap", "hypothesis": "no cap, lower bpb", "budget_flops": 2e13}
        )

    assert not posted.is_error, text(posted)
    mine = [m for m in board.messages(paths) if m.sender == "ada" and m.kind == "note"]
    assert [(m.to, m.subject, m.refs) for m in mine] == [(("chief", "bob"), "on it", ("base-s0",))]
    assert mine[0].id in text(posted)

    assert mail.id in text(inbox) and "try nocap" in text(inbox)
    assert "no unread messages" in text(again)
    assert [m.id for m in board.unread(paths, "ada")] == [call.id]  # called after the inbox
    assert "3 seeds" in text(read)
    assert mail.id in text(thread) and mine[0].id not in text(thread)
    assert text(everything).startswith("(1 older not shown)\n") and mine[0].id in text(everything)

    state = process.load_standup(paths)
    answers = process.answers(config, state)
    assert answers["ada"].reply_to == call.id and answers["ada"].refs == ("base-s1",)
    assert answers["ada"].body.startswith("done: read the directive\nnext: nocap\nblocked:")
    assert call.id in text(answer)

    assert not proposal.is_error, text(proposal)
    asked = [m for m in board.messages(paths) if m.subject == "proposal: nocap vs base"]
    assert [(m.sender, m.to, m.kind) for m in asked] == [("ada", ("chief",), "question")]
    assert "budget: 2e+13 FLOPs per run" in asked[0].body


async def test_ledger_tools_give_the_verdicts_and_queue_runs(org: Path) -> None:
    async with mcp_session(org, "bob") as session:
        verdict = await session.call_tool("compare", {"a": "base", "b": "nocap"})
        table = await session.call_tool("ledger", {})
        queued = await session.call_tool(
            "run", {"variant": "wd", "command": "python -c 'print(1)'", "seeds": 2}
        )
        listed = await session.call_tool("queue", {})
        as_list = await session.call_tool(
            "run", {"variant": "wd2", "command": ["python", "-c", "print(2)"], "seed_start": 5}
        )
        gpus = await session.call_tool("gpus", {})

    shell = run_orgtui("compare", "base", "nocap", root=org, cwd=org)
    assert not verdict.is_error and text(verdict).strip() == shell.stdout.strip()
    assert "verdict: improvement" in text(verdict)
    assert "nocap" in text(table) and "baseline" in text(table) and "improvement" in text(table)

    jobs = [job for job in read_queue(OrgPaths(org)) if isinstance(job, Job)]
    assert sorted((j.variant, j.seed, j.agent) for j in jobs) == [
        ("wd", 0, "bob"),
        ("wd", 1, "bob"),
        ("wd2", 5, "bob"),
    ]
    wd = [j for j in jobs if j.variant == "wd"]
    assert all(j.id in text(queued) and j.id in text(listed) for j in wd)
    assert wd[0].command == ("python", "-c", "print(1)")
    assert all(j.post_result for j in jobs)
    assert not as_list.is_error, text(as_list)
    assert "NVIDIA H100 80GB HBM3" in text(gpus)


async def test_malformed_calls_are_tool_errors_and_the_server_goes_on(org: Path) -> None:
    bad = [
        ("post", {"body": "no recipient"}, "missing required argument 'to'"),
        ("post", {"to": "chief"}, "missing required argument 'body'"),
        ("post", {"to": ["chief"], "body": "x"}, "argument 'to' must be a string"),
        ("post", {"to": "chief", "body": "x", "colour": "red"}, "unknown argument 'colour'"),
        ("post", {"to": "ghost", "body": "x"}, "unknown recipient 'ghost'"),
        ("post", {"to": "chief", "body": "x", "kind": "gossip"}, "gossip"),
        ("compare", {"a": "base"}, "missing required argument 'b'"),
        ("compare", {"a": "base", "b": "ghost"}, "no runs of variant 'ghost'"),
        ("board", {"limit": "ten"}, "argument 'limit' must be a whole number"),
        ("board", {"limit": 0}, "between 1 and 500"),
        ("run", {"variant": "v", "command": 7}, "argument 'command'"),
        ("run", {"variant": "v", "command": ""}, "command is empty"),
        ("run", {"variant": "v", "command": "x", "seeds": True}, "whole number"),
        ("read", {"id": "../../etc/passwd"}, "id"),
        ("propose", {"variant": "v", "hypothesis": "h", "seeds": 1}, "between 2 and 64"),
        ("propose", {"variant": "v", "hypothesis": "h", "budget_flops": -1}, "finite number"),
        ("nosuchtool", {}, "nosuchtool"),
    ]
    async with mcp_session(org) as session:
        results = [await session.call_tool(name, args) for name, args, _ in bad]
        after = await session.call_tool("post", {"to": "chief", "body": "still here"})
    for (name, args, needle), result in zip(bad, results, strict=True):
        assert result.is_error, (name, args, text(result))
        assert needle in text(result), (name, args, text(result))
    assert not after.is_error
    assert [m.subject for m in board.messages(OrgPaths(org))] == ["still here"]


async def test_a_seat_outside_any_org_gets_an_actionable_error(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    async with mcp_session(None, cwd=nowhere) as session:
        assert len((await session.list_tools()).tools) == len(TOOLS)
        result = await session.call_tool("inbox", {})
        again = await session.call_tool("ledger", {})
    assert result.is_error and "orgtui init" in text(result)
    assert again.is_error


def test_orgtui_mcp_is_a_verb_named_in_help() -> None:
    out = run_orgtui("mcp", "--help")
    assert out.returncode == 0 and "ORGTUI_AGENT" in out.stdout
