"""Role prompts and kickoff text."""

from __future__ import annotations

from orgtui.agent.prompts import fill, kickoff, render_role, write_role
from orgtui.config import OrgConfig


def test_role_prompt_fills_placeholders_and_appends_the_protocol(org: OrgConfig) -> None:
    (org.root / "roles").mkdir()
    (org.root / "roles" / "researcher.md").write_text(
        "I am {agent} ({role}) of {org} on prog/{program}; ask {chief}. Code: {x} {}\n"
    )
    text = render_role(org, org.agent("ada"))
    assert text.startswith("I am ada (researcher) of lab on prog/p1; ask chief. Code: {x} {}")
    assert "Research protocol of lab" in text  # the bundled protocol, filled too
    path = write_role(org, org.agent("ada"))
    assert path == org.paths.agent_dir("ada") / "role.md" and path.read_text() == text


def test_kickoff_names_agent_task_verbs_and_the_brief(org: OrgConfig) -> None:
    text = kickoff(org, org.agent("ada"), brief="continue run r12")
    assert "\n" not in text
    for word in ("ada", "Make the loss go down.", "orgtui inbox", "orgtui standup"):
        assert word in text
    assert text.endswith("Handoff brief: continue run r12")
    assert fill("{task}", org, org.agent("ada")) == "Make the loss go down."
