"""Post-update constraints: clamp by hand, normalisation to its constant."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn

from inferno_lightning.learn import Clamp, Normalize


def test_clamp_by_hand(device: torch.device) -> None:
    w = torch.tensor([-0.5, 0.3, 1.7], device=device)
    assert torch.equal(Clamp(0.0, 1.0)(w), torch.tensor([0.0, 0.3, 1.0], device=device))
    assert torch.equal(Clamp(w_max=1.0)(w), torch.tensor([-0.5, 0.3, 1.0], device=device))
    assert torch.equal(Clamp(w_min=0.0)(w), torch.tensor([0.0, 0.3, 1.7], device=device))
    per_element = Clamp(w_max=torch.tensor([1.0, 0.1, 2.0]))  # limits on CPU
    assert torch.equal(per_element(w), torch.tensor([-0.5, 0.1, 1.7], device=device))
    assert torch.equal(w, torch.tensor([-0.5, 0.3, 1.7], device=device))  # input untouched


def test_clamp_validation() -> None:
    with pytest.raises(ValueError, match="neither"):
        Clamp()
    with pytest.raises(
        ValueError, match=r"w_min \(2.0\) must be less than or equal to w_max \(1.0\)"
    ):
        Clamp(2.0, 1.0)
    with pytest.raises(ValueError, match="w_max must be finite"):
        Clamp(0.0, float("nan"))
    Clamp(1.0, 1.0)  # equal limits are allowed


def test_diehl_cook_normalisation_gives_the_constant_per_neuron(device: torch.device) -> None:
    # 784 inputs, 10 excitatory neurons, each neuron's input weights sum to 78
    weight = nn.Linear(784, 10).weight.detach().abs().to(device=device, dtype=torch.float64)
    out = Normalize(78.0)(weight)
    sums = out.sum(dim=1)
    assert torch.allclose(sums, torch.full_like(sums, 78.0), rtol=0, atol=1e-10)
    # float32: the constant up to float rounding
    out32 = Normalize(78.0)(weight.float())
    assert torch.allclose(
        out32.sum(dim=1), torch.full((10,), 78.0, device=device), rtol=0, atol=1e-4
    )
    # scaling only: ratios inside a neuron's inputs are kept
    assert torch.allclose(out / weight, (78.0 / weight.sum(dim=1, keepdim=True)).expand_as(out))


def test_normalisation_of_conv_weights_per_output_channel() -> None:
    weight = torch.rand(4, 2, 3, 3, dtype=torch.float64)
    out = Normalize(5.0)(weight)
    assert torch.allclose(
        out.sum(dim=(1, 2, 3)), torch.full((4,), 5.0, dtype=torch.float64), atol=1e-12
    )


def test_normalisation_by_hand_with_p_and_dim() -> None:
    w = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    # L2 per row: [3, 4] has norm 5 -> *2/5; [1, 1] has norm sqrt 2 -> *2/sqrt 2
    out = Normalize(2.0, p=2)(w)
    assert torch.allclose(out, torch.tensor([[1.2, 1.6], [math.sqrt(2), math.sqrt(2)]]))
    # columns (dim=0), L1: [3, 1] -> *1/4, [4, 1] -> *1/5
    out = Normalize(1.0, dim=0)(w)
    assert torch.allclose(out, torch.tensor([[0.75, 0.8], [0.25, 0.2]]))
    # infinity norm: largest magnitude per row becomes the total
    out = Normalize(1.0, p=math.inf)(w)
    assert torch.allclose(out, torch.tensor([[0.75, 1.0], [1.0, 1.0]]))
    # a 1-D weight is normalised as a whole
    assert torch.allclose(Normalize(1.0)(torch.tensor([1.0, 3.0])), torch.tensor([0.25, 0.75]))


def test_all_zero_neuron_is_left_unchanged() -> None:
    w = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    out = Normalize(2.0)(w)
    assert torch.equal(out, torch.tensor([[0.0, 0.0], [0.5, 1.5]]))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"total": 0.0}, "total must be positive"),
        ({"total": -78.0}, "total must be positive"),
        ({"total": float("nan")}, "total must be positive"),
        ({"total": 1.0, "p": 0.0}, "p must be a positive number"),
        ({"total": 1.0, "p": -1.0}, "p must be a positive number"),
        ({"total": 1.0, "dim": "rows"}, "dim must be None, an int"),
        ({"total": 1.0, "dim": ()}, "dim must be None, an int"),
    ],
)
def test_normalize_validation(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        Normalize(**kwargs)


def test_normalize_dim_out_of_range_is_refused_at_use() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Normalize(1.0, dim=2)(torch.ones(2, 2))


def test_constraints_pickle() -> None:
    for constraint in (Clamp(0.0, 1.0), Clamp(w_max=torch.ones(2)), Normalize(78.0, dim=(1,), p=2)):
        copy = pickle.loads(pickle.dumps(constraint))
        w = torch.tensor([[0.5, 2.0], [3.0, 1.0]])
        assert torch.equal(copy(w), constraint(w))
        assert repr(copy) == repr(constraint)
