"""orgtui: program and run a research organisation of AI agents from one terminal screen."""

__version__ = "0.1.0"
