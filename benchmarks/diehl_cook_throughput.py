"""W4: the Diehl & Cook (2015) model end to end, simulated steps per second and MNIST epoch time.

    .venv/bin/python benchmarks/diehl_cook_throughput.py [--threads 1] [--runs 3] [--steps 100]
        [--batches 1 16 64] [--neurons 400 ...] [--device cpu|cuda] [--largest]

Builds :class:`~inferno_lightning.models.DiehlCook2015` with the paper's
settings (784 Poisson inputs, N adaptive-threshold excitatory neurons,
lateral inhibition, nearest-trace STDP with soft bounds, weight
normalisation, dt = 0.5 ms) and, per size and batch, times training batches
the way ``Trainer.fit`` with ``LocalLearning()`` runs them: ``respond``
(encode, the time loop with the rules accumulating every step; no repeats,
``min_spikes=0``) then one bounded, normalised update per batch
(``flatten_pending`` + ``apply_flattened``, what the callback does on one
rank). Lightning's own per-batch overhead is not included. ``--largest``
adds the largest power-of-two batch whose training batch runs without
running out of memory (meant for a GPU; on CPU everything "fits").

Prints the median time per simulated step (the whole batch advancing one
step) with its half-range, the samples per second, and the projected wall
time of one 60 000-sample MNIST epoch at ``--steps`` steps per sample, at the
paper's 700 presentation steps (350 ms), and at 700 + 300 steps (with the
paper's 150 ms rest, the issue's GPU target: under 30 s at 400 neurons). Our
model resets the state between samples, so it does not simulate the rest by
default (``rest_time`` 0); the last column prices it at the same cost per
step. There is no hand-written reference here: W2 (``stdp_dense.py``) is the
reference comparison of the same per-step work, and ``inferno_ai.py`` times
inferno-ai on the same model.

Measured on the 2-core development CPU, 1 thread, 100 steps per batch, 3
runs (2 for N = 1600 and 6400 and for batch 256), random intensities in
[0, 1) (denser input than MNIST digits); repeated runs of the same command
moved by up to 15 % over the session::

        N  batch   ms/step          samples/s   epoch @700   @700+300 rest
      400      1    0.573 ± 0.009       17.5    400.8 min       34 352 s
      400     16    0.846 ± 0.017      189.1     37.0 min        3 173 s
      400     64    1.823 ± 0.062      351.1     19.9 min        1 709 s
      400    256    6.223 ± 0.104      411.4     17.0 min        1 459 s
      100     16    0.718 ± 0.022      222.9     31.4 min        2 691 s
     1600     16    2.330 ± 0.090       68.7    102.0 min        8 739 s
     6400     16   13.813 ± 0.162       11.6    604.3 min       51 798 s

The sparse forward of spike-driven currents (``connections._sparse_linear``)
is most of the gain at large N (6400 neurons: 40.4 ms per step without it)
and at large batches (batch 64: 2.9 ms in an A/B run without it, 1.9 with).
Before this session's fast paths, 400 neurons took 1.17 ms per step at batch
16 and 6.57 at batch 64. No GPU was lent to this task, so the GPU target and
the GPU figures for 100 to 6400 neurons are not measured:
``--device cuda --neurons 100 400 1600 6400 --batches 1 16 --largest`` is the
command for a task that has one.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from _timing import steady_allocator

from inferno_lightning.learn import Updater, apply_flattened, flatten_pending
from inferno_lightning.models import DiehlCook2015

MNIST_SAMPLES = 60_000
PAPER_STEPS = 700  # 350 ms at dt = 0.5 ms
REST_STEPS = 300  # the paper's 150 ms rest at dt = 0.5 ms (the GPU target counts it)


def build(neurons: int, steps: int, device: str = "cpu") -> DiehlCook2015:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DiehlCook2015(
            n_neurons=neurons, step_time=0.5, presentation_time=0.5 * steps, min_spikes=0
        )
    return model.to(device).train()


def train_batch(model: DiehlCook2015, inputs: torch.Tensor, updaters: list[Updater]) -> None:
    with torch.no_grad():
        model.respond(inputs)
        flat, spec = flatten_pending(updaters)
        apply_flattened(updaters, flat, spec)
    if inputs.is_cuda:
        torch.cuda.synchronize(inputs.device)


def largest_batch(neurons: int, steps: int, device: str, start: int = 64) -> int:
    """The largest power-of-two batch whose training batch runs without running out of memory."""
    batch, fits = start, 0
    while batch <= 1 << 20:
        model = build(neurons, steps, device)
        updaters = [m for m in model.modules() if isinstance(m, Updater)]
        try:
            train_batch(model, torch.rand(batch, 784, device=device), updaters)
        except torch.OutOfMemoryError:
            break
        finally:
            del model, updaters
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        fits, batch = batch, batch * 2
    return fits


def main() -> None:
    steady_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="presentation steps per batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--neurons", type=int, nargs="+", default=[400])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--largest", action="store_true", help="also time the largest power-of-two batch that fits"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = args.device
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    print(
        f"W4 DiehlCook2015 784->N, dt 0.5 ms, {args.steps} steps per batch, on {name}, "
        f"{args.threads} threads, {args.runs} runs (after one warm-up batch)"
    )
    print(
        f"{'N':>5} {'batch':>6} {'ms/step':>17} {'samples/s':>10} {'epoch @' + str(args.steps):>12} "
        f"{'epoch @700':>11} {'@700+300 rest':>14}"
    )
    generator = torch.Generator().manual_seed(0)
    for neurons in args.neurons:
        batches = list(args.batches)
        if args.largest:
            batches.append(largest_batch(neurons, args.steps, device))
        for batch in batches:
            model = build(neurons, args.steps, device)
            updaters = [m for m in model.modules() if isinstance(m, Updater)]
            inputs = torch.rand(batch, 784, generator=generator).to(device)
            train_batch(model, inputs, updaters)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                train_batch(model, inputs, updaters)
                times.append((time.perf_counter() - start) * 1e3 / args.steps)
            per_step = statistics.median(times)
            samples_per_s = batch / (per_step * args.steps / 1e3)
            epochs = [
                MNIST_SAMPLES / batch * steps * per_step / 1e3 / 60
                for steps in (args.steps, PAPER_STEPS, PAPER_STEPS + REST_STEPS)
            ]
            print(
                f"{neurons:>5} {batch:>6} {per_step:>9.3f} ± {(max(times) - min(times)) / 2:<5.3f} "
                f"{samples_per_s:>10.1f} {epochs[0]:>9.1f} min {epochs[1]:>7.1f} min "
                f"{epochs[2] * 60:>10.1f} s"
            )
            del model, updaters


if __name__ == "__main__":
    main()
