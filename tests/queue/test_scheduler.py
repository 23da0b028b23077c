"""Placement, pure: which queued job runs on which slot (slots, priorities, fairness, GPUs)."""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.config import parse_config
from orgtui.paths import OrgPaths
from orgtui.queue.engine import Slot
from orgtui.queue.jobs import Job, JobKind, JobState
from orgtui.queue.scheduler import Book, Notice, acceptable, last_served, place, slots
from orgtui.supervisor.state import OrgState, Seat, SeatStatus

CPU2 = [Slot("cpu0"), Slot("cpu1")]


def job(
    n: int,
    agent: str | None = "a",
    *,
    priority: int = 0,
    created: float | None = None,
    state: JobState = JobState.QUEUED,
    slot: str | None = None,
    started: float | None = None,
) -> Job:
    return Job(
        id=f"j{n:05d}",
        variant="v",
        seed=n,
        command=("true",),
        run_id=f"v-s{n}",
        commit=None,
        agent=agent,
        kind=JobKind.CONTROL if priority > 0 else JobKind.REQUEST,
        priority=priority,
        created=float(n if created is None else created),
        state=state,
        slot=slot,
        started=started,
    )


def running(n: int, agent: str | None, slot: str, started: float = 0.0) -> Job:
    return job(n, agent, state=JobState.RUNNING, slot=slot, started=started)


def seat(name: str, status: SeatStatus, gpu: int | None) -> Seat:
    return Seat(name=name, status=status, gpu=gpu)


def where(placed: list[tuple[Job, Slot]]) -> dict[str, str]:
    return {j.id: s.name for j, s in placed}


# ------------------------------------------------------------------------------- slots


def config(gpus: str = "auto", compute: int = 2, agent_gpus: tuple[int | None, ...] = (None,)):
    agents = "".join(
        f'[[agent]]\nname = "a{k}"\nbackend = "shell"\n' + (f"gpu = {g}\n" if g is not None else "")
        for k, g in enumerate(agent_gpus)
    )
    text = (
        f'[org]\nname = "t"\ntask = "x"\n[defaults]\ngpus = "{gpus}"\n'
        f"[compute]\nslots = {compute}\n{agents}"
    )
    return parse_config(text)


def test_cpu_slots_without_gpus() -> None:
    assert slots(config(compute=3), OrgState(), 0) == [Slot("cpu0"), Slot("cpu1"), Slot("cpu2")]
    assert slots(config("none", compute=2), OrgState(), 8) == CPU2  # gpus = "none" wins


def test_one_slot_per_gpu_the_source_reports() -> None:
    got = slots(config(compute=5), OrgState(), 3)
    assert got == [Slot("gpu0", 0), Slot("gpu1", 1), Slot("gpu2", 2)]


def test_without_a_source_the_named_gpus_are_the_slots() -> None:
    state = OrgState(seats={"rt": seat("rt", SeatStatus.WORKING, 7)})
    got = slots(config(agent_gpus=(None, 3)), state, None)  # a0 gets 0 (auto), a1 has 3
    assert got == [Slot("gpu0", 0), Slot("gpu3", 3), Slot("gpu7", 7)]
    assert slots(config("none", compute=1), state, None) == [Slot("cpu0")]


# ------------------------------------------------------------------------------- examples


def test_one_job_per_slot_and_only_free_ones() -> None:
    queued = [job(k) for k in range(5)]
    placed = place(queued, [running(99, "b", "cpu0")], CPU2, {})
    assert where(placed) == {"j00000": "cpu1"}


def test_controls_go_before_requests_that_waited_longer() -> None:
    queued = [job(1, "a"), job(2, "b"), job(3, None, priority=10), job(4, None, priority=10)]
    assert [j.id for j, _ in place(queued, [], CPU2, {})] == ["j00003", "j00004"]


def test_the_agent_running_fewest_goes_first() -> None:
    queued = [job(1, "a"), job(2, "a"), job(3, "a"), job(4, "b", created=100)]
    assert [j.id for j, _ in place(queued, [], CPU2, {})] == ["j00001", "j00004"]
    # a already runs one: b's newer job takes the only free slot
    placed = place(queued, [running(9, "a", "cpu0")], CPU2, {})
    assert [j.id for j, _ in placed] == ["j00004"]


def test_at_equal_load_the_agent_served_longest_ago_goes_first() -> None:
    # one slot, a's backlog older than b's job: a was served last, so b goes now
    queued = [job(1, "a"), job(2, "a"), job(3, "b", created=50)]
    placed = place(queued, [], [Slot("cpu0")], {}, {"a": 40.0})
    assert [j.id for j, _ in placed] == ["j00003"]
    # without turns recorded, the oldest job goes first
    assert [j.id for j, _ in place(queued, [], [Slot("cpu0")], {})] == ["j00001"]


def test_an_agents_jobs_go_in_order() -> None:
    queued = [job(3, "a", created=3), job(1, "a", created=1), job(2, "a", created=2)]
    assert [j.id for j, _ in place(queued, [], CPU2, {})] == ["j00001", "j00002"]


def test_last_served_is_each_agents_latest_start() -> None:
    jobs = [running(1, "a", "cpu0", 5.0), running(2, "a", "cpu1", 9.0), job(3, "b")]
    ended = job(4, None, state=JobState.DONE, started=7.0)
    assert last_served([*jobs, ended]) == {"a": 9.0, None: 7.0}


GPUS = [Slot(f"gpu{k}", k) for k in range(4)]


def test_own_gpu_first() -> None:
    seats = {
        "a": seat("a", SeatStatus.WORKING, 2),
        "b": seat("b", SeatStatus.IDLE, 0),
    }
    assert where(place([job(1, "a")], [], GPUS, seats)) == {"j00001": "gpu2"}


def test_gpus_of_working_seats_are_not_taken() -> None:
    seats = {
        "a": seat("a", SeatStatus.WORKING, 0),
        "b": seat("b", SeatStatus.WORKING, 1),
        "c": seat("c", SeatStatus.WAITING, 2),
        "d": seat("d", SeatStatus.STARTING, 3),
    }
    # a's own GPU is busy with a's earlier job; every other GPU belongs to a seat at work
    assert place([job(1, "a")], [running(9, "a", "gpu0")], GPUS, seats) == []
    assert place([job(2, None, priority=10)], [], GPUS, seats) == []


def test_gpus_of_seats_not_at_work_are_lent() -> None:
    for status in (
        SeatStatus.PARKED,
        SeatStatus.IDLE,
        SeatStatus.SUSPENDED,
        SeatStatus.DEAD,
        SeatStatus.FAILED,
    ):
        seats = {"a": seat("a", SeatStatus.WORKING, 0), "b": seat("b", status, 1)}
        placed = place([job(1, "a"), job(2, "a")], [], GPUS[:2], seats)
        assert where(placed) == {"j00001": "gpu0", "j00002": "gpu1"}, status


def test_a_gpu_no_seat_holds_is_free_for_anyone() -> None:
    seats = {"a": seat("a", SeatStatus.WORKING, 0)}
    assert where(place([job(1, "x")], [], GPUS[:2], seats)) == {"j00001": "gpu1"}


def test_a_job_that_fits_nowhere_leaves_the_slot_to_others() -> None:
    seats = {"a": seat("a", SeatStatus.WORKING, 0), "b": seat("b", SeatStatus.WORKING, 1)}
    # a's control (priority 10) cannot use b's GPU; b's own request can
    queued = [job(1, "a", priority=10), job(2, "b")]
    placed = place(queued, [running(9, "a", "gpu0")], GPUS[:2], seats)
    assert where(placed) == {"j00002": "gpu1"}


def test_a_shared_gpu_is_lent_only_when_every_holder_is_idle() -> None:
    seats = {"a": seat("a", SeatStatus.IDLE, 1), "b": seat("b", SeatStatus.WORKING, 1)}
    assert place([job(1, "x")], [], [GPUS[1]], seats) == []
    seats["b"] = seat("b", SeatStatus.PARKED, 1)
    assert where(place([job(1, "x")], [], [GPUS[1]], seats)) == {"j00001": "gpu1"}


def test_only_queued_jobs_are_placed() -> None:
    queued = [job(1, state=JobState.CANCELLED), job(2, state=JobState.DONE), job(3)]
    assert where(place(queued, [], CPU2, {})) == {"j00003": "cpu0"}


# ------------------------------------------------------------------------------- properties

AGENTS = ("a", "b", "c", None)
STATUSES = tuple(SeatStatus)


@st.composite
def scenes(draw: st.DrawFn, cpu_only: bool = False, one_priority: bool = False):
    """Slots (GPUs or CPU), seats holding some GPUs, running jobs on some slots, a queue."""
    gpus = not cpu_only and draw(st.booleans())
    count = draw(st.integers(1, 6))
    here = [Slot(f"gpu{k}", k) if gpus else Slot(f"cpu{k}") for k in range(count)]
    seats = {
        name: seat(name, draw(st.sampled_from(STATUSES)), draw(st.none() | st.integers(0, 6)))
        for name in AGENTS
        if name is not None and draw(st.booleans())
    }
    held = draw(st.lists(st.sampled_from(here), unique=True, max_size=count))
    run = [
        running(1000 + k, draw(st.sampled_from(AGENTS)), slot.name, float(k))
        for k, slot in enumerate(held)
    ]
    priorities = st.just(0) if one_priority else st.sampled_from((0, 0, 10))
    queued = [
        job(
            k,
            draw(st.sampled_from(AGENTS)),
            priority=draw(priorities),
            created=draw(st.integers(0, 20)),
        )
        for k in range(draw(st.integers(0, 12)))
    ]
    served = draw(st.dictionaries(st.sampled_from(AGENTS), st.floats(0, 100)))
    return here, seats, run, queued, served


@settings(max_examples=400, deadline=None)
@given(scenes())
def test_placement_invariants(scene) -> None:
    here, seats, run, queued, served = scene
    placed = place(queued, run, here, seats, served)
    names = [s.name for _, s in placed]
    busy = {j.slot for j in run}
    # never two jobs on a slot, never on a held one, never more than the free slots
    assert len(names) == len(set(names))
    assert not busy & set(names)
    assert len(placed) <= len([s for s in here if s.name not in busy])
    # each job placed once, only queued ones, only where it may run
    assert len({j.id for j, _ in placed}) == len(placed)
    assert all(j.state == JobState.QUEUED and acceptable(j, s, seats) for j, s in placed)
    left = [s for s in here if s.name not in busy and s.name not in names]
    unplaced = [j for j in queued if j.id not in {p.id for p, _ in placed}]
    for waiting in unplaced:
        # work-conserving: nothing waits while a slot it may use stays free
        assert not any(acceptable(waiting, s, seats) for s in left)
        # controls before requests: no lower-priority job took a slot this one could use
        for other, slot in placed:
            if other.priority < waiting.priority:
                assert not acceptable(waiting, slot, seats)


@settings(max_examples=300, deadline=None)
@given(scenes(cpu_only=True, one_priority=True))
def test_fair_shares_on_cpu_slots(scene) -> None:
    here, seats, run, queued, served = scene
    placed = place(queued, run, here, seats, served)
    load = Counter(j.agent for j in run) + Counter(j.agent for j, _ in placed)
    got = {j.agent for j, _ in placed}
    placed_ids = {j.id for j, _ in placed}
    still = {j.agent for j in queued if j.id not in placed_ids}
    # an agent left waiting is never more than one job behind an agent that got a slot
    for agent in still:
        for other in got:
            assert load[other] <= load[agent] + 1, (agent, other, load)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(2, 4),
    st.integers(0, 2**32 - 1),
)
def test_no_agent_starves_behind_a_flood(n_slots: int, n_agents: int, seed: int) -> None:
    """One agent queues two jobs every step, the others now and then; each step one running
    job ends. An agent with work waiting and nothing running gets a slot within as many
    steps as there are agents."""
    rng = random.Random(seed)
    agents = [f"a{k}" for k in range(n_agents)]
    here = [Slot(f"cpu{k}") for k in range(n_slots)]
    queue: list[Job] = []
    run: list[Job] = []
    served: dict[str | None, float] = {}
    hungry: Counter[str] = Counter()
    counter = 0
    for step in range(120):
        adds = ["a0", "a0"] + [a for a in agents[1:] if rng.random() < 0.3]
        for agent in adds:
            counter += 1
            queue.append(job(counter, agent, created=float(step)))
        if run:
            run.pop(rng.randrange(len(run)))
        for picked, slot in place(queue, run, here, {}, served):
            queue.remove(picked)
            started = picked.with_changes(state=JobState.RUNNING, slot=slot.name, started=step)
            run.append(started)
            served[picked.agent] = float(step)
        waiting = {j.agent for j in queue}
        busy = {j.agent for j in run}
        for agent in agents:
            hungry[agent] = hungry[agent] + 1 if agent in waiting and agent not in busy else 0
            assert hungry[agent] <= n_agents, (agent, step)


def seats_of(statuses: Mapping[str, tuple[SeatStatus, int]]) -> dict[str, Seat]:
    return {n: seat(n, s, g) for n, (s, g) in statuses.items()}


def test_a_control_of_a_working_agent_may_use_that_agents_own_gpu() -> None:
    """The scheduler hands controls to the claim's agent (see Scheduler); placement then
    treats them as that agent's jobs, own GPU first."""
    seats = seats_of({"a": (SeatStatus.WORKING, 1), "b": (SeatStatus.WORKING, 0)})
    control = job(1, "a", priority=10)
    assert where(place([control], [], GPUS[:2], seats)) == {"j00001": "gpu1"}


# ------------------------------------------------------------------------------- the book

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        JSON.map(json.dumps),
        st.fixed_dictionaries({"done": JSON, "owed": JSON}).map(json.dumps),
        st.fixed_dictionaries(
            {
                "done": st.lists(st.text(max_size=8) | st.integers()),
                "owed": st.dictionaries(st.text(max_size=6), JSON),
            }
        ).map(json.dumps),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    )
)
def test_a_hostile_book_reads_as_what_it_can_be(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = OrgPaths(Path(tmp))
        paths.org_dir.mkdir()
        paths.queue_batches.write_text(text, encoding="latin-1")
        book = Book.load(paths)
        assert all(isinstance(batch, str) for batch in book.done)
        assert all(isinstance(n, Notice) and isinstance(n.subject, str) for n in book.owed.values())
        book.save(paths, set(book.done) | set(book.owed))  # and it can be written back
        again = Book.load(paths)
        assert (again.done, again.owed, again.fresh) == (book.done, book.owed, False)


def test_a_book_that_is_not_a_file_is_fresh(tmp_path: Path) -> None:
    paths = OrgPaths(tmp_path)
    paths.queue_batches.mkdir(parents=True)
    assert Book.load(paths).fresh
