"""The real Claude Code, launched by `orgtui up` in tmux against a loopback model.

One conversation walks the seat through every state its hooks report: the kickoff turn
(working, held by the fake model), a Bash call that needs the person's approval (waiting),
the keystroke that approves it (working again), the end of the turn (idle). The approved
command is `orgtui post`, so the board shows the agent's own message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent.fakes import a_text, a_tool, anthropic_message
from tests.clients.conftest import PLANTED, files_containing, make_org
from tests.clients.model import ModelServer, text_of

POST = "orgtui post --to human --subject 'hello from ada' --body 'posted by my Bash tool'"
RECALL = "What did you post earlier?"


def _last_user(body: dict[str, Any]) -> dict[str, Any]:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else {}


def _respond(body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("tools"):  # a side request: title, topic, summary
        return anthropic_message(a_text("Posting hello"))
    last = _last_user(body)
    blocks = last.get("content") if isinstance(last.get("content"), list) else []
    if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks):
        return {**anthropic_message(a_text("Posted to the board.")), "hold": True}
    if RECALL in text_of(last.get("content")):
        return anthropic_message(a_text("I posted hello to the human."))
    tool = a_tool("toolu_post", "Bash", {"command": POST, "description": "Post to the board"})
    return {**anthropic_message(a_text("I will say hello."), tool), "hold": True}


def test_claude_code_walks_through_its_states_posts_and_resumes(
    git_repo: Path, tmux_socket: str, client_bin: Path
) -> None:
    org = make_org(git_repo, tmux_socket, client_bin, "claude", 'model = "claude-fake"')
    model = ModelServer(_respond)
    org.env.update(ANTHROPIC_API_KEY=PLANTED["ANTHROPIC_API_KEY"])
    with model.running():
        org.env["ANTHROPIC_BASE_URL"] = model.url
        model.hold()
        org.orgtui("up")
        try:
            # The kickoff turn: the model "thinks" until released.
            org.wait_state("working")
            main = org.wait(
                lambda: [b for b in model.bodies() if b.get("tools")], "the kickoff request"
            )
            system = json.dumps(main[0]["system"])
            assert "You are ada, a researcher in lab" in system  # the role prompt
            assert (
                "Start by reading your mail with the `inbox` tool (or `orgtui inbox`)"
                in text_of(_last_user(main[0])["content"])
            )
            model.release()
            # Bash needs approval: the hook says waiting until a key is pressed in the pane.
            org.wait_state("waiting")
            assert not (git_repo / ".org" / "board").exists() or not list(
                (git_repo / ".org" / "board").glob("*.md")
            )
            model.hold()
            org.keys("Enter")
            org.wait_state("working")
            model.release()
            org.wait_state("idle")
            posted = json.loads(org.orgtui("board", "--json").stdout)
            assert [(m["from"], m["subject"]) for m in posted] == [("ada", "hello from ada")]

            # A restart resumes the same session: the next request carries the old turns.
            seen = len(model.bodies())
            org.orgtui("restart", "ada")
            org.wait(lambda: "hello from ada" in org.pane(), "the resumed conversation")
            org.say(RECALL, lambda: any(RECALL in json.dumps(b) for b in model.bodies()[seen:]))
            resumed = next(b for b in model.bodies()[seen:] if RECALL in json.dumps(b))
            assert "Start by reading your mail" in json.dumps(resumed["messages"])
            assert POST in json.dumps(resumed["messages"])
        finally:
            org.orgtui("down", check=False)
    leaks = files_containing(git_repo / ".org", PLANTED["ANTHROPIC_API_KEY"][-12:])
    assert leaks == []
