"""W3: surrogate-gradient BPTT, ours against a hand-written PyTorch network.

A 784 -> 800 -> 10 LIF network (exact integration, tau 10 ms, threshold 1 mV
above rest, reset to rest, no refractory period, arctan surrogate of slope 2),
batch 128, 25 steps of Bernoulli input spikes (rate 0.2 per step),
cross-entropy on the scaled output spike counts. One iteration is a forward
pass through all the steps, the loss and the backward pass (BPTT), gradients
dropped between iterations; no optimizer step, so every iteration does the
same work.

    .venv/bin/python benchmarks/surrogate_bptt.py [--runs 9] [--threads 1] [--steps 25] [--iters 2]
        [--device cpu|cuda]

Ours: ``Serial(LinearDense(DeltaCurrent), LIF(surrogate=Surrogate("arctan", 2)))``
for both layers, as :class:`~inferno_lightning.models.SurrogateConvSNN` builds
its dense part (``check_finite=False``, ``check_inputs=False``, as there).
Reference: ``nn.Linear`` and the loop a researcher would write,
``v = decay * v + gain * I + offset``, ``z = Spike(v - thresh)`` (arctan
surrogate as a ``torch.autograd.Function``), ``v = v * (1 - z.detach())``.
The weights are copied from ours into the reference.

Prints, per implementation, the median and half-range of the time per
iteration over ``--runs`` runs (the two alternate, so both see the same
background load), and the median and range of the paired ratios
ours / reference. Before timing it checks that both give the same output
spikes, loss and gradients of both layers' weights.

Measured on the quiet 2-core development CPU, 11 interleaved runs of 2
iterations each, torch 2.15 on CPU, under the steady allocator of
``_timing.py``::

    threads  reference ms/iter   ours ms/iter     ours/ref (median [range])
    1        110.9 ± 6.9         113.9 ± 6.0      1.03 [0.92-1.10]
    2         70.4 ± 10.4         73.3 ± 3.9      1.04 [0.85-1.13]

Target <= 1.1x: met. About 75 % of either is the three matrix products per
layer step (forward addmm, backward grad-input and grad-weight); the rest of
ours over the reference is per-step Python (input checks, the neuron's state
bookkeeping) and the delta synapse's copy of the input spikes. Before the no-refractory fast path in ``functional.neurons.fire`` (the
refractory count-down and hold skipped when ``refrac_t`` is zero and no neuron
is refractory) ours was 1.10-1.11x at 1 thread.

``--device cuda`` runs both on the GPU (inputs, targets and weights drawn on
the CPU, as here, then moved); each timed run starts and ends with
``torch.cuda.synchronize()``. There the two may pick different matrix-product
kernels, so the check accepts output spikes that differ by rounding in under
1 in 10^3 (W1's rule) and then reports the gradients' relative difference
instead of requiring them allclose. No GPU figures yet (``benchmarks/gpu.sh``).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch
import torch.nn.functional as F
from _timing import device_name, interleaved, ratio, steady_allocator, summary
from torch import nn

from inferno_lightning.functional.spikes import Surrogate
from inferno_lightning.models.surrogate_conv import unit_jump_resistance
from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial

N_IN, N_HIDDEN, N_OUT, BATCH, DT = 784, 800, 10, 128, 1.0
TAU, REST, RESET, THRESH, SLOPE, RATE, SCALE = 10.0, 0.0, 0.0, 1.0, 2.0, 0.2, 10.0
R = unit_jump_resistance(DT, TAU)


class ArctanSpike(torch.autograd.Function):
    """Heaviside forward, arctan pseudo-derivative (k/2) / (1 + (pi/2 k x)^2) backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (SLOPE / 2) / (1 + (math.pi / 2 * SLOPE * x) ** 2)


class Reference(nn.Module):
    """Two nn.Linear layers and an explicit LIF recurrence: exact decay, threshold, reset."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(N_IN, N_HIDDEN)
        self.fc2 = nn.Linear(N_HIDDEN, N_OUT)
        self.decay = math.exp(-DT / TAU)
        self.gain, self.offset = R * (1 - self.decay), REST * (1 - self.decay)

    def lif(self, current: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = current * self.gain + self.offset + self.decay * v
        z = ArctanSpike.apply(v - THRESH)
        # Reset to rest (0 mV): no gradient through the reset.
        return z, v * (1 - z.detach())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        v1 = torch.full((inputs.shape[1], N_HIDDEN), REST, device=inputs.device)
        v2 = torch.full((inputs.shape[1], N_OUT), REST, device=inputs.device)
        out = []
        for t in range(inputs.shape[0]):
            z1, v1 = self.lif(self.fc1(inputs[t]), v1)
            z2, v2 = self.lif(self.fc2(z1), v2)
            out.append(z2)
        return torch.stack(out)


class Ours(nn.Module):
    """The same network from the package's blocks."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        surrogate = Surrogate("arctan", SLOPE)

        def layer(n_in: int, n_out: int) -> Serial:
            bound = (THRESH - REST) * math.sqrt(6.0 / n_in)
            return Serial(
                LinearDense(
                    n_in, n_out, synapse=DeltaCurrent(n_in, DT, check_inputs=False), bias=True,
                    weight_init="uniform", weight_init_args=(-bound, bound), generator=generator,
                ),
                LIF(
                    n_out, DT, rest_v=REST, reset_v=RESET, thresh_v=THRESH, refrac_t=0.0,
                    time_constant=TAU, resistance=R, surrogate=surrogate, check_finite=False,
                ),
            )  # fmt: skip

        self.hidden = layer(N_IN, N_HIDDEN)
        self.output = layer(N_HIDDEN, N_OUT)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.hidden.reset()
        self.output.reset()
        return torch.stack([self.output(self.hidden(inputs[t])) for t in range(inputs.shape[0])])


def loss_of(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the scaled output spike counts, as SurrogateConvSNN's spike_count readout."""
    return F.cross_entropy(outputs.mean(0) * SCALE, targets)


def iteration(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    outputs = model(inputs)
    loss_of(outputs, targets).backward()
    return outputs


def main() -> None:
    steady_allocator()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--iters", type=int, default=2, help="iterations per timed run")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    inputs = (torch.rand(args.steps, BATCH, N_IN, generator=generator) < RATE).float()
    targets = torch.randint(N_OUT, (BATCH,), generator=generator)
    ours = Ours(generator)
    reference = Reference()
    with torch.no_grad():
        for ref_layer, our_layer in ((reference.fc1, ours.hidden), (reference.fc2, ours.output)):
            ref_layer.weight.copy_(our_layer.connection.weight)
            ref_layer.bias.copy_(our_layer.connection.bias)
    inputs, targets = inputs.to(device), targets.to(device)
    ours.to(device)
    reference.to(device)

    # Same computation. The two round the voltage update differently (ours fuses
    # gain * I + offset + decay * V in another order and takes the constants from
    # float32 buffers), so they agree to about 1e-7 relative in the voltages; a
    # spike decided by that much would flip a count, so the check requires
    # identical output spikes (it holds for this seed) and then compares the loss
    # and gradients to 1e-5 relative / 1e-6 absolute: BPTT through 25 steps sums
    # 25 x 128 products of float32 terms in a different order in each.
    our_out = iteration(ours, inputs, targets)
    ref_out = iteration(reference, inputs, targets)
    pairs = [
        (getattr(our_layer.connection, name).grad, getattr(ref_layer, name).grad)
        for ref_layer, our_layer in ((reference.fc1, ours.hidden), (reference.fc2, ours.output))
        for name in ("weight", "bias")
    ]
    differ = int((our_out != ref_out).sum())
    if differ and device.type != "cpu" and differ < 1e-3 * our_out.numel():
        worst = max(float((ours_ - ref).norm() / ref.norm()) for ours_, ref in pairs)
        agreement = (
            f"{differ} output spikes differ by rounding, gradients differ by up to "
            f"{worst:.1e} relative"
        )
    else:
        assert not differ, f"{differ} output spikes differ"
        torch.testing.assert_close(loss_of(our_out, targets), loss_of(ref_out, targets))
        for ours_, ref in pairs:
            torch.testing.assert_close(ours_, ref, rtol=1e-5, atol=1e-6)
        agreement = "identical spikes, gradients allclose"
    grad_norm = float(ours.hidden.connection.weight.grad.norm())
    print(
        f"W3 surrogate BPTT {N_IN}-{N_HIDDEN}-{N_OUT}, batch {BATCH}, {args.steps} steps, "
        f"on {device_name(device)}, {args.threads} threads, {args.runs} runs, ms per iteration "
        f"(forward + backward; {int(ref_out.sum())} output spikes, "
        f"loss {float(loss_of(ref_out, targets).detach()):.4f}, |grad W1| {grad_norm:.3g}, "
        f"{agreement})"
    )
    times = interleaved(
        {
            "reference": lambda: [iteration(reference, inputs, targets) for _ in range(args.iters)],
            "ours": lambda: [iteration(ours, inputs, targets) for _ in range(args.iters)],
        },
        args.runs,
        args.iters,
        device,
    )
    print(
        f"reference {summary(times['reference'])}  ours {summary(times['ours'])}  "
        f"ours/ref {ratio(times['ours'], times['reference'])}"
    )


if __name__ == "__main__":
    main()
