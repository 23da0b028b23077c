"""orgtui's own agents: the builtin tool-use loop and the scripted playbook runner.

The model SDKs are imported only in ``providers``; everything else here is light so that
``orgtui play`` starts fast.
"""
