"""Delay learning and linear rate homeostasis against hand computations."""

from __future__ import annotations

import pytest
import torch

from inferno_lightning.learn import STDP, DelayLearning, LinearHomeostasis, updater_for
from inferno_lightning.neural.connections import Conv2d, LinearDense, LinearDirect, LinearLateral
from inferno_lightning.neural.layers import Serial
from inferno_lightning.neural.neurons import LIF
from inferno_lightning.neural.synapses import DeltaCurrent

DRIVE = 1e4


def make_layer(connection, step_time: float = 1.0) -> Serial:
    return Serial(connection, LIF(connection.output_shape, step_time, refrac_t=0.0))


def drive(layer: Serial, rule, pre: torch.Tensor, post: torch.Tensor) -> None:
    with torch.no_grad():
        for t in range(pre.shape[0]):
            layer.connection(pre[t])
            assert torch.equal(layer.neuron(post[t] * DRIVE), post[t])
            rule()


def train(steps: list[str]) -> torch.Tensor:
    return torch.tensor([[float(c) for c in s] for s in steps]).T


# -------------------------------------------------------------------- delays


def delay_dw(arrivals, post, lr, window, lead) -> float:
    """Nearest-neighbour pairing of arrival times and postsynaptic spike times (1 ms steps)."""
    a_times = [t for t, s in enumerate(arrivals) if s]
    p_times = [t for t, s in enumerate(post) if s]
    dw = 0.0
    for tp in p_times:  # a postsynaptic spike and the latest arrival at or before it
        before = [ta for ta in a_times if ta <= tp]
        if before and tp - before[-1] <= window:
            dw += lr * ((tp - before[-1]) - lead)
    for ta in a_times:  # an arrival and the latest postsynaptic spike before it, unless
        before = [tp for tp in p_times if tp <= ta]  # that is in the same step (paired above)
        if before and 0 < ta - before[-1] <= window:
            dw -= lr * ((ta - before[-1]) + lead)
    return dw


def delayed_dense(delays: torch.Tensor, max_delay: float) -> Serial:
    n_out, n_in = delays.shape
    conn = LinearDense(
        n_in,
        n_out,
        synapse=DeltaCurrent(n_in, 1.0),
        weight_init=0.0,
        delay=delays,
        max_delay=max_delay,
    )
    return make_layer(conn)


def test_delay_by_hand_one_synapse() -> None:
    """delay 1: pre at 0 arrives at 1; post at 4: delta = 3, lead 1 -> d += lr * 2.
    Then an arrival at 7 (pre at 6), 3 ms after the post spike: d -= lr * (3 + 1)."""
    layer = delayed_dense(torch.tensor([[1.0]]), max_delay=10.0)
    rule = DelayLearning(lr=0.25, window=5.0, lead=1.0)
    rule.register(layer.cell())
    drive(layer, rule, train(["10000010"])[:, None], train(["00001000"])[:, None])
    updater_for(layer.connection).step()
    assert layer.connection.delay.item() == pytest.approx(1.0 + 0.25 * 2 - 0.25 * 4)


def test_delay_dense_matches_pairing_by_hand() -> None:
    delays = torch.tensor([[1.0, 3.0], [0.0, 2.0]])
    layer = delayed_dense(delays, max_delay=6.0)
    rule = DelayLearning(lr=0.1, window=4.0, lead=1.0)
    rule.register(layer.cell())
    pre = torch.stack([train(["1000100000", "0100001000"]), train(["0010000100", "1000000010"])], 1)
    post = torch.stack(
        [train(["0001000100", "0000010001"]), train(["0000100010", "0011000000"])], 1
    )
    drive(layer, rule, pre, post)
    updater_for(layer.connection).step()
    expected = torch.zeros(2, 2, 2, dtype=torch.float64)
    for b in range(2):
        for i in range(2):
            for j in range(2):
                d = int(delays[i, j])
                arrivals = torch.cat([torch.zeros(d), pre[: 10 - d, b, j]])
                expected[b, i, j] = delay_dw(arrivals, post[:, b, i], 0.1, 4.0, 1.0)
    assert expected.abs().sum() > 0
    # delays are clamped into [0, max_delay] (synapse (1, 0) starts at 0 and is pushed below it)
    assert expected.mean(0)[1, 0] < 0
    expected = (delays + expected.mean(0).float()).clamp(0.0, 6.0)
    torch.testing.assert_close(layer.connection.delay.detach(), expected)


def test_delays_stay_within_zero_and_max_delay() -> None:
    """One presynaptic spike at 2 reaches post 0 (delay 0) at 2 and post 1 (delay 2) at 4.
    Post 0 fired at 0: the arrival is 2 ms late, d -= 2, clamped at 0. Post 1 fires at 9:
    the arrival came 5 ms early, d += 5, clamped at max_delay = 3."""
    layer = delayed_dense(torch.tensor([[0.0], [2.0]]), max_delay=3.0)
    rule = DelayLearning(lr=1.0, window=5.0, lead=0.0)
    rule.register(layer.cell())
    drive(layer, rule, train(["0010000000"])[:, None], train(["1000000000", "0000000001"])[:, None])
    pending = updater_for(layer.connection).delay.pending()
    torch.testing.assert_close(pending.potentiation, torch.tensor([[0.0], [5.0]]))
    torch.testing.assert_close(pending.depression, torch.tensor([[2.0], [0.0]]))
    updater_for(layer.connection).step()
    torch.testing.assert_close(layer.connection.delay.detach(), torch.tensor([[0.0], [3.0]]))


def test_delay_learning_on_direct_connection() -> None:
    conn = LinearDirect(
        2,
        synapse=DeltaCurrent(2, 1.0),
        weight_init=0.0,
        delay=torch.tensor([1.0, 2.0]),
        max_delay=5.0,
    )
    layer = make_layer(conn)
    rule = DelayLearning(lr=0.5, window=3.0, lead=0.0)
    rule.register(layer.cell())
    # pre 0 at 0 arrives at 1, post 0 at 3: +0.5 * 2; pre 1 at 1 arrives at 3, post 1 at 2: -0.5 * 1
    drive(layer, rule, train(["10000", "01000"])[:, None], train(["00010", "00100"])[:, None])
    updater_for(conn).step()
    torch.testing.assert_close(conn.delay.detach(), torch.tensor([2.0, 1.5]))


def test_delay_and_weight_rules_share_one_updater_and_spike_monitors() -> None:
    layer = delayed_dense(torch.tensor([[1.0, 0.0]]), max_delay=2.0)
    stdp = STDP()
    delay = DelayLearning(monitors=stdp.monitors)
    stdp.register(layer.cell())
    delay.register(layer.cell())
    updaters = [m for m in layer.modules() if type(m).__name__ == "Updater"]
    assert updaters == [updater_for(layer.connection)]
    assert updaters[0].names == ("delay", "weight")
    # the latest pre and post spikes are recorded once, for both rules
    assert len(stdp.monitors) == 6
    assert sum(stdp.monitors.users(m) == 2 for m in stdp.monitors) == 2


# --------------------------------------------------------------- homeostasis


def test_homeostasis_dense_by_hand() -> None:
    """10 steps of 1 ms = 0.01 s at 100 Hz: target 1 spike. Neuron 0 fires 3 times, neuron 1
    never: dw_0 = lr (1 - 3), dw_1 = lr (1 - 0), for every input weight; batch mean."""
    layer = make_layer(LinearDense(3, 2, synapse=DeltaCurrent(3, 1.0), weight_init=0.5))
    rule = LinearHomeostasis(lr=0.01, target_rate=100.0)
    rule.register(layer.cell())
    post = torch.stack(
        [train(["1001000100", "0000000000"]), train(["1111000000", "0000000000"])], 1
    )
    drive(layer, rule, torch.zeros(10, 2, 3), post)
    updater_for(layer.connection).step()
    # sample 0: counts (3, 0); sample 1: counts (4, 0); batch mean (3.5, 0)
    expected = 0.5 + 0.01 * torch.tensor([[1 - 3.5] * 3, [1.0] * 3])
    torch.testing.assert_close(layer.connection.weight.detach(), expected)


def test_homeostasis_uses_step_time_in_seconds() -> None:
    """dt = 0.5 ms, 8 steps = 4 ms; 250 Hz -> target 1 spike; 2 spikes: dw = lr (1 - 2)."""
    conn = LinearDense(1, 1, synapse=DeltaCurrent(1, 0.5), weight_init=0.0)
    layer = make_layer(conn, 0.5)
    rule = LinearHomeostasis(lr=0.2, target_rate=250.0)
    rule.register(layer.cell())
    drive(layer, rule, torch.zeros(8, 1, 1), train(["01000100"])[:, None])
    updater_for(conn).step()
    assert conn.weight.item() == pytest.approx(-0.2)


def test_homeostasis_conv_filter_gets_the_mean_of_its_neurons() -> None:
    """One 2x2 filter over a 3x3 input serves 4 output neurons; counts (4, 2, 0, 0) over 10 ms at
    100 Hz (target 1): mean change lr (1 - 1.5) on every kernel entry."""
    conv = Conv2d((1, 3, 3), 1, 2, synapse=DeltaCurrent((1, 3, 3), 1.0), weight_init=0.0)
    layer = make_layer(conv)
    rule = LinearHomeostasis(lr=0.01, target_rate=100.0)
    rule.register(layer.cell())
    post = torch.zeros(10, 1, 1, 2, 2)
    post[:4, 0, 0, 0, 0] = 1.0
    post[4:6, 0, 0, 0, 1] = 1.0
    drive(layer, rule, torch.zeros(10, 1, 1, 3, 3), post)
    updater_for(conv).step()
    torch.testing.assert_close(conv.weight.detach(), torch.full((1, 1, 2, 2), -0.005))


def test_homeostasis_direct_and_lateral() -> None:
    post = train(["1100000000", "0000000000"])[:, None]  # counts (2, 0); target 1
    direct = make_layer(LinearDirect(2, synapse=DeltaCurrent(2, 1.0), weight_init=0.0))
    lateral = make_layer(LinearLateral(2, synapse=DeltaCurrent(2, 1.0), weight_init=0.0))
    for layer in (direct, lateral):
        rule = LinearHomeostasis(lr=0.1, target_rate=100.0)
        rule.register(layer.cell())
        drive(layer, rule, torch.zeros(10, 1, 2), post)
        updater_for(layer.connection).step()
    torch.testing.assert_close(direct.connection.weight.detach(), torch.tensor([-0.1, 0.1]))
    # a lateral connection's self-weights stay zero
    torch.testing.assert_close(
        lateral.connection.weight.detach(), torch.tensor([[0.0, -0.1], [0.1, 0.0]])
    )


def test_homeostasis_adds_to_stdp_in_one_accumulator() -> None:
    """STDP and homeostasis on one weight: the change is the sum of each alone."""
    pre = train(["1000100000", "0100001000"])[:, None]
    post = train(["0010000100", "0001000001"])[:, None]

    def run(*rules_of) -> torch.Tensor:
        layer = make_layer(LinearDense(2, 2, synapse=DeltaCurrent(2, 1.0), weight_init=0.0))
        rules = [make() for make in rules_of]
        for rule in rules:
            rule.register(layer.cell())

        def both() -> None:
            for rule in rules:
                rule()

        drive(layer, both, pre, post)
        assert [m for m in layer.modules() if type(m).__name__ == "Updater"] == [
            updater_for(layer.connection)
        ]
        updater_for(layer.connection).step()
        return layer.connection.weight.detach()

    def stdp() -> STDP:
        return STDP(lr_post=0.5, lr_pre=0.2)

    def homeostasis() -> LinearHomeostasis:
        return LinearHomeostasis(lr=0.05, target_rate=50.0)

    torch.testing.assert_close(run(stdp, homeostasis), run(stdp) + run(homeostasis))


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"target_rate": -1.0}, "target_rate"), ({"lr": float("nan")}, "lr")]
)
def test_homeostasis_bad_hyperparameters_are_named(kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        LinearHomeostasis(**kwargs)
