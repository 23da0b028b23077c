"""Keeps agents alive: tmux windows, git worktrees, state, the supervise loop, control socket."""
