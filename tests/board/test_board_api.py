"""The board's Python API: format, threads, read tracking, nudges, redaction, malformed files."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from orgtui import board
from orgtui.board import BoardError, Malformed, Message
from orgtui.paths import OrgPaths


def post(org: OrgPaths, **kw: object) -> Message:
    fields: dict[str, object] = {"sender": "ada", "to": ["bob"], "subject": "s", "body": "b"}
    fields.update(kw)
    return board.post(org, **fields)  # type: ignore[arg-type]


def test_posted_message_round_trips_through_its_file(org: OrgPaths) -> None:
    sent = post(
        org,
        to=["bob", "carol"],
        subject="loss spike",
        body="see run r1\n",
        kind="result",
        refs=["r1", "abc123f"],
    )
    assert sent.path == org.board_dir / f"{sent.id}.md"
    text = sent.path.read_text()
    assert text.startswith("+++\n") and "\n+++\nsee run r1\n" in text
    [listed] = board.list_messages(org)
    assert listed == sent
    assert board.read_message(org, sent.id) == sent
    assert listed.thread == sent.id and listed.refs == ("r1", "abc123f")
    assert board.is_valid_id(sent.id) and "-ada-" in sent.id


def test_ids_sort_by_time_and_keep_a_senders_order(org: OrgPaths) -> None:
    sent = [post(org, subject=f"m{i}") for i in range(30)]
    assert [m.id for m in sent] == sorted(m.id for m in sent)
    assert [m.subject for m in board.messages(org)] == [f"m{i}" for i in range(30)]


def test_reply_joins_the_parents_thread(org: OrgPaths) -> None:
    root = post(org, subject="plan")
    reply = post(org, sender="bob", to=["ada"], subject="re: plan", reply_to=root.id)
    deeper = post(org, sender="ada", to=["bob"], subject="re: re", reply_to=reply.id)
    other = post(org, subject="other")
    assert reply.thread == deeper.thread == root.id
    assert reply.reply_to == root.id
    assert [m.id for m in board.thread_of(org, root.id)] == [root.id, reply.id, deeper.id]
    assert other.thread == other.id


def test_named_thread_and_conflicting_reply(org: OrgPaths) -> None:
    first = post(org, thread="softcap-sweep")
    assert first.thread == "softcap-sweep"
    with pytest.raises(BoardError, match="conflicts"):
        post(org, reply_to=first.id, thread="other")
    with pytest.raises(BoardError, match="no message"):
        post(org, reply_to="20200101T000000.000000Z-ada-aaaaaa")


def test_recipients_come_from_config_and_state(org: OrgPaths) -> None:
    with pytest.raises(BoardError, match="unknown recipient 'dave'"):
        post(org, to=["dave"])
    org.org_dir.mkdir(exist_ok=True)
    org.state_file.write_text(json.dumps({"version": 1, "agents": {"dave": {"name": "dave"}}}))
    assert post(org, to=["dave"]).to == ("dave",)
    assert post(org, to=["human", "supervisor", "all"]).to == ("human", "supervisor", "all")
    assert post(org, to=["x1"], known_agents=["x1"]).to == ("x1",)


BAD_POSTS = [
    ({"to": ["nobody"]}, "unknown recipient 'nobody'"),
    ({"to": []}, "no recipient"),
    ({"to": ["../etc"]}, "invalid recipient name"),
    ({"to": ["Bob"]}, "invalid recipient name"),
    ({"sender": "../x"}, "invalid sender"),
    ({"sender": "all"}, "invalid sender"),
    ({"sender": "a\x00b"}, "invalid sender"),
    ({"kind": "gossip"}, "invalid kind 'gossip'"),
    ({"subject": "   "}, "empty subject"),
    ({"subject": "two\nlines"}, "one line"),
    ({"subject": "x" * 201}, "subject too long"),
    ({"body": "x" * (256 * 1024 + 1)}, "body too large"),
    ({"body": "nul\x00byte"}, "NUL"),
    ({"thread": "../../etc/passwd"}, "invalid thread"),
    ({"reply_to": "../secret"}, "invalid --reply-to id"),
    ({"refs": ["bad ref; rm -rf"]}, "invalid ref"),
]


@pytest.mark.parametrize(("override", "message"), BAD_POSTS)
def test_bad_input_is_refused_and_nothing_is_written(
    org: OrgPaths, override: dict[str, object], message: str
) -> None:
    with pytest.raises(BoardError, match=message.replace("(", r"\(")):
        post(org, **override)
    assert board.list_messages(org) == []
    leftovers = list(org.board_dir.iterdir()) if org.board_dir.exists() else []
    assert leftovers == []


def test_body_at_the_limit_is_accepted(org: OrgPaths) -> None:
    sent = post(org, body="x" * (256 * 1024))
    assert len(board.read_message(org, sent.id).body) == 256 * 1024 + 1  # plus final newline


VALID_HEAD = (
    'id = "{id}"\nfrom = "ada"\nto = ["bob"]\nsubject = "s"\nthread = "{id}"\n'
    'kind = "note"\ntime = "2026-11-24T22:15:01.123456Z"\n'
)
MID = "20261124T221501.123456Z-ada-abcdef"

BAD_FILES = [
    ("no front matter at all\n", "does not start with a +++"),
    ("+++\n" + VALID_HEAD.format(id=MID) + "body without closing\n", "not closed"),
    ("+++\nid = \n+++\n", "not valid TOML"),
    (
        "+++\n" + VALID_HEAD.format(id=MID).replace('kind = "note"\n', "") + "+++\n",
        "missing key 'kind'",
    ),
    ("+++\n" + VALID_HEAD.format(id=MID).replace('"note"', '"gossip"') + "+++\n", "kind 'gossip'"),
    (
        "+++\n" + VALID_HEAD.format(id=MID).replace('from = "ada"', 'from = "../x"') + "+++\n",
        "from '../x'",
    ),
    (
        "+++\n" + VALID_HEAD.format(id=MID).replace('to = ["bob"]', 'to = "bob"') + "+++\n",
        "non-empty list",
    ),
    (
        "+++\n" + VALID_HEAD.format(id=MID).replace('to = ["bob"]', 'to = ["B B"]') + "+++\n",
        "recipient 'B B'",
    ),
    (
        "+++\n" + VALID_HEAD.format(id=MID).replace('subject = "s"', 'subject = ""') + "+++\n",
        "subject must be",
    ),
    (
        "+++\n"
        + VALID_HEAD.format(id=MID).replace("2026-11-24T22:15:01.123456Z", "yesterday")
        + "+++\n",
        "time 'yesterday'",
    ),
    (
        "+++\n" + VALID_HEAD.format(id="20261124T221501.123456Z-ada-zzzzzz") + "+++\n",
        "does not match the file name",
    ),
    ("+++\n" + VALID_HEAD.format(id=MID) + 'reply_to = "nope"\n+++\n', "reply_to 'nope'"),
    ("+++\n" + VALID_HEAD.format(id=MID) + "+++\nbody \x00\n", "NUL"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_FILES)
def test_hand_written_bad_file_is_listed_as_malformed(
    org: OrgPaths, text: str, reason: str
) -> None:
    good = post(org)
    bad = org.board_dir / f"{MID}.md"
    bad.write_text(text)
    items = board.list_messages(org)
    assert good in items
    [broken] = [i for i in items if isinstance(i, Malformed)]
    assert broken.path == bad and reason in broken.reason
    assert board.unread(org, "bob") == [good]  # the bad file never breaks an inbox
    with pytest.raises(BoardError, match="malformed"):
        board.read_message(org, MID)


def test_invalid_bytes_and_temp_files(org: OrgPaths) -> None:
    org.board_dir.mkdir(parents=True)
    (org.board_dir / f"{MID}.md").write_bytes(b"+++\n\xff\xfe\n+++\n")
    (org.board_dir / ".half-written.tmp").write_text("+++\nid=")
    (org.board_dir / "notes.txt").write_text("ignored")
    [item] = board.list_messages(org)
    assert isinstance(item, Malformed) and "UTF-8" in item.reason


def test_read_refuses_path_tricks(org: OrgPaths) -> None:
    for bad in ("../org.toml", "..", "/etc/passwd", "x/../../y", MID + "/.."):
        with pytest.raises(BoardError, match="invalid message id"):
            board.read_message(org, bad)


def test_secrets_are_redacted_before_they_reach_disk(
    org: OrgPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-value-123")
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijkl")
    body = (
        "anthropic sk-ant-api03-AbCdEf0123456789_xyz\n"
        "openai sk-proj-AbCdEf0123456789abcd\n"
        "legacy sk-0123456789abcdefghijklmn\n"
        "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload'\n"
        "wandb=wandb-secret-value-123 hf=hf_abcdefghijkl\n"
    )
    sent = post(org, subject="key sk-ant-api03-SUBJECTSECRET000", body=body)
    text = sent.path.read_text()
    for secret in ("sk-ant-api03", "sk-proj-", "sk-0123", "eyJhbGci", "wandb-secret", "hf_abc"):
        assert secret not in text
    assert text.count("[redacted]") == 7
    assert "Bearer [redacted]" in text and sent.subject == "key [redacted]"


def test_all_reaches_everyone_but_the_sender(org: OrgPaths) -> None:
    sent = post(org, to=["all"])
    assert board.unread(org, "bob") == [sent] == board.unread(org, "carol")
    assert board.unread(org, "human") == [sent]
    assert board.unread(org, "ada") == []
    assert board.recipients_of(sent, ["ada", "bob", "carol"]) == ["bob", "carol", "human"]


def test_mark_read_records_ids_and_new_mail_stays_unread(org: OrgPaths) -> None:
    first = post(org, subject="one")
    second = post(org, subject="two")
    assert [m.id for m in board.unread(org, "bob")] == [first.id, second.id]
    assert board.mark_read(org, "bob", [first.id, second.id]) == [first.id, second.id]
    assert board.mark_read(org, "bob", [first.id]) == []  # already read
    assert board.unread(org, "bob") == []
    third = post(org, subject="three")
    assert board.unread(org, "bob") == [third]
    assert [m.id for m in board.inbox(org, "bob", include_read=True)] == [
        first.id,
        second.id,
        third.id,
    ]


def test_late_arrival_with_an_older_id_stays_unread(org: OrgPaths) -> None:
    newer = post(org, subject="newer")
    board.mark_read(org, "bob")
    # Ids taken a second, an hour and a year before the last read one, landing only now.
    for age in (timedelta(seconds=1), timedelta(hours=1), timedelta(days=365)):
        late_id = board.new_id("carol", board.id_time(newer.id) - age)
        late = Message(late_id, "carol", ("bob",), "late", late_id, "note", newer.time, "")
        (org.board_dir / f"{late_id}.md").write_text(board.render(late))
        assert late_id in [m.id for m in board.unread(org, "bob")]
    assert len(board.unread(org, "bob")) == 3


def test_read_one_message_out_of_order_keeps_older_unread(org: OrgPaths) -> None:
    old = post(org, subject="old")
    new = post(org, subject="new")
    board.mark_read(org, "bob", [new.id])
    assert board.unread(org, "bob") == [old]


def test_nudge_due_once_per_message_and_delivery_states(org: OrgPaths) -> None:
    first = post(org, to=["bob"])
    assert board.nudge_due(org, "bob") == [first.id]
    assert board.delivery(org, first, ["ada", "bob"]) == {"bob": "delivered"}
    board.record_nudge(org, "bob", [first.id])
    assert board.nudge_due(org, "bob") == []
    assert board.delivery(org, first, ["ada", "bob"]) == {"bob": "nudged"}
    second = post(org, to=["bob"])
    assert board.nudge_due(org, "bob") == [second.id]
    board.record_nudge(org, "bob", [second.id])
    board.mark_read(org, "bob")
    assert board.delivery(org, first, ["ada", "bob"]) == {"bob": "read"}
    assert board.nudge_due(org, "bob") == []
    assert json.loads((org.agent_dir("bob") / "nudged.json").read_text()) == []


def test_corrupt_tracking_files_count_as_nothing_read(org: OrgPaths) -> None:
    sent = post(org)
    org.agent_dir("bob").mkdir(parents=True)
    (org.agent_dir("bob") / "cursor").write_text("../../garbage")  # an older orgtui's file
    (org.agent_dir("bob") / "read.json").write_text("{not json")
    (org.agent_dir("bob") / "nudged.json").write_text('"x"')
    assert board.unread(org, "bob") == [sent]
    assert board.nudge_due(org, "bob") == [sent.id]


def test_unread_counts_per_agent(org: OrgPaths) -> None:
    post(org, to=["bob"])
    post(org, to=["all"])
    post(org, sender="bob", to=["ada"])
    assert board.unread_counts(org, ["ada", "bob", "carol"]) == {"ada": 1, "bob": 2, "carol": 1}
    board.mark_read(org, "bob")
    assert board.unread_counts(org, ["bob"]) == {"bob": 0}


def test_escape_codes_are_dropped_from_bodies_and_refused_in_subjects(org: OrgPaths) -> None:
    sent = post(org, body="\x1b[31mFAILED\x1b[0m test_x\r\n\x1b]0;pwned\x07done\tok")
    assert sent.body == "FAILED test_x\ndone\tok\n"
    assert board.read_message(org, sent.id).body == sent.body
    with pytest.raises(BoardError, match="control characters"):
        post(org, subject="\x1b[2Jclear")
