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
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        return False
    return NAME_RE.fullmatch(value) is not None  # fullmatch: "$" alone lets "ada\n" through


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid name, else raise with the rule spelled out."""
    if not is_valid_name(value):
        raise NameError_(
            f"invalid {what} {value!r}: use lowercase letters, digits, '-' and '_', "
            f"starting with a letter or digit, at most {MAX_NAME_LENGTH} characters"
        )
    return value  # type: ignore[return-value]


RESERVED_AGENT_NAMES = {
    "supervisor": "orgtui's own tmux window",
    "all": "the board's address for everyone",
    "human": "the board's address for the person",
}
WALL_PREFIX = "wall-"


def check_agent_name(value: object) -> str:
    """``check_name`` for an agent, refusing the names the board and tmux already use."""
    name = check_name(value, "agent name")
    if name in RESERVED_AGENT_NAMES:
        raise NameError_(f"agent name {name!r} is reserved ({RESERVED_AGENT_NAMES[name]})")
    if name.startswith(WALL_PREFIX):
        raise NameError_(f"agent name {name!r}: names starting {WALL_PREFIX!r} are grid walls")
    return name
