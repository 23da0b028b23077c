"""Board verbs: ``post``, ``inbox``, ``read`` and ``board``.

Who is speaking: ``--as NAME``, else ``$ORGTUI_AGENT`` (set in every agent's pane), else
``human`` — the person at the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from orgtui.commands import add_parser, org_root

if TYPE_CHECKING:
    from orgtui.board import Malformed, Message
    from orgtui.paths import OrgPaths

IDENTITY_HELP = "speak as NAME (default: $ORGTUI_AGENT, else 'human')"


def register(subparsers: argparse._SubParsersAction) -> None:
    from_kinds = "note, directive, result, question, standup, handoff, system"

    post = add_parser(subparsers, "post", "post a message to the board")
    post.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="NAME[,NAME]|all",
        help="agents, human, supervisor, or all (everyone but you); repeatable",
    )
    post.add_argument("--subject", "-s", required=True)
    post.add_argument("--kind", "-k", default="note", help=f"one of {from_kinds}")
    post.add_argument("--thread", help="thread id or name (default: a new thread)")
    post.add_argument("--reply-to", metavar="ID", help="reply to a message (joins its thread)")
    post.add_argument(
        "--ref", action="append", default=[], metavar="RUN_OR_COMMIT", help="repeatable"
    )
    post.add_argument("--body", "-b", help="message body (default: read from stdin)")
    post.add_argument("--as", dest="as_", metavar="NAME", help=IDENTITY_HELP)
    post.add_argument("--json", action="store_true", help="print the stored message as JSON")
    post.set_defaults(func=cmd_post)

    inbox = add_parser(subparsers, "inbox", "show your unread messages and mark them read")
    inbox.add_argument("--all", action="store_true", help="include messages already read")
    inbox.add_argument("--peek", action="store_true", help="do not mark anything read")
    inbox.add_argument("--json", action="store_true")
    inbox.add_argument("--as", dest="as_", metavar="NAME", help=IDENTITY_HELP)
    inbox.set_defaults(func=cmd_inbox)

    read = add_parser(subparsers, "read", "show one message (marks it read if it is yours)")
    read.add_argument("id", metavar="ID")
    read.add_argument("--json", action="store_true")
    read.add_argument("--peek", action="store_true", help="do not mark it read")
    read.add_argument("--as", dest="as_", metavar="NAME", help=IDENTITY_HELP)
    read.set_defaults(func=cmd_read)

    board = add_parser(subparsers, "board", "list the whole board (malformed files included)")
    board.add_argument("--thread", help="only this thread")
    board.add_argument("--from", dest="sender", metavar="NAME", help="only from NAME")
    board.add_argument("--kind", help="only this kind")
    board.add_argument("--json", action="store_true")
    board.set_defaults(func=cmd_board)


def identity(args: argparse.Namespace) -> str:
    from orgtui.board import BoardError
    from orgtui.names import is_valid_name

    name = getattr(args, "as_", None) or os.environ.get("ORGTUI_AGENT") or "human"
    if not is_valid_name(name) or name == "all":
        raise BoardError(
            f"invalid identity {name!r} (from --as or ORGTUI_AGENT): use an agent name "
            "(lowercase letters, digits, '-', '_') or human"
        )
    return name


def _paths(args: argparse.Namespace) -> OrgPaths:
    from orgtui.paths import OrgPaths

    return OrgPaths(org_root(args))


def message_json(message: Message, **extra: Any) -> dict[str, Any]:
    return {
        "id": message.id,
        "from": message.sender,
        "to": list(message.to),
        "subject": message.subject,
        "thread": message.thread,
        "kind": message.kind,
        "time": message.time,
        "reply_to": message.reply_to,
        "refs": list(message.refs),
        "body": message.body,
        "path": str(message.path) if message.path else None,
        **extra,
    }


def malformed_json(item: Malformed) -> dict[str, Any]:
    return {"malformed": True, "id": item.id, "path": str(item.path), "reason": item.reason}


def format_message(message: Message) -> str:
    """Plain-text view; escape codes in a hand-written file are dropped, not replayed."""
    from orgtui.board import clean_body

    lines = [
        f"── {message.id}",
        f"from: {message.sender}   to: {', '.join(message.to)}   kind: {message.kind}",
        f"subject: {message.subject}",
    ]
    if message.thread != message.id:
        lines.append(f"thread: {message.thread}")
    if message.reply_to:
        lines.append(f"reply to: {message.reply_to}")
    if message.refs:
        lines.append(f"refs: {', '.join(message.refs)}")
    body = message.body.rstrip("\n")
    if body:
        lines += ["", body]
    return clean_body("\n".join(lines)) + "\n"


def cmd_post(args: argparse.Namespace) -> int:
    paths = _paths(args)
    sender = identity(args)
    body = args.body if args.body is not None else _stdin_body()
    recipients = [name for value in args.to for name in value.split(",")]
    message, hidden = post_as(
        paths,
        sender,
        to=recipients,
        subject=args.subject,
        body=body,
        kind=args.kind,
        thread=args.thread,
        reply_to=args.reply_to,
        refs=args.ref,
    )
    if hidden:
        print(f"orgtui: redacted {hidden} secret(s) before posting", file=sys.stderr)
    if args.json:
        print(json.dumps(message_json(message)))
    else:
        print(message.id)
    return 0


def post_as(paths: OrgPaths, sender: str, **fields: Any) -> tuple[Message, int]:
    """Post as ``sender`` (``board.post``'s fields) and say how many secrets were redacted.

    ``orgtui post`` and the ``post`` tool both come here, so a refusal reads the same.
    """
    from orgtui import board
    from orgtui.redact import redact

    _, hidden = redact(fields["subject"] + "\n" + fields["body"])
    names, problem = known_agents(paths)
    try:
        message = board.post(paths, sender=sender, known_agents=names, **fields)
    except board.BoardError as error:
        if problem and str(error).startswith("unknown recipient"):
            raise board.BoardError(f"{error} (org.toml did not load: {problem})") from None
        raise
    return message, hidden


def known_agents(paths: OrgPaths) -> tuple[list[str], str | None]:
    """Agent names from the org's config, and why not when org.toml does not load.

    A broken org.toml does not stop the board: runtime seats (state.json) and the reserved
    names still work, and a refusal says what is wrong with the file.
    """
    from orgtui.config import load_config
    from orgtui.errors import OrgtuiError

    try:
        return list(load_config(paths.root).agent_names), None
    except (OrgtuiError, OSError) as error:
        return [], str(error)


def _stdin_body() -> str:
    """The body piped on stdin, at most a little over the size limit; bad UTF-8 becomes U+FFFD."""
    from orgtui.board import MAX_BODY_BYTES, BoardError

    if sys.stdin is None or sys.stdin.isatty():
        raise BoardError("no body: pass --body TEXT or pipe the body on stdin")
    cap = 4 * MAX_BODY_BYTES  # escape codes and CRLF are dropped before the real check
    raw = getattr(sys.stdin, "buffer", None)
    data = raw.read(cap + 1) if raw is not None else sys.stdin.read(cap + 1)
    if len(data) > cap:
        raise BoardError(
            f"body too large (over {cap} bytes on stdin): attach a file path or run id with --ref"
        )
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def cmd_inbox(args: argparse.Namespace) -> int:
    from orgtui import board

    paths = _paths(args)
    agent = identity(args)
    state = board.read_state(paths, agent)
    shown = board.inbox(paths, agent, include_read=args.all)
    fresh = [m.id for m in shown if not state.is_read(m)]
    if args.json:
        items = [message_json(m, read=state.is_read(m)) for m in shown]
        print(json.dumps({"agent": agent, "unread": len(fresh), "messages": items}))
    elif not shown:
        print(f"{agent}: no {'messages' if args.all else 'unread messages'}")
    else:
        for message in shown:
            mark = "" if state.is_read(message) else " (new)"
            print(format_message(message).replace("\n", f"{mark}\n", 1))
    if fresh and not args.peek:
        sys.stdout.flush()  # a reader that went away (`| head`) leaves the mail unread
        board.mark_read(paths, agent, fresh)
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    from orgtui import board

    paths = _paths(args)
    agent = identity(args)
    message = board.read_message(paths, args.id)
    if args.json:
        print(json.dumps(message_json(message)))
    else:
        print(format_message(message), end="")
    if message.addressed_to(agent) and not args.peek:
        board.mark_read(paths, agent, [message.id])
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    from orgtui import board

    selected, table = select(_paths(args), args.thread, args.sender, args.kind)
    if args.json:
        out = [
            message_json(item, delivery=table[item.id])
            if isinstance(item, board.Message)
            else malformed_json(item)
            for item in selected
        ]
        print(json.dumps(out))
        return 0
    if sys.stdout.isatty():
        _print_rich(selected, table)
        return 0
    for item in selected:
        print(plain_line(item, table))
    return 0


def select(
    paths: OrgPaths,
    thread: str | None = None,
    sender: str | None = None,
    kind: str | None = None,
) -> tuple[list[Message | Malformed], dict[str, dict[str, str]]]:
    """The board's items that pass the filters (malformed files only unfiltered), and each
    message's delivery marks."""
    from orgtui import board

    if kind is not None and kind not in board.KINDS:
        raise board.BoardError(f"invalid --kind {kind!r}: use one of {', '.join(board.KINDS)}")
    items = board.list_messages(paths)
    filtering = thread or sender or kind
    selected: list[Message | Malformed] = []
    for item in items:
        if isinstance(item, board.Message):
            if thread and item.thread != thread:
                continue
            if sender and item.sender != sender:
                continue
            if kind and item.kind != kind:
                continue
        elif filtering:
            continue
        selected.append(item)
    agents = sorted(board.known_recipients(paths, known_agents(paths)[0]))
    table = board.delivery_table(
        paths, [i for i in selected if isinstance(i, board.Message)], agents
    )
    return selected, table


def plain_line(item: Message | Malformed, table: dict[str, dict[str, str]]) -> str:
    """One board item as ``orgtui board`` prints it into a pipe."""
    from orgtui import board

    if not isinstance(item, board.Message):
        return f"{item.path.name}  MALFORMED: {item.reason}"
    marks = " ".join(f"{name}:{state}" for name, state in table[item.id].items())
    return (
        f"{item.id}  {item.kind:<9} {item.sender} -> {','.join(item.to)}  {item.subject}  [{marks}]"
    )


def board_lines(paths: OrgPaths, thread: str | None = None) -> list[str]:
    """The board (or one thread) as plain lines, oldest first: the ``board`` tool's view."""
    selected, table = select(paths, thread)
    return [plain_line(item, table) for item in selected]


def _print_rich(items: list[Message | Malformed], table_rows: dict[str, dict[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from orgtui import board

    table = Table(title=f"board ({len(items)})", expand=True)
    for column in ("time", "kind", "from", "to", "subject", "delivery"):
        table.add_column(column, overflow="fold")
    for item in items:
        if isinstance(item, board.Message):
            status = table_rows[item.id]
            table.add_row(
                item.time[:19].replace("T", " "),
                item.kind,
                item.sender,
                ", ".join(item.to),
                Text(item.subject),
                " ".join(f"{name}:{state}" for name, state in status.items()),
            )
        else:
            table.add_row(
                "", Text("malformed", "red"), "", "", Text(item.path.name), Text(item.reason, "red")
            )
    Console().print(table)
