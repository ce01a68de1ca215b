"""Connections: mappings by their equations, delays, learning-support layouts, state and validation."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from inferno_lightning.neural.connections import Conv2d, LinearDense, LinearDirect, LinearLateral
from inferno_lightning.neural.synapses import DeltaCurrent, DeltaPlusCurrent, ExponentialCurrent

GEN = torch.Generator().manual_seed(7)


def _spikes(*shape: int, p: float = 0.5) -> torch.Tensor:
    return (torch.rand(*shape, generator=GEN) < p).float()


def _exp(shape, **kwargs) -> ExponentialCurrent:
    return ExponentialCurrent(shape, step_time=1.0, time_constant=3.0, **kwargs)


# mappings


def test_dense_is_current_times_weight_transposed_plus_bias(device: torch.device) -> None:
    conn = LinearDense((2, 3), 4, synapse=_exp((2, 3)), bias=torch.arange(4.0)).to(device)
    spikes = _spikes(5, 3, 2, 3).to(device)
    with torch.no_grad():
        for t in range(5):
            out = conn(spikes[t])
            current = conn.synapse.current.reshape(3, 6)
            assert torch.allclose(out, current @ conn.weight.T + conn.bias, atol=1e-6)
    # with a delta synapse (q = dt = 1) the current is the spikes themselves
    conn = LinearDense(
        3, 2, synapse=DeltaCurrent(3, 1.0), weight_init=torch.tensor([[1.0, 2, 3], [-1, 0, 1]])
    )
    with torch.no_grad():
        assert conn(torch.tensor([[1.0, 1, 0], [0, 1, 1]])).tolist() == [[3.0, -1.0], [5.0, 1.0]]


def test_direct_is_elementwise(device: torch.device) -> None:
    conn = LinearDirect(
        (2, 2),
        synapse=DeltaCurrent((2, 2), 0.5),
        weight_init=torch.tensor([[1.0, 2], [3, 4]]),
        bias=0.5,
    ).to(device)
    with torch.no_grad():
        out = conn(torch.tensor([[[1.0, 0], [1, 1]]], device=device))
    # I = s / 0.5 = 2 s; y = W * I + b
    assert out.tolist() == [[[2.5, 0.5], [6.5, 8.5]]]


def test_lateral_self_weights_stay_zero(device: torch.device) -> None:
    conn = LinearLateral(3, synapse=DeltaCurrent(3, 1.0), weight_init=1.0, bias=True).to(device)
    assert torch.equal(conn.weight.diagonal(), torch.zeros(3, device=device))
    x = torch.tensor([[1.0, 0.0, 1.0]], device=device)
    with torch.no_grad():
        assert conn(x).tolist() == [[1.0, 2.0, 1.0]]
        w = torch.arange(9.0, device=device).view(3, 3)
        conn.weight.copy_(w)  # a user sets every weight, the diagonal too
        out = conn(x)
    masked = w * (1 - torch.eye(3, device=device))
    assert torch.equal(out, x @ masked.T)  # [[2, 8, 6]]
    assert torch.equal(conn.weight.diagonal(), torch.zeros(3, device=device))
    # and after loading a state_dict whose diagonal is not zero
    conn.load_state_dict({"weight": w, "bias": torch.zeros(3, device=device)})
    assert torch.equal(conn.weight.diagonal(), torch.zeros(3, device=device))


CONV_CASES = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2),
    dict(stride=1, padding=1, dilation=2, groups=4),
]


@pytest.mark.parametrize("geometry", CONV_CASES)
def test_conv2d_equals_functional_conv2d(geometry: dict, device: torch.device) -> None:
    bias = torch.randn(8, generator=GEN)
    conn = Conv2d((4, 7, 6), 8, (3, 2), synapse=_exp((4, 7, 6)), bias=bias, **geometry).to(device)
    spikes = _spikes(3, 2, 4, 7, 6).to(device)
    with torch.no_grad():
        for t in range(3):
            out = conn(spikes[t])
    expected = F.conv2d(conn.synapse.current, conn.weight, conn.bias, **geometry)
    assert out.shape == (2, *conn.output_shape) and torch.allclose(out, expected, atol=1e-6)


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(in_shape=shapes, out_shape=shapes, batch=st.integers(1, 3), as_bool=st.booleans())
def test_dense_shapes_and_dtypes(in_shape, out_shape, batch: int, as_bool: bool) -> None:
    conn = LinearDense(in_shape, out_shape, synapse=DeltaCurrent(in_shape, 1.0), bias=True)
    spikes = torch.rand(batch, *in_shape, generator=GEN) < 0.5
    with torch.no_grad():
        out = conn(spikes if as_bool else spikes.float())
    assert out.shape == (batch, *out_shape) and out.dtype == torch.float32
    flat = spikes.float().reshape(batch, -1)
    assert torch.allclose(out.reshape(batch, -1), flat @ conn.weight.T + conn.bias, atol=1e-6)
    post = torch.rand(batch, *out_shape, generator=GEN)
    expected = post.reshape(batch, -1).T @ flat
    assert torch.allclose(conn.correlate(post, spikes, "sum"), expected, atol=1e-6)


# delays


def test_dense_with_heterogeneous_delays_is_the_delayed_sum(device: torch.device) -> None:
    delay = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 1.5]])  # ms, dt = 1 ms
    weight = torch.tensor([[1.0, 10.0, 100.0], [-1.0, 2.0, 4.0]])
    conn = LinearDense(
        3, 2, synapse=DeltaCurrent(3, 1.0), weight_init=weight, bias=0.5, delay=delay
    ).to(device)
    assert conn.synapse.delay == 2.0 and conn.max_delay == 2.0
    x = torch.tensor([[1.0, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1], [0, 0, 0]])  # x[t, j], batch 1
    got = []
    with torch.no_grad():
        for t in range(5):
            got.append(conn(x[t].view(1, 3).to(device)).cpu())

    def past(t: int, j: int, d: float) -> float:  # linear interpolation between steps
        lo, hi = math.floor(d), math.ceil(d)
        value = lambda k: float(x[t - k, j]) if t - k >= 0 else 0.0  # noqa: E731
        return (1 - (d - lo)) * value(lo) + (d - lo) * value(hi)

    for t in range(5):
        expected = [
            sum(float(weight[i, j]) * past(t, j, float(delay[i, j])) for j in range(3)) + 0.5
            for i in range(2)
        ]
        assert torch.allclose(got[t][0], torch.tensor(expected)), t
    # at t = 2: y0 = 1 x0[2] + 10 x1[1] + 100 x2[0] = 11; y1 = -x0[0] + 2 x1[2] + 4 (x2[1] + x2[0]) / 2 = 3
    assert torch.allclose(got[2][0], torch.tensor([11.5, 3.5]))
    # synaptic layout: synspike[b, o, i] is the spike read at delay[o, i] (nearest step, a
    # tie to the earlier one): at t = 4, x0[2] for (1, 0); x2[2] = 0 for (1, 2), d = 1.5
    assert conn.synspike.shape == (1, 2, 3)
    assert conn.synspike.cpu().tolist() == [[[False, False, False], [True, False, False]]]
    assert conn.syncurrent.shape == (1, 2, 3)


def test_direct_with_delays_and_max_delay() -> None:
    conn = LinearDirect(
        2,
        synapse=DeltaCurrent(2, 0.5),
        weight_init=1.0,
        delay=torch.tensor([0.5, 1.0]),
        max_delay=3.0,
    )
    assert conn.synapse.delay == 3.0 and conn.synapse.history_length == 7
    with torch.no_grad():
        outs = [conn(s).clone() for s in torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]]])]
    # spikes at step 0 reach neuron 0 one step later and neuron 1 two steps later (I = 2 s)
    assert [o.tolist() for o in outs] == [[[0.0, 0.0]], [[2.0, 0.0]], [[0.0, 2.0]]]
    conn.max_delay = 5.0
    assert conn.synapse.delay == 5.0


# learning support


def _brute_linear(post: torch.Tensor, pre: torch.Tensor, delayed: bool) -> torch.Tensor:
    batch, n_out = post.shape
    n_in = pre.shape[-1]
    out = torch.zeros(batch, n_out, n_in)
    for b in range(batch):
        for o in range(n_out):
            for i in range(n_in):
                out[b, o, i] = post[b, o] * (pre[b, o, i] if delayed else pre[b, i])
    return out


def _check_reductions(conn, post: torch.Tensor, pre: torch.Tensor, expected: torch.Tensor) -> None:
    assert torch.allclose(conn.correlate(post, pre, "none"), expected, atol=1e-5)
    assert torch.allclose(conn.correlate(post, pre, "sum"), expected.sum(0), atol=1e-5)
    assert torch.allclose(conn.correlate(post, pre, "mean"), expected.mean(0), atol=1e-5)
    assert conn.correlate(post, pre, "sum").shape == conn.weight.shape


@pytest.mark.parametrize("delayed", [False, True])
def test_correlate_dense_against_brute_force(delayed: bool) -> None:
    conn = LinearDense(4, 3, synapse=DeltaCurrent(4, 1.0), delay=1.0 if delayed else None)
    post = torch.rand(5, 3, generator=GEN)
    pre = torch.rand(5, 3, 4, generator=GEN) if delayed else torch.rand(5, 4, generator=GEN)
    expected = _brute_linear(post, pre, delayed)
    _check_reductions(conn, post, pre, expected)
    receptive = (conn.postsyn_receptive(post) * conn.presyn_receptive(pre)).sum(-1)
    assert torch.allclose(receptive, expected)
    assert conn.presyn_receptive(pre).shape == ((5, 3, 4, 1) if delayed else (5, 1, 4, 1))
    assert conn.postsyn_receptive(post).shape == (5, 3, 1, 1)
    if not delayed:
        assert torch.equal(conn.like_synaptic(pre)[:, 2], pre)
    # bool spikes are accepted
    assert torch.equal(
        conn.correlate(post > 0.5, pre > 0.5, "sum"),
        _brute_linear((post > 0.5).float(), (pre > 0.5).float(), delayed).sum(0),
    )


def test_correlate_lateral_against_brute_force() -> None:
    conn = LinearLateral(4, synapse=DeltaCurrent(4, 1.0))
    post, pre = torch.rand(3, 4, generator=GEN), torch.rand(3, 4, generator=GEN)
    expected = _brute_linear(post, pre, False) * (1 - torch.eye(4))
    _check_reductions(conn, post, pre, expected)


@pytest.mark.parametrize("delayed", [False, True])
def test_correlate_direct_against_brute_force(delayed: bool) -> None:
    conn = LinearDirect((2, 3), synapse=DeltaCurrent((2, 3), 1.0), delay=0.5 if delayed else None)
    post, pre = torch.rand(4, 2, 3, generator=GEN), torch.rand(4, 2, 3, generator=GEN)
    expected = torch.zeros(4, 2, 3)
    for b in range(4):
        for i in range(2):
            for j in range(3):
                expected[b, i, j] = post[b, i, j] * pre[b, i, j]
    _check_reductions(conn, post, pre, expected)
    assert torch.allclose(
        (conn.postsyn_receptive(post) * conn.presyn_receptive(pre)).sum(-1), expected
    )


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _brute_conv(
    conn: Conv2d, post: torch.Tensor, pre: torch.Tensor, geometry: dict
) -> torch.Tensor:
    """correlate by loops over the weight's entries and the output positions."""
    sy, sx = _pair(geometry["stride"])
    py, px = _pair(geometry["padding"])
    dy, dx = _pair(geometry["dilation"])
    padded = F.pad(pre, (px, px, py, py))
    n_out, per_group, kh, kw = conn.weight.shape
    out_per_group = n_out // geometry["groups"]
    _, _, ho, wo = post.shape
    expected = torch.zeros(post.shape[0], *conn.weight.shape)
    for o in range(n_out):
        for c in range(per_group):
            channel = (o // out_per_group) * per_group + c
            for ky in range(kh):
                for kx in range(kw):
                    for y in range(ho):
                        for x in range(wo):
                            expected[:, o, c, ky, kx] += (
                                post[:, o, y, x]
                                * padded[:, channel, y * sy + ky * dy, x * sx + kx * dx]
                            )
    return expected


@pytest.mark.parametrize("geometry", CONV_CASES)
def test_correlate_conv2d_against_brute_force(geometry: dict) -> None:
    conn = Conv2d((4, 6, 5), 4, (2, 3), synapse=DeltaCurrent((4, 6, 5), 1.0), **geometry)
    post = torch.rand(2, *conn.output_shape, generator=GEN)
    pre = torch.rand(2, 4, 6, 5, generator=GEN)
    expected = _brute_conv(conn, post, pre, geometry)
    _check_reductions(conn, post, pre, expected)
    receptive = (conn.postsyn_receptive(post) * conn.presyn_receptive(pre)).sum(-1)
    assert torch.allclose(receptive, expected, atol=1e-5)
    assert conn.postsyn_receptive(post).shape == (2, 4, 1, 1, 1, conn.positions)


def test_correlate_bad_arguments() -> None:
    conn = LinearDense(4, 3, synapse=DeltaCurrent(4, 1.0))
    with pytest.raises(ValueError, match="batch_reduction must be one of"):
        conn.correlate(torch.zeros(2, 3), torch.zeros(2, 4), "max")
    with pytest.raises(
        ValueError, match=r"presynaptic must be input-layout values shaped \(batch, 4\)"
    ):
        conn.correlate(torch.zeros(2, 3), torch.zeros(2, 3, 4))


# state


def test_state_at_any_batch_size_and_state_dict_round_trip() -> None:
    def make() -> LinearDense:
        return LinearDense(
            5, 3, synapse=_exp(5, delay=0.0), bias=True, delay=torch.rand(3, 5, generator=GEN) * 2
        )

    conn = make()
    with torch.no_grad():
        for s in _spikes(4, 4, 5):
            conn(s)
        with pytest.raises(ValueError, match="inputs has batch size 1"):
            conn(torch.zeros(1, 5))
        conn.reset()
        assert conn.synapse.batch_size is None
        assert conn(torch.ones(1, 5)).shape == (1, 3)
        conn.reset()
        for s in _spikes(4, 4, 5):  # back to batch 4, so the state_dict is saved after batch 4
            conn(s)
    state = conn.state_dict()
    assert set(state) == {"weight", "bias", "delay"}  # no per-sample state
    fresh = make()
    fresh.load_state_dict(state)
    x = torch.ones(1, 5)
    conn.reset()
    with torch.no_grad():
        for _ in range(3):
            a, b = conn(x), fresh(x)
    assert torch.equal(a, b) and a.shape == (1, 3)


def test_gradient_flows_to_weights_through_time() -> None:
    conn = LinearDense(4, 2, synapse=_exp(4), bias=True)
    spikes = _spikes(5, 3, 4)
    loss = sum(conn(s).sum() for s in spikes)
    loss.backward()
    # d loss / d W_oj = sum_t sum_b I_t[b, j], I_t the exponential current
    decay, currents, current = math.exp(-1 / 3), [], torch.zeros(3, 4)
    for s in spikes:
        current = current * decay + s / 3
        currents.append(current)
    expected = torch.stack(currents).sum((0, 1)).expand(2, 4)
    assert torch.allclose(conn.weight.grad, expected, atol=1e-6)
    assert torch.allclose(conn.bias.grad, torch.full((2,), 15.0))

    conv = Conv2d((2, 5, 5), 3, 3, synapse=_exp((2, 5, 5)), padding=1, groups=1)
    reference = conv.weight.detach().clone().requires_grad_(True)
    spikes = _spikes(4, 2, 2, 5, 5)
    loss = sum((conv(s) ** 2).sum() for s in spikes)
    loss.backward()
    current, ref_loss = torch.zeros(2, 2, 5, 5), 0.0
    for s in spikes:
        current = current * decay + s / 3
        ref_loss = ref_loss + (F.conv2d(current, reference, padding=1) ** 2).sum()
    ref_loss.backward()
    assert conv.weight.grad.abs().sum() > 0
    assert torch.allclose(conv.weight.grad, reference.grad, rtol=1e-5)


def test_gradient_flows_to_delays_with_linear_interpolation() -> None:
    conn = LinearDense(
        2, 1, synapse=DeltaCurrent(2, 1.0), weight_init=1.0, delay=torch.tensor([[0.5, 1.5]])
    )
    x = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]]])
    out = [conn(s) for s in x]
    out[1].sum().backward()
    # at t = 1: y = (1 - f) x(1) + f x(0) over each input, f the fractional delay:
    # input 0, d = 0.5: 0.5 x0(1) + 0.5 x0(0) -> dy/dd = (x0(0) - x0(1)) / dt = 1
    # input 1, d = 1.5: 0.5 x1(0) + 0.5 x1(-1) -> dy/dd = (x1(-1) - x1(0)) / dt = -1
    assert torch.allclose(conn.delay.grad, torch.tensor([[1.0, -1.0]]))


def test_extra_inputs_go_to_the_synapse() -> None:
    conn = LinearDirect(2, synapse=DeltaPlusCurrent(2, 1.0), weight_init=2.0)
    with torch.no_grad():
        out = conn(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]))
    assert out.tolist() == [[3.0, 1.0]]


def test_connections_pickle_and_copy_with_their_state() -> None:
    conn = LinearDense(
        3, 2, synapse=_exp(3), delay=torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    )
    with torch.no_grad():
        conn(torch.ones(2, 3))
        clone = pickle.loads(pickle.dumps(conn))
        copied = copy.deepcopy(conn)
        x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        expected = conn(x)
        assert torch.equal(clone(x), expected) and torch.equal(copied(x), expected)


# construction and validation


def test_weight_initialisers() -> None:
    def dense(**kwargs) -> LinearDense:
        return LinearDense(100, 50, synapse=DeltaCurrent(100, 1.0), **kwargs)

    w = dense(weight_init="uniform", weight_init_args=(0.2, 0.3)).weight.detach()
    assert 0.2 <= float(w.min()) and float(w.max()) <= 0.3
    w = dense().weight.detach()  # default: U(-1/sqrt(fan in), 1/sqrt(fan in))
    assert float(w.abs().max()) <= 0.1 and float(w.abs().max()) > 0.09
    w = dense(weight_init="normal", weight_init_args=(1.0, 0.5)).weight.detach()
    assert abs(float(w.mean()) - 1.0) < 0.03 and abs(float(w.std()) - 0.5) < 0.03
    assert torch.equal(
        dense(weight_init="constant", weight_init_args=0.25).weight, torch.full((50, 100), 0.25)
    )
    assert torch.equal(dense(weight_init=0.5).weight, torch.full((50, 100), 0.5))
    assert torch.equal(dense(weight_init=torch.arange(100.0)).weight[3], torch.arange(100.0))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(dense(generator=g1).weight, dense(generator=g2).weight)
    for kwargs, message in [
        (dict(weight_init="xavier"), "weight_init must be one of"),
        (dict(weight_init_args=(1.0, 0.0)), "weight_init_args must be"),
        (dict(weight_init="constant"), "weight_init_args must be the constant"),
        (
            dict(weight_init=torch.ones(3)),
            r"weight_init must be a float or a tensor broadcastable to shape \(50, 100\)",
        ),
        (
            dict(bias=torch.ones(2)),
            r"bias must be a float or a tensor broadcastable to shape \(50,\)",
        ),
        (dict(weight_init=math.nan), "weight_init must be finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            dense(**kwargs)


def test_bad_construction_names_the_argument() -> None:
    with pytest.raises(
        ValueError, match=r"synapse shape must equal the connection's input shape \(4,\)"
    ):
        LinearDense(4, 2, synapse=DeltaCurrent(3, 1.0))
    with pytest.raises(TypeError, match="synapse must be a Synapse"):
        LinearDense(4, 2, synapse=torch.nn.Identity())
    with pytest.raises(ValueError, match="delay must be non-negative"):
        LinearDense(4, 2, synapse=DeltaCurrent(4, 1.0), delay=torch.tensor([0.0, 1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match="delay must be non-negative"):
        LinearDirect(4, synapse=DeltaCurrent(4, 1.0), delay=-1.0)
    with pytest.raises(ValueError, match="max_delay must be at least the largest delay"):
        LinearDense(4, 2, synapse=DeltaCurrent(4, 1.0), delay=2.0, max_delay=1.0)
    with pytest.raises(ValueError, match="delay must be non-negative"):
        Conv2d((1, 4, 4), 2, 3, synapse=DeltaCurrent((1, 4, 4), 1.0), delay=-1.0)
    with pytest.raises(ValueError, match="delay must be non-negative"):
        delay = torch.zeros(2, 1, 3, 3)
        delay[1, 0, 2, 0] = -0.5
        Conv2d((1, 4, 4), 2, 3, synapse=DeltaCurrent((1, 4, 4), 1.0), delay=delay)
    with pytest.raises(ValueError, match=r"delay must be a float or a tensor broadcastable"):
        Conv2d((1, 4, 4), 2, 3, synapse=DeltaCurrent((1, 4, 4), 1.0), delay=torch.zeros(3, 3, 3))
    with pytest.raises(ValueError, match="max_delay must be at least the largest delay"):
        Conv2d((1, 4, 4), 2, 3, synapse=DeltaCurrent((1, 4, 4), 1.0), delay=2.0, max_delay=1.0)
    with pytest.raises(ValueError, match="groups must divide"):
        Conv2d((3, 4, 4), 2, 3, synapse=DeltaCurrent((3, 4, 4), 1.0), groups=2)
    with pytest.raises(ValueError, match="kernel_size .* does not fit"):
        Conv2d((1, 4, 4), 2, 5, synapse=DeltaCurrent((1, 4, 4), 1.0))
    conn = LinearDense(4, 2, synapse=DeltaCurrent(4, 1.0), delay=1.0)
    with pytest.raises(ValueError, match="max_delay must be non-negative"):
        conn.max_delay = -1.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(2, 5), r"inputs must have shape \(batch, 4\)"),
        (torch.tensor([[0.0, math.nan, 0.0, 1.0], [0.0] * 4]), "inputs must be finite"),
    ],
)
def test_bad_inputs_raise_before_any_state_changes(bad: torch.Tensor, message: str) -> None:
    conn = LinearDense(4, 2, synapse=_exp(4), delay=1.0)
    with torch.no_grad():
        conn(torch.ones(2, 4))
    syn = conn.synapse
    before = {name: getattr(syn, name).clone() for name in syn.state_names}
    with pytest.raises(ValueError, match=message):
        conn(bad)
    for name, value in before.items():
        assert torch.equal(getattr(syn, name), value), name


# delayed Conv2d

# in (4, 5, 5), 4 filters, kernel (2, 3): every CONV_CASES geometry fits
CONV_IN = (4, 5, 5)


def _delayed_conv(geometry: dict, delay, synapse: dict | None = None, **kwargs) -> Conv2d:
    return Conv2d(
        CONV_IN,
        4,
        (2, 3),
        synapse=_exp(CONV_IN, **(synapse or {})),
        delay=delay,
        **kwargs,
        **geometry,
    )


def _conv_weight_shape(geometry: dict) -> tuple[int, ...]:
    return (4, CONV_IN[0] // geometry["groups"], 2, 3)


def _patches_by_loops(conn: Conv2d, geometry: dict, delayed) -> torch.Tensor:
    """``(batch, O, K, kH, kW, L)`` by loops over (o, c, i, j) and the output positions:
    ``delayed(o, c, i, j)`` is the input ``(batch, C, H, W)`` that entry sees."""
    sy, sx = _pair(geometry["stride"])
    py, px = _pair(geometry["padding"])
    dy, dx = _pair(geometry["dilation"])
    n_out, per_group, kh, kw = conn.weight.shape
    _, height, width = conn.input_shape
    _, ho, wo = conn.output_shape
    out_per_group = n_out // geometry["groups"]
    entries = []
    for o in range(n_out):
        for c in range(per_group):
            channel = (o // out_per_group) * per_group + c
            for i in range(kh):
                for j in range(kw):
                    image = delayed(o, c, i, j)[:, channel]
                    values = []
                    for y in range(ho):
                        for x in range(wo):
                            yy, xx = y * sy + i * dy - py, x * sx + j * dx - px
                            inside = 0 <= yy < height and 0 <= xx < width
                            values.append(
                                image[:, yy, xx] if inside else torch.zeros_like(image[:, 0, 0])
                            )
                    entries.append(torch.stack(values, -1))
    return torch.stack(entries, 1).view(-1, n_out, per_group, kh, kw, ho * wo)


def _past(history: list[torch.Tensor], t: int, delay) -> torch.Tensor:
    """The input ``delay`` ms (dt = 1) before step ``t``, linear between steps, 0 before step 0;
    differentiable in ``delay`` when it is a tensor."""
    value = float(delay.detach()) if isinstance(delay, torch.Tensor) else float(delay)
    lo = math.floor(value)

    def at(k: int) -> torch.Tensor:
        return history[t - k] if t - k >= 0 else torch.zeros_like(history[0])

    if value == lo:
        return at(lo)
    fraction = delay - lo
    return (1 - fraction) * at(lo) + fraction * at(lo + 1)


@pytest.mark.parametrize("geometry", CONV_CASES)
def test_delayed_conv2d_is_the_delayed_sum_by_loops(geometry: dict, device: torch.device) -> None:
    """y[b, o, p] = sum_{c,i,j} W[o,c,i,j] I[b, c, p s + (i, j) d - pad](t - delay[o,c,i,j]) + b_o,
    with heterogeneous whole-step delays and one of 1.5 ms (linear interpolation)."""
    bias = torch.randn(4, generator=GEN)
    delay = torch.randint(0, 4, _conv_weight_shape(geometry), generator=GEN).float()
    delay[-1, 0, 1, 2] = 1.5
    conn = _delayed_conv(geometry, delay, bias=bias).to(device)
    assert conn.max_delay == 3.0 and conn.synapse.history_length == 4
    spikes = _spikes(6, 2, *CONV_IN, p=0.4)
    currents, trains = [], []
    with torch.no_grad():
        for t in range(6):
            out = conn(spikes[t].to(device)).cpu()
            currents.append(conn.synapse.current.cpu().clone())
            trains.append(spikes[t])
            if t not in (1, 5):  # before the history has filled, and after
                continue
            syn = _patches_by_loops(
                conn, geometry, lambda o, c, i, j, t=t: _past(currents, t, float(delay[o, c, i, j]))
            )
            expected = (syn * conn.weight.cpu().unsqueeze(-1)).sum((2, 3, 4))
            expected = expected.view(2, *conn.output_shape) + bias.view(-1, 1, 1)
            assert torch.allclose(out, expected, atol=1e-5), t
            assert torch.allclose(conn.syncurrent.cpu(), syn, atol=1e-6), t
            # spikes are never blended: the nearest step, a tie (1.5) to the earlier one (2 back)
            nearest = _patches_by_loops(
                conn,
                geometry,
                lambda o, c, i, j, t=t: _past(
                    trains, t, math.floor(float(delay[o, c, i, j]) + 0.5)
                ),
            )
            assert conn.synspike.dtype == torch.bool
            assert torch.equal(conn.synspike.cpu(), nearest.bool()), t
    assert conn.synspike.shape == (2, *conn.weight.shape, conn.positions)


@pytest.mark.parametrize("geometry", CONV_CASES)
def test_conv2d_with_zero_delays_equals_functional_conv2d(geometry: dict) -> None:
    conn = _delayed_conv(geometry, 0.0)
    assert conn.delayed and conn.synapse.history_length == 1
    post = torch.rand(2, *conn.output_shape, generator=GEN)
    with torch.no_grad():
        for s in _spikes(3, 2, *CONV_IN):
            out = conn(s)
            expected = F.conv2d(conn.synapse.current, conn.weight, **geometry)
            assert torch.allclose(out, expected, atol=1e-5)
            # the synaptic layout is the undelayed one: patches of this step's input
            assert torch.equal(conn.synspike, conn.like_synaptic(s).bool())
            assert torch.allclose(conn.syncurrent, conn.like_synaptic(conn.synapse.current))
    undelayed = Conv2d(CONV_IN, 4, (2, 3), synapse=_exp(CONV_IN), **geometry)
    expected = undelayed.correlate(post, s, "sum")
    assert torch.allclose(conn.correlate(post, conn.synspike, "sum"), expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["previous", "nearest", "linear"])
def test_delayed_conv2d_reads_as_the_synapse_reads(mode: str) -> None:
    """Every interp_mode, fractional delays, and a delay past the history with overbound
    values: each kernel entry sees what the synapse's own current_at / spike_at return
    (0 on padding)."""
    geometry = CONV_CASES[3]  # padding, dilation, groups
    delay = torch.rand(_conv_weight_shape(geometry), generator=GEN) * 3
    conn = _delayed_conv(
        geometry,
        delay,
        synapse=dict(interp_mode=mode, current_overbound=-7.0, spike_overbound=True),
        max_delay=3.0,
    )
    with torch.no_grad():
        conn.delay[0, 0, 1, 1] = 9.0  # learned past max_delay
        for s in _spikes(5, 2, *CONV_IN):
            out = conn(s)
    syn = conn.synapse

    def read(at):
        return lambda o, c, i, j: at(
            torch.full((*CONV_IN, 1), float(conn.delay[o, c, i, j].detach()))
        )[..., 0]

    current = _patches_by_loops(conn, geometry, read(syn.current_at))
    spike = _patches_by_loops(conn, geometry, read(syn.spike_at))
    assert torch.allclose(conn.syncurrent, current, atol=1e-6)
    assert torch.equal(conn.synspike, spike)
    expected = (current * conn.weight.detach().unsqueeze(-1)).sum((2, 3, 4))
    assert torch.allclose(out, expected.view_as(out), atol=1e-5)
    # the overbound entry reads the fill value inside the image and 0 on the padding
    assert set(current[:, 0, 0, 1, 1].unique().tolist()) == {0.0, -7.0}


def test_delayed_conv2d_gradients_reach_weight_and_delay() -> None:
    geometry = dict(stride=1, padding=1, dilation=1, groups=2)
    shape = (2, 4, 4)
    delay = torch.rand(2, 1, 2, 2, generator=GEN) * 2.5 + 0.25  # fractional: linear reads
    conn = Conv2d(shape, 2, 2, synapse=_exp(shape), delay=delay, max_delay=3.0, **geometry)
    weight = conn.weight.detach().clone().requires_grad_(True)
    reference_delay = delay.clone().requires_grad_(True)
    spikes = _spikes(4, 2, *shape)
    loss = sum((conn(s) ** 2).sum() for s in spikes)
    loss.backward()
    currents, reference = [], 0.0
    decay, current = math.exp(-1 / 3), torch.zeros(2, *shape)
    for t, s in enumerate(spikes):
        current = current * decay + s / 3
        currents.append(current)
        syn = _patches_by_loops(
            conn, geometry, lambda o, c, i, j, t=t: _past(currents, t, reference_delay[o, c, i, j])
        )
        reference = reference + ((syn * weight.unsqueeze(-1)).sum((2, 3, 4)) ** 2).sum()
    reference.backward()
    assert torch.allclose(loss, reference.detach(), rtol=1e-5)
    assert conn.weight.grad.abs().sum() > 0 and conn.delay.grad.abs().sum() > 0
    assert torch.allclose(conn.weight.grad, weight.grad, rtol=1e-4, atol=1e-5)
    assert torch.allclose(conn.delay.grad, reference_delay.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("geometry", [CONV_CASES[1], CONV_CASES[2]])
def test_correlate_delayed_conv2d_against_brute_force(geometry: dict) -> None:
    conn = _delayed_conv(geometry, 1.0)
    post = torch.rand(2, *conn.output_shape, generator=GEN)
    pre = torch.rand(2, *conn.weight.shape, conn.positions, generator=GEN)
    expected = torch.zeros(2, *conn.weight.shape)
    n_out, per_group, kh, kw = conn.weight.shape
    for o in range(n_out):
        for c in range(per_group):
            for i in range(kh):
                for j in range(kw):
                    for position in range(conn.positions):
                        y, x = divmod(position, conn.output_shape[2])
                        expected[:, o, c, i, j] += post[:, o, y, x] * pre[:, o, c, i, j, position]
    _check_reductions(conn, post, pre, expected)
    receptive = (conn.postsyn_receptive(post) * conn.presyn_receptive(pre)).sum(-1)
    assert torch.allclose(receptive, expected, atol=1e-5)
    assert torch.equal(
        conn.correlate(post > 0.5, pre > 0.5, "sum"),
        conn.correlate((post > 0.5).float(), (pre > 0.5).float(), "sum"),
    )
    # input-layout values laid out like the synapses: the undelayed correlation
    x = torch.rand(2, *CONV_IN, generator=GEN)
    assert conn.like_synaptic(x).shape == pre.shape
    undelayed = _brute_conv(conn, post, x, geometry)
    assert torch.allclose(conn.correlate(post, conn.like_synaptic(x)), undelayed, atol=1e-5)
    with pytest.raises(
        ValueError, match=r"presynaptic must be synaptic-layout values shaped \(batch, 4, "
    ):
        conn.correlate(post, x)
    with pytest.raises(ValueError, match=r"inputs must be input-layout values"):
        conn.like_synaptic(pre)


def test_delayed_conv2d_state_dict_at_batch_4_runs_at_batch_1() -> None:
    def make() -> Conv2d:
        return Conv2d(
            (2, 5, 5),
            2,
            3,
            synapse=_exp((2, 5, 5)),
            padding=1,
            bias=True,
            delay=0.0,
            max_delay=2.0,
        )

    conn = make()
    with torch.no_grad():
        conn.delay.copy_(torch.rand(conn.delay.shape, generator=GEN) * 2)
        for s in _spikes(4, 4, 2, 5, 5):
            conn(s)
        assert conn.synspike.shape == (4, 2, 2, 3, 3, 25)
    state = conn.state_dict()
    assert set(state) == {"weight", "bias", "delay"}  # no per-sample state, no index
    fresh = make()
    fresh.load_state_dict(state)
    conn.reset()
    x = _spikes(3, 1, 2, 5, 5)
    with torch.no_grad():
        for s in x:
            a, b = conn(s), fresh(s)
            assert torch.equal(a, b) and a.shape == (1, 2, 5, 5)
        assert torch.equal(conn.synspike, fresh.synspike)
        assert conn.synspike.shape == (1, 2, 2, 3, 3, 25)


def test_delayed_conv2d_needs_a_history_synapse() -> None:
    class Plain(DeltaCurrent.__mro__[2]):  # Synapse, not a HistorySynapse
        delay = 0.0
        current = spike = None

        def current_at(self, selector):
            raise NotImplementedError

        spike_at = current_at

        def forward(self, *inputs):
            return inputs[0]

    with pytest.raises(TypeError, match="synapse must be a HistorySynapse"):
        Conv2d((1, 4, 4), 2, 3, synapse=Plain((1, 4, 4), 1.0), delay=1.0)
