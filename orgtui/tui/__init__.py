"""The Textual app: a view over ``orgtui.snapshot``; every change goes through ``supervisor.verbs``."""
