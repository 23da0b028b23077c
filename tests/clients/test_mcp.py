"""The org's MCP tools in the real Claude Code and Codex CLIs, wired by the seat's launch.

`orgtui up` starts each client in tmux against a loopback model scripted to call the tools
the client offers as orgtui's: one session per client walks through a `post` (on the board,
from the seat), a `compare` (the ledger's verdict in the tool result the model reads next),
a call with bad arguments (a tool error, the turn goes on), and a later turn typed into the
pane whose good call still works. The unit tests start the server exactly as the generated
configs say, and look for keys in them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui import board
from orgtui.backends import LaunchContext, launch_for
from orgtui.backends.base import MCP_SERVER
from orgtui.backends.claude import KEY_HELPER_VAR, claude_mcp_config
from orgtui.backends.codex import codex_config
from orgtui.config import OrgConfig, load_config
from orgtui.paths import OrgPaths
from tests.agent.conftest import ORG_TOML
from tests.agent.fakes import a_text, a_tool, anthropic_message, o_call, o_text, openai_response
from tests.clients.conftest import PLANTED, Org, files_containing, make_org
from tests.clients.model import ModelServer, text_of
from tests.ledger.synth import power_law, write_variant

AGAIN = "Post once more, please."
POST = {"to": "human", "subject": "hello over mcp", "body": "posted by my orgtui tool"}
COMPARE = {"a": "base", "b": "nocap"}
BAD = {"to": "human"}  # `body` is required
LATER = {"to": "human", "subject": "after the error", "body": "the session went on"}
STEPS = {"post": ("compare", COMPARE, "compare"), "compare": ("bad", BAD, "post")}
"""What follows the result of a call: the next call's (id, arguments, tool)."""


class Script:
    """The fake model: kickoff -> post -> compare -> bad post -> text; AGAIN -> post -> text.

    ``results`` keeps each tool result the client sent back: (call id, text, is_error).
    """

    def __init__(self, tools: dict[str, str]) -> None:
        self.tools = tools  # orgtui tool -> the name the client offers it under
        self.results: list[tuple[str, str, bool]] = []
        self.answered: set[str] = set()  # the ids of the tool results already answered

    def next_call(self, done: str | None, last_text: str) -> tuple[str, dict, str] | None:
        """(call id, arguments, tool) of the next call after result ``done``, or None: text."""
        if done is None:
            return ("later", LATER, "post") if AGAIN in last_text else ("post", POST, "post")
        return STEPS.get(done)


# --------------------------------------------------------------------------- Claude Code


def _claude_tools(body: dict[str, Any]) -> set[str]:
    return {tool.get("name", "") for tool in body.get("tools", [])}


def claude_respond(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("tools"):  # a side request: title, topic, summary
        return anthropic_message(a_text("Org tools"))
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    # Claude Code may fold a typed line into the user message holding the last tool
    # result: a result answered before is old, and the line is read from the text blocks.
    results = [
        b
        for b in blocks
        if b.get("type") == "tool_result" and b.get("tool_use_id") not in script.answered
    ]
    done = None
    if results:
        result = results[-1]
        script.answered.add(result["tool_use_id"])
        done = str(result["tool_use_id"]).removeprefix("toolu_")
        script.results.append((done, text_of(result.get("content")), bool(result.get("is_error"))))
        if done in ("bad", "later"):
            return anthropic_message(a_text(f"Done with {done}."))
    # The server may still be starting on the first turn: the client offers a tool to wait.
    if script.tools["post"] not in _claude_tools(body):
        if done == "wait":
            return anthropic_message(a_text("orgtui's tools never came."))
        return anthropic_message(a_tool("toolu_wait", "WaitForMcpServers", {"servers": ["orgtui"]}))
    typed = text_of([b for b in blocks if b.get("type") == "text"])
    step = script.next_call(None if done == "wait" else done, typed)
    if step is None:
        return anthropic_message(a_text("Nothing to do."))
    call, args, tool = step
    return anthropic_message(a_tool(f"toolu_{call}", script.tools[tool], args))


# --------------------------------------------------------------------------- Codex


def codex_namespace(body: dict[str, Any]) -> dict[str, Any] | None:
    """The namespace of tools Codex offers for the orgtui server, if the request has it."""
    for tool in body.get("tools", []):
        if tool.get("type") == "namespace" and tool.get("name") == f"mcp__{MCP_SERVER}":
            return tool
    return None


def codex_respond(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("tools"):  # a side request: the session title
        return openai_response(o_text("Org tools"))
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    last = items[-1] if items else {}
    done = None
    if last.get("type") == "function_call_output":
        done = str(last["call_id"]).removeprefix("call_")
        output = text_of(last.get("output"))
        # Codex says "Wall time ... Output:" first; an MCP error result reads as such.
        script.results.append((done, output, "error" in output.lower()))
        if done in ("bad", "later"):
            return openai_response(o_text(f"Done with {done}."))
    step = script.next_call(done, text_of(last.get("content")))
    if step is None:
        return openai_response(o_text("Nothing to do."))
    call, args, tool = step
    # An MCP tool is a function inside its server's namespace: the call names both.
    return openai_response(
        {**o_call(f"call_{call}", tool, args), "namespace": f"mcp__{MCP_SERVER}"}
    )


# --------------------------------------------------------------------------- the walk


def _ledger(root: Path) -> None:
    """Two variants' runs in the org's ledger, as the runner records them."""
    runs = OrgPaths(root).runs_dir
    write_variant(runs, "base", 3, curve=power_law())
    write_variant(runs, "nocap", 3, curve=power_law(offset=-0.1))


def _board(org: Org) -> list[tuple[str, str]]:
    return [(m["from"], m["subject"]) for m in json.loads(org.orgtui("board", "--json").stdout)]


def _walk(org: Org, model: ModelServer, script: Script) -> None:
    """Up, the kickoff turn's three calls, a typed turn's good call, down."""
    verdict = json.loads(org.orgtui("compare", "base", "nocap", "--json").stdout)["verdict"]
    assert verdict == "improvement"  # what the synthetic runs are made to show
    org.orgtui("up")
    try:
        org.wait(lambda: [r for r in script.results if r[0] == "bad"], "the bad call's result", 90)
        results = {call: (text, error) for call, text, error in script.results}
        assert results["post"][1] is False, results["post"]
        assert _board(org) == [("ada", POST["subject"])], script.results
        text, error = results["compare"]
        assert not error and verdict in text and "nocap" in text, text
        text, error = results["bad"]
        assert error and "body" in text, text  # an error the model can act on
        assert _board(org) == [("ada", POST["subject"])]  # the bad call posted nothing

        seen = len(model.bodies())
        org.say(AGAIN, lambda: any(AGAIN in json.dumps(b) for b in model.bodies()[seen:]))
        org.wait(lambda: len(_board(org)) == 2, "the later post")
        assert _board(org) == [("ada", POST["subject"]), ("ada", LATER["subject"])]
    finally:
        org.orgtui("down", check=False)


def test_claude_code_calls_orgtuis_tools_over_mcp(
    git_repo: Path, tmux_socket: str, client_bin: Path
) -> None:
    org = make_org(git_repo, tmux_socket, client_bin, "claude", 'model = "claude-fake"')
    _ledger(git_repo)
    script = Script({"post": "mcp__orgtui__post", "compare": "mcp__orgtui__compare"})
    model = ModelServer(lambda body: claude_respond(script, body))
    org.env.update(ANTHROPIC_API_KEY=PLANTED["ANTHROPIC_API_KEY"])
    with model.running():
        org.env["ANTHROPIC_BASE_URL"] = model.url
        _walk(org, model, script)
    offered = next(
        t for b in model.bodies() for t in b.get("tools", []) if t["name"] == "mcp__orgtui__post"
    )
    assert set(offered["input_schema"]["required"]) == {"to", "body"}
    assert files_containing(git_repo / ".org", PLANTED["ANTHROPIC_API_KEY"][-12:]) == []


def test_codex_calls_orgtuis_tools_over_mcp(
    git_repo: Path, tmux_socket: str, client_bin: Path
) -> None:
    org = make_org(git_repo, tmux_socket, client_bin, "codex", 'model = "gpt-fake"')
    _ledger(git_repo)
    script = Script({"post": "post", "compare": "compare"})
    model = ModelServer(lambda body: codex_respond(script, body))
    org.env.update(OPENAI_API_KEY=PLANTED["OPENAI_API_KEY"])
    with model.running():
        org.env["OPENAI_BASE_URL"] = model.url + "/v1"
        _walk(org, model, script)
    kickoff = next(b for b in model.bodies() if b.get("tools"))
    namespace = codex_namespace(kickoff)  # the first turn waited for the server
    assert namespace is not None, [t.get("name") for t in kickoff["tools"]]
    offered = {tool["name"]: tool for tool in namespace["tools"]}
    assert set(offered["post"]["parameters"]["required"]) == {"to", "body"}
    assert files_containing(git_repo / ".org", PLANTED["OPENAI_API_KEY"][-12:]) == []


# --------------------------------------------------------------------------- the configs


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OrgConfig:
    """An org with a claude seat (chief) and a codex seat (cx), the keys in the environment."""
    root = tmp_path / "org"
    root.mkdir()
    (root / "org.toml").write_text(ORG_TOML)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED["ANTHROPIC_API_KEY"])
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED["OPENAI_API_KEY"])
    return load_config(root)


async def _call_post(command: list[str], env: dict[str, str], cwd: str) -> tuple[set[str], bool]:
    """Start the server as configured, speak MCP to it: (its tools, whether `post` failed)."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=cwd)
    with open(os.devnull, "w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            result = await session.call_tool("post", {"to": "human", "body": "wired"})
            return tools, result.is_error


def _no_key_in(org: OrgConfig) -> None:
    for key in PLANTED.values():
        assert files_containing(org.paths.org_dir, key[-12:]) == []


def test_claude_seat_gets_orgtui_mcp_allowed_and_no_key(org: OrgConfig) -> None:
    worktree = org.root / "worktrees" / "chief"
    launch = launch_for(LaunchContext(org, org.agent("chief"), worktree))
    argv = shlex.split(launch.command)
    assert "--strict-mcp-config" in argv  # no project .mcp.json dialog, no other server
    config = json.loads(Path(argv[argv.index("--mcp-config") + 1]).read_text())
    server = config["mcpServers"][MCP_SERVER]
    assert list(config["mcpServers"]) == [MCP_SERVER] and server["alwaysLoad"] is True
    assert [server["command"], *server["args"]] == [sys.executable, "-m", "orgtui", "mcp"]
    identity = {"ORGTUI_AGENT": "chief", "ORGTUI_ROOT": str(org.root)}
    assert server["env"] == {**identity, KEY_HELPER_VAR: ""}  # the key's carrier blanked
    settings = json.loads(Path(argv[argv.index("--settings") + 1]).read_text())
    assert f"mcp__{MCP_SERVER}" in settings["permissions"]["allow"]
    _no_key_in(org)

    # Claude Code starts the server with the pane's environment, the config's on top.
    pane = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    pane |= launch.env | {KEY_HELPER_VAR: PLANTED["ANTHROPIC_API_KEY"]}
    worktree.mkdir(parents=True)
    command = [server["command"], *server["args"]]
    tools, failed = asyncio.run(_call_post(command, pane | server["env"], str(worktree)))
    assert {"post", "compare", "inbox", "run", "ledger"} <= tools and not failed
    posted = board.messages(org.paths)
    assert [(m.sender, m.to, m.body.strip()) for m in posted] == [("chief", ("human",), "wired")]
    assert (
        claude_mcp_config(LaunchContext(org, org.agent("chief"), worktree))["mcpServers"][
            MCP_SERVER
        ]["env"]
        == identity
    )  # without a key there is nothing to blank


def test_codex_seat_gets_orgtui_mcp_approved_and_no_key(
    org: OrgConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    worktree = org.root / "worktrees" / "cx"
    launch = launch_for(LaunchContext(org, org.agent("cx"), worktree))
    home = Path(launch.env["CODEX_HOME"])
    config = tomllib.loads((home / "config.toml").read_text())
    server = config["mcp_servers"][MCP_SERVER]
    assert [server["command"], *server["args"]] == [sys.executable, "-m", "orgtui", "mcp"]
    assert server["env"] == {"ORGTUI_AGENT": "cx", "ORGTUI_ROOT": str(org.root)}
    assert server["env_vars"] == ["ORGTUI_TMUX_SOCKET"] and server["cwd"] == str(worktree)
    assert server["default_tools_approval_mode"] == "approve"  # no prompt, in any mode
    assert config["mcp_optional_startup_grace_ms"] >= 10_000  # the first turn has the tools
    _no_key_in(org)

    # Codex starts the server with a bare environment, `env`, and `env_vars` by name.
    socket = "orgtui-wired-socket"
    monkeypatch.setenv("ORGTUI_TMUX_SOCKET", socket)
    bare = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    forwarded = {name: os.environ[name] for name in server["env_vars"] if name in os.environ}
    worktree.mkdir(parents=True)
    command = [server["command"], *server["args"]]
    tools, failed = asyncio.run(
        _call_post(command, bare | server["env"] | forwarded, server["cwd"])
    )
    assert {"post", "compare", "queue", "propose", "gpus"} <= tools and not failed
    posted = board.messages(org.paths)
    assert [(m.sender, m.to, m.body.strip()) for m in posted] == [("cx", ("human",), "wired")]


PATH_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), min_size=1
)


@pytest.fixture(scope="module")
def any_org(tmp_path_factory: pytest.TempPathFactory) -> OrgConfig:
    root = tmp_path_factory.mktemp("org")
    (root / "org.toml").write_text(ORG_TOML)
    return load_config(root)


@settings(max_examples=150, deadline=None)
@given(root=st.lists(PATH_TEXT, min_size=1, max_size=3), tree=PATH_TEXT)
def test_codex_config_holds_any_paths_exactly(
    any_org: OrgConfig, root: list[str], tree: str
) -> None:
    """Quotes, backslashes, control characters, DEL, emoji in the org's paths: the TOML
    Codex reads gives back the very paths its server is started with."""
    config = dataclasses.replace(any_org, file=Path("/", *root, "org.toml"))
    worktree = config.root / "worktrees" / tree
    text = codex_config(LaunchContext(config, config.agent("cx"), worktree), "Be brief.")
    parsed = tomllib.loads(text)
    server = parsed["mcp_servers"][MCP_SERVER]
    assert server["env"] == {"ORGTUI_AGENT": "cx", "ORGTUI_ROOT": str(config.root)}
    assert server["cwd"] == str(worktree)
    assert parsed["projects"][str(worktree)]["trust_level"] == "trusted"
