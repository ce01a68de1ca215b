"""W4: the Diehl & Cook (2015) model end to end, simulated steps per second and MNIST epoch time.

    .venv/bin/python benchmarks/diehl_cook_throughput.py [--threads 1] [--runs 3] [--steps 100]
        [--rest-steps 0] [--batches 1 16 64] [--neurons 400 ...] [--device cpu|cuda] [--largest]
        [--largest-cap 1048576] [--modes eager default reduce-overhead reduce-overhead+mark
        reduce-overhead+clone]
        [--compile-at N:BATCH ...]

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
time of one 60 000-sample MNIST epoch (in whole batches: the last, partial
one costs a whole one) at ``--steps`` + ``--rest-steps`` steps per sample, at
the paper's 700 presentation steps (350 ms), and at 700 + 300 steps (with the
paper's 150 ms rest, the issue's GPU target: under 30 s at 400 neurons). Our
model resets the state between samples, so it does not simulate the rest by
default (``rest_time`` 0); the last column prices it at the same cost per
step. ``--steps 700 --rest-steps 300`` simulates it (the model's
``rest_time`` of 150 ms appends 300 silent steps), so that the epoch time is
measured rather than priced. There is no hand-written reference here: W2 (``stdp_dense.py``) is the
reference comparison of the same per-step work, and ``inferno_ai.py`` times
inferno-ai on the same model.

Measured on the quiet 2-core development CPU, 1 thread, 100 steps per batch,
3 runs, random intensities in [0, 1) (denser input than MNIST digits), at the
end of the session that added the in-place commits and the column adds of
presynaptic spikes (issue 13; the session before measured 0.315 / 0.503 /
1.169 / 3.880 ms at batch 1 / 16 / 64 / 256 and 0.351 / 1.140 / 6.640 at
100 / 1600 / 6400 neurons)::

        N  batch   ms/step          samples/s   epoch @700   @700+300 rest
      400      1    0.263 ± 0.008       38.1    183.9 min       15 761 s
      400     16    0.458 ± 0.012      349.0     20.1 min        1 719 s
      400     64    1.156 ± 0.032      553.5     12.7 min        1 085 s
      400    256    4.002 ± 0.373      639.7     11.0 min          940 s
      100     16    0.311 ± 0.008      514.9     13.6 min        1 165 s
     1600     16    1.085 ± 0.125      147.4     47.5 min        4 069 s
     6400     16    6.563 ± 1.114       24.4    287.1 min       24 611 s

The sparse forward of spike-driven currents (``connections._sparse_linear``)
is most of the gain at large N (6400 neurons: 40.4 ms per step without it)
and at large batches (batch 64: 2.9 ms in an A/B run without it, 1.9 with).
Before this session's fast paths, 400 neurons took 1.17 ms per step at batch
16 and 6.57 at batch 64. No GPU was lent to this task, so the GPU target and
the GPU figures for 100 to 6400 neurons are not measured:
``benchmarks/gpu.sh`` runs this script on a GPU, with the sizes and modes of
the issue.

**Compiled and captured steps** (``--modes``, eager only by default): besides
``eager``, ``default`` runs the model's step through ``compile_step()``,
``reduce-overhead`` through ``compile_step(mode="reduce-overhead")`` (CUDA
graphs on a GPU; on the CPU Inductor skips them), and ``reduce-overhead+mark``
the same with ``torch.compiler.cudagraph_mark_step_begin()`` called before
every simulation step (CUDA Graph Trees otherwise cannot tell where one step
ends when the step's outputs, the neurons' state, feed the next step), and
``reduce-overhead+clone`` the same with every per-sample state tensor copied
out of the graphs' memory pool after every step (so that the next replay,
which overwrites that pool, cannot invalidate it). The benchmark wraps the
model's ``compiled_step`` for the last two; the package does neither. ``--compile-at 400:64 ...`` limits the compiled modes to those
(neurons, batch) pairs (default: every pair). Each mode starts from a fresh
model with the same seed as eager's (same initial weights, same Poisson
input), so its first training batch is compared with eager's: the weights'
relative difference ``|dW|/|W|`` and the number of (sample, neuron) spike
counts that differ. Verdict ``same``: identical counts and ``|dW|/|W|``
<= 1e-5; ``rounding``: under 1 count in 10^3 differs (a voltage within
rounding of the threshold fires in one and not the other, which then changes
that neuron's update) and ``|dW|/|W|`` <= 1e-3; else ``DIFFERENT``. The row
also gives the first batch's time (the compilation), the speed-up over
eager's ms/step, Dynamo's graph breaks and Inductor's CUDA-graph counters
(``cudagraph_skips`` > 0: the graphs were not used; set
``TORCH_LOGS=perf_hints`` for the reasons). A mode that raises prints its
error in the row and the next one runs.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import time
import traceback
import warnings
from collections.abc import Callable

import torch
import torch._dynamo.utils
from _timing import device_name, steady_allocator, synchronize

from inferno_lightning.learn import Updater, apply_flattened, flatten_pending
from inferno_lightning.models import DiehlCook2015
from inferno_lightning.neural import StatefulModule

MNIST_SAMPLES = 60_000
PAPER_STEPS = 700  # 350 ms at dt = 0.5 ms
REST_STEPS = 300  # the paper's 150 ms rest at dt = 0.5 ms (the GPU target counts it)
MODES = ("eager", "default", "reduce-overhead", "reduce-overhead+mark", "reduce-overhead+clone")


def build(neurons: int, steps: int, device: str = "cpu", rest_steps: int = 0) -> DiehlCook2015:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DiehlCook2015(
            n_neurons=neurons,
            step_time=0.5,
            presentation_time=0.5 * steps,
            rest_time=0.5 * rest_steps,
            min_spikes=0,
        )
    return model.to(device).train()


def train_batch(
    model: DiehlCook2015, inputs: torch.Tensor, updaters: list[Updater]
) -> torch.Tensor:
    """One training batch as ``LocalLearning`` runs it on one rank; returns the spike counts."""
    with torch.no_grad():
        counts = model.respond(inputs)
        flat, spec = flatten_pending(updaters)
        apply_flattened(updaters, flat, spec)
    synchronize(inputs.device)
    return counts


def updaters_of(model: DiehlCook2015) -> list[Updater]:
    return [m for m in model.modules() if isinstance(m, Updater)]


def largest_batch(
    neurons: int, steps: int, device: str, start: int = 64, cap: int = 1 << 20
) -> int:
    """The largest power-of-two batch up to ``cap`` whose training batch runs without running out of memory."""
    batch, fits = start, 0
    while batch <= cap:
        model = build(neurons, steps, device)
        updaters = updaters_of(model)
        try:
            train_batch(model, torch.rand(batch, 784, device=device), updaters)
        except RuntimeError as error:  # torch.OutOfMemoryError, or a library's failed allocation
            if isinstance(error, torch.OutOfMemoryError) or "ALLOC" in str(error).upper():
                break
            raise
        finally:
            del model, updaters
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        fits, batch = batch, batch * 2
    return fits


def mark_each_step(model: DiehlCook2015) -> None:
    """Call ``torch.compiler.cudagraph_mark_step_begin()`` before every compiled simulation step."""
    compiled_step = model.compiled_step

    def marked(learning: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
        step = compiled_step(learning)

        def call(inputs: torch.Tensor) -> torch.Tensor:
            torch.compiler.cudagraph_mark_step_begin()
            return step(inputs)

        return call

    model.compiled_step = marked  # an instance attribute: SpikingModule._simulate calls it


def clone_state_each_step(model: DiehlCook2015) -> None:
    """Copy every per-sample state tensor out of the CUDA-graph pool after every compiled step.

    What the CUDA Graph Trees error "accessing tensor output of CUDAGraphs that
    has been overwritten by a subsequent run" recommends when a step's outputs
    (here the state it rebinds: voltages, traces, monitor records) are the next
    step's inputs; it costs one copy of the state per step.
    """
    compiled_step = model.compiled_step
    stateful = [m for m in model.modules() if isinstance(m, StatefulModule)]

    def cloning(learning: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
        step = compiled_step(learning)

        def call(inputs: torch.Tensor) -> torch.Tensor:
            outputs = step(inputs).clone()
            for module in stateful:
                for name in module.state_names:
                    value = getattr(module, name)
                    if isinstance(value, torch.Tensor):
                        setattr(module, name, value.clone())
            return outputs

        return call

    model.compiled_step = cloning


def prepare(model: DiehlCook2015, mode: str) -> None:
    """Put ``model`` in ``mode`` (see the module docstring), with Dynamo's caches emptied."""
    if mode == "eager":
        return
    # A fresh model's step recompiles anyway (its guards hold the old module); emptying the
    # caches keeps a run of many sizes under Dynamo's recompile limit, past which it would
    # quietly fall back to the eager step.
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    SKIPS.reasons.clear()
    if mode == "default":
        model.compile_step()
    else:
        model.compile_step(mode="reduce-overhead")
        if mode == "reduce-overhead+mark":
            mark_each_step(model)
        elif mode == "reduce-overhead+clone":
            clone_state_each_step(model)


class SkipReasons(logging.Handler):
    """Keeps Inductor's "skipping cudagraphs due to ..." reasons (logged on a GPU only)."""

    def __init__(self) -> None:
        super().__init__()
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "skipping cudagraphs" in message:
            reason = message.split("due to", 1)[-1].strip().splitlines()[0][:120]
            if reason not in self.reasons:
                self.reasons.append(reason)


SKIPS = SkipReasons()


def watch_cudagraph_skips() -> None:
    """Turn on Inductor's ``cudagraphs`` log (to stderr) and keep its skip reasons in :data:`SKIPS`."""
    try:
        torch._logging.set_logs(cudagraphs=True)
    except (TypeError, ValueError):  # a torch without that log: the counters still say it
        return
    logging.getLogger("torch._inductor").addHandler(SKIPS)


def compile_counters() -> str:
    """Dynamo's graph breaks and Inductor's CUDA-graph counters since :func:`prepare`."""
    counters = torch._dynamo.utils.counters
    parts = [f"graph breaks {sum(counters['graph_break'].values())}"]
    parts += [
        f"{name} {value}"
        for name, value in sorted(counters["inductor"].items())
        if "cudagraph" in name
    ]
    if SKIPS.reasons:
        parts.append("skipped due to: " + "; ".join(SKIPS.reasons))
    return ", ".join(parts)


def compare(
    eager: tuple[torch.Tensor, torch.Tensor], other: tuple[torch.Tensor, torch.Tensor]
) -> str:
    """Verdict on a mode's first batch against eager's: (weights, counts) of each."""
    (w_eager, c_eager), (w_other, c_other) = eager, other
    relative = float((w_other - w_eager).norm() / w_eager.norm())
    differ = int((c_other != c_eager).sum())
    if differ == 0 and relative <= 1e-5:
        verdict = "same"
    elif differ <= 1e-3 * c_eager.numel() and relative <= 1e-3:
        verdict = "rounding"
    else:
        verdict = "DIFFERENT"
    return (
        f"{verdict}: |dW|/|W| {relative:.1e}, {differ}/{c_eager.numel()} counts differ "
        f"(eager: {int(c_eager.sum())} spikes)"
    )


def measure(
    neurons: int, batch: int, mode: str, inputs: torch.Tensor, args: argparse.Namespace
) -> tuple[list[float], float, tuple[torch.Tensor, torch.Tensor]]:
    """Times of ``args.runs`` training batches in ms per step, the first batch's time in s,
    and the weights and spike counts after the first batch."""
    model = build(neurons, args.steps, args.device, args.rest_steps)
    prepare(model, mode)
    updaters = updaters_of(model)
    try:
        synchronize(args.device)
        start = time.perf_counter()
        counts = train_batch(model, inputs, updaters)
        first = time.perf_counter() - start
        after_first = (model.input_connection.weight.detach().clone(), counts.clone())
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            train_batch(model, inputs, updaters)
            times.append((time.perf_counter() - start) * 1e3 / (args.steps + args.rest_steps))
        return times, first, after_first
    finally:
        del model, updaters
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


def row(neurons: int, batch: int, mode: str, times: list[float], steps: int) -> str:
    per_step = statistics.median(times)
    samples_per_s = batch / (per_step * steps / 1e3)
    # Whole batches: the last, partial batch of an epoch costs a whole one.
    batches = math.ceil(MNIST_SAMPLES / batch)
    epochs = [batches * n * per_step / 1e3 for n in (steps, PAPER_STEPS, PAPER_STEPS + REST_STEPS)]
    return (
        f"{neurons:>5} {batch:>6} {mode:>21} {per_step:>9.3f} ± {(max(times) - min(times)) / 2:<6.3f}"
        f"{samples_per_s:>10.1f} {epochs[0] / 60:>9.1f} min {epochs[1] / 60:>7.1f} min "
        f"{epochs[2]:>10.1f} s"
    )


def main() -> None:
    steady_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="presentation steps per batch")
    parser.add_argument(
        "--rest-steps",
        type=int,
        default=0,
        help="rest steps appended to each presentation (the model's rest_time; 300 = 150 ms)",
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--neurons", type=int, nargs="+", default=[400])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--largest", action="store_true", help="also time the largest power-of-two batch that fits"
    )
    parser.add_argument(
        "--largest-cap", type=int, default=1 << 20, help="the largest batch --largest tries"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["eager"])
    parser.add_argument(
        "--compile-at",
        nargs="+",
        default=None,
        metavar="N:BATCH",
        help="(neurons, batch) pairs that the compiled modes run at (default: every pair)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = args.device
    compile_at = (
        None
        if args.compile_at is None
        else {tuple(int(x) for x in pair.split(":")) for pair in args.compile_at}
    )
    modes = ["eager", *(mode for mode in args.modes if mode != "eager")]
    if len(modes) > 1:
        watch_cudagraph_skips()
    print(
        f"W4 DiehlCook2015 784->N, dt 0.5 ms, {args.steps} presentation + {args.rest_steps} rest "
        f"steps per batch, on "
        f"{device_name(device)}, {args.threads} threads, {args.runs} runs (after one warm-up "
        f"batch), torch {torch.__version__}; epochs of {MNIST_SAMPLES} samples in whole batches",
        flush=True,
    )
    print(
        f"{'N':>5} {'batch':>6} {'mode':>21} {'ms/step':>18} {'samples/s':>10} "
        f"{'epoch @' + str(args.steps + args.rest_steps):>12} {'epoch @700':>11} "
        f"{'@700+300 rest':>14}",
        flush=True,
    )
    generator = torch.Generator().manual_seed(0)
    for neurons in args.neurons:
        batches = list(args.batches)
        if args.largest:
            try:
                fits = largest_batch(neurons, args.steps, device, cap=args.largest_cap)
            except Exception as error:  # the listed batches still run
                traceback.print_exc()
                print(f"{neurons:>5} largest batch: failed: {type(error).__name__}: {error}")
                fits = 0
            print(f"{neurons:>5} largest power-of-two batch that fits (at most {args.largest_cap}): "
                  f"{fits}", flush=True)  # fmt: skip
            if fits:
                batches.append(fits)
        for batch in batches:
            inputs = torch.rand(batch, 784, generator=generator).to(device)
            eager_times: list[float] | None = None
            eager_state: tuple[torch.Tensor, torch.Tensor] | None = None
            for mode in modes:
                if (
                    mode != "eager"
                    and compile_at is not None
                    and (neurons, batch) not in compile_at
                ):
                    continue
                try:
                    times, first, state = measure(neurons, batch, mode, inputs, args)
                except Exception as error:  # one failed mode must not end the run
                    traceback.print_exc()
                    message = str(error).strip().splitlines()
                    print(f"{neurons:>5} {batch:>6} {mode:>21} failed: {type(error).__name__}: "
                          f"{message[0] if message else ''}", flush=True)  # fmt: skip
                    continue
                line = row(neurons, batch, mode, times, args.steps + args.rest_steps)
                if mode == "eager":
                    eager_times, eager_state = times, state
                else:
                    line += f"  first batch {first:.1f} s"
                    if eager_times is not None and eager_state is not None:
                        speedup = statistics.median(eager_times) / statistics.median(times)
                        line += f", {speedup:.2f}x eager, {compare(eager_state, state)}"
                    line += f", {compile_counters()}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
