"""W2: pair STDP on a dense connection, ours against a hand-written PyTorch loop.

784 Poisson inputs (40 Hz) -> 400 LIF neurons (about 27 Hz), pair STDP with
cumulative traces, updates applied every step, at three bounds (``clamp``:
``clamp(w + P - D, 0, 1)``, BindsNET's default; ``soft``: ``w + P (1 - w) -
D w``; ``none``: ``w + P - D``), each against a reference of the same bound,
250 steps, batch 1 and 16.

    .venv/bin/python benchmarks/stdp_dense.py [--runs 9] [--threads 1] [--steps 250]
        [--batches 1 16] [--bounds clamp soft none] [--compiled] [--device cpu|cuda]

Prints, per batch size and bound, the median and half-range of the time per
simulation step of each implementation over interleaved runs, the median and
range of the paired ratios ours / reference, the largest weight difference at
the end and the output rate. ``--compiled`` adds ours with the whole learning
step (layer, STDP, ``Updater.step``) under ``torch.compile`` (compiled once,
untimed; checked against the reference too). Everything runs under the
steady allocator of ``_timing.py`` (without it the reference's per-step
allocations page-fault erratically: 0.9 to 2.4 ms per step at batch 1
instead of 0.54).

Measured on the quiet 2-core development CPU at the end of the session that
added the in-place commits (issue 13), ``--runs 7 --compiled``, ms per step,
ratio median [range]::

    threads  bound  batch  reference        ours             ours/ref          compiled/ref
    1        clamp  1      0.286 ± 0.011    0.218 ± 0.007    0.76 [0.75-0.77]  0.82
    1        soft   1      0.351 ± 0.009    0.239 ± 0.006    0.68 [0.66-0.71]  0.70
    1        none   1      0.269 ± 0.003    0.202 ± 0.004    0.76 [0.74-0.77]  0.90
    1        clamp  16     0.568 ± 0.008    0.444 ± 0.006    0.78 [0.76-0.78]  0.85
    1        soft   16     0.642 ± 0.017    0.546 ± 0.014    0.86 [0.83-0.87]  0.94
    1        none   16     0.548 ± 0.006    0.433 ± 0.009    0.78 [0.78-0.81]  0.86

Two threads (``--runs 7 --threads 2``, four runs of the whole table): the
machine's second core is not steady. For minutes at a time a step that uses
both takes far longer (the reference's batch-1 step 0.42 ms instead of 0.21,
a matrix product at batch 16 twice as long as at one thread). With a steady
second core, ours/ref was 1.01 / 0.99 / 1.02 at batch 1 and 1.00-1.04 /
1.07-1.09 / 1.01-1.05 at batch 16 (clamp / soft / none): ours costs the same
at one and two threads (its step is mostly small operations and Python), the
reference's weight-sized passes get 25 % (batch 1) to 35 % (batch 16) faster
with the second thread. With an unsteady one: 0.73 / 0.53 / 0.58 at batch 1
and 1.13 / 1.00 / 1.10 at batch 16.

The weights agree to 1.2e-7 at batch 1; at batch 16 a spike flips by
rounding and the weights then drift apart by up to 2.5e-3 (clamp).

Where the time goes (``op_count.py``): a step of ours is 53 to 67 ATen
operations, the reference's 34 to 37; ours writes 0.7 to 8 MB per step in
0.2 to 6 weight-sized passes, the reference 10 to 14 MB in 8 to 11. One
step's correlations are added into the weight where they land at commit
(a sparse product over the postsynaptic spikes, an ``index_add_`` at the
presynaptic spikes' columns, one clamp), or, for soft bounds, bounded and
written only at those rows and columns (batch 1) or computed into the
weight (batch 16). At batch 1 most of a step of ours is per-operation
dispatch and Python around some 55 small operations, which a second thread
does not shorten. Compiled, the step loses
its event-driven updates (no host reads in a graph) and is slower than the
eager step on this CPU.

``--device cuda`` runs both on the GPU (inputs and initial weights drawn on
the CPU, as here, then moved); each timed run starts and ends with
``torch.cuda.synchronize()``. No GPU figures yet (``benchmarks/gpu.sh``).
"""

from __future__ import annotations

import argparse
import math

import torch
from _timing import device_name, interleaved, ratio, steady_allocator, summary

from inferno_lightning.learn import STDP, updater_for
from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial

N_IN, N_OUT, STEPS, DT = 784, 400, 250, 1.0
# 40 Hz Poisson inputs and weights uniform over the soft bounds [0, 1] drive the
# neurons to about 27 Hz, so both STDP terms have work to do (at 30 Hz and
# weights below 0.3 no neuron ever fires and potentiation is all zeros).
INPUT_P, WEIGHT_SCALE = 0.04, 1.0
TAU, REST, THRESH, REFRAC = 20.0, -65.0, -52.0, 2.0
TC_TRACE, LR_POST, LR_PRE, W_MAX = 20.0, 1e-2, 1e-4, 1.0


BOUNDS = ("clamp", "soft", "none")


def reference(
    inputs: torch.Tensor,
    weight: torch.Tensor,
    counts: list[float] | None = None,
    bound: str = "soft",
) -> torch.Tensor:
    """The straightforward loop a researcher would write (exact LIF, traces, bounded STDP).

    ``bound``: ``"clamp"`` (``clamp(w + P - D, 0, w_max)``, BindsNET's
    default), ``"soft"`` (``w + P (w_max - w) - D w``) or ``"none"``
    (``w + P - D``). ``counts``, if given, receives the number of
    postsynaptic spikes.
    """
    batch, device = inputs.shape[1], inputs.device
    w = weight.clone()
    v = torch.full((batch, N_OUT), REST, device=device)
    refrac = torch.zeros(batch, N_OUT, device=device)
    x_pre = torch.zeros(batch, N_IN, device=device)
    x_post = torch.zeros(batch, N_OUT, device=device)
    decay = math.exp(-DT / TAU)
    trace_decay = math.exp(-DT / TC_TRACE)
    for t in range(inputs.shape[0]):
        pre = inputs[t]
        current = pre @ w.T  # DeltaCurrent: 1 nA per spike for dt = 1 ms
        refrac = (refrac - DT).clamp_(min=0)
        held = refrac > 0
        v_new = REST + (v - REST) * decay + current * (1 - decay)
        v = torch.where(held, v, v_new)
        post = (v >= THRESH).float()
        v = torch.where(post > 0, torch.full_like(v, REST), v)
        refrac = torch.where(post > 0, torch.full_like(refrac, REFRAC), refrac)
        x_pre = x_pre * trace_decay + pre
        x_post = x_post * trace_decay + post
        ltp = LR_POST * (post.T @ x_pre) / batch
        ltd = LR_PRE * (x_post.T @ pre) / batch
        if bound == "soft":
            w += ltp * (W_MAX - w) - ltd * w
        elif bound == "clamp":
            w = torch.clamp(w + ltp - ltd, 0.0, W_MAX)
        else:
            w = w + ltp - ltd
        if counts is not None:
            counts.append(post.sum().item())
    return w


def ours(inputs: torch.Tensor, weight: torch.Tensor, bound: str = "soft") -> torch.Tensor:
    """The same network and rule built from the framework's modules, updates applied every step."""
    connection = LinearDense(N_IN, N_OUT, synapse=DeltaCurrent(N_IN, DT), weight_init=weight)
    layer = Serial(connection, LIF(N_OUT, DT, time_constant=TAU, thresh_v=THRESH, refrac_t=REFRAC))
    layer.to(inputs.device)  # a no-op on the CPU
    updater = updater_for(connection)
    if bound == "none":
        updater.add("weight")
    else:
        updater.add("weight", bound=bound, w_min=0.0, w_max=W_MAX)
    stdp = STDP(lr_post=LR_POST, lr_pre=LR_PRE, tc_post=TC_TRACE, tc_pre=TC_TRACE)
    stdp.register(layer.cell())
    for t in range(inputs.shape[0]):
        layer(inputs[t])
        stdp()
        updater.step()
    return connection.weight.detach()


class CompiledOurs:
    """``ours`` with the whole learning step (layer, STDP, ``Updater.step``) under ``torch.compile``.

    Built and compiled once (the compilation is not timed); each run restores
    the initial weight and resets the state, then steps as ``ours`` does.
    """

    def __init__(self, inputs: torch.Tensor, weight: torch.Tensor, bound: str) -> None:
        self.connection = LinearDense(
            N_IN, N_OUT, synapse=DeltaCurrent(N_IN, DT), weight_init=weight
        )
        self.layer = Serial(
            self.connection, LIF(N_OUT, DT, time_constant=TAU, thresh_v=THRESH, refrac_t=REFRAC)
        ).to(inputs.device)
        updater = updater_for(self.connection)
        if bound == "none":
            updater.add("weight")
        else:
            updater.add("weight", bound=bound, w_min=0.0, w_max=W_MAX)
        self.stdp = STDP(lr_post=LR_POST, lr_pre=LR_PRE, tc_post=TC_TRACE, tc_pre=TC_TRACE)
        self.stdp.register(self.layer.cell())
        self.updater = updater

        def learning_step(x: torch.Tensor) -> None:
            self.layer(x)
            self.stdp()
            self.updater.step()

        self.step = torch.compile(learning_step, dynamic=False)
        self.initial = weight.clone()
        self(inputs, weight)  # compiles

    def __call__(self, inputs: torch.Tensor, weight: torch.Tensor, bound: str = "") -> torch.Tensor:
        with torch.no_grad():
            self.connection.weight.copy_(self.initial)
        self.layer.reset()
        self.stdp.reset()
        for t in range(inputs.shape[0]):
            self.step(inputs[t])
        return self.connection.weight.detach()


def main() -> None:
    steady_allocator()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--bounds", nargs="+", default=list(BOUNDS), choices=BOUNDS)
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="also time the whole learning step under torch.compile (compiled once, untimed)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = args.steps
    generator = torch.Generator().manual_seed(0)
    weight = (torch.rand(N_OUT, N_IN, generator=generator) * WEIGHT_SCALE).to(device)
    print(
        f"W2 STDP dense {N_IN}->{N_OUT}, {steps} steps, on {device_name(device)}, "
        f"{args.threads} threads, {args.runs} interleaved runs, ms per step"
    )
    for batch in args.batches:
        inputs = (torch.rand(steps, batch, N_IN, generator=generator) < INPUT_P).float().to(device)
        for bound in args.bounds:
            # Same computation: the final weights agree.
            counts: list[float] = []
            with torch.no_grad():
                expected = reference(inputs, weight, counts, bound)
                difference = (expected - ours(inputs, weight, bound)).abs().max()
            rate = sum(counts) / (steps * DT * 1e-3 * batch * N_OUT)

            def run(fn, inputs=inputs, bound=bound):
                def call() -> None:
                    with torch.no_grad():
                        fn(inputs, weight, bound=bound)

                return call

            candidates = {"reference": run(reference), "ours": run(ours)}
            if args.compiled:
                compiled = CompiledOurs(inputs, weight, bound)
                with torch.no_grad():
                    compiled_difference = (expected - compiled(inputs, weight)).abs().max()
                candidates["compiled"] = run(compiled)
            times = interleaved(candidates, args.runs, steps, device)
            line = (
                f"{bound:>5} batch {batch:>2}: reference {summary(times['reference'])} "
                f"ours {summary(times['ours'])} ours/ref {ratio(times['ours'], times['reference'])}"
                f"  (max |dw| {difference.item():.1e}, output rate {rate:.1f} Hz)"
            )
            if args.compiled:
                line += (
                    f"\n{'':>15}compiled {summary(times['compiled'])} compiled/ref "
                    f"{ratio(times['compiled'], times['reference'])}  (max |dw| "
                    f"{compiled_difference.item():.1e})"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
