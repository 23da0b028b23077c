"""``redact``: key shapes and secret env values become a visible marker; ordinary text stays."""

from __future__ import annotations

import pytest

from orgtui.redact import MARKER, redact

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
    text = "use sk-learn? no, scikit-learn. risk-free. task-7 ran; Bearer of news."
    assert redact(text, environ={}) == (text, 0)


def test_redaction_is_idempotent() -> None:
    once, _ = redact("key sk-ant-api03-abcdefghijklmnop", environ={})
    assert redact(once, environ={}) == (once, 0)
