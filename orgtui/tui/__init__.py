"""The Textual app: a view over ``.org/`` and a sender of control-socket commands."""
