"""Fallback state detection from what a CLI shows in its pane.

Used only when the agent's own hooks have not written a fresh ``status.json`` (hooks not
installed, an old CLI, a crashed hook). Each detector looks at the bottom of the captured
pane, where both CLIs draw their status line and prompt, and answers ``working``,
``waiting`` (a permission or choice dialog needs the person), ``idle`` or None (unknown).
Waiting is checked first: a dialog can sit above a stale spinner line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

TAIL_LINES = 25

_CLAUDE_WAITING = re.compile(
    r"Do you want to (proceed|make this edit|create|allow)|"
    r"❯\s*1\.\s*Yes|Yes, and don't ask again|No, and tell Claude what to do differently|"
    r"Enter to confirm · Esc to cancel|Esc to cancel · Tab to amend",
)
_CLAUDE_WORKING = re.compile(r"esc to interrupt", re.IGNORECASE)
_CLAUDE_IDLE = re.compile(r"^\s*[│|]?\s*>\s|\? for shortcuts|^\s*❯\s*$", re.MULTILINE)

_CODEX_WAITING = re.compile(
    r"Would you like to (run|make|apply)|Allow command\?|Yes, proceed|"
    r"Press enter to confirm|approve this",
    re.IGNORECASE,
)
_CODEX_WORKING = re.compile(r"(Working|Thinking)\s*\(.*esc to interrupt|esc to interrupt")
_CODEX_IDLE = re.compile(r"^\s*›\s|⏎ send|context left|\? for shortcuts", re.MULTILINE)


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])


def _detect(
    text: str, waiting: re.Pattern[str], working: re.Pattern[str], idle: re.Pattern[str]
) -> str | None:
    tail = _tail(text)
    if waiting.search(tail):
        return "waiting"
    if working.search(tail):
        return "working"
    if idle.search(tail):
        return "idle"
    return None


def detect_claude(text: str) -> str | None:
    return _detect(text, _CLAUDE_WAITING, _CLAUDE_WORKING, _CLAUDE_IDLE)


def detect_codex(text: str) -> str | None:
    return _detect(text, _CODEX_WAITING, _CODEX_WORKING, _CODEX_IDLE)


DETECTORS: dict[str, Callable[[str], str | None]] = {
    "claude": detect_claude,
    "codex": detect_codex,
}


def detect(backend: str, pane_text: str) -> str | None:
    """The state ``pane_text`` shows for ``backend``, or None when unknown or no detector."""
    detector = DETECTORS.get(backend)
    return detector(pane_text) if detector else None


ACTIVE_STATES = frozenset({"working", "waiting", "idle"})
HOOK_STATES: dict[str, frozenset[str]] = {
    "claude": ACTIVE_STATES,
    "codex": ACTIVE_STATES,
}
"""The states each CLI reports itself through its hooks. A backend missing some (say a CLI
with only a turn-finished notification) gets the others read from its pane."""


def wants_pane(backend: str, reported: str | None) -> bool:
    """Whether the pane must be read: a detector exists and the hooks leave a gap."""
    if backend not in DETECTORS:
        return False
    return reported is None or not HOOK_STATES.get(backend, frozenset()) >= ACTIVE_STATES


def resolve(backend: str, reported: str | None, pane_text: str) -> str | None:
    """The seat's state from its fresh hook report (None when stale or absent) and its pane.

    A fresh report wins for the states the backend's hooks cover; the pane fills in the
    rest (Codex working or waiting for approval) and stands in when there is no report.
    """
    seen = detect(backend, pane_text)
    if reported is None:
        return seen
    if seen is not None and seen not in HOOK_STATES.get(backend, frozenset()):
        return seen
    return reported
