"""Names of agents, variants, roles and threads: the one rule that keeps them safe as paths.

``[a-z0-9][a-z0-9_-]*`` means no ``/``, no ``..``, no NUL and no leading dot, so a name can
become a file name, a tmux window name or a git branch component without escaping.
"""

from __future__ import annotations

import re

from orgtui.errors import NameError_

NAME_PATTERN = r"[a-z0-9][a-z0-9_-]*"
NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
MAX_NAME_LENGTH = 64


def is_valid_name(value: object) -> bool:
    """True when ``value`` is a string usable as an agent/variant/role name."""
    return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and bool(NAME_RE.match(value))


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid name, else raise with the rule spelled out."""
    if not is_valid_name(value):
        raise NameError_(
            f"invalid {what} {value!r}: use lowercase letters, digits, '-' and '_', "
            f"starting with a letter or digit, at most {MAX_NAME_LENGTH} characters"
        )
    return value  # type: ignore[return-value]
