"""Screens of the TUI: main, board, ledger, agent, GPUs, help and dialogs."""
