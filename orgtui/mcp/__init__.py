"""The org's verbs as typed tools: one table (``tools``) for the MCP server and the builtin agent.

Importing this package is cheap: the SDK and the org's modules load only when a tool runs
or the server starts (``orgtui.mcp.server``).
"""
