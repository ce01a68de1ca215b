"""Spike, reset and refractory helpers, and surrogate spike functions."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch

from inferno_lightning.functional.spikes import (
    SURROGATE_NAMES,
    ArctanSpike,
    FastSigmoidSpike,
    SigmoidSpike,
    Surrogate,
    TriangleSpike,
    arctan_spike,
    as_surrogate,
    fast_sigmoid_spike,
    heaviside,
    hold_spike_reset,
    refractory_step,
    sigmoid_spike,
    threshold,
    triangle_spike,
)

POINTS = [-2.0, -0.5, 0.0, 0.3, 1.5]


def _formula(name: str, x: float, k: float) -> float:
    """The documented pseudo-derivatives, written out independently of the package."""
    if name == "arctan":
        return (k / 2) / (1 + (math.pi / 2 * k * x) ** 2)
    if name == "fast_sigmoid":
        return 1 / (1 + k * abs(x)) ** 2
    if name == "sigmoid":
        s = 1 / (1 + math.exp(-k * x))
        return k * s * (1 - s)
    return k * max(0.0, 1 - k * abs(x))


@pytest.mark.parametrize("name", [None, *SURROGATE_NAMES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_heaviside_including_zero(name, dtype, device):
    x = torch.tensor([-2.0, -1e-6, 0.0, 1e-6, 3.0], dtype=dtype, device=device)
    spikes = heaviside(x) if name is None else Surrogate(name, 2.0)(x)
    assert spikes.dtype == dtype
    assert spikes.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", SURROGATE_NAMES)
def test_backward_equals_formula(name, device):
    slope = 1.5
    x = torch.tensor(POINTS, dtype=torch.float64, device=device, requires_grad=True)
    upstream = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0], dtype=torch.float64, device=device)
    Surrogate(name, slope)(x).backward(upstream)
    expected = [
        u * _formula(name, p, slope) for u, p in zip(upstream.tolist(), POINTS, strict=True)
    ]
    assert x.grad.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_backward_at_zero_by_hand():
    # sigma'(0) with slope k = 1.5: arctan k/2, fast sigmoid 1, sigmoid k/4, triangle k.
    expected = {"arctan": 0.75, "fast_sigmoid": 1.0, "sigmoid": 0.375, "triangle": 1.5}
    for name, value in expected.items():
        x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        Surrogate(name, 1.5)(x).sum().backward()
        assert x.grad.item() == pytest.approx(value, rel=1e-12)
        assert Surrogate(name, 1.5).derivative(torch.zeros(1)).item() == pytest.approx(value)
    # the triangle is zero outside |x| < 1/k; 1/1.5 = 0.667 < 0.7
    x = torch.tensor([0.7, -0.7], requires_grad=True)
    triangle_spike(x, 1.5).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_function_classes_and_shortcuts_agree():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    pairs = [
        (ArctanSpike, arctan_spike, "arctan"),
        (FastSigmoidSpike, fast_sigmoid_spike, "fast_sigmoid"),
        (SigmoidSpike, sigmoid_spike, "sigmoid"),
        (TriangleSpike, triangle_spike, "triangle"),
    ]
    for function, shortcut, name in pairs:
        grads = []
        for call in (
            lambda v, f=function: f.apply(v, 0.8),
            lambda v, s=shortcut: s(v, 0.8),
            lambda v, n=name: Surrogate(n, 0.8)(v),
        ):
            v = x.clone().requires_grad_()
            out = call(v)
            out.sum().backward()
            assert out.tolist() == heaviside(x).tolist()
            grads.append(v.grad)
        assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


def test_surrogate_pickles_and_copies():
    surrogate = Surrogate("fast_sigmoid", 3.0)
    for clone in (pickle.loads(pickle.dumps(surrogate)), copy.deepcopy(surrogate)):
        assert clone == surrogate
        x = torch.tensor([0.1], requires_grad=True)
        clone(x).sum().backward()
        assert x.grad.item() == pytest.approx(1 / (1 + 0.3) ** 2)
    assert pickle.loads(pickle.dumps(ArctanSpike)) is ArctanSpike


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "relu"}, "surrogate must be one of"),
        ({"slope": 0.0}, "slope must be positive"),
        ({"slope": -1.0}, "slope must be positive"),
        ({"slope": float("nan")}, "slope must be positive"),
        ({"slope": True}, "slope must be positive"),
    ],
)
def test_surrogate_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Surrogate(**kwargs)


def test_as_surrogate():
    assert as_surrogate(None) is None
    assert as_surrogate("sigmoid") == Surrogate("sigmoid", 1.0)
    chosen = Surrogate("triangle", 2.0)
    assert as_surrogate(chosen) is chosen
    assert as_surrogate(arctan_spike) is arctan_spike
    with pytest.raises(ValueError, match="surrogate"):
        as_surrogate("step")
    with pytest.raises(TypeError, match="surrogate"):
        as_surrogate(3)


def test_threshold_spikes_at_equality(device):
    v = torch.tensor([[-50.0, -50.0001, -49.0]], device=device)
    assert threshold(v, -50.0).tolist() == [[1.0, 0.0, 1.0]]
    per_neuron = torch.tensor([-51.0, -50.0, -48.0], device=device)
    assert threshold(v, per_neuron).tolist() == [[1.0, 0.0, 0.0]]


def test_refractory_step_by_hand(device):
    refrac = torch.tensor([[0.0, 0.5, 1.0, 2.0, 2.5]], device=device)
    remaining, held = refractory_step(refrac, 1.0)
    assert remaining.tolist() == [[0.0, 0.0, 0.0, 1.0, 1.5]]
    assert held.tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0]]
    assert held.dtype == refrac.dtype
    assert refrac.tolist() == [[0.0, 0.5, 1.0, 2.0, 2.5]]  # the argument is untouched


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_refractory_rounding_never_adds_a_step(dtype):
    # 0.3 - 0.1 - 0.1 - 0.1 is 5.6e-17, not 0, in float64: still exactly 2 held steps.
    refrac = torch.tensor([0.3], dtype=dtype)
    held_steps = 0
    for _ in range(5):
        refrac, held = refractory_step(refrac, 0.1)
        held_steps += int(held.item())
    assert held_steps == 2
    assert refrac.item() == 0.0


def test_hold_spike_reset_by_hand(device):
    integrated = torch.tensor([[-70.0, -50.0, -40.0, -60.0, -30.0]], device=device)
    voltage = torch.tensor([[-65.0, -65.0, -65.0, -55.0, -65.0]], device=device)
    refrac = torch.tensor([[0.0, 0.0, 0.0, 2.0, 1.0]], device=device)
    spikes, v, r = hold_spike_reset(
        integrated,
        voltage,
        refrac,
        step_time=1.0,
        thresh_v=-50.0,
        reset_v=-65.0,
        refrac_t=2.0,
    )
    # neuron 3 is held (2 - 1 = 1 ms left) at its old voltage; neuron 4's time runs out
    # (1 - 1 = 0), so it integrates and spikes; 1 and 2 spike (1 exactly at threshold).
    assert spikes.tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0]]
    assert v.tolist() == [[-70.0, -65.0, -65.0, -55.0, -65.0]]
    assert r.tolist() == [[0.0, 2.0, 2.0, 1.0, 2.0]]


def test_hold_spike_reset_per_neuron_values(device):
    integrated = torch.tensor([[-40.0, -40.0, -40.0]], device=device, dtype=torch.float64)
    zeros = torch.zeros_like(integrated)
    spikes, v, r = hold_spike_reset(
        integrated,
        zeros - 65.0,
        zeros,
        step_time=0.5,
        thresh_v=torch.tensor([-45.0, -40.0, -35.0], device=device),
        reset_v=torch.tensor([-70.0, -60.0, -50.0], device=device),
        refrac_t=torch.tensor([1.0, 3.0, 5.0], device=device),
    )
    assert spikes.tolist() == [[1.0, 1.0, 0.0]]
    assert v.tolist() == [[-70.0, -60.0, -40.0]]
    assert r.tolist() == [[1.0, 3.0, 0.0]]
    assert v.dtype == torch.float64


def test_hold_spike_reset_gradient(device):
    surrogate = Surrogate("arctan", 1.0)
    integrated = torch.tensor(
        [[-51.0, -49.5, -55.0]], dtype=torch.float64, device=device, requires_grad=True
    )
    voltage = torch.tensor(
        [[-60.0, -60.0, -58.0]], dtype=torch.float64, device=device, requires_grad=True
    )
    refrac = torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64, device=device)
    spikes, v, _ = hold_spike_reset(
        integrated,
        voltage,
        refrac,
        step_time=1.0,
        thresh_v=-50.0,
        reset_v=-65.0,
        refrac_t=2.0,
        surrogate=surrogate,
    )
    (spikes.sum() + v.sum()).backward()
    # neuron 0 integrates, no spike: d/dV_int = sigma'(-1) + 1; neuron 1 spikes and is
    # reset: only sigma'(0.5) (the reset passes no gradient); neuron 2 is held: its
    # gradient goes to the old voltage, sigma'(-8) + 1.
    grad = [_formula("arctan", x, 1.0) for x in (-1.0, 0.5, -8.0)]
    assert integrated.grad[0].tolist() == pytest.approx([grad[0] + 1, grad[1], 0.0])
    assert voltage.grad[0].tolist() == pytest.approx([0.0, 0.0, grad[2] + 1])


def test_float_operands_become_cached_0d_tensors_only_where_exact():
    from inferno_lightning.functional.spikes import _operand

    like = torch.zeros(2, dtype=torch.float64)
    tensor = _operand(0.7, like)
    assert isinstance(tensor, torch.Tensor) and tensor.dim() == 0 and tensor.dtype == torch.float64
    assert tensor.item() == 0.7 and _operand(0.7, like) is tensor  # cached
    assert _operand(0.7, torch.zeros(2)).dtype == torch.float32
    # Left alone: zeros (the cache would not tell 0.0 from -0.0), half precision, tensors.
    assert _operand(0.0, like) == 0.0 and isinstance(_operand(-0.0, like), float)
    assert isinstance(_operand(0.7, torch.zeros(2, dtype=torch.bfloat16)), float)
    assert _operand(like, like) is like


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_threshold_and_refractory_step_equal_the_plain_float_ops(dtype):
    generator = torch.Generator().manual_seed(0)
    voltage = torch.rand(64, 50, generator=generator, dtype=dtype) * 30 - 70
    refrac = torch.rand(64, 50, generator=generator, dtype=dtype) * 3
    for step_time in (0.1, 0.7, 1.0):
        remaining, held = refractory_step(refrac, step_time)
        expected = torch.threshold(refrac - step_time, 1e-3 * step_time, 0.0)
        assert torch.equal(remaining, expected) and torch.equal(held, torch.sign(expected))
    for thresh in (-52.0, -55.123456789):
        assert torch.equal(threshold(voltage, thresh), (voltage >= thresh).to(dtype))
