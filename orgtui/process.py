"""The org's processes as code: the standup and pre-registered experiment proposals.

A standup is three steps, all through the board: the supervisor posts a call (``kind =
"standup"``, from ``supervisor``, to all); each agent answers with a ``standup`` message
(done / next / blocked, with run ids); once every active agent has answered, or the answer
window closes, a digest built from the answers, the ledger, the board and the GPU samples goes
to the chief (hierarchy) or to everyone (flat). Where the org is in that cycle lives in
``.org/standup.json`` so a restarted supervisor picks it up.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from orgtui import board
from orgtui.atomic import atomic_write_json
from orgtui.config import OrgConfig, StandupSpec
from orgtui.errors import OrgtuiError
from orgtui.paths import OrgPaths

ANSWER_WINDOW_S = 300.0
CHIEF_ROLE = "chief_scientist"
IDLE_GPU_UTIL = 5.0


class ProcessError(OrgtuiError):
    """A process step that cannot run (no such proposal, a bad plan)."""


@dataclass
class StandupState:
    """The last call and whether its digest went out."""

    last_call: float | None = None
    call_id: str | None = None
    digest_id: str | None = None

    @property
    def open(self) -> bool:
        return self.call_id is not None and self.digest_id is None


def _state_file(paths: OrgPaths):  # type: ignore[no-untyped-def]
    return paths.org_dir / "standup.json"


def load_standup(paths: OrgPaths) -> StandupState:
    try:
        data = json.loads(_state_file(paths).read_text(encoding="utf-8"))
        return StandupState(**{k: data.get(k) for k in ("last_call", "call_id", "digest_id")})
    except (OSError, ValueError, TypeError, AttributeError):
        return StandupState()


def save_standup(paths: OrgPaths, state: StandupState) -> None:
    atomic_write_json(_state_file(paths), asdict(state))


def standup_due(spec: StandupSpec, last: float | None, now: float, started: float) -> bool:
    """Is a call due? ``every``: a period after the last call (or the start); ``at``: daily."""
    if spec.every_s:
        return now - (last if last is not None else started) >= spec.every_s
    if spec.at:
        hour, minute = (int(part) for part in spec.at.split(":"))
        today = datetime.fromtimestamp(now).replace(hour=hour, minute=minute, second=0)
        slot = today if datetime.fromtimestamp(now) >= today else today - timedelta(days=1)
        return (last if last is not None else started) < slot.timestamp()
    return False


def chiefs(config: OrgConfig) -> list[str]:
    return [a.name for a in config.agents if a.role == CHIEF_ROLE]


def call_standup(config: OrgConfig, now: float | None = None) -> board.Message:
    """Post the call and open the answer window."""
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S")
    message = board.post(
        config.paths,
        sender="supervisor",
        to=["all"],
        subject="standup: what did you do, what next, what blocks you?",
        body=(
            "Answer with one message of kind standup:\n\n"
            "  orgtui post --to all --kind standup --subject standup --reply-to "
            "<this id> --body 'done: ... (run ids)\\nnext: ...\\nblocked: ...'\n"
        ),
        kind="standup",
        thread=f"standup-{stamp}",
        known_agents=config.agent_names,
    )
    save_standup(config.paths, StandupState(last_call=now, call_id=message.id))
    return message


def answers(config: OrgConfig, state: StandupState) -> dict[str, board.Message]:
    """The latest standup message of each agent since the call."""
    if state.last_call is None:
        return {}
    since = datetime.fromtimestamp(state.last_call).astimezone()
    found: dict[str, board.Message] = {}
    for message in board.messages(config.paths):
        is_answer = message.kind == "standup" and message.sender in config.agent_names
        if is_answer and message.when >= since and message.id != state.call_id:
            found[message.sender] = message
    return found


def _agent_states(paths: OrgPaths) -> dict[str, str]:
    from orgtui.supervisor.state import load_state

    return {name: str(seat.status) for name, seat in load_state(paths).seats.items()}


def build_digest(config: OrgConfig, state: StandupState) -> str:
    """The standup digest: answers, the ledger's verdicts, idle agents, idle GPUs."""
    got = answers(config, state)
    states = _agent_states(config.paths)
    active = [a.name for a in config.agents if states.get(a.name) not in ("parked", "failed")]
    lines = ["## Answers"]
    for name in active:
        message = got.get(name)
        text = message.body.strip().replace("\n", "\n    ") if message else "(no answer)"
        lines.append(f"- {name}: {text}")
    lines += ["", "## Ledger"]
    lines += _ledger_lines(config)
    idle = [name for name in active if states.get(name) in ("idle", "waiting")]
    lines += ["", "## Idle agents", ", ".join(idle) if idle else "none"]
    lines += ["", "## GPUs", _gpu_line(config.paths)]
    since = datetime.fromtimestamp(state.last_call or 0).astimezone() - timedelta(days=1)
    recent = [m for m in board.messages(config.paths) if m.when >= since and m.kind == "result"]
    lines += ["", f"## Results posted in the last day: {len(recent)}"]
    lines += [f"- {m.sender}: {m.subject}" for m in recent[-10:]]
    return "\n".join(lines) + "\n"


def _ledger_lines(config: OrgConfig) -> list[str]:
    from orgtui.ledger import Ledger

    try:
        ledger = Ledger.load(config.paths)
        rows = ledger.table()
    except OrgtuiError as error:
        return [f"(ledger unavailable: {error})"]
    if not rows:
        return ["no runs yet"]
    out = [f"baseline: {ledger.baseline or 'none set'}"]
    for row in rows:
        value = f"{ledger.measure.label} {ledger.measure.value_text(row.mean, None)}"
        verdict = "baseline" if row.variant == ledger.baseline else (row.verdict or "—")
        flags = f" [{', '.join(row.flags)}]" if row.flags else ""
        who = f" by {', '.join(row.agents)}" if row.agents else ""
        out.append(f"- {row.variant}{who}: {row.n_seeds} seeds, {value}, {verdict}{flags}")
    return out


def _gpu_line(paths: OrgPaths) -> str:
    from orgtui.gpu import latest_sample

    sample = latest_sample(paths)
    if sample is None or not sample.gpus:
        return "no GPU samples"
    idle = [str(g.index) for g in sample.gpus if (g.util or 0.0) < IDLE_GPU_UTIL]
    label = f" ({sample.source})" if sample.source != "nvml" else ""
    return f"{len(sample.gpus)} GPUs{label}, idle: {', '.join(idle) if idle else 'none'}"


def post_digest(config: OrgConfig, state: StandupState) -> board.Message:
    """Send the digest to the chief (hierarchy) or everyone (flat) and close the standup."""
    message = board.post(
        config.paths,
        sender="supervisor",
        to=chiefs(config) or ["all"],
        subject="standup digest",
        body=build_digest(config, state),
        kind="standup",
        reply_to=state.call_id,
        known_agents=config.agent_names,
    )
    state.digest_id = message.id
    save_standup(config.paths, state)
    return message


def tick(config: OrgConfig, now: float, started: float) -> str | None:
    """One supervisor tick of the standup process; returns what it did, for the log."""
    spec = config.standup
    state = load_standup(config.paths)
    if state.open:
        states = _agent_states(config.paths)
        waiting_for = [
            a.name
            for a in config.agents
            if states.get(a.name) not in ("parked", "failed") and a.role != CHIEF_ROLE
        ]
        got = answers(config, state)
        window = (
            min(ANSWER_WINDOW_S, (spec.every_s or ANSWER_WINDOW_S * 2) / 2)
            if spec
            else ANSWER_WINDOW_S
        )
        if all(name in got for name in waiting_for) or now - (state.last_call or now) >= window:
            return f"standup digest {post_digest(config, state).id}"
        return None
    if spec and standup_due(spec, state.last_call, now, started):
        return f"standup call {call_standup(config, now).id}"
    return None


# -- pre-registration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """An experiment plan, posted before any run: what would count as a win is fixed first."""

    hypothesis: str
    variant: str
    baseline: str
    seeds: int
    budget_flops: float | None = None

    def body(self) -> str:
        budget = f"{self.budget_flops:.3g} FLOPs per run" if self.budget_flops else "unstated"
        return (
            f"hypothesis: {self.hypothesis}\nvariant: {self.variant}\n"
            f"baseline: {self.baseline}\nseeds: {self.seeds}\nbudget: {budget}\n"
        )


def propose(config: OrgConfig, sender: str, proposal: Proposal) -> board.Message:
    """Post a proposal (kind ``question``) to the chief, or to all in a flat org."""
    if proposal.seeds < 2:
        raise ProcessError(
            f"a proposal needs at least 2 seeds to measure noise (got {proposal.seeds})"
        )
    return board.post(
        config.paths,
        sender=sender,
        to=[c for c in chiefs(config) if c != sender] or ["all"],
        subject=f"proposal: {proposal.variant} vs {proposal.baseline}",
        body=proposal.body(),
        kind="question",
        thread=f"proposal-{proposal.variant}",
        known_agents=config.agent_names,
    )


def propose_as(
    config: OrgConfig,
    sender: str,
    *,
    variant: str,
    hypothesis: str,
    baseline: str | None,
    seeds: int,
    budget_flops: float | None,
) -> board.Message:
    """Post ``sender``'s proposal against ``baseline`` (default: the ledger's): ``orgtui
    propose`` and the ``propose`` tool."""
    from orgtui.ledger import Ledger, LedgerError

    baseline = baseline or Ledger.load(config.paths).baseline
    if not baseline:
        raise LedgerError("no baseline: pass --baseline VARIANT or set one with `orgtui baseline`")
    proposal = Proposal(
        hypothesis=hypothesis,
        variant=variant,
        baseline=baseline,
        seeds=seeds,
        budget_flops=budget_flops,
    )
    return propose(config, sender, proposal)


def proposal_status(config: OrgConfig, proposal_id: str) -> str:
    """``approved`` / ``rejected`` by a reply from a chief, else ``pending``."""
    verdict = "pending"
    for message in board.messages(config.paths):
        if message.reply_to != proposal_id or message.sender not in (chiefs(config) or ["human"]):
            continue
        first = message.subject.lower() + " " + message.body.lower()[:40]
        if "reject" in first:
            verdict = "rejected"
        elif "approve" in first:
            verdict = "approved"
    return verdict
