r"""A small demonstration simulation: ``python -m inferno_lightning.demo``.

Three checks a researcher can read at a glance, each against theory:

1. **LIF f-I curve.** One LIF neuron per input current, simulated for one
   second; the measured rate against the closed-form rate of the discretised
   neuron, :math:`1000 / (\Delta t\,(n^* + \max(r, 1) - 1))` Hz with
   :math:`n^* = \lceil \tau \ln\frac{R I}{R I - (V_\theta - V_\text{reset})} / \Delta t \rceil`
   steps to threshold and :math:`r = t_\text{ref}/\Delta t` refractory steps.
2. **Poisson input.** Spike trains at requested rates, the measured rates
   against them.
3. **A population with adaptation.** Poisson input through a dense connection
   onto adaptive-threshold (ALIF) neurons: the firing rate falls as the
   threshold adapts, as in Diehl & Cook (2015).
"""

from __future__ import annotations

import math
import time

import torch

from .encode import PoissonEncoder
from .neural import ALIF, LIF, DeltaCurrent, LinearDense, Serial

__all__ = ["main", "lif_rate"]


def lif_rate(
    current: float,
    *,
    step_time: float,
    time_constant: float,
    resistance: float,
    rest_v: float,
    reset_v: float,
    thresh_v: float,
    refrac_t: float,
) -> float:
    """Closed-form firing rate (Hz) of the discretised LIF neuron under constant current (nA)."""
    drive = rest_v + resistance * current  # asymptotic voltage, mV
    if drive <= thresh_v:
        return 0.0
    # Steps from reset to threshold under exact integration.
    steps_to_threshold = math.ceil(
        time_constant * math.log((drive - reset_v) / (drive - thresh_v)) / step_time - 1e-9
    )
    refractory_steps = max(round(refrac_t / step_time), 1)
    interval = (steps_to_threshold + refractory_steps - 1) * step_time
    return 1000.0 / interval


def _f_i_curve() -> None:
    params = dict(
        step_time=0.1, time_constant=20.0, resistance=1.0, rest_v=-65.0, reset_v=-65.0,
        thresh_v=-50.0, refrac_t=2.0,
    )  # fmt: skip
    currents = torch.tensor([14.0, 15.5, 16.0, 18.0, 20.0, 25.0, 30.0, 40.0, 60.0])
    neuron = LIF(1, **params)
    steps = round(1000.0 / params["step_time"])
    drive = currents[:, None]
    count = torch.zeros_like(drive)
    spike_steps: list[list[int]] = [[] for _ in currents]
    with torch.no_grad():
        for t in range(steps):
            spikes = neuron(drive)
            count += spikes
            for i in spikes[:, 0].nonzero().flatten().tolist():
                spike_steps[i].append(t)
    print(
        "1. LIF f-I curve (tau 20 ms, R 1 MOhm, threshold 15 mV above reset, refractory 2 ms, dt 0.1 ms)"
    )
    print(f"   {'current (nA)':>12} {'measured (Hz)':>14} {'closed form (Hz)':>17}")
    for i, current in enumerate(currents.tolist()):
        # The rate of the regular firing after the first spike: spikes per interval.
        times = spike_steps[i]
        measured = (
            1000.0 * (len(times) - 1) / ((times[-1] - times[0]) * params["step_time"])
            if len(times) > 1
            else 0.0
        )
        theory = lif_rate(current, **params)
        print(f"   {current:>12.1f} {measured:>14.2f} {theory:>17.2f}")


def _poisson() -> None:
    rates = torch.tensor([5.0, 20.0, 40.0, 63.75])
    encoder = PoissonEncoder(1.0, duration=10_000.0, max_rate=63.75)
    intensities = (rates / 63.75).repeat(50, 1)  # 50 trains per rate
    generator = torch.Generator().manual_seed(0)
    spikes = encoder(intensities, generator=generator)
    measured = spikes.sum(0).mean(0) / 10.0  # spikes per second, averaged over 50 trains
    # At most one spike per step: a step spikes with probability 1 - exp(-r dt).
    expected = (1.0 - torch.exp(-rates * 1e-3)) * 1000.0
    print("2. Poisson spike trains (exact intervals, dt 1 ms, 10 s, 50 trains per rate)")
    print(f"   {'requested (Hz)':>14} {'measured (Hz)':>14} {'expected (Hz)':>14}")
    for r, m, e in zip(rates.tolist(), measured.tolist(), expected.tolist(), strict=True):
        print(f"   {r:>14.2f} {m:>14.2f} {e:>14.2f}")
    print("   (expected: the rate of at most one spike per 1 ms step, 1000 (1 - exp(-r/1000)) Hz)")


def _adapting_population() -> None:
    torch.manual_seed(0)
    n_in, n_out, dt = 100, 10, 0.5
    layer = Serial(
        LinearDense(
            n_in, n_out, synapse=DeltaCurrent(n_in, dt, spike_charge=1.0),
            weight_init="uniform", weight_init_args=(0.0, 16.0),
        ),
        ALIF(n_out, dt, tc_adaptation=1e4, spike_increment=0.5, time_constant=100.0, refrac_t=5.0),
    )  # fmt: skip
    encoder = PoissonEncoder(dt, duration=500.0, max_rate=63.75)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(8, n_in)
    print("3. Poisson input -> dense -> 10 adaptive-threshold neurons, 8 samples x 500 ms")
    print(f"   {'sample':>6} {'rate (Hz)':>10} {'mean threshold rise (mV)':>25}")
    layer.train()
    with torch.no_grad():
        for i, image in enumerate(images):
            layer.reset()
            count = torch.zeros(1, n_out)
            for x in encoder(image[None], generator=generator):
                count += layer(x)
            rate = count.mean().item() / 0.5
            rise = layer.neuron.adaptation.sum(0).mean().item()
            print(f"   {i:>6} {rate:>10.1f} {rise:>25.2f}")


def main() -> None:
    """Run the three demonstrations and print what they measure."""
    start = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print("inferno-lightning demonstration\n")
    _f_i_curve()
    print()
    _poisson()
    print()
    _adapting_population()
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")


if __name__ == "__main__":
    main()
