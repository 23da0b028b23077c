"""The builtin agent's org and clean model environment, shared with tests/agent."""

from __future__ import annotations

from tests.agent.conftest import clean_env, org

__all__ = ["clean_env", "org"]
