"""Diehl & Cook on the bundled digits: test accuracy against batch size (issue 16, item 2).

    .venv/bin/python benchmarks/batch_size.py [--batches 1 16 64 256 1024] [--epochs 8]
        [--scaling linear sqrt winners] [--seed 0]

Each row runs ``benchmarks/digits_diehl_cook.py`` (the main job's settings: 400
neurons, 100 ms presentations, the recipe's normalisation and inhibition) in a
fresh process at one batch size, with the paper's per-sample learning rates
(0.01 post, 0.0001 pre) and the recipe's per-sample theta increment (0.4 mV:
the paper's 0.05 times 8 for 400 neurons) scaled to the batch:

* ``linear``: rates times the batch size ``b``. The batch-mean update then
  adds what ``b`` samples presented one after the other would add, had the
  weights not moved in between (the recipe's rule: ``b = 64`` gives its
  0.64 / 0.0064 / 25.6).
* ``sqrt``: rates times ``sqrt(b)``, the common large-batch compromise.
* ``winners``: ``potentiation_reduction="winners"`` and
  ``theta_reduction="max"`` with the per-sample ``lr_post`` and theta
  increment (not scaled; ``lr_pre`` linear, as depression is still the batch
  mean): each neuron that spiked moves as far as one presentation would move
  it, however many samples of the batch it won.

Prints one line per run and a table: batch, scaling, epochs, weight updates,
test and validation accuracy, wall time. A batch of ``b`` makes
``ceil(1077 / b)`` updates per epoch, so at ``b = 1024`` eight epochs are 16
updates: the table says how much accuracy that costs, and ``--epochs-for``
gives such a batch more epochs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN_SAMPLES = 1077
PER_SAMPLE = {"lr_post": 0.01, "lr_pre": 0.0001, "theta_increment": 0.4}


def run(batch: int, scaling: str, epochs: int, seed: int, threads: int) -> dict:
    factor = math.sqrt(batch) if scaling == "sqrt" else batch
    factors = dict.fromkeys(PER_SAMPLE, factor)
    command = [
        sys.executable, str(HERE / "digits_diehl_cook.py"), "--batch-size", str(batch),
        "--epochs", str(epochs), "--seed", str(seed), "--threads", str(threads),
    ]  # fmt: skip
    if scaling == "winners":
        factors.update(lr_post=1.0, theta_increment=1.0)
        command += ["--set", "potentiation_reduction=winners", "--set", "theta_reduction=max"]
    for name, value in PER_SAMPLE.items():
        command += ["--set", f"{name}={value * factors[name]:.6g}"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout[result.stdout.index("{") :])
    report["scaling"] = scaling
    report["updates"] = epochs * math.ceil(TRAIN_SAMPLES / batch)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256, 1024])
    parser.add_argument(
        "--scaling", nargs="+", choices=("linear", "sqrt", "winners"), default=["linear"]
    )
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--epochs-for", action="append", default=[], metavar="BATCH=EPOCHS",
        help="another number of epochs for one batch size, e.g. --epochs-for 1024=32",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    epochs_for = {int(k): int(v) for k, v in (item.split("=", 1) for item in args.epochs_for)}
    rows = []
    for scaling in args.scaling:
        for batch in args.batches:
            epochs = epochs_for.get(batch, args.epochs)
            report = run(batch, scaling, epochs, args.seed, args.threads)
            rows.append(report)
            print(json.dumps({k: report[k] for k in (
                "batch_size", "scaling", "epochs", "updates", "test_accuracy", "val_accuracy",
                "wall_seconds")}), flush=True)  # fmt: skip
    print()
    print(
        f"{'batch':>6} {'scaling':>8} {'epochs':>6} {'updates':>7} {'test':>7} {'val':>7} {'wall s':>7}"
    )
    for r in rows:
        print(
            f"{r['batch_size']:>6} {r['scaling']:>8} {r['epochs']:>6} {r['updates']:>7} "
            f"{100 * r['test_accuracy']:>6.1f}% {100 * r['val_accuracy']:>6.1f}% {r['wall_seconds']:>7.1f}"
        )


if __name__ == "__main__":
    main()
