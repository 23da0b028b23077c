"""Every key path of the TUI, through Pilot on the synthetic org."""

from __future__ import annotations

from textual.widgets import Button, DataTable, Input, Select

from orgtui import board
from orgtui.paths import OrgPaths
from orgtui.snapshot import SPARK_POINTS
from orgtui.tui.screens.agent import AgentScreen
from orgtui.tui.screens.board import BoardScreen
from orgtui.tui.screens.dialogs import ComposeDialog, HandoffDialog, NewAgentDialog
from orgtui.tui.screens.gpus import GpuScreen
from orgtui.tui.screens.help import HelpScreen
from orgtui.tui.screens.ledger import LedgerScreen
from orgtui.tui.screens.main import MainScreen
from orgtui.tui.widgets.agent_card import AgentCard
from orgtui.tui.widgets.keybar import KeyBar
from tests.conftest import ORGTUI
from tests.tui.conftest import SIZE, settle


async def shows(pilot, screen_type: type) -> bool:  # type: ignore[no-untyped-def]
    """Wait (up to 10 s, the machine may be loaded) until ``screen_type`` is on top."""
    for _ in range(200):
        if isinstance(pilot.app.screen, screen_type):
            return True
        await pilot.pause(0.05)
    return False


def selected(app) -> str:  # type: ignore[no-untyped-def]
    return app.main_screen.selected().agent


async def test_cards_show_the_org(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cards = {c.agent: c for c in app.screen.query(AgentCard)}
        assert list(cards) == ["chief", "ada", "bo", "cy"]
        assert cards["ada"].view.status == "working" and cards["ada"].has_class("-working")
        assert cards["cy"].has_class("-suspended")
        assert str(cards["cy"].render()).splitlines()[0].endswith(" suspended ")
        ada = cards["ada"].view
        assert (
            ada.last_value is not None
            and ada.last_eval.startswith("bpb ")
            and len(ada.loss) == SPARK_POINTS
        )  # the whole run
        assert ada.loss_best is not None and ada.loss_now is not None
        assert ada.loss_best <= min(ada.loss) and ada.loss_now != ada.loss[-1]  # averaged
        assert (
            cards["chief"].view.unread == 2
        )  # two results; its own directive to all is not counted
        assert cards["ada"].view.gpu_view.source == "replay"
        header = str(app.screen.query_one("#org-header").render())
        assert "lab" in header and "uptime 1h02m" in header and "GPU-hours" in header
        assert not app.screen.query_one("#banner").display  # the supervisor (this pid) is alive


async def test_arrows_and_jk_move_the_selection(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert selected(app) == "chief"
        await pilot.press("right")
        assert selected(app) == "ada"
        await pilot.press("j")  # one row down: the grid has 2 columns at this width
        assert selected(app) == "cy"
        await pilot.press("k", "left")
        assert selected(app) == "chief"
        await pilot.press("down")
        assert selected(app) == "bo"
        await pilot.press("up", "right")
        assert selected(app) == "ada"


async def test_enter_takes_over_the_selected_agent(make_app, recorder, org_root) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "enter")
    (argv,) = recorder.takeovers
    assert argv == [
        *ORGTUI,
        "attach",
        "ada",
        "--root",
        str(org_root),
        "--socket",
        "tui-test",
    ]


async def test_agent_commands_go_to_the_supervisor(make_app, recorder) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")  # chief is waiting: suspend
        await pilot.press("right", "p")  # ada: park
        await pilot.press("right", "r")  # bo: restart
        await pilot.press("right", "s")  # cy is suspended: resume
        await settle(pilot)
    assert recorder.commands == [
        {"verb": "suspend", "agent": "chief"},
        {"verb": "park", "agent": "ada"},
        {"verb": "restart", "agent": "bo"},
        {"verb": "resume", "agent": "cy"},
    ]


async def test_handoff_dialog(make_app, recorder) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "h")
        assert await shows(pilot, HandoffDialog)
        app.screen.query_one("#backend", Select).value = "claude"
        await pilot.click("#ok")
        await settle(pilot)
    assert recorder.commands == [{"verb": "handoff", "agent": "ada", "backend": "claude"}]


async def test_new_agent_dialog(make_app, recorder) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert await shows(pilot, NewAgentDialog)
        await pilot.click("#name")
        await pilot.press(*"bad/name")
        app.screen.query_one("#ok", Button).press()
        await pilot.pause()
        assert isinstance(app.screen, NewAgentDialog)  # refused, dialog stays
        app.screen.query_one("#name", Input).value = "dee"
        app.screen.query_one("#gpu", Input).value = "2"
        app.screen.query_one("#ok", Button).press()
        await settle(pilot)
    assert recorder.commands == [
        {"verb": "spawn", "agent": "dee", "role": "chief_scientist", "backend": "shell", "gpu": 2}
    ]


async def test_message_key_posts_to_the_board(make_app, org_root) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "right", "m")
        assert await shows(pilot, ComposeDialog)
        assert app.screen.query_one("#to", Input).value == "bo"
        app.screen.query_one("#subject", Input).value = "check your FLOPs"
        await pilot.press("ctrl+s")
        await settle(pilot)
    sent = [m for m in board.messages(OrgPaths(org_root)) if m.sender == "human"]
    assert [(m.to, m.subject) for m in sent] == [(("bo",), "check your FLOPs")]


async def test_board_screen_filters_reads_and_replies(make_app, org_root) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("b")
        assert await shows(pilot, BoardScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 5  # 4 messages and the malformed file
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("down")  # on the board the arrows move the table, not the cards
        assert table.cursor_row == 1 and selected(app) == "chief"
        app.screen.query_one("#board-filter", Input).value = "kind:result"
        await pilot.pause()
        assert table.row_count == 2
        app.screen.query_one("#board-filter", Input).value = "from:chief kind:question"
        await pilot.pause()
        assert table.row_count == 1
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        assert "Shall we scale nocap" in app.screen.current().body
        await pilot.press("R")
        assert await shows(pilot, ComposeDialog)
        assert app.screen.query_one("#to", Input).value == "chief"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("escape")
        assert await shows(pilot, MainScreen)
    paths = OrgPaths(org_root)
    question = next(m for m in board.messages(paths) if m.kind == "question")
    (reply,) = [m for m in board.messages(paths) if m.sender == "human"]
    assert reply.reply_to == question.id and reply.subject.startswith("Re: need a decision")
    assert board.read_state(paths, "human").is_read(question)


async def test_malformed_board_file_is_listed_not_fatal(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        malformed = [m for m in app.snapshot.messages if m.malformed]
        assert len(malformed) == 1 and malformed[0].kind == "malformed"


async def test_ledger_gpu_agent_and_help_screens(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        assert await shows(pilot, LedgerScreen)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert set(rows) == {"baseline", "nocap", "wide"}
        assert "compute_mismatch x4.0" in str(rows["wide"][7])
        await pilot.press("escape", "g")
        assert await shows(pilot, GpuScreen)
        await settle(pilot)
        assert "replay" in str(app.screen.query_one("#gpu-title").render())
        await pilot.press("escape", "right", "a")
        assert await shows(pilot, AgentScreen) and app.screen.agent == "ada"
        await settle(pilot)
        assert "nocap-s3" in str(app.screen.query_one("#agent-runs").render())
        await pilot.press("escape", "question_mark")
        assert await shows(pilot, HelpScreen)
        await pilot.press("escape")
        assert await shows(pilot, MainScreen)


async def test_filter_hides_other_agents(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"suspended", "enter")
        await pilot.pause()
        shown = [c.agent for c in app.screen.query(AgentCard) if c.display]
        assert shown == ["cy"]


async def test_standup_key_calls_a_standup(make_app, org_root) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
    calls = [m for m in board.messages(OrgPaths(org_root)) if m.sender == "supervisor"]
    assert len(calls) == 1 and calls[0].kind == "standup"


async def test_keys_are_remappable(make_app, recorder) -> None:
    app = make_app(keys={"takeover": "t", "park": "P"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter", "p")
        assert recorder.takeovers == [] and recorder.commands == []
        await pilot.press("t", "P")
        await settle(pilot)
    assert len(recorder.takeovers) == 1
    assert recorder.commands == [{"verb": "park", "agent": "chief"}]


async def test_org_toml_keys_arrive_with_the_first_full_read(make_app, org_root, recorder) -> None:
    """``orgtui`` reads no org.toml before the first frame: its ``[keys]`` are applied when the
    org is first read in full, and the key bar shows them."""
    toml = org_root / "org.toml"
    toml.write_text(toml.read_text().replace("[ledger]", '[keys]\ntakeover = "t"\n\n[ledger]'))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert " t  Take over" in str(app.main_screen.query_one(KeyBar).render())
        await pilot.press("enter")
        assert recorder.takeovers == []
        await pilot.press("t")
        await settle(pilot)
    assert len(recorder.takeovers) == 1


async def test_supervisor_down_banner_and_start_key(make_app, org_root) -> None:
    state = org_root / ".org" / "state.json"
    state.write_text(
        state.read_text().replace(f'"pid": {__import__("os").getpid()}', '"pid": null')
    )
    started: list[list[str]] = []

    def cli(argv: list[str]) -> str:
        started.append(argv)
        return "org lab: session orgtui-lab; started 0 agent(s)"

    app = make_app(cli_runner=cli)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#banner")
        assert banner.display and "supervisor is down" in str(banner.render())
        await pilot.press("U")
        await settle(pilot)
    assert started == [[*ORGTUI, "up", "--root", str(org_root), "--socket", "tui-test"]]


async def test_help_shows_keys_as_typed_with_remaps(make_app) -> None:
    app = make_app(keys={"takeover": "t", "park": "P"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert await shows(pilot, HelpScreen)
    rows = dict((text, key) for key, text in app.help_rows())
    assert rows["this list"] == "?"
    assert rows["filter agents by name, role, backend or state"] == "/"
    assert rows["take over the agent: its tmux window; detach (prefix d) to come back"] == "t"
    assert rows["park the agent: WIP commit, window closed, seat kept"] == "P"
    assert rows["switch between the dark and the light theme"] == "ctrl+t"


async def test_scrolling_the_board_marks_nothing_read_opening_does(
    make_app, org_root, monkeypatch
) -> None:
    monkeypatch.setattr(BoardScreen, "OPEN_AFTER_S", 3600.0)  # a highlight never lingers
    paths = OrgPaths(org_root)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("b")
        assert await shows(pilot, BoardScreen)
        table = app.screen.query_one(DataTable)
        table.focus()
        table.move_cursor(row=0)
        for _ in range(table.row_count):
            await pilot.press("down")
        await settle(pilot)
        assert board.read_state(paths, "human").read == frozenset()
        question = next(m for m in app.snapshot.messages if m.kind == "question")
        table.move_cursor(row=table.get_row_index(question.id))
        await pilot.press("enter")
        await settle(pilot)
    assert board.read_state(paths, "human").read == {question.id}


async def test_quit_leaves_agents_alone(make_app, recorder) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
    assert recorder.commands == [] and recorder.takeovers == []
    assert app.return_code == 0


async def test_clicking_a_card_selects_it(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#card-bo")
        await pilot.pause()
        assert selected(app) == "bo" and app.screen.query_one("#card-bo").has_class("-selected")
        assert not app.screen.query_one("#card-chief").has_class("-selected")


async def test_enter_on_an_agent_screen_takes_that_agent_over(make_app, recorder) -> None:
    app = make_app(keys={"takeover": "t"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "right", "a")
        assert await shows(pilot, AgentScreen)
        await pilot.press("t")  # the remap reaches the agent screen's binding too
        await settle(pilot)
    assert [argv[argv.index("attach") + 1] for argv in recorder.takeovers] == ["bo"]


async def test_agent_screen_plots_the_run_against_its_variants_other_seeds(
    make_app, monkeypatch
) -> None:
    plotted = []
    plot = AgentScreen.plot_loss

    def spy(screen, run, seeds) -> None:  # type: ignore[no-untyped-def]
        plotted.append((run.run_id, sorted(seed.run_id for seed in seeds), len(run.train)))
        plot(screen, run, seeds)

    monkeypatch.setattr(AgentScreen, "plot_loss", spy)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "a")
        assert await shows(pilot, AgentScreen)
        await settle(pilot)
    run_id, seeds, steps = plotted[-1]
    assert (run_id, seeds) == ("nocap-s5", ["nocap-s3", "nocap-s4"])  # its own seeds, in grey
    assert steps == len(next(r for r in app.feed.runs() if r.run_id == run_id).train)  # all of it


async def test_without_gpus_compute_time_is_called_cpu_hours(make_app, org_root) -> None:
    OrgPaths(org_root).gpu_samples.unlink()  # no GPU source: the runs ran on the CPU
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.gpu_source == "none"
        header = str(app.screen.query_one("#org-header").render())
        assert "CPU-hours" in header and "GPU-hours" not in header
        await pilot.press("l")
        assert await shows(pilot, LedgerScreen)
        await settle(pilot)
        labels = [str(column.label) for column in app.screen.query_one(DataTable).columns.values()]
        assert "CPU-h" in labels and "GPU-h" not in labels
        assert "CPU-hours" in str(app.screen.query_one("#ledger-title").render())


async def test_a_tall_terminal_grows_the_cards_and_shows_the_verdicts(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(200, 55)) as pilot:
        await settle(pilot)
        card = app.screen.query_one("#card-ada", AgentCard)
        assert card.region.height > 11 and app.main_screen.pane_lines > 3
        card.pane = "\n".join(f"line {i}" for i in range(40))
        await pilot.pause()
        shown = str(card.render()).splitlines()
        assert shown[-1] == "line 39" and f"line {40 - app.main_screen.pane_lines}" in shown
        strip = str(app.screen.query_one("#verdicts").render())
        assert "nocap vs baseline: within_noise" in strip and "compute_mismatch x4.0" in strip
    async with make_app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert pilot.app.main_screen.pane_lines == 3  # no room to spare: the smallest cards
