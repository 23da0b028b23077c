"""The org's message board: one Markdown file per message in ``.org/board/``.

- ``message``: the ``Message``/``Malformed`` records, ids, the TOML front-matter format and
  its validation.
- ``store``: atomic files in ``.org/board/``; post, list, load, the parse cache.
- ``receipts``: what each reader has read (a set of ids, no sender's clock involved).
- ``delivery``: who has unread mail, delivery states, and the nudge line.

``from orgtui import board; board.post(...)`` is the API the rest of orgtui uses.
"""

from __future__ import annotations

from orgtui.board.delivery import (
    delivery,
    delivery_table,
    inbox,
    nudge_due,
    nudge_line,
    recipients_of,
    record_nudge,
    unread,
    unread_counts,
)
from orgtui.board.message import (
    KINDS,
    MAX_BODY_BYTES,
    RESERVED,
    BoardError,
    Malformed,
    Message,
    check_id,
    clean_body,
    id_time,
    is_valid_id,
    is_valid_thread,
    new_id,
    parse,
    render,
)
from orgtui.board.receipts import ReadState, mark_read, read_state
from orgtui.board.store import (
    known_recipients,
    list_messages,
    load,
    messages,
    post,
    read_message,
    thread_of,
)

__all__ = [
    "KINDS",
    "MAX_BODY_BYTES",
    "RESERVED",
    "BoardError",
    "Malformed",
    "Message",
    "ReadState",
    "check_id",
    "clean_body",
    "delivery",
    "delivery_table",
    "id_time",
    "inbox",
    "is_valid_id",
    "is_valid_thread",
    "known_recipients",
    "list_messages",
    "load",
    "mark_read",
    "messages",
    "new_id",
    "nudge_due",
    "nudge_line",
    "parse",
    "post",
    "read_message",
    "read_state",
    "recipients_of",
    "record_nudge",
    "render",
    "thread_of",
    "unread",
    "unread_counts",
]
