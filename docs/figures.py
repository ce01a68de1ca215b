"""Write the figures of the README and the plotting guide into docs/figures/, one of each kind.

Every figure is drawn by a public function of ``inferno_lightning.plotting`` from a real
simulation or training run:

* ``raster.png``: LIF neurons driven by Poisson input through a dense connection, with two
  voltage traces (``plot_raster``);
* ``firing_rates.png``: the rates of those neurons (``plot_firing_rates``);
* ``fi_curve.png``: a LIF neuron's measured f-I curve against its closed form
  (``measure_fi_curve``, ``plot_fi_curve``);
* ``receptive_fields.png``, ``weight_histograms.png``, ``label_assignment.png``,
  ``confusion.png``: Diehl & Cook's network (100 neurons) trained by STDP for 3 epochs on the
  bundled digits (``plot_receptive_fields`` with the assigned labels, ``plot_weight_histograms``
  of the weights after each epoch, ``plot_label_assignment``, ``plot_confusion_matrix``).

Run: ``.venv/bin/python docs/figures.py`` (about 20 s on 2 CPU cores; no network).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402

from inferno_lightning import LocalLearning  # noqa: E402
from inferno_lightning.data import DigitsDataModule  # noqa: E402
from inferno_lightning.encode import PoissonEncoder  # noqa: E402
from inferno_lightning.models import DiehlCook2015  # noqa: E402
from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial  # noqa: E402
from inferno_lightning.plotting import (  # noqa: E402
    firing_rates,
    measure_fi_curve,
    plot_confusion_matrix,
    plot_fi_curve,
    plot_firing_rates,
    plot_label_assignment,
    plot_raster,
    plot_receptive_fields,
    plot_weight_histograms,
)

FOLDER = Path(__file__).resolve().parent / "figures"


def simulated(folder: Path) -> None:
    """Raster with voltage traces, rate histogram and f-I curve of LIF neurons."""
    dt, n_inputs, n_neurons = 0.5, 200, 50
    generator = torch.Generator().manual_seed(0)
    layer = Serial(
        LinearDense(n_inputs, n_neurons, synapse=DeltaCurrent(n_inputs, dt),
                    weight_init=torch.linspace(0.0, 15.0, n_neurons)[:, None].expand(-1, n_inputs)),
        LIF(n_neurons, dt, rest_v=-65.0, reset_v=-65.0, thresh_v=-50.0, refrac_t=2.0),
    )  # fmt: skip
    encoder = PoissonEncoder(dt, duration=500.0, max_rate=40.0, method="bernoulli")
    inputs = encoder(torch.full((4, n_inputs), 0.5), generator=generator)  # 20 Hz inputs
    spikes, voltages = [], []
    with torch.no_grad():
        for step in inputs:
            spikes.append(layer(step))
            voltages.append(layer.neuron.voltage[0, [15, 40]].clone())
    spikes = torch.stack(spikes)  # (T, 4, neurons)
    figure = plot_raster(
        spikes[:, 0], dt, voltages=torch.stack(voltages),
        voltage_labels=["neuron 15", "neuron 40"], thresh_v=-50.0,
        title="50 LIF neurons, Poisson input (weights grow with the neuron's index)",
    )  # fmt: skip
    figure.savefig(folder / "raster.png")
    rates = firing_rates(spikes, dt)  # (4, neurons): one rate per trial and neuron
    plot_firing_rates(
        rates, bins=16, title="rates of the 50 neurons over 4 trials of 0.5 s"
    ).savefig(folder / "firing_rates.png")
    neuron = LIF(1, 0.1, rest_v=-65.0, reset_v=-65.0, thresh_v=-50.0, refrac_t=2.0)
    currents = torch.linspace(0.0, 60.0, 41)

    def closed_form(current: float) -> float:
        if current <= 15.0:
            return 0.0
        return 1000.0 / (2.0 + 20.0 * math.log(current / (current - 15.0)))

    plot_fi_curve(
        currents, measure_fi_curve(neuron, currents, 1000.0), closed_form=closed_form,
        rheobase=15.0, title="LIF f-I curve (tau 20 ms, R 1 MOhm, 15 mV to threshold, dt 0.1 ms)",
    ).savefig(folder / "fi_curve.png")  # fmt: skip


class Snapshots(pl.Callback):
    """The input weights at the start and after every training epoch."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: DiehlCook2015) -> None:
        self.weights.append(pl_module.input_connection.weight.detach().clone())

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: DiehlCook2015) -> None:
        self.weights.append(pl_module.input_connection.weight.detach().clone())


def trained(folder: Path, epochs: int) -> None:
    """Receptive fields, weights over time, label assignment and confusion of Diehl & Cook."""
    torch.manual_seed(0)
    data = DigitsDataModule(batch_size=64, seed=0)
    model = DiehlCook2015(
        n_inputs=64, n_neurons=100, step_time=1.0, presentation_time=100.0, max_rate=255.0,
        norm_total=12.7, inhibition_weight=40.0, lr_post=0.64, lr_pre=0.0064,
        theta_increment=6.4, seed=0,
    )  # fmt: skip
    snapshots = Snapshots()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=[LocalLearning(), snapshots],
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    metric = model.val_accuracy
    weight = model.input_connection.weight.detach()
    plot_receptive_fields(
        weight, (8, 8), metric.assignments, cmap="hot",
        title=f"receptive fields after {epochs} epochs of STDP, with the assigned class",
    ).savefig(folder / "receptive_fields.png")  # fmt: skip
    plot_weight_histograms(
        snapshots.weights, steps=list(range(len(snapshots.weights))), bins=40, step_label="epoch",
        title="input weights, from initialisation to the end of each epoch",
    ).savefig(folder / "weight_histograms.png")  # fmt: skip
    plot_label_assignment(
        metric.assignments, metric.num_classes, title="neurons assigned to each class"
    ).savefig(folder / "label_assignment.png")
    confusion = metric.computed_confusion
    accuracy = float(confusion.diagonal().sum() / confusion.sum())
    plot_confusion_matrix(
        confusion, title=f"validation confusion ({accuracy:.1%} correct)"
    ).savefig(folder / "confusion.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FOLDER, help="folder for the PNG files")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of Diehl & Cook")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*(LeafSpec|no optimizer).*")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    simulated(args.out)
    trained(args.out, args.epochs)
    print(f"figures in {args.out} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
