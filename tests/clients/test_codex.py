"""The real Codex CLI, launched by `orgtui up` in tmux against a loopback Responses server.

Codex's own hooks (written by orgtui into its CODEX_HOME) report every state. The
conversation: the kickoff turn (working, held by the fake model), a command that asks for
escalation (waiting for approval), the approving keystroke (working), the end of the turn
(idle). The approved command is `orgtui post`: the board shows ada's message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent.fakes import o_call, o_text, openai_response
from tests.clients.conftest import PLANTED, files_containing, make_org
from tests.clients.model import ModelServer

POST = "orgtui post --to human --subject 'hello from ada' --body 'posted by my shell tool'"
RECALL = "What did you post earlier?"


def _respond(body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("tools"):  # a side request: the session title
        return openai_response(o_text("Posting hello"))
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    last = items[-1] if items else {}
    if last.get("type") == "function_call_output":
        return {**openai_response(o_text("Posted to the board.")), "hold": True}
    if RECALL in json.dumps(last):
        return openai_response(o_text("I posted hello to the human."))
    call = o_call(
        "call_post",
        "exec_command",
        {
            "cmd": POST,
            "sandbox_permissions": "require_escalated",
            "justification": "Post to the org's board",
        },
    )
    return {**openai_response(call), "hold": True}


def test_codex_walks_through_its_states_posts_and_resumes(
    git_repo: Path, tmux_socket: str, client_bin: Path
) -> None:
    org = make_org(git_repo, tmux_socket, client_bin, "codex", 'model = "gpt-fake"')
    model = ModelServer(_respond)
    org.env.update(OPENAI_API_KEY=PLANTED["OPENAI_API_KEY"])
    with model.running():
        org.env["OPENAI_BASE_URL"] = model.url + "/v1"
        model.hold()
        org.orgtui("up")
        try:
            org.wait(lambda: "esc to interrupt" in org.pane(), "the kickoff turn")
            org.wait_state("working")
            main = org.wait(
                lambda: [b for b in model.bodies() if b.get("tools")], "the kickoff request"
            )
            first = json.dumps(main[0]["input"])
            assert "You are ada, a researcher in lab" in first  # developer_instructions
            assert "Start by reading your mail with the `inbox` tool (or `orgtui inbox`)" in first
            model.release()
            # Escalation needs approval: the pane shows the dialog, the state is waiting.
            org.wait_state("waiting")
            hook = json.loads((git_repo / ".org" / "agents" / "ada" / "status.json").read_text())
            assert (hook["state"], hook["detail"]) == ("waiting", "PermissionRequest")
            assert not list((git_repo / ".org").glob("board/*.md"))
            model.hold()
            org.keys("y")
            org.wait_state("working")
            model.release()
            org.wait_state("idle")
            posted = json.loads(org.orgtui("board", "--json").stdout)
            shell_output = [  # what the command printed, to explain a failure
                i.get("output")
                for b in model.bodies()
                for i in b.get("input", [])
                if isinstance(i, dict) and i.get("type") == "function_call_output"
            ]
            assert [(m["from"], m["subject"]) for m in posted] == [("ada", "hello from ada")], (
                shell_output
            )

            # A restart resumes the same session: the next request carries the old turns.
            seen = len(model.bodies())
            org.orgtui("restart", "ada")
            org.wait(lambda: "hello from ada" in org.pane(), "the resumed conversation")
            org.say(RECALL, lambda: any(RECALL in json.dumps(b) for b in model.bodies()[seen:]))
            resumed = next(b for b in model.bodies()[seen:] if RECALL in json.dumps(b))
            assert "Start by reading your mail" in json.dumps(resumed["input"])
            assert "hello from ada" in json.dumps(resumed["input"])
        finally:
            org.orgtui("down", check=False)
    assert files_containing(git_repo / ".org", PLANTED["OPENAI_API_KEY"][-12:]) == []
