"""The full snapshot's records beyond the seats: GPUs, the board's lines, the queue's jobs, a
cluster engine, spend, the ledger's verdicts and the story told over the org.

Apart from ``orgtui.snapshot`` (the seats and the snapshot itself) so that the TUI's first
frame, which shows the seats alone, does not wait for them: on Python 3.11 each frozen
dataclass compiles its methods when its module is imported (about half a millisecond each).
The full read (a worker, after the first frame) brings them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ENGINE_NAMES = {"slurm": "Slurm"}


@dataclass(frozen=True)
class GpuView:
    """One GPU as a gauge shows it."""

    index: int
    util: float | None
    mem_used: int | None
    mem_total: int | None
    power_w: float | None
    source: str  # nvml | replay | none


@dataclass(frozen=True)
class ClusterJob:
    """What the cluster scheduler says of one of the org's jobs (``.org/engine.json``)."""

    engine: str
    """The engine's name as in org.toml: ``slurm``."""
    id: str
    """The cluster's job id."""
    state: str = ""
    """The scheduler's state (``PENDING``, ``RUNNING``, ``TIMEOUT``...); empty: not known."""
    reason: str = ""
    """Why it waits (squeue's reason: ``Resources``, ``Priority``); ``None`` or empty: no reason."""

    @property
    def status(self) -> str:
        """``RUNNING``, ``PENDING (Resources)``; ``?`` when the state is not known."""
        if not self.state:
            return "?"
        shown = self.reason and self.reason != "None"
        return f"{self.state} ({self.reason})" if shown else self.state

    @property
    def summary(self) -> str:
        """``12 RUNNING``, ``13 PENDING (Resources)``, ``14 ?``."""
        return f"{self.id} {self.status}"

    @property
    def label(self) -> str:
        """``slurm 12 RUNNING``, ``slurm 13 PENDING (Resources)``."""
        return f"{self.engine} {self.summary}"


@dataclass(frozen=True)
class EngineView:
    """What a cluster engine last saw (``.org/engine.json``): None fields are not known."""

    name: str
    reachable: bool | None = None
    """False: its scheduler did not answer the last time it was asked (``error`` says why)."""
    error: str | None = None
    checked: float | None = None
    jobs: Mapping[str, ClusterJob] = field(default_factory=dict)
    """The org's job id -> what the scheduler says of it."""

    @property
    def title(self) -> str:
        return ENGINE_NAMES.get(self.name, self.name)

    @property
    def warning(self) -> str | None:
        """``Slurm unreachable: <why>`` when its scheduler did not answer; else None."""
        if self.reachable is not False:
            return None
        return f"{self.title} unreachable: {self.error or 'no answer'}"


@dataclass(frozen=True)
class ModelSpend:
    """One model's tokens in a seat, by kind, and what they cost."""

    model: str
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0
    money: float | None = None
    """None: the model has no price (its tokens are shown, never guessed at)."""

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    @property
    def money_label(self) -> str:
        """``$1.23``, or ``no price``."""
        return "no price" if self.money is None else f"${self.money:,.2f}"


@dataclass(frozen=True)
class SpendView:
    """Model tokens and their money: one seat's (with its models, most tokens first) or the
    org's. Only seats with tokens have one."""

    tokens: int = 0
    money: float | None = None
    """The priced models' money; None when no model with tokens has a price."""
    unpriced: tuple[str, ...] = ()
    """Models with tokens and no price: left out of ``money``."""
    models: tuple[ModelSpend, ...] = ()

    @property
    def money_label(self) -> str:
        """``$1.23``; ``$1.23*`` when it leaves out a model with no price; ``no price`` when
        no model has one (``orgtui spend``'s words)."""
        if self.money is None:
            return "no price"
        return f"${self.money:,.2f}" + ("*" if self.unpriced else "")

    def __add__(self, other: SpendView) -> SpendView:
        """The two together (their models' rows left out: the org's total needs none)."""
        monies = [m for m in (self.money, other.money) if m is not None]
        return SpendView(
            self.tokens + other.tokens,
            sum(monies) if monies else None,
            tuple(sorted({*self.unpriced, *other.unpriced})),
        )


@dataclass(frozen=True)
class MessageView:
    """One board line; ``malformed`` carries the reason for a file that did not parse."""

    id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    kind: str
    thread: str
    time: str
    body: str = ""
    reply_to: str | None = None
    unread: bool = False
    malformed: str | None = None


@dataclass(frozen=True)
class VerdictView:
    """One variant's verdict against the baseline, for the main screen's bottom strip."""

    variant: str
    verdict: str
    baseline: str
    delta: str = ""
    """B - A in the task's metric, as the strip shows it (``+0.0123 bpb``); empty when none."""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobView:
    """One queue file as the queue screen lists it; ``malformed`` says why one did not read."""

    id: str
    state: str
    """queued | running | done | failed | cancelled | malformed"""
    variant: str = ""
    seed: int = 0
    agent: str | None = None
    kind: str = ""
    priority: int = 0
    slot: str | None = None
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    left_s: float | None = None
    """Estimated seconds until it ends (a queued job: waiting included); None: no estimate."""
    reason: str = ""
    cancelling: bool = False
    """Running, with a cancel asked for: the engine is stopping it."""
    cluster: ClusterJob | None = None
    """Its job on the cluster (a cluster engine, once submitted)."""
    malformed: str | None = None


@dataclass(frozen=True)
class Narration:
    """What a story told over the org (the demo's) says now: a line, maybe more below it."""

    line: str
    detail: str = ""
    problem: bool = False
