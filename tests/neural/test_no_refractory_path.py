"""Neurons without a refractory period skip the hold: same spikes, voltages and gradients."""

from __future__ import annotations

import pytest
import torch

from inferno_lightning.neural import ALIF, LIF


def run(neuron, inputs: torch.Tensor, zero_refrac: bool = False) -> tuple[torch.Tensor, ...]:
    spikes, voltages = [], []
    for x in inputs:
        if zero_refrac and neuron.voltage is not None:
            # A refractory time set by hand (zeros) is not known to stay zero: the full hold.
            neuron.refrac = torch.zeros_like(neuron.voltage)
        spikes.append(neuron(x))
        voltages.append(neuron.voltage)
    return torch.stack(spikes), torch.stack(voltages)


@pytest.mark.parametrize("kind", [LIF, ALIF])
def test_fast_path_equals_the_full_hold(kind) -> None:
    torch.manual_seed(0)
    currents = torch.rand(40, 8, 30) * 40.0
    options = {"thresh_v": -55.0, "refrac_t": 0.0, "surrogate": "arctan"}
    fast, full = kind(30, 1.0, **options), kind(30, 1.0, **options)
    inputs_fast = currents.clone().requires_grad_(True)
    inputs_full = currents.clone().requires_grad_(True)
    spikes_fast, voltages_fast = run(fast, inputs_fast)
    assert fast._refrac is None  # the no-refractory path ran: no refractory tensor kept
    spikes_full, voltages_full = run(full, inputs_full, zero_refrac=True)
    assert full._refrac is not None
    assert spikes_fast.sum() > 0 and torch.equal(spikes_fast, spikes_full)
    assert torch.equal(voltages_fast, voltages_full)
    assert torch.equal(fast.refrac, full.refrac) and not fast.refrac.any()
    (spikes_fast.sum() + voltages_fast.sum()).backward()
    (spikes_full.sum() + voltages_full.sum()).backward()
    assert torch.equal(inputs_fast.grad, inputs_full.grad)


def test_a_refractory_state_written_by_hand_is_still_held() -> None:
    neuron = LIF(4, 1.0, thresh_v=-55.0, refrac_t=0.0)
    neuron(torch.zeros(2, 4))
    assert neuron.refrac is not None and not neuron.refrac.any()  # zeros, read back
    neuron.refrac = torch.full((2, 4), 3.0)  # held for 3 ms although refrac_t is 0
    neuron(torch.full((2, 4), 100.0))
    # A 100 mV jump would fire every neuron; the hand-set refractory time holds them.
    assert not neuron.spike.any() and (neuron.voltage < -55.0).all()
    assert torch.equal(neuron.refrac, torch.full((2, 4), 2.0))
