"""Money in the TUI: on each card, the org's total in the header, by model on the agent screen.

The seats' ``spend.json`` files are written as the collector writes them (atomically, in the
documented shape); prices are the shipped ones and org.toml's ``[prices]``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgtui.atomic import atomic_write_json
from orgtui.paths import OrgPaths
from orgtui.snapshot import Feed, OrgSnapshot
from orgtui.tui.screens.agent import spend_text
from orgtui.tui.widgets.agent_card import AgentCard, run_line
from orgtui.views import SpendView
from tests.tui.conftest import NOW, SIZE, build_org, settle

UNPRICED = "mystery-llm"


def counts(input: int = 0, output: int = 0, cache_write: int = 0, cache_read: int = 0) -> dict:
    return {"input": input, "output": output, "cache_write": cache_write, "cache_read": cache_read}


def write_spend(root: Path, agent: str, models: dict[str, dict[str, int]]) -> None:
    """A seat's spend.json as the collector writes it: totals by model, its read positions."""
    paths = OrgPaths(root)
    paths.agent_dir(agent).mkdir(parents=True, exist_ok=True)
    spend = {"models": models, "sources": {"transcript": {"offset": 123}}, "updated": NOW}
    atomic_write_json(paths.spend_file(agent), spend)


def spend_org(root: Path) -> None:
    """ada: one priced model ($5.10); bo: a priced ($3.00) and an unpriced one; cy: the
    unpriced one only; chief: nothing."""
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read per million tokens
    write_spend(
        root, "ada", {"claude-sonnet-4-5": counts(1_000_000, 100_000, cache_read=2_000_000)}
    )
    # gpt-5: $1.25 in, $10 out per million tokens
    write_spend(root, "bo", {"gpt-5": counts(2_000_000, 50_000), UNPRICED: counts(input=500)})
    write_spend(root, "cy", {UNPRICED: counts(output=1234)})


def cards_of(app: Any) -> dict[str, str]:
    return {card.agent: str(card.render()) for card in app.screen.query(AgentCard)}


def header_of(app: Any) -> str:
    return str(app.screen.query_one("#org-header").render())


async def test_cards_header_and_agent_screen_show_the_money(make_app, org_root: Path) -> None:
    spend_org(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cards = cards_of(app)
        assert "$5.10" in cards["ada"].splitlines()[-1]  # the run line, beside bpb
        assert "bpb " in cards["ada"]
        assert "$3.00*" in cards["bo"]
        assert "no price" in cards["cy"] and "$" not in cards["cy"]
        assert "$" not in cards["chief"] and "no price" not in cards["chief"]
        assert "spend $8.10*" in header_of(app)

        app.screen.select("bo")
        await pilot.press("a")
        await settle(pilot)
        table = app.screen.query_one("#agent-spend")
        assert table.display
        lines = str(table.render()).splitlines()
        assert lines[0] == "Spend $3.00*"
        assert lines[1].split() == ["model", "input", "output", "cache-w", "cache-r", "money"]
        assert lines[2].split() == ["gpt-5", "2M", "50k", "0", "0", "$3.00"]
        assert lines[3].split() == [UNPRICED, "500", "0", "0", "0", "no", "price"]
        assert "no price" in lines[-1]  # what the * means


async def test_an_org_without_usage_shows_nothing_new(make_app, org_root: Path) -> None:
    """No spend.json, an empty one and one of zero tokens: no money anywhere."""
    write_spend(org_root, "ada", {})
    write_spend(org_root, "bo", {"gpt-5": counts()})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.spend is None
        assert all(a.spend is None for a in app.snapshot.agents)
        for text in cards_of(app).values():
            assert "$" not in text and "no price" not in text
        assert "spend" not in header_of(app)
        await pilot.press("a")
        await settle(pilot)
        assert not app.screen.query_one("#agent-spend").display


async def test_a_spend_json_written_while_the_app_runs_updates_the_card(
    make_app, org_root: Path
) -> None:
    """Live: the watcher on .org/ (else the periodic read) brings each rewrite to the card."""
    app = make_app(live=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(400):  # not settle(): the watcher's worker never completes
            if app.snapshot is not None and app.snapshot.complete and "ada" in cards_of(app):
                break
            await pilot.pause(0.05)
        assert "$" not in cards_of(app)["ada"] and "spend" not in header_of(app)
        for models, shown, total in (
            ({"claude-sonnet-4-5": counts(1_000_000)}, "$3.00", "spend $3.00"),
            ({"claude-sonnet-4-5": counts(2_000_000)}, "$6.00", "spend $6.00"),
            ({"claude-sonnet-4-5": counts(2_000_000), UNPRICED: counts(9)}, "$6.00*", "$6.00*"),
        ):
            write_spend(org_root, "ada", models)
            for _ in range(400):  # the watcher's refresh, else the 2-second one
                if shown in cards_of(app)["ada"] and total in header_of(app):
                    break
                await pilot.pause(0.05)
            assert shown in cards_of(app)["ada"]
            assert total in header_of(app)


def test_spend_json_is_read_again_only_when_it_changed(tmp_path: Path) -> None:
    """Same inode, mtime and size: the cached read stands; an atomic rewrite is read."""
    root = tmp_path / "lab"
    root.mkdir()
    build_org(root)
    write_spend(root, "ada", {"gpt-5": counts(1_000_000)})
    feed = Feed(root)
    roster = feed.roster(now=NOW)  # the first frame's read leaves spend to the full one
    assert roster.spend is None and all(a.spend is None for a in roster.agents)
    assert feed.snapshot(now=NOW).agent("ada").spend.money_label == "$1.25"
    path = OrgPaths(root).spend_file("ada")
    before = path.stat()
    same_size = path.read_text().replace('"input": 1000000', '"input": 2000000')
    assert len(same_size) == before.st_size
    with path.open("r+") as file:  # rewritten in place, its mtime put back
        file.write(same_size)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert feed.snapshot(now=NOW).agent("ada").spend.money_label == "$1.25"
    write_spend(root, "ada", {"gpt-5": counts(2_000_000)})
    assert feed.snapshot(now=NOW).agent("ada").spend.money_label == "$2.50"
    path.unlink()
    snapshot = feed.snapshot(now=NOW)
    assert snapshot.agent("ada").spend is None and snapshot.spend is None


def test_prices_in_org_toml_reprice_the_seats(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    build_org(root)
    spend_org(root)
    feed = Feed(root)
    first = feed.snapshot(now=NOW)
    assert first.agent("bo").spend.unpriced == (UNPRICED,)
    assert first.spend.money_label == "$8.10*"
    toml = root / "org.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[prices."{UNPRICED}"]\ninput = 1000.0\noutput = 2000.0\n'
        + "cache_write = 0\ncache_read = 0\n"
        + '\n[prices."gpt-5"]\ninput = 2.5\n'
    )
    again = feed.snapshot(now=NOW)
    bo, cy = again.agent("bo").spend, again.agent("cy").spend
    assert bo.unpriced == () and bo.money_label == "$6.00"  # 5.00 + 0.50, and 0.50
    assert cy.money_label == "$2.47"  # 1234 * 2000 / 1e6
    assert again.spend.money_label == "$13.57"  # 5.10 + 6.00 + 2.47
    assert [(m.model, m.money_label) for m in bo.models] == [
        ("gpt-5", "$5.50"),
        (UNPRICED, "$0.50"),
    ]


def test_a_seat_not_in_the_org_counts_in_the_total(tmp_path: Path) -> None:
    """As ``orgtui spend`` counts it: a seat removed from org.toml spent money all the same."""
    root = tmp_path / "lab"
    root.mkdir()
    build_org(root)
    write_spend(root, "gone", {"gpt-5": counts(1_000_000)})
    snapshot = Feed(root).snapshot(now=NOW)
    assert snapshot.agent("gone") is None
    assert snapshot.spend.money_label == "$1.25"


# --------------------------------------------------------------------------- hostile files

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KINDS = st.sampled_from(["input", "output", "cache_write", "cache_read", "total", ""])
COUNT = st.integers(min_value=-5, max_value=10**16) | JSON
MODEL_NAMES = st.text(max_size=300) | st.sampled_from(
    ["gpt-5", "claude-sonnet-4-5-20250929", "\x1b[2J", "a\nb", "x" * 500]
)
SHAPED = st.fixed_dictionaries(
    {"models": st.dictionaries(MODEL_NAMES, st.dictionaries(KINDS, COUNT, max_size=5) | JSON)},
    optional={"sources": JSON, "updated": JSON},
)
CONTENT = (
    st.binary(max_size=300).map(lambda data: ("bytes", data))
    | JSON.map(lambda value: ("json", value))
    | SHAPED.map(lambda value: ("json", value))
    | st.sampled_from(["fifo", "zero", "huge", "dir", "elsewhere", "deep"]).map(lambda k: (k, None))
)
FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def plant(path: Path, kind: str, value: Any) -> None:
    """Put something hostile where the seat's spend.json goes."""
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "bytes":
        path.write_bytes(value)
    elif kind == "json":
        path.write_text(json.dumps(value, allow_nan=True))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":  # sparse: larger than any spend.json, costs no disk
        with path.open("wb") as file:
            file.truncate(64 << 20)
    elif kind == "dir":
        path.mkdir()
    elif kind == "elsewhere":  # a well-formed file, but not the seat's own
        target = path.parent / "real.json"
        target.write_text(json.dumps({"models": {"gpt-5": counts(10**6)}}))
        path.symlink_to(target)
    elif kind == "deep":
        path.write_text('{"models": ' + "[" * 100_000 + "]" * 100_000 + "}")


def check_spend(spend: SpendView | None) -> None:
    """A seat's or the org's spend as the cards and screens use it: whole and drawable."""
    if spend is None:
        return
    assert spend.tokens > 0
    assert spend.money is None or (math.isfinite(spend.money) and spend.money >= 0)
    assert spend.money_label and spend.money_label.isprintable()
    for row in spend.models:
        assert row.model.isprintable() and "\n" not in row.model and len(row.model) <= 48
        assert row.tokens > 0 and row.money_label.isprintable()
    for line in str(spend_text(spend)).splitlines():
        assert line.isprintable()


@FUZZ
@given(content=CONTENT)
def test_any_spend_json_gives_a_snapshot(tmp_path: Path, content: tuple[str, Any]) -> None:
    root = tmp_path / "lab"
    if not root.exists():  # one org per test; each example replaces ada's spend.json
        root.mkdir()
        build_org(root)
    path = OrgPaths(root).spend_file("ada")
    path.parent.mkdir(parents=True, exist_ok=True)
    feed = Feed(root)
    kind, value = content
    plant(path, kind, value)
    snapshot = feed.snapshot(now=NOW)
    assert isinstance(snapshot, OrgSnapshot)
    ada = snapshot.agent("ada")
    assert ada is not None
    if kind not in ("bytes", "json"):  # not a plain file of the seat's own: no usage
        assert ada.spend is None
    check_spend(ada.spend)
    check_spend(snapshot.spend)
    assert run_line(ada).plain.isprintable()
    plant(path, "json", {"models": {"gpt-5": counts(10**6)}})  # a good file after a bad one
    path.touch()  # the mtime moves on even when the clock's tick did not
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1))
    assert feed.snapshot(now=NOW).agent("ada").spend.money_label == "$1.25"
