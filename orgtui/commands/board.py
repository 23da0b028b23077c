"""Verbs of this area (filled in by the issue that owns it)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """No verbs yet."""
