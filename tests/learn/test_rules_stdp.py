"""STDP and TripletSTDP against hand computations on hand-made spike trains.

The network is driven by hand: the connection gets the chosen presynaptic
spikes, and each LIF neuron gets either no input or a current far above
threshold (with no refractory period), so it spikes exactly where the
postsynaptic train says. References are sums over spike *pairs* computed
from spike times, not trace recursions.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inferno_lightning.learn import STDP, TripletSTDP, updater_for
from inferno_lightning.neural.connections import Conv2d, LinearDense, LinearDirect, LinearLateral
from inferno_lightning.neural.layers import Serial
from inferno_lightning.neural.neurons import LIF
from inferno_lightning.neural.synapses import DeltaCurrent

DRIVE = 1e4  # nA: far above threshold in one step


def make_layer(connection, step_time: float = 1.0) -> Serial:
    return Serial(connection, LIF(connection.output_shape, step_time, refrac_t=0.0))


def dense(n_in: int = 2, n_out: int = 2, **kwargs) -> Serial:
    return make_layer(
        LinearDense(n_in, n_out, synapse=DeltaCurrent(n_in, 1.0), weight_init=0.0, **kwargs)
    )


def drive(layer: Serial, rule, pre: torch.Tensor, post: torch.Tensor, **inputs) -> None:
    """Step ``layer`` with presynaptic ``pre[t]`` while forcing postsynaptic spikes ``post[t]``."""
    with torch.no_grad():
        for t in range(pre.shape[0]):
            layer.connection(pre[t])
            spikes = layer.neuron(post[t] * DRIVE)
            assert torch.equal(spikes, post[t])
            rule(**{k: v[t] for k, v in inputs.items()})


def train(steps: list[str]) -> torch.Tensor:
    """'1.0.1' style strings, one per neuron, as a (T, n) 0/1 tensor."""
    return torch.tensor([[float(c) for c in s] for s in steps]).T


def pair_dw(pre, post, lr_post, lr_pre, tc_post, tc_pre, mode, dt=1.0) -> float:
    """Pair-STDP weight change of one synapse from spike times (pre and post 1-D 0/1 trains)."""
    pre_times = [t for t, s in enumerate(pre) if s]
    post_times = [t for t, s in enumerate(post) if s]
    dw = 0.0
    for tp in post_times:
        gaps = [tp - tq for tq in pre_times if tq <= tp]
        if mode == "nearest":
            gaps = sorted(gaps)[:1]  # the latest presynaptic spike only
        dw += lr_post * sum(math.exp(-g * dt / tc_pre) for g in gaps)
    for tq in pre_times:
        gaps = [tq - tp for tp in post_times if tp <= tq]
        if mode == "nearest":
            gaps = sorted(gaps)[:1]
        dw -= lr_pre * sum(math.exp(-g * dt / tc_post) for g in gaps)
    return dw


HYPER = dict(lr_post=0.8, lr_pre=0.3, tc_post=4.0, tc_pre=2.5)

# two samples, 2 presynaptic and 2 postsynaptic neurons, 8 steps
PRE = torch.stack([train(["10010010", "01000101"]), train(["00100100", "11000001"])], 1)
POST = torch.stack([train(["00100011", "01001000"]), train(["00011000", "10000100"])], 1)


def dense_reference(pre, post, mode, reduce="mean", delays=None, **hyper):
    steps, batch, n_in = pre.shape
    n_out = post.shape[2]
    out = torch.zeros(batch, n_out, n_in, dtype=torch.float64)
    for b in range(batch):
        for i in range(n_out):
            for j in range(n_in):
                seen = pre[:, b, j]
                if delays is not None:  # the synapse sees the train shifted by its delay
                    d = int(delays[i, j])
                    seen = torch.cat([torch.zeros(d), seen[: steps - d]])
                out[b, i, j] = pair_dw(seen, post[:, b, i], mode=mode, **hyper)
    return (out.mean(0) if reduce == "mean" else out.sum(0)).float()


# --------------------------------------------------------------------- dense


def test_single_pairs_by_hand() -> None:
    """pre0 at 0, post1 at 1, pre1 at 2, post0 at 3: four numbers from the formula."""
    layer = dense()
    rule = STDP(lr_post=1.0, lr_pre=0.5, tc_post=10.0, tc_pre=10.0)
    rule.register(layer.cell())
    drive(layer, rule, train(["1000", "0010"])[:, None], train(["0001", "0100"])[:, None])
    updater_for(layer.connection).step()
    e = math.exp
    expected = torch.tensor(
        [
            [e(-0.3), e(-0.1)],  # post0 at 3: pre0 3 ms before, pre1 1 ms before
            [e(-0.1), -0.5 * e(-0.1)],  # post1 at 1: pre0 1 ms before; pre1 at 2: post1 1 ms before
        ]
    )
    torch.testing.assert_close(layer.connection.weight.detach(), expected)


@pytest.mark.parametrize("mode", ["cumulative", "nearest"])
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_dense_equals_sum_of_trace_products(mode: str, reduce: str) -> None:
    layer = dense()
    updater_for(layer.connection).add("weight", batch_reduction=reduce)
    rule = STDP(**HYPER, trace_mode=mode)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST)
    updater_for(layer.connection).step()
    expected = dense_reference(PRE, POST, mode, reduce, **HYPER)
    torch.testing.assert_close(layer.connection.weight.detach(), expected)


def test_nearest_and_cumulative_differ_on_bursts_by_hand() -> None:
    """Two pre spikes (0, 1) then a post spike (3): all-to-all pairs both, nearest only the latest."""
    pre, post = train(["1100"])[:, None], train(["0001"])[:, None]
    results = {}
    for mode in ("cumulative", "nearest"):
        layer = dense(1, 1)
        rule = STDP(lr_post=1.0, lr_pre=0.0, tc_pre=2.0, trace_mode=mode)
        rule.register(layer.cell())
        drive(layer, rule, pre, post)
        updater_for(layer.connection).step()
        results[mode] = layer.connection.weight.item()
    assert results["cumulative"] == pytest.approx(math.exp(-1.5) + math.exp(-1.0))
    assert results["nearest"] == pytest.approx(math.exp(-1.0))


def batch_sum(term: torch.Tensor) -> torch.Tensor:
    return term.sum(0)


def test_callable_batch_reduction_uses_per_sample_terms() -> None:
    """A user callable gets (batch, *weight.shape) terms; summing them equals 'sum'."""
    layer = dense()
    updater_for(layer.connection).add("weight", batch_reduction=batch_sum, rank_reduction="sum")
    rule = STDP(**HYPER)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST)
    updater_for(layer.connection).step()
    expected = dense_reference(PRE, POST, "cumulative", "sum", **HYPER)
    torch.testing.assert_close(layer.connection.weight.detach(), expected)


# ------------------------------------------------------------- signs, timing

CAUSAL = (train(["100000"])[:, None], train(["000100"])[:, None])  # pre 3 ms before post
ACAUSAL = (train(["000100"])[:, None], train(["100000"])[:, None])  # post 3 ms before pre


@pytest.mark.parametrize(
    ("lr_post", "lr_pre", "causal", "acausal"),
    [
        (1.0, 0.5, 1.0, -0.5),  # Hebbian: pre->post potentiates, post->pre depresses
        (-1.0, -0.5, -1.0, 0.5),  # anti-Hebbian: the reverse
        (1.0, 0.0, 1.0, 0.0),  # potentiation only
        (0.0, 0.5, 0.0, -0.5),  # depression only
    ],
    ids=["hebbian", "anti-hebbian", "ltp-only", "ltd-only"],
)
def test_learning_rate_signs_select_the_mode(lr_post, lr_pre, causal, acausal) -> None:
    factor = math.exp(-3 / 5.0)
    for (pre, post), expected in ((CAUSAL, causal), (ACAUSAL, acausal)):
        layer = dense(1, 1)
        rule = STDP(lr_post=lr_post, lr_pre=lr_pre, tc_post=5.0, tc_pre=5.0)
        rule.register(layer.cell())
        drive(layer, rule, pre, post)
        updater_for(layer.connection).step()
        assert layer.connection.weight.item() == pytest.approx(expected * factor)


@pytest.mark.parametrize("mode", ["cumulative", "nearest"])
def test_same_step_spikes_pair_at_distance_zero_in_both_terms(mode: str) -> None:
    """Traces include the current step: a same-step pair gives lr_post - lr_pre."""
    layer = dense(1, 1)
    rule = STDP(lr_post=1.0, lr_pre=0.25, trace_mode=mode)
    rule.register(layer.cell())
    drive(layer, rule, train(["00100"])[:, None], train(["00100"])[:, None])
    updater_for(layer.connection).step()
    assert layer.connection.weight.item() == pytest.approx(0.75)


def test_step_time_scales_the_trace_decay() -> None:
    """With dt = 0.5 ms, three steps apart is 1.5 ms: exp(-1.5 / tc_pre)."""
    layer = make_layer(LinearDense(1, 1, synapse=DeltaCurrent(1, 0.5), weight_init=0.0), 0.5)
    rule = STDP(lr_post=1.0, lr_pre=0.0, tc_pre=3.0)
    rule.register(layer.cell())
    drive(layer, rule, CAUSAL[0], CAUSAL[1])
    updater_for(layer.connection).step()
    assert layer.connection.weight.item() == pytest.approx(math.exp(-0.5))


# ------------------------------------------------------ other connection kinds


def test_conv2d_by_hand_one_pair() -> None:
    """1x3x3 input, 2x2 kernel, one filter: a pre spike at pixel (1, 1) at step 0 and the
    output (0, 0) spiking at step 2 pair through kernel entry (1, 1) only."""
    conv = Conv2d((1, 3, 3), 1, 2, synapse=DeltaCurrent((1, 3, 3), 1.0), weight_init=0.0)
    layer = make_layer(conv)
    rule = STDP(lr_post=1.0, lr_pre=0.0, tc_pre=4.0)
    rule.register(layer.cell())
    pre = torch.zeros(3, 1, 1, 3, 3)
    pre[0, 0, 0, 1, 1] = 1.0
    post = torch.zeros(3, 1, 1, 2, 2)
    post[2, 0, 0, 0, 0] = 1.0
    drive(layer, rule, pre, post)
    updater_for(conv).step()
    expected = torch.zeros(1, 1, 2, 2)
    expected[0, 0, 1, 1] = math.exp(-0.5)
    torch.testing.assert_close(conv.weight.detach(), expected)


def conv_reference(pre, post, kernel, stride, padding, mode, reduce, **hyper):
    steps, batch, channels = pre.shape[:3]
    out_channels, height, width = post.shape[2:]
    padded = F.pad(pre, (padding, padding, padding, padding))
    dw = torch.zeros(batch, out_channels, channels, kernel, kernel, dtype=torch.float64)
    for b in range(batch):
        for o in range(out_channels):
            for c in range(channels):
                for ki in range(kernel):
                    for kj in range(kernel):
                        for y in range(height):
                            for x in range(width):
                                seen = padded[:, b, c, y * stride + ki, x * stride + kj]
                                dw[b, o, c, ki, kj] += pair_dw(
                                    seen, post[:, b, o, y, x], mode=mode, **hyper
                                )
    return (dw.mean(0) if reduce == "mean" else dw.sum(0)).float()


# hand-made 1x3x3 presynaptic trains over 5 steps, two samples
CONV_PRE = torch.tensor(
    [
        [[[1, 0, 0], [0, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 0], [1, 0, 0]]],
        [[[0, 1, 0], [0, 0, 0], [0, 0, 1]], [[0, 0, 0], [0, 1, 0], [0, 0, 0]]],
        [[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[1, 0, 0], [0, 0, 0], [0, 1, 1]]],
        [[[0, 0, 1], [0, 0, 0], [0, 0, 0]], [[0, 1, 0], [0, 0, 1], [0, 0, 0]]],
        [[[0, 0, 0], [0, 1, 0], [1, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]],
    ],
    dtype=torch.float32,
).unsqueeze(2)  # (T, B, 1, 3, 3)


@pytest.mark.parametrize("mode", ["cumulative", "nearest"])
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_conv2d_equals_sum_of_trace_products(mode: str, reduce: str) -> None:
    conv = Conv2d((1, 3, 3), 2, 2, synapse=DeltaCurrent((1, 3, 3), 1.0), weight_init=0.0)
    layer = make_layer(conv)
    updater_for(conv).add("weight", batch_reduction=reduce)
    rule = STDP(**HYPER, trace_mode=mode)
    rule.register(layer.cell())
    # output (2 filters, 2x2 positions), hand-made
    post = torch.zeros(5, 2, 2, 2, 2)
    post[1, 0, 0, 0, 0] = post[2, 0, 1, 1, 1] = post[3, 1, 0, 0, 1] = post[4, 1, 1, 0, 0] = 1.0
    post[0, 1, 1, 1, 0] = post[2, 1, 0, 1, 1] = post[4, 0, 0, 0, 0] = 1.0
    drive(layer, rule, CONV_PRE, post)
    updater_for(conv).step()
    expected = conv_reference(CONV_PRE, post, 2, 1, 0, mode, reduce, **HYPER)
    torch.testing.assert_close(conv.weight.detach(), expected)


def test_conv2d_with_stride_and_padding() -> None:
    conv = Conv2d(
        (1, 3, 3), 1, 2, synapse=DeltaCurrent((1, 3, 3), 1.0), stride=2, padding=1, weight_init=0.0
    )
    layer = make_layer(conv)
    rule = STDP(**HYPER)
    rule.register(layer.cell())
    post = torch.zeros(5, 2, 1, 2, 2)
    post[1, 0, 0, 0, 0] = post[2, 1, 0, 1, 1] = post[3, 0, 0, 1, 0] = post[4, 1, 0, 0, 1] = 1.0
    drive(layer, rule, CONV_PRE, post)
    updater_for(conv).step()
    expected = conv_reference(CONV_PRE, post, 2, 2, 1, "cumulative", "mean", **HYPER)
    torch.testing.assert_close(conv.weight.detach(), expected)


def test_direct_is_elementwise() -> None:
    layer = make_layer(LinearDirect(2, synapse=DeltaCurrent(2, 1.0), weight_init=0.0))
    rule = STDP(**HYPER)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST)
    updater_for(layer.connection).step()
    full = dense_reference(PRE, POST, "cumulative", **HYPER)
    torch.testing.assert_close(layer.connection.weight.detach(), full.diagonal())


def test_lateral_leaves_self_weights_at_zero() -> None:
    layer = make_layer(LinearLateral(2, synapse=DeltaCurrent(2, 1.0), weight_init=0.0))
    rule = STDP(**HYPER)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST)
    updater_for(layer.connection).step()
    expected = dense_reference(PRE, POST, "cumulative", **HYPER) * (1 - torch.eye(2))
    torch.testing.assert_close(layer.connection.weight.detach(), expected)


@pytest.mark.parametrize("mode", ["cumulative", "nearest"])
def test_delayed_dense_pairs_the_delayed_spikes(mode: str) -> None:
    """Each synapse pairs the presynaptic train shifted by its own delay (synaptic layout)."""
    delays = torch.tensor([[0.0, 2.0], [1.0, 3.0]])
    layer = dense(delay=delays, max_delay=3.0)
    rule = STDP(**HYPER, trace_mode=mode)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST)
    updater_for(layer.connection).step()
    expected = dense_reference(PRE, POST, mode, delays=delays, **HYPER)
    torch.testing.assert_close(layer.connection.weight.detach(), expected)


# ------------------------------------------------------------------- triplet


def triplet_dw(pre, post, p, mode) -> float:
    """Pfister & Gerstner's update of one synapse from spike times."""

    def trace(times, t, tc, strict):
        before = [s for s in times if (s < t if strict else s <= t)]
        if mode == "nearest":
            before = before[-1:]
        return sum(math.exp(-(t - s) / tc) for s in before)

    pre_times = [t for t, s in enumerate(pre) if s]
    post_times = [t for t, s in enumerate(post) if s]
    dw = 0.0
    for t in post_times:  # r1 includes a same-step pre spike; o2 excludes this post spike
        dw += trace(pre_times, t, p["tc_plus"], False) * (
            p["a2_plus"] + p["a3_plus"] * trace(post_times, t, p["tc_y"], True)
        )
    for t in pre_times:
        dw -= trace(post_times, t, p["tc_minus"], False) * (
            p["a2_minus"] + p["a3_minus"] * trace(pre_times, t, p["tc_x"], True)
        )
    return dw


TRIPLET = dict(
    a2_plus=0.5,
    a3_plus=0.3,
    a2_minus=0.4,
    a3_minus=0.2,
    tc_plus=3.0,
    tc_minus=5.0,
    tc_x=7.0,
    tc_y=11.0,
)


def test_triplet_by_hand_one_pre_two_posts() -> None:
    """pre at 0, post at 2 and 5 (all-to-all): the second post adds a triplet term."""
    layer = dense(1, 1)
    rule = TripletSTDP(**TRIPLET)
    rule.register(layer.cell())
    drive(layer, rule, train(["100000"])[:, None], train(["001001"])[:, None])
    updater_for(layer.connection).step()
    first = math.exp(-2 / 3) * 0.5  # r1 = e^{-2/tc_plus}, o2(t-) = 0
    second = math.exp(-5 / 3) * (0.5 + 0.3 * math.exp(-3 / 11))  # o2(5-) from the post at 2
    assert layer.connection.weight.item() == pytest.approx(first + second)


@pytest.mark.parametrize("mode", ["cumulative", "nearest"])
def test_triplet_dense_matches_pair_and_triplet_sums(mode: str) -> None:
    layer = dense()
    rule = TripletSTDP(**TRIPLET, trace_mode=mode)
    rule.register(layer.cell())
    drive(layer, rule, PRE, POST)
    updater_for(layer.connection).step()
    expected = torch.zeros(2, 2, 2, dtype=torch.float64)
    for b in range(2):
        for i in range(2):
            for j in range(2):
                expected[b, i, j] = triplet_dw(PRE[:, b, j], POST[:, b, i], TRIPLET, mode)
    torch.testing.assert_close(layer.connection.weight.detach(), expected.mean(0).float())


def test_triplet_conv2d_matches_reference() -> None:
    conv = Conv2d((1, 3, 3), 1, 2, synapse=DeltaCurrent((1, 3, 3), 1.0), weight_init=0.0)
    layer = make_layer(conv)
    rule = TripletSTDP(**TRIPLET)
    rule.register(layer.cell())
    post = torch.zeros(5, 2, 1, 2, 2)
    post[1, 0, 0, 0, 0] = post[2, 0, 0, 0, 0] = post[3, 1, 0, 0, 1] = post[4, 1, 0, 0, 1] = 1.0
    drive(layer, rule, CONV_PRE, post)
    updater_for(conv).step()
    expected = torch.zeros(2, 1, 1, 2, 2, dtype=torch.float64)
    for b in range(2):
        for ki in range(2):
            for kj in range(2):
                for y in range(2):
                    for x in range(2):
                        expected[b, 0, 0, ki, kj] += triplet_dw(
                            CONV_PRE[:, b, 0, y + ki, x + kj],
                            post[:, b, 0, y, x],
                            TRIPLET,
                            "cumulative",
                        )
    torch.testing.assert_close(conv.weight.detach(), expected.mean(0).float())


@pytest.mark.parametrize("mode", ["cumulative", "nearest"])
def test_delayed_conv2d_pairs_each_kernel_entrys_delayed_spikes(mode: str) -> None:
    """Kernel entry (o, c, i, j) pairs, at each output position, the presynaptic train of its
    pixel shifted by delay[o, c, i, j] (whole steps; padding never spikes)."""
    delays = torch.tensor([[[[0.0, 2.0], [1.0, 0.0]]], [[[1.0, 0.0], [2.0, 1.0]]]])  # (2, 1, 2, 2)
    conv = Conv2d(
        (1, 3, 3),
        2,
        2,
        synapse=DeltaCurrent((1, 3, 3), 1.0),
        padding=1,
        weight_init=0.0,
        delay=delays,
    )
    layer = make_layer(conv)
    rule = STDP(**HYPER, trace_mode=mode)
    rule.register(layer.cell())
    # output: 2 filters x 4x4 positions, a fixed sparse random train
    post = (torch.rand(5, 2, 2, 4, 4, generator=torch.Generator().manual_seed(3)) < 0.2).float()
    drive(layer, rule, CONV_PRE, post)
    updater_for(conv).step()
    steps = CONV_PRE.shape[0]
    padded = F.pad(CONV_PRE, (1, 1, 1, 1))
    dw = torch.zeros(2, 2, 1, 2, 2, dtype=torch.float64)
    for b in range(2):
        for o in range(2):
            for ki in range(2):
                for kj in range(2):
                    d = int(delays[o, 0, ki, kj])
                    for y in range(4):
                        for x in range(4):
                            seen = padded[:, b, 0, y + ki, x + kj]
                            seen = torch.cat([torch.zeros(d), seen[: steps - d]])
                            dw[b, o, 0, ki, kj] += pair_dw(
                                seen, post[:, b, o, y, x], mode=mode, **HYPER
                            )
    assert dw.abs().sum() > 0
    torch.testing.assert_close(conv.weight.detach(), dw.mean(0).float())


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_winners_potentiation_averages_each_neuron_over_the_samples_it_spiked_in(
    reduction: str,
) -> None:
    """Per step, neuron i's potentiation is the mean pre-trace of the samples where i spiked."""
    hyper = dict(HYPER, lr_pre=0.0)
    post = POST.clone()
    post[3, 0, 0] = post[4, 0, 0] = 1.0  # neuron 0 spikes in both samples at steps 3 and 4
    results = {}
    for mode in ("batch", "winners"):
        layer = dense(n_in=2, n_out=2)
        updater_for(layer.connection).add("weight", batch_reduction=reduction)
        rule = STDP(**hyper, trace_mode="cumulative", potentiation_reduction=mode)
        rule.register(layer.cell())
        drive(layer, rule, PRE, post)
        results[mode] = updater_for(layer.connection).weight.pending().potentiation.double()
    # By hand, from pairs: sample b's contribution to synapse (i, j) at each post spike of i,
    # divided by how many samples i spiked in at that step.
    expected = torch.zeros(2, 2, dtype=torch.float64)
    for t in range(PRE.shape[0]):
        for i in range(2):
            winners = [b for b in range(2) if post[t, b, i]]
            for b in winners:
                for j in range(2):
                    trace = sum(
                        math.exp(-(t - s) / hyper["tc_pre"]) for s in range(t + 1) if PRE[s, b, j]
                    )
                    expected[i, j] += hyper["lr_post"] * trace / len(winners)
    torch.testing.assert_close(results["winners"], expected, rtol=1e-5, atol=1e-6)
    # The batch reduction divides by the batch (mean) or not (sum), whoever spiked.
    batch_expected = dense_reference(PRE, post, "cumulative", reduction, **hyper).double()
    torch.testing.assert_close(results["batch"], batch_expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(results["batch"], results["winners"])


def test_winners_at_batch_one_is_the_plain_rule_and_bad_names_are_refused() -> None:
    results = []
    for mode in ("batch", "winners"):
        layer = dense(n_in=2, n_out=2)
        rule = STDP(**HYPER, potentiation_reduction=mode)
        rule.register(layer.cell())
        drive(layer, rule, PRE[:, :1], POST[:, :1])
        results.append(updater_for(layer.connection).weight.pending())
    for a, b in zip(results[0], results[1], strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="potentiation_reduction"):
        STDP(potentiation_reduction="winner")
