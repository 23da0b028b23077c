"""The GPU screen: every GPU's utilisation and memory over the sampled history."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from orgtui.paths import OrgPaths
from orgtui.tui.widgets.keybar import KeyBar


class GpuScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [("escape", "app.pop_screen", "Back")]

    def __init__(self, paths: OrgPaths) -> None:
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        yield Static("GPUs", id="gpu-title", classes="panel-title")
        yield PlotextPlot(id="gpu-plot")
        yield KeyBar()

    def on_mount(self) -> None:
        self.load()
        self.set_interval(2.0, self.load)

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from orgtui.gpu import describe_flags, read_samples

        samples = read_samples(self.paths, last_n=600)
        flags = describe_flags(samples[-1]) if samples else []
        self.app.call_from_thread(self.show, samples, flags)

    def show(self, samples: list, flags: list[str]) -> None:
        title = "GPUs — " + (
            f"{len(samples)} samples"
            if samples
            else "no GPU samples (no GPU, or the supervisor is down)"
        )
        if samples and samples[-1].source.startswith("replay"):
            title += " · replay (recorded trace, not this machine)"
        if flags:
            title += " · " + "; ".join(flags)
        self.query_one("#gpu-title", Static).update(title)
        plot = self.query_one(PlotextPlot).plt
        plot.clear_data()
        plot.title("utilisation % per GPU")
        if samples:
            t0 = samples[0].time
            indices = sorted({g.index for s in samples for g in s.gpus})
            for index in indices:
                xs, ys = [], []
                for sample in samples:
                    gpu = sample.gpu(index)
                    if gpu is not None and gpu.util is not None:
                        xs.append(sample.time - t0)
                        ys.append(gpu.util)
                plot.plot(xs, ys, label=f"GPU{index}")
        self.query_one(PlotextPlot).refresh()
