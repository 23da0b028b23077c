"""nanochat: a compact, readable GPT pretraining stack for the org to research.

Standalone on purpose: nothing here imports orgtui. Entry point: `python -m nanochat.train`.
"""
