"""Overhead of the SpikeStatistics callback at its default settings against no callback.

784 Poisson inputs -> 100 ALIF neurons, pair STDP applied by LocalLearning
once per batch, 100 steps of 1 ms, batch 16, on CPU (or ``--device cuda``);
every fit logs to a CSVLogger (or ``--logger tensorboard``, which also takes
histograms and images) in a temporary directory.

    .venv/bin/python benchmarks/statistics_overhead.py [--runs 3] [--batches 12] [--threads 1]
        [--logger csv|tensorboard]

At the defaults (the Trainer's ``log_every_n_steps=50``, plots every 500
batches) a short fit holds few logged batches, so each run measures the
parts and adds them up. A run is three fits of ``--batches`` batches:

* ``none``: no callback: the batch time ``b``;
* ``scalars``: ``SpikeStatistics(log_every_n_steps=2, plot_every_n_steps=10**9)``:
  every other batch logs scalars. Its unlogged batches take ``u`` (``u - b``
  is printed as a check: nothing is attached then, so it is noise), and the
  median logged minus the median unlogged batch of the same fit is the extra
  time ``s`` of a scalar batch (paired within one fit, so drift in machine
  load hits both alike);
* ``plots``: ``SpikeStatistics(log_every_n_steps=2, plot_every_n_steps=2)``:
  the extra time ``p`` of a batch that logs scalars and, with TensorBoard,
  histograms and images.

The callback's own time in its hooks is measured directly: ``h`` on an
unlogged batch (its whole cost there, since no monitor is attached). The
amortised overhead per batch at the default frequencies, where 500 batches
hold 490 unlogged batches, 9 scalar batches and 1 scalar-and-plot batch, is

    (490 h + 9 s + p) / 500

printed as a fraction of ``b``. Two warm-up batches per fit are skipped;
values are median [min, max] over runs. Use one thread on a shared machine:
with more threads than free cores, OpenMP waits make batch times swing by
tens of times.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader, Dataset

from inferno_lightning import LocalLearning, SpikeStatistics, SpikingModule
from inferno_lightning.learn import STDP, updater_for
from inferno_lightning.neural import ALIF, DeltaCurrent, LinearDense, Serial

N_IN, N_OUT, STEPS, BATCH = 784, 100, 100, 16
WARM_UP = 2


class PoissonSamples(Dataset):
    """``size`` samples drawn from a pool of 64 fixed Poisson trains ``(STEPS, N_IN)`` (uint8)."""

    def __init__(self, size: int) -> None:
        generator = torch.Generator().manual_seed(0)
        rates = torch.rand(64, 1, N_IN, generator=generator) * 0.1
        self.pool = (torch.rand(64, STEPS, N_IN, generator=generator) < rates).to(torch.uint8)
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.pool[index % 64]


class DiehlCookLike(SpikingModule):
    """Dense 784 -> 100 ALIF layer trained by pair STDP (Diehl & Cook's excitatory layer)."""

    def __init__(self) -> None:
        super().__init__(step_time=1.0, time_dim=1)

    def configure_network(self) -> None:
        generator = torch.Generator().manual_seed(1)
        connection = LinearDense(
            N_IN, N_OUT, synapse=DeltaCurrent(N_IN, 1.0),
            weight_init=torch.rand(N_OUT, N_IN, generator=generator) * 0.3,
        )  # fmt: skip
        neuron = ALIF(N_OUT, 1.0, rest_v=-65.0, reset_v=-60.0, thresh_v=-52.0, refrac_t=5.0,
                      time_constant=100.0, resistance=60.0, tc_adaptation=1e7,
                      spike_increment=0.05)  # fmt: skip
        self.layer = Serial(connection, neuron)

    def configure_rules(self) -> None:
        updater_for(self.layer.connection).add("weight", bound="soft", w_min=0.0, w_max=1.0)
        stdp = STDP(lr_post=1e-2, lr_pre=1e-4, tc_post=20.0, tc_pre=20.0, monitors=self.monitors)
        stdp.register(self.layer.cell())
        self.rules.append(stdp)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return super().encode(inputs.to(torch.get_default_dtype()))

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(inputs)


class Stopwatch:
    """Wall time of each training batch, synchronised with the device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []
        self._start = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self) -> None:
        self._sync()
        self._start = time.perf_counter()

    def stop(self) -> None:
        self._sync()
        self.times.append(time.perf_counter() - self._start)


class BatchStart(Callback):
    """First in the callback list: starts the stopwatch before every other start hook."""

    def __init__(self, stopwatch: Stopwatch) -> None:
        self.stopwatch = stopwatch

    def on_train_batch_start(self, *args: Any) -> None:
        self.stopwatch.start()


class BatchEnd(Callback):
    """Last in the callback list: stops the stopwatch after every other end hook."""

    def __init__(self, stopwatch: Stopwatch) -> None:
        self.stopwatch = stopwatch

    def on_train_batch_end(self, *args: Any) -> None:
        self.stopwatch.stop()


class TimedStatistics(SpikeStatistics):
    """SpikeStatistics that also records the wall time spent in its batch hooks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hook_times: list[float] = []

    def on_train_batch_start(self, *args: Any) -> None:
        start = time.perf_counter()
        super().on_train_batch_start(*args)
        self._hook_start = time.perf_counter() - start

    def on_train_batch_end(self, *args: Any) -> None:
        start = time.perf_counter()
        super().on_train_batch_end(*args)
        self.hook_times.append(self._hook_start + time.perf_counter() - start)


def run(
    statistics_kwargs: dict[str, Any] | None, batches: int, device: torch.device, logger: str
) -> tuple[list[float], list[float]]:
    """Fit ``batches`` batches; return each batch's wall time and the callback's hook time (s)."""
    stopwatch = Stopwatch(device)
    callbacks: list[Callback] = [BatchStart(stopwatch), LocalLearning()]
    timed = None
    if statistics_kwargs is not None:
        timed = TimedStatistics(**statistics_kwargs)
        callbacks.append(timed)
    callbacks.append(BatchEnd(stopwatch))
    with tempfile.TemporaryDirectory() as folder:
        trainer = pl.Trainer(
            accelerator=device.type, devices=1, callbacks=callbacks,
            logger=CSVLogger(folder) if logger == "csv" else TensorBoardLogger(folder),
            max_epochs=1, enable_progress_bar=False, enable_model_summary=False,
            enable_checkpointing=False, default_root_dir=folder,
        )  # fmt: skip
        loader = DataLoader(PoissonSamples(batches * BATCH), batch_size=BATCH)
        trainer.fit(DiehlCookLike(), loader)
    return stopwatch.times, ([] if timed is None else timed.hook_times)


def summary(values: list[float], scale: float = 1e3, unit: str = "ms") -> str:
    """Median [min, max] of ``values`` (seconds) in ``unit`` (``scale`` units per second)."""
    low, high = min(values) * scale, max(values) * scale
    return f"{statistics.median(values) * scale:8.2f} {unit} [{low:.2f}, {high:.2f}]"


def split(times: list[float]) -> tuple[list[float], list[float]]:
    """(logged, unlogged) batches of a fit logging every other batch (batch k logs if k is odd)."""
    kept = list(enumerate(times))[WARM_UP:]
    return [t for k, t in kept if k % 2 == 1], [t for k, t in kept if k % 2 == 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--logger", choices=("csv", "tensorboard"), default="csv")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.batches < WARM_UP + 4:
        parser.error(f"--batches must be at least {WARM_UP + 4}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    configurations = {
        "none": None,
        "scalars": dict(log_every_n_steps=2, plot_every_n_steps=10**9),
        "plots": dict(log_every_n_steps=2, plot_every_n_steps=2),
    }
    names = ("b", "u", "s", "p", "hook_unlogged", "hook_scalar", "hook_plot")
    results: dict[str, list[float]] = {name: [] for name in names}
    for index in range(args.runs):
        order = list(configurations)
        if index % 2:
            order.reverse()
        measured = {
            name: run(configurations[name], args.batches, device, args.logger) for name in order
        }
        base = statistics.median(measured["none"][0][WARM_UP:])
        logged, unlogged = split(measured["scalars"][0])
        plotted, unplotted = split(measured["plots"][0])
        hooks_logged, hooks_unlogged = split(measured["scalars"][1])
        hooks_plotted, _ = split(measured["plots"][1])
        values = {
            "b": base,
            "u": statistics.median(unlogged),
            "s": statistics.median(logged) - statistics.median(unlogged),
            "p": statistics.median(plotted) - statistics.median(unplotted),
            "hook_unlogged": statistics.median(hooks_unlogged),
            "hook_scalar": statistics.median(hooks_logged),
            "hook_plot": statistics.median(hooks_plotted),
        }
        for name, value in values.items():
            results[name].append(value)
        print(
            f"run {index + 1}/{args.runs}: batch {values['b'] * 1e3:.1f} ms, unlogged with "
            f"callback {values['u'] * 1e3:.1f} ms, scalar batch +{values['s'] * 1e3:.1f} ms, "
            f"plot batch +{values['p'] * 1e3:.1f} ms",
            flush=True,
        )

    print(
        f"\n{N_IN} -> {N_OUT} ALIF, STDP, {STEPS} steps, batch {BATCH}, {device}, "
        f"{args.threads} thread(s), {args.logger} logger, {args.runs} runs of 3 fits x "
        f"{args.batches} batches"
    )
    print(f"batch time, no callback          b  {summary(results['b'])}")
    print(f"batch time, callback, unlogged   u  {summary(results['u'])}")
    print(f"extra time of a scalar batch     s  {summary(results['s'])}")
    print(f"extra time of a plot batch       p  {summary(results['p'])}")
    print(f"time in the hooks, unlogged batch   {summary(results['hook_unlogged'], 1e6, 'us')}")
    print(f"time in the hooks, scalar batch     {summary(results['hook_scalar'])}")
    print(f"time in the hooks, plot batch       {summary(results['hook_plot'])}")
    amortised = [
        (490 * h + 9 * s + p) / 500
        for h, s, p in zip(results["hook_unlogged"], results["s"], results["p"], strict=True)
    ]
    ratios = [a / b for a, b in zip(amortised, results["b"], strict=True)]
    logged_only = [
        (9 * s + p) / 500 / b
        for b, s, p in zip(results["b"], results["s"], results["p"], strict=True)
    ]
    print(f"amortised overhead per batch        {summary(amortised)}")
    print(
        f"overhead / batch time at defaults   {statistics.median(ratios) * 100:8.2f} % "
        f"[{min(ratios) * 100:.2f}, {max(ratios) * 100:.2f}] (target < 5 %)"
    )
    print(
        f"  of which logged batches           {statistics.median(logged_only) * 100:8.2f} % "
        f"[{min(logged_only) * 100:.2f}, {max(logged_only) * 100:.2f}]"
    )
    noise = [(u - b) / b for b, u in zip(results["b"], results["u"], strict=True)]
    print(
        f"check: (u - b) / b (noise)         {statistics.median(noise) * 100:8.2f} % "
        f"[{min(noise) * 100:.2f}, {max(noise) * 100:.2f}]"
    )


if __name__ == "__main__":
    main()
