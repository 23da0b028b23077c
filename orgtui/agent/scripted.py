"""The scripted agent: a TOML playbook of steps run deterministically (``orgtui play NAME``).

It needs no model, no key and no GPU, so it powers ``orgtui demo`` and the tests. Steps::

    [[step]]
    action = "post"          # to (list or str), subject, body, kind, thread, refs
    [[step]]
    action = "wait_message"  # from, kind, subject (substring), timeout (seconds, default 300)
    [[step]]
    action = "run"           # command: a shell line; a leading `orgtui` means this orgtui
    [[step]]
    action = "compare"       # args: list passed to `orgtui compare --json`
    [[step]]
    action = "sleep"         # seconds
    [[step]]
    action = "apply_patch"   # patch (unified diff text) or file (relative to the org root)

Texts may use ``{agent}``, ``{org}``, ``{last_output}`` (the tail of the last run/compare
output) and ``{last_message}`` (the body of the last message waited for). When the playbook
ends the agent stays alive and idle (the supervisor would restart an exited pane); ``--exit``
makes it return instead, with 0 on success.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgtui.agentstatus import PLAYBOOK_FAILED, write_status
from orgtui.config import AgentSpec, OrgConfig
from orgtui.errors import OrgtuiError
from orgtui.invocation import orgtui_command

ACTIONS = ("post", "wait_message", "run", "compare", "sleep", "apply_patch", "standup_answer")
OUTPUT_TAIL = 2000
_TEXT_VAR = re.compile(r"\{(agent|org|last_output|last_message)\}")


class PlaybookError(OrgtuiError):
    """A playbook that does not parse, or a step that failed."""


@dataclass(frozen=True)
class Step:
    action: str
    options: dict[str, Any] = field(default_factory=dict)


def load_playbook(file: Path) -> list[Step]:
    """Parse and check a playbook; errors name the file and the step."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlaybookError(f"{file}: cannot read playbook ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise PlaybookError(f"{file}: not valid TOML ({error})") from None
    raw = data.get("step", [])
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise PlaybookError(f"{file}: expected [[step]] tables")
    steps = []
    for number, table in enumerate(raw, 1):
        action = table.get("action")
        if action not in ACTIONS:
            raise PlaybookError(
                f"{file}: step {number}: action {action!r} is not one of {', '.join(ACTIONS)}"
            )
        options = {k: v for k, v in table.items() if k != "action"}
        _check_step(file, number, action, options)
        steps.append(Step(action, options))
    return steps


def _check_step(file: Path, number: int, action: str, options: dict[str, Any]) -> None:
    need = {
        "post": ("to", "subject"),
        "run": ("command",),
        "sleep": ("seconds",),
        "standup_answer": ("body",),
    }.get(action, ())
    for key in need:
        if key not in options:
            raise PlaybookError(f"{file}: step {number} ({action}) needs {key} = ...")
    if action == "apply_patch" and not ("patch" in options or "file" in options):
        raise PlaybookError(f"{file}: step {number} (apply_patch) needs patch = or file =")


def playbook_file(config: OrgConfig, spec: AgentSpec) -> Path:
    if not spec.playbook:
        raise PlaybookError(
            f"agent {spec.name!r}: backend 'scripted' needs playbook = \"path/to/playbook.toml\""
        )
    path = Path(spec.playbook)
    return path if path.is_absolute() else config.root / path


class Player:
    """Runs one agent's playbook step by step, reporting status and printing progress."""

    def __init__(
        self,
        config: OrgConfig,
        spec: AgentSpec,
        steps: list[Step],
        *,
        cwd: Path | None = None,
        out: Callable[[str], None] | None = None,
        poll_s: float = 0.1,
    ) -> None:
        self.config = config
        self.spec = spec
        self.steps = steps
        self.cwd = cwd or Path.cwd()
        self.out = out or (lambda line: print(line, flush=True))
        self.poll_s = poll_s
        self.last_output = ""
        self.last_message = ""

    @property
    def paths(self):  # type: ignore[no-untyped-def]
        return self.config.paths

    def status(self, state: str, detail: str) -> None:
        write_status(self.paths, self.spec.name, state, source="scripted", detail=detail)

    def text(self, value: object) -> str:
        values = {
            "agent": self.spec.name,
            "org": self.config.org.name,
            "last_output": self.last_output.strip(),
            "last_message": self.last_message.strip(),
        }
        return _TEXT_VAR.sub(lambda m: values[m.group(1)], str(value))

    def play(self) -> None:
        """Run every step; raise PlaybookError at the first failing one."""
        total = len(self.steps)
        for number, step in enumerate(self.steps, 1):
            label = f"[{number}/{total}] {step.action}"
            self.status("working", label)
            self.out(f"== {label}")
            getattr(self, f"_{step.action}")(step.options)
        self.out(f"== playbook done ({total} steps)")

    # ------------------------------------------------------------------ steps

    def _post(self, o: dict[str, Any]) -> None:
        from orgtui import board

        to = o["to"] if isinstance(o["to"], list) else [o["to"]]
        message = board.post(
            self.paths,
            sender=self.spec.name,
            to=[self.text(t) for t in to],
            subject=self.text(o["subject"]),
            body=self.text(o.get("body", "")),
            kind=o.get("kind", "note"),
            thread=o.get("thread"),
            refs=[self.text(r) for r in o.get("refs", [])],
            known_agents=self.config.agent_names,
        )
        self.out(f"   posted {message.id} to {', '.join(message.to)}: {message.subject}")

    def _standup_answer(self, o: dict[str, Any]) -> None:
        self._post(
            {
                "to": o.get("to", ["all"]),
                "subject": o.get("subject", "standup"),
                "body": o["body"],
                "kind": "standup",
            }
        )

    def _wait_message(self, o: dict[str, Any]) -> None:
        from orgtui import board

        sender, kind, subject = o.get("from"), o.get("kind"), o.get("subject")
        timeout = float(o.get("timeout", 300))
        wanted = ", ".join(
            f"{k}={v}" for k, v in (("from", sender), ("kind", kind), ("subject", subject)) if v
        )
        self.status("idle", f"waiting for a message ({wanted or 'any'})")
        self.out(f"   waiting for a message ({wanted or 'any'}), up to {timeout:g}s")
        deadline = time.monotonic() + timeout
        while True:
            for message in board.unread(self.paths, self.spec.name):
                if sender and message.sender != sender:
                    continue
                if kind and message.kind != kind:
                    continue
                if subject and subject not in message.subject:
                    continue
                board.mark_read(self.paths, self.spec.name, [message.id])
                self.last_message = message.body
                self.status("working", f"got {message.id}")
                self.out(f"   got {message.id} from {message.sender}: {message.subject}")
                return
            if time.monotonic() >= deadline:
                raise PlaybookError(f"no message ({wanted or 'any'}) within {timeout:g}s")
            time.sleep(self.poll_s)

    def _shell(self, command: str, what: str) -> None:
        self.out(f"   $ {command}")
        env = dict(os.environ)
        env.setdefault("ORGTUI_AGENT", self.spec.name)
        env.setdefault("ORGTUI_ROOT", str(self.config.root))
        result = subprocess.run(
            command, shell=True, cwd=self.cwd, env=env, capture_output=True, text=True
        )
        output = (result.stdout + result.stderr)[-OUTPUT_TAIL:]
        self.last_output = output
        for line in output.rstrip().splitlines()[-20:]:
            self.out(f"   | {line}")
        if result.returncode != 0:
            raise PlaybookError(f"{what} exited with {result.returncode}: {command}")

    def _run(self, o: dict[str, Any]) -> None:
        self._shell(_own_orgtui(self.text(o["command"])), "run")

    def _compare(self, o: dict[str, Any]) -> None:
        args = " ".join(shlex.quote(self.text(a)) for a in o.get("args", []))
        self._shell(f"{orgtui_command()} compare --json {args}".rstrip(), "compare")

    def _sleep(self, o: dict[str, Any]) -> None:
        time.sleep(float(o["seconds"]))

    def _apply_patch(self, o: dict[str, Any]) -> None:
        if "patch" in o:
            patch = str(o["patch"])
        else:
            file = Path(o["file"])
            patch = (file if file.is_absolute() else self.config.root / file).read_text()
        result = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", "-"],
            input=patch,
            cwd=self.cwd,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PlaybookError(f"git apply failed: {result.stderr.strip()}")
        self.out("   patch applied")


def _own_orgtui(command: str) -> str:
    """``orgtui ...`` runs with this interpreter, whatever PATH the pane has."""
    if command == "orgtui" or command.startswith("orgtui "):
        return orgtui_command() + command[len("orgtui") :]
    return command


def run_playbook(
    config: OrgConfig, spec: AgentSpec, *, stay: bool = True, cwd: Path | None = None
) -> int:
    """``orgtui play``: run the playbook; then idle forever unless ``stay`` is False."""
    write_status(config.paths, spec.name, "starting", source="scripted")
    code = 0
    try:
        steps = load_playbook(playbook_file(config, spec))
        Player(config, spec, steps, cwd=cwd).play()
        final = "playbook done"
    except OrgtuiError as error:
        print(f"playbook stopped: {error}", flush=True)
        final, code = f"{PLAYBOOK_FAILED}: {error}", 1
    write_status(config.paths, spec.name, "idle", source="scripted", detail=final)
    if not stay:
        return code
    print("(idle; the playbook is over)", flush=True)
    while True:  # stay alive so the supervisor does not restart a finished playbook
        time.sleep(3600)
