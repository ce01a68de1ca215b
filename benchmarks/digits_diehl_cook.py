"""Diehl & Cook (2015) on scikit-learn's 8x8 digits: fit, label, test, on CPU, timed end to end.

    .venv/bin/python benchmarks/digits_diehl_cook.py [--threads 1] [--seed 0] [--epochs 8]

Trains :class:`~inferno_lightning.models.DiehlCook2015` with the
:class:`~inferno_lightning.callbacks.LocalLearning` callback on the
:class:`~inferno_lightning.data.DigitsDataModule` training part (1077 samples),
assigns labels from the last epoch's responses, validates after every epoch,
and tests on the 360 held-out test samples. Prints the settings, the test
accuracy and the wall time of the whole run (data, fit and test, not the
imports).

The defaults are the settings tuned for the 5-minute CPU budget (see the
model's docstring for the paper's values they depart from):

* 400 excitatory neurons, direct lateral inhibition of 40 mV per spike;
* 100 ms presentations at 1 ms steps, inputs at up to 255 Hz;
* each neuron's 64 input weights sum to 12.7 (twice the paper's 78/784 per input);
* batches of 64 with the batch-mean update: the paper's per-sample learning
  rates (0.01 post, 0.0001 pre) and theta increment (0.05 mV) multiplied by
  64 (and theta by 8 more for 400 neurons, so that each neuron's threshold
  still keeps pace with how often it wins);
* 8 epochs.

Measured on the quiet 2-core development CPU, one thread, with this session's
fast paths (sparse spike products, the three-pass soft bound; their rounding
differs in the last place, so seeds 1 and 2 moved from 89.2 and 90.6 %): test
accuracy 88.6 % (seed 0), 88.1 % (seed 1) and 90.8 % (seed 2), 62 to 63 s for
data, fit and test.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import lightning.pytorch as pl
import torch

from inferno_lightning import LocalLearning
from inferno_lightning.data import DigitsDataModule
from inferno_lightning.models import DiehlCook2015

#: The tuned model settings (init arguments of DiehlCook2015 that differ from the paper's defaults).
TUNED = {
    "n_inputs": 64,
    "n_neurons": 400,
    "step_time": 1.0,
    "presentation_time": 100.0,
    "max_rate": 255.0,
    "norm_total": 12.7,
    "inhibition_weight": 40.0,
    "lr_post": 0.64,
    "lr_pre": 0.0064,
    "theta_increment": 25.6,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="model seed (weights, Poisson input)")
    parser.add_argument("--data-seed", type=int, default=0, help="split and shuffle seed")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--neurons", type=int, default=TUNED["n_neurons"])
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="override a model argument (a float or a name), e.g. --set theta_increment=12.8",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = dict(TUNED, n_neurons=args.neurons, seed=args.seed)
    for item in args.set:
        name, value = item.split("=", 1)
        try:
            settings[name] = float(value)
        except ValueError:  # a choice, e.g. --set potentiation_reduction=winners
            settings[name] = value

    start = time.perf_counter()
    data = DigitsDataModule(batch_size=args.batch_size, seed=args.data_seed)
    model = DiehlCook2015(**settings)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=args.epochs, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=[LocalLearning()],
    )  # fmt: skip
    with warnings.catch_warnings():
        # Local learning only: Lightning notes that there is no optimizer.
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        trainer.fit(model, datamodule=data)
    fitted = time.perf_counter()
    validation = float(trainer.callback_metrics["val/accuracy"])
    (results,) = trainer.test(model, datamodule=data, verbose=False)
    end = time.perf_counter()
    report = {
        "settings": settings,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "val_accuracy": round(validation, 4),
        "test_accuracy": round(results["test/accuracy"], 4),
        "fit_seconds": round(fitted - start, 1),
        "test_seconds": round(end - fitted, 1),
        "wall_seconds": round(end - start, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
