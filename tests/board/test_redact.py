"""``redact``: key shapes and secret env values become a visible marker; ordinary text stays."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.redact import MARKER, ZERO_WIDTH, command_secrets, redact, redact_command

SECRETS = [
    "sk-ant-api03-abcDEF123_-xyzxyzxyzxyz",
    "sk-ant-admin01-abcdefghijklmnop",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
    "sk-svcacct-abcdefghijklmnop",
    "sk-abcdefghijklmnopqrstuvwxyz012345",
    "sk-or-v1-0123456789abcdef0123456789",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_key_shapes_are_redacted(secret: str) -> None:
    text, count = redact(f"export KEY={secret} # do not share", environ={})
    assert secret not in text and MARKER in text and count == 1
    assert text.startswith("export KEY=") and text.endswith(" # do not share")


def test_bearer_token_keeps_the_word() -> None:
    text, count = redact("Authorization: Bearer abc.def-GHI_jkl=", environ={})
    assert text == f"Authorization: Bearer {MARKER}" and count == 1


def test_secret_env_values_are_redacted_by_name_suffix() -> None:
    env = {
        "WANDB_API_KEY": "0123456789abcdef",
        "GITHUB_TOKEN": "ghp_AAAABBBBCCCC",
        "MY_SECRET": "hunter2hunter2",
        "SHORT_TOKEN": "abc",  # too short to redact safely
        "HOME": "/root/not-a-secret",
    }
    text, count = redact(
        "w=0123456789abcdef g=ghp_AAAABBBBCCCC s=hunter2hunter2 x=abc h=/root/not-a-secret",
        environ=env,
    )
    assert text == f"w={MARKER} g={MARKER} s={MARKER} x=abc h=/root/not-a-secret"
    assert count == 3


def test_ordinary_text_is_untouched() -> None:
    text = "use scikit-learn. risk-free. task-7 ran; desk-lamp; Bearer of news. MY_TOKEN is set"
    assert redact(text, environ={}) == (text, 0)


@pytest.mark.parametrize("body", ["a", "AB", "abc1234", "x" * 7, "-_-"])
def test_sk_tokens_of_any_length_are_redacted(body: str) -> None:
    # "sk-learn" goes too: a hidden word costs less than a short key left in the open.
    text, count = redact(f"key: sk-{body} (and sk-ant-{body})", environ={})
    assert text == f"key: {MARKER} (and {MARKER})" and count == 2


def test_redaction_is_idempotent() -> None:
    once, _ = redact("key sk-ant-api03-abcdefghijklmnop", environ={})
    assert redact(once, environ={}) == (once, 0)


@pytest.mark.parametrize("gap", [*ZERO_WIDTH, "\n", "\r\n", "\u200b\n\u200b"])
def test_a_key_split_by_an_invisible_character_or_a_line_break_goes_whole(gap: str) -> None:
    key = "sk-ant-api03-ABCDEFGH12345678"
    for cut in (1, 2, 3, 8, 14, 20, len(key) - 1):
        text, _ = redact(f"key={key[:cut]}{gap}{key[cut:]} done", environ={})
        assert text == f"key={MARKER} done", (cut, text)
    env = {"HF_TOKEN": "hf_ABCDEFGH1234"}
    text, _ = redact(f"t=hf_ABCD{gap}EFGH1234.", environ=env)
    assert text == f"t={MARKER}."


def test_env_like_assignments_lose_their_value() -> None:
    text, count = redact("run OPENAI_API_KEY=abc HF_TOKEN=x1 python t.py", environ={})
    assert text == f"run OPENAI_API_KEY={MARKER} HF_TOKEN={MARKER} python t.py" and count == 2


@pytest.mark.parametrize(
    ("argv", "stored", "secrets"),
    [
        (["t", "--api-key", "abc"], ["t", "--api-key", MARKER], ["abc"]),
        (["t", "--api_key=abc"], ["t", f"--api_key={MARKER}"], ["abc"]),
        (["t", "--HF-TOKEN", "abc"], ["t", "--HF-TOKEN", MARKER], ["abc"]),
        (["t", "--password", "p", "-v"], ["t", "--password", MARKER, "-v"], ["p"]),
        (["env", "X_API_KEY=abc", "t"], ["env", f"X_API_KEY={MARKER}", "t"], ["abc"]),
        (["t", "--max-tokens", "100"], ["t", "--max-tokens", "100"], []),
        (["t", "sk-a"], ["t", MARKER], []),
        (["t", "--token"], ["t", "--token"], []),
    ],
)
def test_stored_command_lines(argv: list[str], stored: list[str], secrets: list[str]) -> None:
    assert redact_command(argv, environ={}) == stored
    assert command_secrets(argv) == secrets


# -- fuzz: planted keys in random text ----------------------------------------------------------

# Surrounding text has no capital letters or digits; every key body has only those, so any
# capital or digit left after redaction is a piece of a key that survived.
TEXT = st.text(alphabet=string.ascii_lowercase + " .,;!?()\n\t'\"", max_size=40)
BODY = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=48)
PREFIXES = ["sk-", "sk-ant-api-", "sk-proj-", "sk-or-v-", "sk-ant-admin-"]


@st.composite
def split(draw: st.DrawFn, secret: str) -> str:
    """``secret`` with zero-width characters and at most one line break put inside it."""
    out = list(secret)
    for _ in range(draw(st.integers(0, 4))):
        out.insert(draw(st.integers(1, len(out))), draw(st.sampled_from(ZERO_WIDTH)))
    if draw(st.booleans()):
        out.insert(draw(st.integers(1, len(out))), draw(st.sampled_from(["\n", "\r\n"])))
    return "".join(out)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    parts, env = [], {}
    for _ in range(draw(st.integers(1, 4))):
        parts.append(draw(TEXT))
        kind = draw(st.sampled_from(["key", "env", "assignment", "bearer"]))
        body = draw(BODY)
        if kind == "key":
            secret = draw(st.sampled_from(PREFIXES)) + body
        elif kind == "env":
            body = body + draw(BODY.filter(lambda b: len(b) >= 8))
            env[f"V{len(env)}_API_KEY"] = secret = body
        elif kind == "assignment":
            parts.append(f"X_TOKEN={body}")
            secret = ""
        else:
            parts.append(f"Bearer {body}{draw(BODY.filter(lambda b: len(b) >= 8))}")
            secret = ""
        if secret:  # a key starts a word: "risk-free" and "task-7" are no keys
            parts.append(draw(st.sampled_from([" ", "\n", "=", "'", "(", ": "])))
            parts.append(draw(split(secret)))
        parts.append(draw(st.sampled_from([" ", "\n", ", ", ".", "'", ")"])))
    return "".join(parts), env


@settings(max_examples=400, deadline=None)
@given(case=planted())
def test_no_planted_key_survives(case: tuple[str, dict[str, str]]) -> None:
    text, env = case
    clean, _ = redact(text, environ=env)
    names = clean.replace("X_TOKEN=", "").replace("Bearer ", "")  # capitals of our own
    left = [c for c in names if c in string.ascii_uppercase + string.digits]
    assert not left, (text, clean)
    assert redact(clean, environ=env) == (clean, 0)
