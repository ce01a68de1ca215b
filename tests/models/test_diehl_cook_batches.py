"""DiehlCook2015 with large batches: per-winner potentiation and max-reduced thresholds (issue 16)."""

from __future__ import annotations

import pytest
import torch

from inferno_lightning.models import DiehlCook2015


def small(**kwargs) -> DiehlCook2015:
    return DiehlCook2015(n_inputs=4, n_neurons=3, presentation_time=5.0, step_time=1.0, **kwargs)


def test_the_switches_reach_the_rule_and_the_neurons() -> None:
    model = small(potentiation_reduction="winners", theta_reduction="max")
    assert model.excitatory_neurons.batch_reduction == "max"
    (stdp,) = model.rules
    assert stdp.defaults["potentiation_reduction"] == "winners"
    plain = small()
    assert plain.excitatory_neurons.batch_reduction == "mean"
    assert plain.rules[0].defaults["potentiation_reduction"] == "batch"


@pytest.mark.parametrize(
    ("name", "value"), [("potentiation_reduction", "winner"), ("theta_reduction", "sum")]
)
def test_bad_switches_are_refused_naming_them(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        small(**{name: value})


def test_max_theta_rises_by_one_increment_however_many_samples_a_neuron_won() -> None:
    """A neuron spiking in 3 of 4 samples: theta += 0.05 mV (max), not 0.0375 (mean)."""
    for reduction, expected in (("max", 0.05), ("mean", 0.05 * 3 / 4)):
        model = small(theta_reduction=reduction, theta_increment=0.05, tc_theta=1e12)
        neurons = model.excitatory_neurons
        neurons.train()
        current = torch.zeros(4, 3)
        current[:3, 0] = 1e4  # neuron 0 spikes in samples 0-2
        neurons(current)
        torch.testing.assert_close(
            neurons.adaptation[0], torch.tensor([expected, 0.0, 0.0]), rtol=1e-6, atol=1e-9
        )
