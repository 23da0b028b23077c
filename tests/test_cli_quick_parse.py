"""``orgtui [--root DIR] [--socket NAME]`` opens the TUI without building every verb's parser:
the quick parse must read any command line exactly as the whole parser does, or leave it to it."""

from __future__ import annotations

import argparse

from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.cli import build_parser, tui_args

WHOLE = build_parser()
WORDS = ["--root", "--socket", "--root=x", "--socket=", "-h", "--help", "--version", "status"]
WORDS += ["board", "tui", "--", "-", "--rooot", "--r", "-x"]


def whole_parse(argv: list[str]) -> argparse.Namespace | None:
    try:
        return WHOLE.parse_args(argv)
    except SystemExit:  # --help, --version or a mistake: printed, exits
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), max_size=5))
def test_the_quick_parse_agrees_with_the_whole_parser(argv: list[str]) -> None:
    quick = tui_args(argv)
    if quick is None:
        return  # the whole parser reads it, as before
    whole = whole_parse(argv)
    assert whole is not None and whole.verb is None, argv  # the TUI, no verb
    assert vars(quick) == {k: v for k, v in vars(whole).items() if k != "verb"}, argv


def test_the_tui_forms_take_the_quick_path_and_verbs_do_not() -> None:
    assert vars(tui_args([])) == {}
    assert vars(tui_args(["--root", "r", "--socket=s"])) == {"root": "r", "socket": "s"}
    for argv in (["status"], ["--help"], ["--version"], ["--root"], ["--root", "r", "board"]):
        assert tui_args(argv) is None, argv
