"""Secret redaction for anything that lands on disk: board messages, logs, captured panes.

Nothing under ``.org/`` may hold an API key, yet agents paste command output into messages
all day. ``redact`` replaces anything shaped like a key (Anthropic, OpenAI and any other
``sk-`` token, ``Bearer`` headers, ``*_API_KEY=VALUE`` assignments) and the literal values of
secret-looking environment variables with a visible ``[redacted]`` marker, so a reader sees
that something was removed. ``redact_command`` does the same for a stored command line, where
``--api-key VALUE`` is a secret by position.

Keys are matched the way a hostile copy would carry them: of any length after ``sk-``, with
zero-width characters inside (they are invisible, so they survive a copy and paste), and
wrapped over a line break. Over-redacting a word costs little; a half-redacted key is a leak.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence

MARKER = "[redacted]"
MIN_SECRET_LENGTH = 8
"""Literal values shorter than this are not hunted through text: "abc" would hit every word."""
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")
SECRET_OPTION_SUFFIXES = ("api-key", "apikey", "token", "secret", "password", "passwd")
"""A command-line option whose name ends so (``--api-key``, ``--hf-token``) takes a secret."""
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"

_GAP = rf"(?:[{ZERO_WIDTH}]|\r?\n)*"
_KEY_CHAR = rf"[A-Za-z0-9_\-{ZERO_WIDTH}]"
# A line break continues a key when the next line goes on with key characters and that run
# is not itself the start of an assignment (``hf=...``, ``loss: ...``).
_WRAP = rf"\r?\n(?={_KEY_CHAR}++(?![=:]))"
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # HTTP bearer tokens: keep the word, drop the token. First: a wrapped key below may take
    # the word "Bearer" on the next line as its own continuation.
    re.compile(rf"(?<=Bearer )[A-Za-z0-9_\-\.=+/~{ZERO_WIDTH}]{{8,}}", re.IGNORECASE),
    # Every sk- token that starts a word: sk-ant-api03-..., sk-proj-..., sk-or-v1-..., sk-x.
    re.compile(rf"\bs{_GAP}k{_GAP}-(?:{_KEY_CHAR}|{_WRAP})+"),
    # Provider keys even glued to a word before them ("keysk-ant-..."): no English word has these.
    re.compile(rf"sk-(?:ant|proj|svcacct|admin)-(?:{_KEY_CHAR}|{_WRAP})+"),
)
_ASSIGNMENT = re.compile(
    rf"\b([A-Za-z0-9_]*(?:{'|'.join(SECRET_ENV_SUFFIXES)})=)(?!{re.escape(MARKER)})(\S+)"
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


@functools.lru_cache(maxsize=256)
def _literal(value: str) -> re.Pattern[str]:
    """``value`` with zero-width characters or a line break allowed between any two of its."""
    return re.compile(_GAP.join(re.escape(char) for char in value))


_KEY_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-" + ZERO_WIDTH
)
_TAIL = re.compile(rf"(?:{_KEY_CHAR}|{_WRAP})*")


def _absorb_remnants(text: str) -> str:
    """Key characters glued to a marker, or wrapped onto the next line after it, are the rest
    of what was hidden (a value glued to a key's shape, a value split across lines).

    Walked from each marker outwards, so a long run of letters costs linear time, not the
    quadratic backtracking of one regex anchored nowhere.
    """
    out: list[str] = []
    done = 0
    start = text.find(MARKER)
    while start >= 0:
        left = start
        while left > done and text[left - 1] in _KEY_CHARS:
            left -= 1
        tail = _TAIL.match(text, start + len(MARKER))
        end = tail.end() if tail else start + len(MARKER)
        out += [text[done:left], MARKER]
        done = end
        start = text.find(MARKER, end)
    return "".join(out) + text[done:]


def redact(
    text: str, *, environ: Mapping[str, str] | None = None, secrets: Iterable[str] = ()
) -> tuple[str, int]:
    """Return ``text`` with secrets replaced by ``[redacted]`` and how many were replaced.

    ``secrets`` are further literal values to hide (those given on a command line).
    """
    count = 0
    values = {v for v in secrets if len(v) >= MIN_SECRET_LENGTH} | set(secret_env_values(environ))
    for value in sorted(values, key=len, reverse=True):
        text, hits = _literal(value).subn(MARKER, text)
        count += hits
    for pattern in _PATTERNS:
        text, hits = pattern.subn(MARKER, text)
        count += hits
    text, hits = _ASSIGNMENT.subn(
        lambda m: m.group(1) + MARKER, text
    )  # after the shapes: \S+ is greedy
    text = _absorb_remnants(text)
    return text, count + hits


def _secret_option(arg: str) -> bool:
    name = arg.lower().replace("_", "-")
    return name.startswith("-") and name.lstrip("-").endswith(SECRET_OPTION_SUFFIXES)


def command_secrets(argv: Sequence[str]) -> list[str]:
    """The values a command line passes as secrets: ``--api-key V``, ``--token=V``, ``X_TOKEN=V``."""
    found = []
    for index, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if eq and (_secret_option(name) or name.upper().endswith(SECRET_ENV_SUFFIXES)):
            found.append(value)
        elif _secret_option(arg) and index + 1 < len(argv):
            found.append(argv[index + 1])
    return [value for value in found if value]


def redact_command(argv: Sequence[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    """``argv`` fit to store: secret option values by position, then every key by shape."""
    out = []
    after_option = False
    for arg in argv:
        name, eq, _value = arg.partition("=")
        if after_option:
            arg = MARKER
        elif eq and (_secret_option(name) or name.upper().endswith(SECRET_ENV_SUFFIXES)):
            arg = f"{name}={MARKER}"
        after_option = not eq and _secret_option(arg)
        out.append(redact(arg, environ=environ)[0])
    return out
