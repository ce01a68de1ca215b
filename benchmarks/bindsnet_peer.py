"""BindsNET 0.3.4 (PyPI ``bindsnet``) on W2 and W4, in one process with ours and the references.

Runs in its own environment (``make bench-bindsnet``: bindsnet 0.3.4 with its declared
dependencies, the project's torch 2.15.0 and our package installed editable), from the
repository root::

    .bench-bindsnet/bin/python benchmarks/bindsnet_peer.py [--workload w2|w4|all]
        [--threads 1] [--runs 5] [--steps 250] [--batches 1 16] [--bounds clamp soft none]
        [--w4-runs 7] [--w4-steps 100] [--w4-batches 1 16]

Unlike ``inferno_ai.py`` (whose environment lacks our package, so that its W4 is compared
with ours across processes), every candidate here runs in the same process, interleaved (``_timing.interleaved``, under
``steady_allocator``): ``reference`` and ``ours`` are imported from ``stdp_dense.py``, the
W4 training batch of ours (``train_batch``, ``updaters_of``) from
``diehl_cook_throughput.py``. Before timing, each cell checks what BindsNET computes.

**W2**, STDP dense (784 Poisson inputs at 40 Hz -> 400 LIF, pair STDP with cumulative
traces applied every step, 250 steps, batch 1 and 16, bounds ``clamp``, ``soft`` and
``none``, each against the reference of the same bound). BindsNET is built as its users
build it, inside every timed run (as ``ours`` and ``reference`` build theirs):
``Network(dt=1, batch_size=B)``, ``Input(784, traces=True)``, ``LIFNodes(400, traces=True,
rest=-65, reset=-65, thresh=-52, tc_decay=20)``, ``Connection(w=..., wmin=..., wmax=...,
update_rule=PostPre, nu=(eta_pre, eta_post))``, ``network.run({"X": spikes}, time=250,
one_step=True)``. The differences between BindsNET and the reference, and what aligns them
(constructor and ``run`` arguments only):

* Input integration. BindsNET's LIF adds the summed weights to the voltage as they are,
  after the decay: ``v = rest + (v - rest) e^{-dt/tau} + sum(w s)``; the reference and ours
  integrate a current held over the step exactly, adding ``R I (1 - e^{-dt/tau})``. Aligned by
  giving BindsNET the reference's weights times ``1 - e^{-1/20}`` = 0.0488 (``W2_SCALE``), with
  ``wmax`` and the additive rates scaled alike; its weights are divided back for the check.
* Refractory period. BindsNET discards the input of ``refrac`` ms of steps after the spike
  (the voltage still decays, here at rest); the reference holds the voltage and integrates
  again at the step 2 ms after the spike. Same dead time with ``refrac=1`` (``REFRAC - dt``).
* Traces. BindsNET's default is the nearest-spike trace (set to ``trace_scale`` on a spike);
  ``traces_additive=True, trace_scale=1, tc_trace=20`` is the reference's ``x = x e^{-dt/tau}
  + s``, on both layers.
* Order. ``Network.run``'s default (synchronous) mode gives each layer its sources' spikes of
  the previous step; ``one_step=True`` gives the LIF layer this step's input spikes, as the
  reference does.
* Sign and batch. ``nu = (pre, post)``: a positive ``nu[0]`` depresses (pre spike times post
  trace), a positive ``nu[1]`` potentiates, so the reference's rates go in as they are.
  BindsNET sums the batch's updates (its default reduction; ``squeeze`` at batch 1) where the
  reference averages them: the rates are divided by the batch size (``reduction=torch.mean``
  would do the same but takes PostPre off its fused path).
* Bounds. ``clamp``: ``wmin=0, wmax``: ``PostPre``, then ``w.clamp_(wmin, wmax)`` after every
  update (BindsNET bounds by clamping whenever a bound is finite), the reference's
  ``clamp(w + P - D, 0, w_max)``. ``soft``: BindsNET has it, ``WeightDependentPostPre``,
  which is exactly the reference's soft bound, ``dw = eta_post x_pre s_post (wmax - w) -
  eta_pre s_pre x_post (w - wmin)`` with ``wmin = 0`` (then a clamp, a no-op here); its rates
  are not scaled (the weight factors carry the scale). ``none``: ``wmin=-inf, wmax=+inf``
  (Connection's defaults): ``PostPre`` without a clamp.

Result of the checks (same data as ``stdp_dense.py``: same seed, same order of draws): at
batch 1, for all three bounds, identical spike counts at every step and final weights within
7.2e-7 of the reference's. At batch 16 the per-step counts first differ (a threshold crossing
flipped by rounding) at step 68 for clamp (4 of 46 134 spikes) and step 36 for soft (4 of
43 449), never for none; up to that step the weights agree within 7e-7, after it they drift
apart by about one update (1.2e-3, 5.8e-4); none: 2.0e-6. The script asserts this (at most
one count in 10^3 differs; 1e-5 until the first flip). So BindsNET, so aligned, computes
the reference's W2, as ours does (ours' max |dw| is printed alongside).

Where BindsNET's time goes: ``PostPre`` on a dense ``Connection`` has a fused path, two
in-place ``w.addmm_`` (batch-rank outer products, no weight-sized temporary); without bounds
that is all its learning costs, which makes its ``none`` step about twice as fast as the
reference's (which builds P and D as weight-sized tensors) and ours. Its clamp is
``w.clamp_(wmin, wmax)`` with 0-dim *tensor* bounds (Parameters), which torch 2.15 runs
through a slow elementwise path: 0.22 ms on the 784 x 400 matrix at one thread against
0.014 ms with float bounds, most of the gap between its ``clamp`` and ``none`` rows.
``WeightDependentPostPre`` has no fused path: two ``torch.bmm`` materialise
``(batch, 784, 400)`` outer products, summed over the batch, then weight-sized products,
hence 2x the reference at batch 1 and 6-8x at batch 16.

**W4**, Diehl & Cook (784 -> 400, dt 0.5 ms, 100 steps per batch, learning on, batch 1 and
16, one warm-up batch, then ``--w4-runs`` interleaved batches; ms per simulated step of the
whole batch, and samples/s). BindsNET: ``bindsnet.models.DiehlAndCook2015(n_inpt=784,
n_neurons=400, dt=0.5, norm=78.0)``, its other arguments at their defaults, trained as its
MNIST examples (``batch_eth_mnist.py``) train it: ``network.run({"X": spikes}, time=50)`` on
``(time, batch, 784)`` spikes, then ``network.reset_state_variables()``; its batch size follows the input's (``Network.run``
resizes the layers), so batch 16 works. Input: Bernoulli spikes with ``p = intensity x
63.75 Hz x dt``, drawn in the timed call (ours' ``PoissonEncoder(method="bernoulli")``
draws the same way inside ``respond``), from the same intensities (uniform, seed 0) but not
the same draws; BindsNET's own ``PoissonEncoder`` (inter-spike intervals) is not used.
Ours: ``DiehlCook2015(n_inputs=784, n_neurons=400, step_time=0.5, presentation_time=50,
min_spikes=0)`` trained as ``diehl_cook_throughput.py`` trains it (``respond``, then one
bounded, normalised update); "ours BindsNET-like" is the same with ``inhibition="population",
bound="hard", exc_reset_v=-60``, the nearest to BindsNET's model that ours offers. The two
are the same sizes and the same kind of work per step, not the same computation:

* Inhibition. BindsNET has the inhibitory LIF population (excitatory -> inhibitory 22.5 mV on
  the diagonal, inhibitory -> excitatory -17.5 mV off it, both dense 400 x 400 matmuls);
  ours folds it into a ``LinearLateral`` of -17.5 mV by default (the population in
  BindsNET-like). Every BindsNET connection carries the previous step's spikes (synchronous
  mode), the input too; ours feeds the input in its step, the inhibition on the next.
* Neurons. BindsNET's excitatory reset is -60 mV (ours: the paper's -65; -60 in BindsNET-like),
  and ``DiehlAndCookNodes(one_spike=True)`` lets one excitatory neuron per sample spike per
  step (drawn by ``torch.multinomial`` among those over threshold); ours lets every one that
  crosses spike. Its theta rises by 0.05 mV per crossing summed over the batch; ours by 0.05
  times the batch mean. Voltage: ``v = rest + (v - rest) e^{-dt/tau} + sum(w s)`` (input
  masked while refractory); ours integrates exactly with the resistance that makes a spike
  through ``w`` add ``w`` mV: the same jump.
* Learning. BindsNET applies ``PostPre`` (nearest traces, nu 1e-4 / 1e-2) at every step,
  summed over the batch, clamped to [0, 1] after each step, and normalises each neuron's
  input weights to 78 at the end of ``run``; ours accumulates the batch's STDP over the
  presentation and applies it once (batch mean, soft bounds; hard in BindsNET-like), then
  normalises to 78. Initial weights 0.3 U[0, 1) in both; ours normalises them at once.

Measured on the quiet 2-core development CPU at the end of the session that
added the in-place commits of the local-learning step (issue 13), from the
repository root::

    .bench-bindsnet/bin/python benchmarks/bindsnet_peer.py --threads 1 --runs 5
    .bench-bindsnet/bin/python benchmarks/bindsnet_peer.py --threads 2 --runs 5

W2, ms per step, median ± half-range of 5 interleaved runs; ratios median [range] of the
paired runs (at two threads the machine's second core was not steady: the reference's
half-ranges of 0.03-0.10 ms are minutes in which its two-thread step took twice as long)::

    thr bound  B  reference      ours           BindsNET       ours/BindsNET     ours/ref          BindsNET/ref
    1   clamp  1  0.368 ± 0.072  0.225 ± 0.035  0.370 ± 0.065  0.61 [0.60-0.62]  0.71 [0.49-0.84]  1.15 [0.79-1.40]
    1   soft   1  0.461 ± 0.093  0.257 ± 0.038  0.634 ± 0.072  0.42 [0.40-0.52]  0.60 [0.55-0.69]  1.37 [1.24-1.70]
    1   none   1  0.276 ± 0.057  0.209 ± 0.003  0.145 ± 0.001  1.46 [1.42-1.47]  0.76 [0.56-0.77]  0.53 [0.38-0.53]
    1   clamp 16  0.593 ± 0.003  0.464 ± 0.003  0.613 ± 0.003  0.76 [0.75-0.77]  0.78 [0.78-0.79]  1.04 [1.03-1.04]
    1   soft  16  0.660 ± 0.008  0.563 ± 0.008  3.698 ± 0.841  0.15 [0.11-0.16]  0.85 [0.85-0.87]  5.60 [5.41-8.05]
    1   none  16  0.569 ± 0.001  0.450 ± 0.004  0.395 ± 0.002  1.14 [1.13-1.14]  0.79 [0.78-0.80]  0.69 [0.69-0.70]
    2   clamp  1  0.214 ± 0.101  0.223 ± 0.011  0.258 ± 0.004  0.85 [0.84-0.92]  1.02 [0.54-1.04]  1.21 [0.61-1.23]
    2   soft   1  0.253 ± 0.035  0.245 ± 0.006  0.399 ± 0.016  0.61 [0.59-0.65]  0.96 [0.81-1.01]  1.58 [1.27-1.72]
    2   none   1  0.195 ± 0.033  0.207 ± 0.004  0.144 ± 0.004  1.45 [1.39-1.47]  1.06 [0.82-1.07]  0.73 [0.56-0.76]
    2   clamp 16  0.373 ± 0.003  0.389 ± 0.009  0.386 ± 0.004  1.01 [0.99-1.06]  1.04 [1.03-1.07]  1.03 [1.01-1.05]
    2   soft  16  0.416 ± 0.011  0.448 ± 0.002  2.033 ± 0.070  0.22 [0.22-0.23]  1.07 [1.05-1.11]  4.75 [4.57-5.09]
    2   none  16  0.358 ± 0.039  0.384 ± 0.013  0.278 ± 0.003  1.38 [1.34-1.44]  1.05 [0.89-1.11]  0.77 [0.65-0.79]

The checks: identical per-step spike counts at batch 1 (all bounds, BindsNET's weights
within 7.2e-7 of the reference's, ours within 1.2e-7); at batch 16 as described above.

W4, ms per simulated step of the whole batch (median ± half-range of 7 interleaved batches)
and samples/s; ratios median [range]::

    thr  B  ours           ours BindsNET-like  BindsNET       ours/BindsNET     ours-like/BindsNET
    1    1  0.260 ± 0.004  0.307 ± 0.003       0.244 ± 0.001  1.07 [1.06-1.10]  1.26 [1.26-1.27]
    1   16  0.471 ± 0.003  0.521 ± 0.005       0.684 ± 0.003  0.69 [0.68-0.69]  0.76 [0.76-0.77]
    2    1  0.253 ± 0.005  0.300 ± 0.004       0.239 ± 0.002  1.06 [1.04-1.09]  1.25 [1.24-1.27]
    2   16  0.423 ± 0.004  0.475 ± 0.019       0.517 ± 0.031  0.81 [0.75-0.84]  0.91 [0.85-0.98]

(``--workload w4`` is part of the default ``all``.) Samples/s (one thread, batch 1 / 16):
ours 38.5 / 339.6, ours BindsNET-like 32.6 / 306.9, BindsNET 41.1 / 233.8. Spikes per
sample in the warm-up batch (batch 1 / 16): ours 12.0 / 15.8, ours BindsNET-like 11.0 /
11.7, BindsNET 13.0 / 13.5: comparable activity. (The session before had ours/BindsNET
0.79 / 0.50 / 1.90 / 0.98 / 0.14 / 1.50 on W2 at one thread and 1.31 / 0.76 on W4.)

In short: on W2 BindsNET computes the reference's network exactly. With soft bounds ours is
0.15-0.61x BindsNET (it builds per-sample weight-sized tensors); with a clamp 0.61x (batch
1) and 0.76x (batch 16) at one thread, 0.85-1.01x at two; without bounds BindsNET's step is
the least work any implementation can do (the forward product, the neurons, and two
in-place rank-batch ``addmm_`` into the weight) and ours is 1.1-1.5x it. Being 2x faster
than it there is below what the computation costs on this CPU: at batch 16 the forward
product alone (16 x 784 by 784 x 400) takes about 0.11 ms at one thread and a rank-16
update of the weight about 0.08 ms (``torch.mm`` / ``addmm_`` timed alone), together more
than half of BindsNET's 0.395 ms; at batch 1 half of its 0.145 ms, 0.073 ms, is what the
dispatch of our 57 operations per step (``op_count.py``; at least 0.85 µs each on this CPU)
and the forward product (0.016 ms) cost before any Python. On W4 ours is level with BindsNET at batch 1 (1.07x) and faster at batch 16
(0.69-0.81x), though the two models differ in the ways listed above. Issue 13's target,
ours at least 2x faster than BindsNET (a ratio of 0.5 or less), holds with soft bounds
only.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

try:
    from bindsnet.learning import PostPre, WeightDependentPostPre
    from bindsnet.models import DiehlAndCook2015
    from bindsnet.network import Network
    from bindsnet.network.monitors import Monitor
    from bindsnet.network.nodes import Input, LIFNodes
    from bindsnet.network.topology import Connection
except ImportError as error:
    raise SystemExit(
        f"BindsNET is not importable from {sys.executable} ({error}). Build the benchmark "
        "environment with `make bench-bindsnet` and run "
        "`.bench-bindsnet/bin/python benchmarks/bindsnet_peer.py`."
    ) from error

import diehl_cook_throughput  # noqa: E402
import stdp_dense  # noqa: E402
from _timing import interleaved, ratio, steady_allocator, summary  # noqa: E402

import inferno_lightning  # noqa: E402
from inferno_lightning.models import DiehlCook2015  # noqa: E402

# W2 ----------------------------------------------------------------------------------

#: BindsNET's LIFNodes add the input to the voltage as it is (``v += x``); the reference and
#: ours add ``R I (1 - e^{-dt/tau})`` with R I = the summed weights. BindsNET's weights are the
#: reference's times this factor (and so are its bounds and additive learning rates), so that
#: both compute the same voltages.
W2_SCALE = -math.expm1(-stdp_dense.DT / stdp_dense.TAU)


def w2_bindsnet(
    inputs: torch.Tensor,
    weight: torch.Tensor,
    bound: str = "clamp",
    counts: list[float] | None = None,
) -> torch.Tensor:
    """The W2 network built as a BindsNET user builds it; returns the weights in the reference's units."""
    m = stdp_dense
    steps, batch = inputs.shape[:2]
    network = Network(dt=m.DT, batch_size=batch)
    source = Input(n=m.N_IN, traces=True, traces_additive=True, tc_trace=m.TC_TRACE)
    target = LIFNodes(
        n=m.N_OUT, traces=True, traces_additive=True, tc_trace=m.TC_TRACE,
        rest=m.REST, reset=m.REST, thresh=m.THRESH, tc_decay=m.TAU,
        # BindsNET discards the input of `refrac` ms of steps after the spike's; the
        # reference integrates again at the step REFRAC after it: one step less.
        refrac=m.REFRAC - m.DT,
    )  # fmt: skip
    network.add_layer(source, name="X")
    network.add_layer(target, name="Y")
    # BindsNET sums the batch's updates; the reference averages them: rates / batch.
    if bound == "soft":
        # Multiplicative in w: w += nu_post x_pre s_post (wmax - w) - nu_pre s_pre x_post (w - wmin),
        # unchanged by the scale when wmax is scaled with it.
        rule, nu = WeightDependentPostPre, (m.LR_PRE / batch, m.LR_POST / batch)
    else:
        rule, nu = PostPre, (W2_SCALE * m.LR_PRE / batch, W2_SCALE * m.LR_POST / batch)
    # Connection's defaults are -inf/+inf (no clamp); finite bounds clamp after every update.
    lower, upper = (-math.inf, math.inf) if bound == "none" else (0.0, W2_SCALE * m.W_MAX)
    connection = Connection(
        source,
        target,
        w=(weight.T * W2_SCALE).contiguous(),
        update_rule=rule,
        nu=nu,
        wmin=lower,
        wmax=upper,
    )
    network.add_connection(connection, source="X", target="Y")
    if counts is not None:
        network.add_monitor(Monitor(target, ["s"], time=steps), name="Y")
    # one_step: the LIF layer sees this step's input spikes (the default, synchronous mode,
    # gives every layer the previous step's spikes of its sources).
    network.run({"X": inputs}, time=steps * m.DT, one_step=True)
    if counts is not None:
        counts.extend(network.monitors["Y"].get("s").flatten(1).sum(1).tolist())
    return connection.w.detach().T / W2_SCALE


def nograd(fn, *args, **kwargs):
    def call() -> None:
        with torch.no_grad():
            fn(*args, **kwargs)

    return call


def w2_check(inputs: torch.Tensor, weight: torch.Tensor, bound: str) -> str:
    """Reference against BindsNET (spike counts per step, final weights) and ours (final weights)."""
    m = stdp_dense
    ref_counts: list[float] = []
    bn_counts: list[float] = []
    with torch.no_grad():
        ref_w = m.reference(inputs, weight, ref_counts, bound)
        bn_w = w2_bindsnet(inputs, weight, bound, bn_counts)
        ours_w = m.ours(inputs, weight, bound=bound)
    total = sum(ref_counts)
    flips = sum(abs(a - b) for a, b in zip(ref_counts, bn_counts, strict=True))
    first = next(
        (t for t, (a, b) in enumerate(zip(ref_counts, bn_counts, strict=True)) if a != b), None
    )
    bn_dw = (ref_w - bn_w).abs().max().item()
    ours_dw = (ref_w - ours_w).abs().max().item()
    # Identical until a threshold crossing flips by rounding; after that the weights drift
    # apart by about one STDP update (eta_post * trace ~ 1e-3).
    assert flips <= max(2.0, 1e-3 * total), f"{flips} spike count differences in {total}"
    assert bn_dw < (1e-5 if flips == 0 else 2e-2), f"max |dw| {bn_dw}"
    text = (
        f"{int(total)} spikes, BindsNET's per-step counts differ by {int(flips)}"
        f"{'' if first is None else f' from step {first}'}, max |dw| BindsNET {bn_dw:.1e}"
    )
    if first is not None:  # up to the first flip the two agree to rounding
        with torch.no_grad():
            before = m.reference(inputs[:first], weight, None, bound) - w2_bindsnet(
                inputs[:first], weight, bound
            )
        before = before.abs().max().item()
        assert before < 1e-5, f"max |dw| {before} before the first flip"
        text += f" ({before:.1e} before step {first})"
    return text + f", ours {ours_dw:.1e}"


def w2(args: argparse.Namespace) -> None:
    m = stdp_dense
    steps = args.steps
    # The data of stdp_dense.py's main(): same generator, same order of draws.
    generator = torch.Generator().manual_seed(0)
    weight = torch.rand(m.N_OUT, m.N_IN, generator=generator) * m.WEIGHT_SCALE
    print(
        f"W2 STDP dense {m.N_IN}->{m.N_OUT}, {steps} steps, {args.threads} threads, "
        f"{args.runs} interleaved runs, ms per step (median ± half-range), ratios median [range]",
        flush=True,
    )
    for batch in args.batches:
        inputs = (torch.rand(steps, batch, m.N_IN, generator=generator) < m.INPUT_P).float()
        for bound in args.bounds:
            check = w2_check(inputs, weight, bound)
            times = interleaved(
                {
                    "reference": nograd(m.reference, inputs, weight, None, bound),
                    "ours": nograd(m.ours, inputs, weight, bound=bound),
                    "bindsnet": nograd(w2_bindsnet, inputs, weight, bound),
                },
                args.runs,
                steps,
            )
            ref, ours, bn = times["reference"], times["ours"], times["bindsnet"]
            print(
                f"  {bound:>5} batch {batch:>2}: reference {summary(ref)} ours {summary(ours)} "
                f"BindsNET {summary(bn)}  ours/BindsNET {ratio(ours, bn)}  "
                f"ours/ref {ratio(ours, ref)}  BindsNET/ref {ratio(bn, ref)}",
                flush=True,
            )
            print(f"        check: {check}", flush=True)


# W4 ----------------------------------------------------------------------------------

DC_INPUTS, DC_NEURONS, DC_DT, DC_RATE, DC_NORM = 784, 400, 0.5, 63.75, 78.0


def w4_ours(steps: int, **overrides: object) -> DiehlCook2015:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DiehlCook2015(
            n_inputs=DC_INPUTS, n_neurons=DC_NEURONS, step_time=DC_DT,
            presentation_time=DC_DT * steps, min_spikes=0, **overrides,
        )  # fmt: skip
    return model.train()


class BindsNETDiehlCook:
    """``bindsnet.models.DiehlAndCook2015`` trained as its MNIST examples train it, one batch per call."""

    def __init__(self, steps: int, seed: int = 0) -> None:
        torch.manual_seed(seed)  # its initial weights come from the global generator
        self.network = DiehlAndCook2015(
            n_inpt=DC_INPUTS, n_neurons=DC_NEURONS, dt=DC_DT, norm=DC_NORM
        )
        self.network.train(True)
        self.steps = steps
        self.generator = torch.Generator().manual_seed(seed + 1)

    @property
    def weight(self) -> torch.Tensor:
        """Input-to-excitatory weights, (inputs, neurons)."""
        return self.network.connections[("X", "Ae")].pipeline[0].value

    def encode(self, intensities: torch.Tensor) -> torch.Tensor:
        """Bernoulli spikes at intensity * 63.75 Hz per step, as our PoissonEncoder draws them."""
        p = intensities * (DC_RATE * DC_DT / 1000.0)
        return torch.rand(self.steps, *p.shape, generator=self.generator) < p

    def train_batch(self, intensities: torch.Tensor) -> None:
        self.network.run({"X": self.encode(intensities)}, time=self.steps * DC_DT)
        self.network.reset_state_variables()

    def spikes(self, intensities: torch.Tensor) -> int:
        """One training batch, counting the excitatory spikes."""
        monitor = Monitor(self.network.layers["Ae"], ["s"], time=self.steps)
        self.network.add_monitor(monitor, name="Ae")
        self.network.run({"X": self.encode(intensities)}, time=self.steps * DC_DT)
        count = int(monitor.get("s").sum())
        del self.network.monitors["Ae"]
        self.network.reset_state_variables()
        return count


def w4(args: argparse.Namespace) -> None:
    dct = diehl_cook_throughput
    steps = args.w4_steps
    print(
        f"W4 Diehl & Cook {DC_INPUTS}->{DC_NEURONS}, dt {DC_DT} ms, {steps} steps per batch, "
        f"{args.threads} threads, {args.w4_runs} interleaved runs after one warm-up batch, "
        "ms per simulated step of the whole batch (median ± half-range), ratios median [range]",
        flush=True,
    )
    for batch in args.w4_batches:
        generator = torch.Generator().manual_seed(0)
        intensities = torch.rand(batch, DC_INPUTS, generator=generator)
        ours = w4_ours(steps)
        ours_like = w4_ours(steps, inhibition="population", bound="hard", exc_reset_v=-60.0)
        bn = BindsNETDiehlCook(steps)
        lines = []
        with torch.no_grad():
            for name, model in (("ours", ours), ("ours (BindsNET-like)", ours_like)):
                updaters = dct.updaters_of(model)
                before = model.input_connection.weight.clone()
                count = int(dct.train_batch(model, intensities, updaters).sum())
                moved = (model.input_connection.weight - before).abs().max().item()
                lines.append(f"{name} {count / batch:.1f} spikes/sample, max |dw| {moved:.1e}")
            before = bn.weight.clone()
            count = bn.spikes(intensities)
            moved = (bn.weight - before).abs().max().item()
            sums = bn.weight.sum(0)
            assert moved > 0 and bn.weight.min() >= 0 and bn.weight.max() <= 1, "no learning"
            torch.testing.assert_close(sums, torch.full_like(sums, DC_NORM))
            lines.append(f"BindsNET {count / batch:.1f} spikes/sample, max |dw| {moved:.1e}")
        ours_updaters = dct.updaters_of(ours)
        like_updaters = dct.updaters_of(ours_like)
        times = interleaved(
            {
                "ours": nograd(dct.train_batch, ours, intensities, ours_updaters),
                "like": nograd(dct.train_batch, ours_like, intensities, like_updaters),
                "bindsnet": nograd(bn.train_batch, intensities),
            },
            args.w4_runs,
            steps,
        )
        o, like, b = times["ours"], times["like"], times["bindsnet"]
        rates = {name: batch / (statistics.median(t) * steps / 1e3) for name, t in times.items()}
        print(
            f"  batch {batch:>2}: ours {summary(o)} ({rates['ours']:.1f} samples/s)  "
            f"ours BindsNET-like {summary(like)} ({rates['like']:.1f})  "
            f"BindsNET {summary(b)} ({rates['bindsnet']:.1f})  ours/BindsNET {ratio(o, b)}  "
            f"ours-like/BindsNET {ratio(like, b)}",
            flush=True,
        )
        print(f"        warm-up batch: {'; '.join(lines)}", flush=True)


WORKLOADS = {"w2": w2, "w4": w4}


def main() -> None:
    steady_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5, help="W2 interleaved runs")
    parser.add_argument("--steps", type=int, default=stdp_dense.STEPS, help="W2 steps")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16], help="W2 batches")
    parser.add_argument(
        "--bounds", nargs="+", default=list(stdp_dense.BOUNDS), choices=stdp_dense.BOUNDS
    )
    parser.add_argument("--w4-runs", type=int, default=7)
    parser.add_argument("--w4-steps", type=int, default=100)
    parser.add_argument("--w4-batches", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"BindsNET {version('bindsnet')}, torch {torch.__version__}, {args.threads} threads, "
        f"ours from {Path(inferno_lightning.__file__).parent}",
        flush=True,
    )
    for name, workload in WORKLOADS.items():
        if args.workload in (name, "all"):
            workload(args)


if __name__ == "__main__":
    main()
