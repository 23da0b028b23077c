"""The org's tools: one table of typed definitions, the single source of truth.

``orgtui mcp`` serves these to Claude Code and Codex; the builtin agent offers the same
ones. Each tool is the CLI verb's own core called with the seat's identity: the seat
(``ORGTUI_AGENT``) is the sender of posts and the owner of runs. Arguments are checked
against the tool's JSON schema here, so every front end refuses a bad call with the same
message; a refusal is a ``ToolError`` (or the verb's own ``OrgtuiError``) that says what to
change. Only the standard library is imported at the top: a server lists these tools
before any org module loads.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orgtui.errors import OrgtuiError

if TYPE_CHECKING:
    from orgtui.paths import OrgPaths

SUBJECT_FROM_BODY_CHARS = 80
"""A post without a subject takes its body's first line, cut to this length."""
BOARD_LIMIT = 30
OUTPUT_CAP = 20_000


class ToolError(OrgtuiError):
    """A tool call that cannot be done as asked; the message says what to change."""


@dataclass(frozen=True)
class Seat:
    """Who calls a tool, and where: the agent's name, the org root and its work tree."""

    agent: str
    root: Path
    cwd: Path

    @classmethod
    def from_env(cls, root: str | None = None, cwd: Path | None = None) -> Seat:
        """The seat of this process: ``ORGTUI_AGENT`` (else ``human``) and the org root
        ``root``, else ``ORGTUI_ROOT``, else the nearest org.toml above the work tree."""
        from orgtui.names import is_valid_name
        from orgtui.paths import find_root

        here = cwd or Path.cwd()
        agent = os.environ.get("ORGTUI_AGENT") or "human"
        if not is_valid_name(agent) or agent == "all":
            raise ToolError(
                f"ORGTUI_AGENT={agent!r} is not an agent name: the seat's launch sets it "
                "(lowercase letters, digits, '-', '_')"
            )
        return cls(agent, find_root(root, start=here), here)

    @property
    def paths(self) -> OrgPaths:
        from orgtui.paths import OrgPaths

        return OrgPaths(self.root)


Run = Callable[[Seat, dict[str, Any]], str]


@dataclass(frozen=True)
class OrgTool:
    """One tool: its name, what a model reads about it, its JSON schema, and its body."""

    name: str
    description: str
    schema: dict[str, Any]
    run: Run


# -- schemas ---------------------------------------------------------------------------------


def _string(description: str, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _integer(description: str, low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "description": description, "minimum": low, "maximum": high}


def _number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description, "exclusiveMinimum": 0}


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _object(required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# -- argument checks -------------------------------------------------------------------------


def check_arguments(tool: OrgTool, arguments: object) -> dict[str, Any]:
    """``arguments`` as the tool's schema allows them, ``null`` optionals dropped.

    Raises:
        ToolError: naming the argument, what was wrong and what the tool takes.
    """
    if not isinstance(arguments, dict):
        raise ToolError(f"{tool.name}: arguments must be a JSON object")
    properties: dict[str, dict[str, Any]] = tool.schema["properties"]
    takes = ", ".join(properties) or "no arguments"
    checked: dict[str, Any] = {}
    for key, value in arguments.items():
        if key not in properties:
            raise ToolError(f"{tool.name}: unknown argument {str(key)[:60]!r}; it takes {takes}")
        if value is not None:
            checked[key] = _check_value(f"{tool.name}: argument {key!r}", properties[key], value)
    for key in tool.schema["required"]:
        if key not in checked:
            raise ToolError(
                f"{tool.name}: missing required argument {key!r} "
                f"({properties[key]['description']}); it takes {takes}"
            )
    return checked


def _check_value(where: str, schema: dict[str, Any], value: Any) -> Any:
    if "anyOf" in schema:
        problems = []
        for option in schema["anyOf"]:
            try:
                return _check_value(where, option, value)
            except ToolError as error:
                problems.append(str(error).removeprefix(f"{where} "))
        raise ToolError(f"{where} {' or '.join(problems)}")
    kind = schema["type"]
    if kind == "string":
        return _check_string(where, schema, value)
    if kind == "integer":
        return _check_integer(where, schema, value)
    if kind == "number":
        return _check_number(where, schema, value)
    if kind == "array":
        if not isinstance(value, list):
            raise ToolError(f"{where} must be a list of strings")
        return [_check_string(f"{where}[{i}]", schema["items"], v) for i, v in enumerate(value)]
    raise AssertionError(f"schema type {kind!r} is not checked")  # the table's own bug


def _check_string(where: str, schema: dict[str, Any], value: Any) -> str:
    if not isinstance(value, str):
        raise ToolError(f"{where} must be a string")
    if "\x00" in value:
        raise ToolError(f"{where} contains a NUL character: remove it")
    limit = schema.get("maxLength")
    if limit is not None and len(value) > limit:
        raise ToolError(f"{where} is too long ({len(value)} > {limit} characters)")
    return value


def _check_integer(where: str, schema: dict[str, Any], value: Any) -> int:
    whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if isinstance(value, bool) or not (isinstance(value, int) or whole):
        raise ToolError(f"{where} must be a whole number (got {str(value)[:40]})")
    number = int(value)
    low, high = schema["minimum"], schema["maximum"]
    if not low <= number <= high:
        raise ToolError(f"{where} must be between {low} and {high} (got {number})")
    return number


def _check_number(where: str, schema: dict[str, Any], value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"{where} must be a number (e.g. 2e13)")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number <= schema["exclusiveMinimum"]:
        raise ToolError(f"{where} must be a finite number above {schema['exclusiveMinimum']}")
    return number


def _cap(text: str) -> str:
    if len(text) <= OUTPUT_CAP:
        return text
    cut = len(text) - OUTPUT_CAP
    return f"{text[: OUTPUT_CAP // 2]}\n... [{cut} characters cut] ...\n{text[-OUTPUT_CAP // 2 :]}"


# -- the board -------------------------------------------------------------------------------


def _subject_of(body: str) -> str:
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    if not first:
        raise ToolError("post: give a subject, or a body whose first line can be the subject")
    if len(first) <= SUBJECT_FROM_BODY_CHARS:
        return first
    return first[: SUBJECT_FROM_BODY_CHARS - 1].rstrip() + "…"


def post(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.commands.board import post_as

    body = args["body"]
    message, hidden = post_as(
        seat.paths,
        seat.agent,
        to=[name.strip() for name in args["to"].split(",") if name.strip()],
        subject=args.get("subject") or _subject_of(body),
        body=body,
        kind=args.get("kind", "note"),
        thread=args.get("thread"),
        reply_to=args.get("reply_to"),
        refs=args.get("refs", []),
    )
    redacted = f" ({hidden} secret(s) redacted)" if hidden else ""
    return f"posted {message.id} to {', '.join(message.to)} in thread {message.thread}{redacted}"


def inbox(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui import board
    from orgtui.commands.board import format_message

    unread = board.unread(seat.paths, seat.agent)
    if not unread:
        return f"{seat.agent}: no unread messages"
    text = _cap("\n".join(format_message(m) for m in unread))
    board.mark_read(seat.paths, seat.agent, [m.id for m in unread])
    return text


def read(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui import board
    from orgtui.commands.board import format_message

    message = board.read_message(seat.paths, args["id"])
    if message.addressed_to(seat.agent):
        board.mark_read(seat.paths, seat.agent, [message.id])
    return _cap(format_message(message))


def board_(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.commands.board import board_lines

    lines = board_lines(seat.paths, thread=args.get("thread"))
    limit = args.get("limit", BOARD_LIMIT)
    if not lines:
        return "the board is empty" if "thread" not in args else f"no thread {args['thread']!r}"
    shown = lines[-limit:]
    more = f"({len(lines) - len(shown)} older not shown)\n" if len(lines) > len(shown) else ""
    return _cap(more + "\n".join(shown))


def standup_answer(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.commands.board import post_as
    from orgtui.process import load_standup

    state = load_standup(seat.paths)
    body = f"done: {args['done']}\nnext: {args['next']}\nblocked: {args.get('blocked', 'nothing')}"
    message, _ = post_as(
        seat.paths,
        seat.agent,
        to=["all"],
        subject=f"standup {seat.agent}",
        body=body + "\n",
        kind="standup",
        thread=None,
        reply_to=state.call_id if state.open else None,
        refs=args.get("runs", []),
    )
    call = f" (answers {state.call_id})" if state.open else " (no standup call is open)"
    return f"posted standup {message.id}{call}"


# -- the ledger and the queue ----------------------------------------------------------------


def _command(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    try:
        return shlex.split(value)
    except ValueError as error:
        raise ToolError(f"run: command does not parse as a shell line ({error})") from None


def run(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.ledger.runner import RunPlan
    from orgtui.queue.client import plan_jobs, supervisor_listening
    from orgtui.queue.jobs import submit

    command = _command(args["command"])
    if not command:
        raise ToolError("run: command is empty: give the training command to run")
    plan = RunPlan(
        command=command,
        variant=args["variant"],
        seeds=args.get("seeds", 1),
        seed_start=args.get("seed_start", 0),
        proposal=args.get("proposal"),
        agent=seat.agent,
        thread=args.get("thread"),
    )
    paths = seat.paths
    submitted = submit(paths, plan_jobs(paths, plan, seat.cwd, post_result=True))
    lines = [f"queued {len(submitted)} job(s) of {plan.variant}:"]
    lines += [f"  job {job.id}  seed {job.seed}  run {job.run_id}" for job in submitted]
    lines.append("the supervisor posts the result to you when they end; `queue` shows them")
    if not supervisor_listening(paths):
        lines.append("no supervisor is running: the jobs wait in the queue until it is")
    return "\n".join(lines)


def queue(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.queue.jobs import Job, read_queue

    entries = read_queue(seat.paths)
    if not entries:
        return "no jobs: `run` queues one per seed"
    lines = []
    for entry in entries[-100:]:
        if isinstance(entry, Job):
            s = entry.summary()
            lines.append(
                f"{s['id']}  {s['state']:<9} {s['variant']} seed {s['seed']}  "
                f"agent {s['agent'] or '-'}  slot {s['slot'] or '-'}  run {entry.run_id}"
            )
        else:
            lines.append(f"{entry.id!a}  malformed: {entry.problem}")
    return _cap("\n".join(lines))


def compare(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.ledger import Ledger
    from orgtui.ledger.verdicts import describe

    return describe(Ledger.load(seat.paths).compare(args["a"], args["b"]))


def ledger(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.commands.ledger import ledger_text

    return _cap("\n".join(line.rstrip() for line in ledger_text(seat.paths).splitlines()))


def propose(seat: Seat, args: dict[str, Any]) -> str:
    from orgtui.config import load_config
    from orgtui.process import propose_as

    message = propose_as(
        load_config(seat.root),
        seat.agent,
        variant=args["variant"],
        hypothesis=args["hypothesis"],
        baseline=args.get("baseline"),
        seeds=args.get("seeds", 3),
        budget_flops=args.get("budget_flops"),
    )
    return f"proposal {message.id} posted; once approved, pass proposal={message.id} to `run`"


def gpus(seat: Seat, args: dict[str, Any]) -> str:
    import argparse

    from orgtui.commands.gpu import current_sample, render_text

    sample, origin = current_sample(argparse.Namespace(root=str(seat.root)))
    return "\n".join(line.rstrip() for line in render_text(sample, origin).splitlines())


# -- the table -------------------------------------------------------------------------------

_NAME = "an agent or variant name: lowercase letters, digits, '-', '_'"
_ID = "a message id, as `board` and `inbox` show them"

TOOLS: tuple[OrgTool, ...] = (
    OrgTool(
        "post",
        "Post a message to the org's board, as you. Use it to report results, answer "
        "questions, and direct or ask other agents.",
        _object(
            ("to", "body"),
            to=_string("recipients: an agent name, a comma-separated list, 'human', or 'all'"),
            body=_string("the message; put numbers and run ids here"),
            subject=_string("short and specific (default: the body's first line)", 200),
            kind=_string("note (default), directive, result, question, standup or handoff", 20),
            thread=_string("thread id or name to post in (default: a new thread)", 200),
            reply_to=_string(f"reply to this message ({_ID}); joins its thread", 200),
            refs=_strings("run ids or commits the message cites"),
        ),
        post,
    ),
    OrgTool(
        "inbox",
        "Your unread board messages, oldest first; they are marked read.",
        _object(),
        inbox,
    ),
    OrgTool(
        "read",
        "One board message by id (marked read if it is addressed to you).",
        _object(("id",), id=_string(_ID, 200)),
        read,
    ),
    OrgTool(
        "board",
        "The recent messages on the whole board with their delivery marks, optionally one thread.",
        _object(
            thread=_string("only this thread", 200),
            limit=_integer(f"at most this many, newest last (default {BOARD_LIMIT})", 1, 500),
        ),
        board_,
    ),
    OrgTool(
        "run",
        "Queue an experiment: one job per seed, at the committed code of your work tree, "
        "recorded in the ledger. Returns the job ids at once; the supervisor posts the "
        "result to you when the seeds end.",
        _object(
            ("variant", "command"),
            variant=_string(f"what is being tested ({_NAME})", 100),
            command={
                "anyOf": [
                    _strings("the training command as a list of arguments"),
                    _string("the training command as one shell line"),
                ],
                "description": "the training command, e.g. python -m nanochat.train "
                "--max-flops 2e13 (a list of arguments or one shell line)",
            },
            seeds=_integer("seeds to run (default 1; 3 to measure noise)", 1, 64),
            seed_start=_integer("first seed (default 0)", 0, 1_000_000),
            thread=_string("board thread of the result (default: the variant)", 200),
            proposal=_string(f"the approved proposal ({_ID})", 200),
        ),
        run,
    ),
    OrgTool(
        "queue",
        "The experiment jobs: queued, running and ended, with their run ids.",
        _object(),
        queue,
    ),
    OrgTool(
        "compare",
        "The ledger's verdict on variant b against a at matched FLOPs: improvement, "
        "regression, within_noise or not_comparable, with the delta, the noise and flags.",
        _object(
            ("a", "b"),
            a=_string("the reference variant, usually the baseline", 100),
            b=_string("the candidate variant", 100),
        ),
        compare,
    ),
    OrgTool(
        "ledger",
        "The ledger's table: every variant with its seeds, bpb, FLOPs, cost and verdict "
        "against the baseline.",
        _object(),
        ledger,
    ),
    OrgTool(
        "propose",
        "Pre-register an experiment with the chief before running it: the variant, the "
        "hypothesis, the seeds and the FLOPs budget.",
        _object(
            ("variant", "hypothesis"),
            variant=_string(f"the variant to be run ({_NAME})", 100),
            hypothesis=_string("what you change, what you expect, and why"),
            baseline=_string("compared against (default: the ledger's baseline)", 100),
            seeds=_integer("seeds per variant (default 3)", 2, 64),
            budget_flops=_number("FLOPs per run, e.g. 2e13"),
        ),
        propose,
    ),
    OrgTool(
        "standup_answer",
        "Answer the open standup call: what you did (with run ids), what is next, what blocks you.",
        _object(
            ("done", "next"),
            done=_string("what you did since the last standup, with run ids"),
            next=_string("what you do next"),
            blocked=_string("what blocks you (default: nothing)"),
            runs=_strings("run ids you cite"),
        ),
        standup_answer,
    ),
    OrgTool(
        "gpus",
        "The GPUs: utilisation, memory, power, and which agent owns each process.",
        _object(),
        gpus,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


def call(seat: Seat, name: str, arguments: object) -> str:
    """Run tool ``name`` for ``seat``; its text for the model.

    Raises:
        OrgtuiError: a refusal (unknown tool, bad arguments, the verb's own refusal), with
            a message the model can act on. Anything else is a bug of orgtui.
    """
    tool = BY_NAME.get(name)
    if tool is None:
        raise ToolError(f"no tool named {name[:60]!r}; the org's tools: {', '.join(BY_NAME)}")
    checked = check_arguments(tool, arguments)
    try:
        return tool.run(seat, checked)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise ToolError(f"{name}: {where}{error.strerror or error}") from error
