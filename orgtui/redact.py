"""Secret redaction for anything that lands on disk: board messages, logs, captured panes.

Nothing under ``.org/`` may hold an API key, yet agents paste command output into messages
all day. ``redact`` replaces anything shaped like a key (Anthropic, OpenAI, generic ``sk-``
tokens, ``Bearer`` headers) and the literal values of secret-looking environment variables
with a visible ``[redacted]`` marker, so a reader sees that something was removed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

MARKER = "[redacted]"
MIN_SECRET_LENGTH = 8
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")

# Order matters only for readability: every pattern is applied, longest shapes first.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Anthropic: sk-ant-api03-..., sk-ant-admin01-...
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    # OpenAI project / service-account / admin keys, then classic and any other sk- token.
    re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    # HTTP bearer tokens: keep the word, drop the token.
    re.compile(r"(?<=Bearer )[A-Za-z0-9_\-\.=+/~]{8,}", re.IGNORECASE),
)


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of ``*_API_KEY`` / ``*_TOKEN`` / ``*_SECRET`` variables worth hiding, longest first."""
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if name.upper().endswith(SECRET_ENV_SUFFIXES) and len(value) >= MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, *, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """Return ``text`` with secrets replaced by ``[redacted]`` and how many were replaced."""
    count = 0
    for value in secret_env_values(environ):
        hits = text.count(value)
        if hits:
            text = text.replace(value, MARKER)
            count += hits
    for pattern in _PATTERNS:
        text, hits = pattern.subn(MARKER, text)
        count += hits
    return text, count
