"""MSTDP and MSTDPET (Florian 2007) against hand computations; reward validation."""

from __future__ import annotations

import math

import pytest
import torch

from inferno_lightning.learn import MSTDP, MSTDPET, updater_for
from inferno_lightning.neural.base import StatefulModule
from inferno_lightning.neural.connections import Conv2d, LinearDense
from inferno_lightning.neural.layers import Serial
from inferno_lightning.neural.neurons import LIF
from inferno_lightning.neural.synapses import DeltaCurrent

DRIVE = 1e4


def dense(n_in: int = 2, n_out: int = 2, step_time: float = 1.0) -> Serial:
    conn = LinearDense(n_in, n_out, synapse=DeltaCurrent(n_in, step_time), weight_init=0.0)
    return Serial(conn, LIF(n_out, step_time, refrac_t=0.0))


def drive(layer: Serial, rule, pre: torch.Tensor, post: torch.Tensor, reward: torch.Tensor) -> None:
    with torch.no_grad():
        for t in range(pre.shape[0]):
            layer.connection(pre[t])
            assert torch.equal(layer.neuron(post[t] * DRIVE), post[t])
            rule(reward=reward[t])


def train(steps: list[str]) -> torch.Tensor:
    return torch.tensor([[float(c) for c in s] for s in steps]).T


HYPER = dict(lr_post=0.8, lr_pre=0.3, tc_post=4.0, tc_pre=2.5, scale=0.5)
PRE = torch.stack([train(["10010010", "01000101"]), train(["00100100", "11000001"])], 1)
POST = torch.stack([train(["00100011", "01001000"]), train(["00011000", "10000100"])], 1)
REWARD = torch.tensor(
    [
        [1.0, -0.5],
        [0.0, 2.0],
        [-1.0, 1.0],
        [0.5, 0.5],
        [2.0, -1.0],
        [1.0, 0.0],
        [-0.5, 1.5],
        [1.0, 1.0],
    ]
)


def zeta(pre, post, t, p) -> float:
    """Florian's zeta of one synapse at step t, from spike times (traces include step t)."""
    z = 0.0
    if post[t]:
        z += p["lr_post"] * sum(math.exp(-(t - s) / p["tc_pre"]) for s in range(t + 1) if pre[s])
    if pre[t]:
        z -= p["lr_pre"] * sum(math.exp(-(t - s) / p["tc_post"]) for s in range(t + 1) if post[s])
    return z


def test_mstdp_by_hand_one_pair() -> None:
    """pre at 0, post at 2, reward 3 at step 2: dw = scale * 3 * lr_post * e^{-2/tc_pre}."""
    layer = dense(1, 1)
    rule = MSTDP(lr_post=1.0, lr_pre=1.0, tc_pre=4.0, scale=0.1)
    rule.register(layer.cell())
    reward = torch.tensor([[5.0], [5.0], [3.0], [5.0]])
    drive(layer, rule, train(["1000"])[:, None], train(["0010"])[:, None], reward)
    updater_for(layer.connection).step()
    assert layer.connection.weight.item() == pytest.approx(0.1 * 3.0 * math.exp(-0.5))


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_mstdp_equals_reward_times_zeta(reduce: str) -> None:
    layer = dense()
    updater_for(layer.connection).add("weight", batch_reduction=reduce)
    rule = MSTDP(**HYPER)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST, REWARD)
    updater_for(layer.connection).step()
    expected = torch.zeros(2, 2, 2, dtype=torch.float64)
    for b in range(2):
        for i in range(2):
            for j in range(2):
                expected[b, i, j] = sum(
                    HYPER["scale"]
                    * REWARD[t, b].item()
                    * zeta(PRE[:, b, j], POST[:, b, i], t, HYPER)
                    for t in range(8)
                )
    expected = expected.mean(0) if reduce == "mean" else expected.sum(0)
    torch.testing.assert_close(layer.connection.weight.detach(), expected.float())


def test_mstdpet_by_hand_one_pair() -> None:
    """pre at 0, post at 2: z(2) = lr_post e^{-2/tc_pre} / tc_z; reward only at step 5:
    dw = scale * r * z(2) e^{-3/tc_z} * dt."""
    layer = dense(1, 1, step_time=0.5)
    rule = MSTDPET(lr_post=1.0, lr_pre=1.0, tc_pre=4.0, tc_eligibility=10.0, scale=2.0)
    rule.register(layer.cell())
    reward = torch.zeros(7, 1)
    reward[5] = 3.0
    drive(layer, rule, train(["1000000"])[:, None], train(["0010000"])[:, None], reward)
    # times are steps * 0.5 ms
    z2 = math.exp(-1.0 / 4.0) / 10.0
    z5 = z2 * math.exp(-1.5 / 10.0)
    torch.testing.assert_close(rule.eligibility(layer.cell()).item(), z2 * math.exp(-2.0 / 10.0))
    updater_for(layer.connection).step()
    assert layer.connection.weight.item() == pytest.approx(2.0 * 3.0 * z5 * 0.5)


def batch_sum(term: torch.Tensor) -> torch.Tensor:
    return term.sum(0)


@pytest.mark.parametrize("reduce", ["mean", "sum", "callable"])
def test_mstdpet_equals_recursion_by_hand(reduce: str) -> None:
    layer = dense()
    if reduce == "callable":
        updater_for(layer.connection).add("weight", batch_reduction=batch_sum, rank_reduction="sum")
    else:
        updater_for(layer.connection).add("weight", batch_reduction=reduce)
    rule = MSTDPET(**HYPER, tc_eligibility=6.0)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST, REWARD)
    updater_for(layer.connection).step()
    expected = torch.zeros(2, 2, 2, dtype=torch.float64)
    for b in range(2):
        for i in range(2):
            for j in range(2):
                z, dw = 0.0, 0.0
                for t in range(8):
                    z = z * math.exp(-1.0 / 6.0) + zeta(PRE[:, b, j], POST[:, b, i], t, HYPER) / 6.0
                    dw += HYPER["scale"] * REWARD[t, b].item() * z * 1.0
                expected[b, i, j] = dw
    expected = expected.mean(0) if reduce == "mean" else expected.sum(0)
    torch.testing.assert_close(layer.connection.weight.detach(), expected.float())


def test_mstdpet_on_conv2d_single_pair() -> None:
    conv = Conv2d((1, 3, 3), 1, 2, synapse=DeltaCurrent((1, 3, 3), 1.0), weight_init=0.0)
    layer = Serial(conv, LIF((1, 2, 2), 1.0, refrac_t=0.0))
    rule = MSTDPET(lr_post=1.0, lr_pre=0.0, tc_pre=4.0, tc_eligibility=5.0, scale=1.0)
    rule.register(layer.cell())
    pre = torch.zeros(3, 1, 1, 3, 3)
    pre[0, 0, 0, 2, 1] = 1.0
    post = torch.zeros(3, 1, 1, 2, 2)
    post[1, 0, 0, 1, 0] = 1.0  # output (1, 0) sees pixel (2, 1) through kernel entry (1, 1)
    drive(layer, rule, pre, post, torch.tensor([[0.0], [0.0], [1.0]]))
    updater_for(conv).step()
    expected = torch.zeros(1, 1, 2, 2)
    expected[0, 0, 1, 1] = math.exp(-1 / 4.0) / 5.0 * math.exp(-1 / 5.0)
    torch.testing.assert_close(conv.weight.detach(), expected)


def test_eligibility_is_per_sample_state_reset_with_the_network() -> None:
    layer = dense()
    rule = MSTDPET()
    rule.register(layer.cell())
    drive(layer, rule, PRE[:2], POST[:2], REWARD[:2])
    trace = rule.eligibility(layer.cell())
    assert trace.shape == (2, 2, 2)
    assert not any("eligibility" in key for key in rule.state_dict())
    # a network-wide reset, as SpikingModule does it
    for module in [*layer.modules(), *rule.modules()]:
        if isinstance(module, StatefulModule):
            module.reset()
    assert rule.eligibility(layer.cell()) is None
    # and a new batch size after the reset
    pre, post = PRE[:3, :1], POST[:3, :1]
    drive(layer, rule, pre, post, REWARD[:3, :1])
    assert rule.eligibility(layer.cell()).shape == (1, 2, 2)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("cls", [MSTDP, MSTDPET])
@pytest.mark.parametrize(
    "reward",
    [torch.ones(3), torch.ones(2, 1), torch.ones(()), torch.tensor([1.0, float("nan")]), 1.0],
    ids=["batch-3", "column", "scalar", "nan", "float"],
)
def test_bad_reward_is_named_and_nothing_accumulates(cls, reward) -> None:
    layer = dense()
    rule = cls(**HYPER)
    rule.register(layer.cell())
    drive(layer, rule, PRE[:3], POST[:3], REWARD[:3])
    updater = updater_for(layer.connection)
    steps = updater.weight.steps
    before_pending = updater.weight.pending()
    trace = rule.eligibility(layer.cell()).clone() if cls is MSTDPET else None
    with torch.no_grad():
        layer.connection(PRE[3])
        layer.neuron(POST[3] * DRIVE)
    with pytest.raises((ValueError, TypeError), match="reward"):
        rule(reward=reward)
    assert updater.weight.steps == steps
    torch.testing.assert_close(updater.weight.pending(), before_pending)
    if cls is MSTDPET:
        torch.testing.assert_close(rule.eligibility(layer.cell()), trace)


def test_missing_reward_is_a_clear_error() -> None:
    layer = dense()
    rule = MSTDP()
    rule.register(layer.cell())
    with torch.no_grad():
        layer(PRE[0])
    with pytest.raises(TypeError, match="reward"):
        rule()
    assert updater_for(layer.connection).weight.steps == 0


def test_reward_shape_error_leaves_every_cell_untouched() -> None:
    """Two cells with different batch sizes: the error on the second accumulates nothing on the first."""
    first, second = dense(), dense()
    rule = MSTDP()
    rule.register(first.cell())
    rule.register(second.cell())
    with torch.no_grad():
        first(PRE[0])
        second(PRE[0, :1])
    with pytest.raises(ValueError, match="reward"):
        rule(reward=torch.ones(2))
    assert updater_for(first.connection).weight.steps == 0
    assert updater_for(second.connection).weight.steps == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tc_eligibility": 0.0}, "tc_eligibility"),
        ({"scale": float("inf")}, "scale"),
        ({"tc_pre": -1.0}, "tc_pre"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        MSTDPET(**kwargs)
