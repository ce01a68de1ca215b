"""Synapses: closed-form currents, delayed reads with interpolation, state and validation."""

from __future__ import annotations

import math

import pytest
import torch

from inferno_lightning.neural.synapses import (
    DeltaCurrent,
    DeltaPlusCurrent,
    DoubleExponentialCurrent,
    ExponentialCurrent,
)


def _run(synapse, spikes: torch.Tensor) -> torch.Tensor:
    """Step ``synapse`` through spikes ``(T, batch, *shape)`` without autograd; stack the currents."""
    with torch.no_grad():
        return torch.stack([synapse(s).clone() for s in spikes])


# currents by their equations


def test_delta_delivers_its_charge_in_one_step(device: torch.device) -> None:
    charge = torch.tensor([2.0, -1.0, 0.5], device=device)  # pC
    syn = DeltaCurrent(3, step_time=0.25, spike_charge=charge).to(device)
    spikes = torch.tensor([[[True, True, False]], [[False, False, False]]], device=device)
    currents = _run(syn, spikes)
    # I = q s / dt: 2 / 0.25 = 8 nA, -1 / 0.25 = -4 nA; I dt = q
    assert torch.equal(currents[0], torch.tensor([[8.0, -4.0, 0.0]], device=device))
    assert torch.equal(currents[0] * 0.25, charge * spikes[0].float())
    assert torch.equal(currents[1], torch.zeros(1, 3, device=device))
    assert syn.spike.dtype == torch.bool and not bool(syn.spike.any())


def test_delta_plus_adds_the_injection(device: torch.device) -> None:
    syn = DeltaPlusCurrent(2, step_time=0.5, spike_charge=1.5).to(device)
    with torch.no_grad():
        out = syn(
            torch.tensor([[1.0, 0.0]], device=device), torch.tensor([[0.25, -2.0]], device=device)
        )
        assert torch.equal(out, torch.tensor([[3.25, -2.0]], device=device))  # 1.5 / 0.5 + 0.25
        out = syn(torch.tensor([[0.0, 1.0]], device=device))  # no injection
        assert torch.equal(out, torch.tensor([[0.0, 3.0]], device=device))
    with pytest.raises(ValueError, match="injection must have shape"):
        syn(torch.zeros(1, 2, device=device), torch.zeros(1, 3, device=device))


def test_exponential_decays_by_exp_minus_dt_over_tau_closed_form() -> None:
    dt, tau, q, steps = 0.5, 4.0, 3.0, 60
    syn = ExponentialCurrent(1, step_time=dt, spike_charge=q, time_constant=tau)
    spikes = torch.zeros(steps, 1, 1, dtype=torch.float64)
    spikes[0] = 1.0
    currents = _run(syn, spikes)[:, 0, 0]
    k = torch.arange(steps, dtype=torch.float64)
    expected = (q / tau) * torch.exp(-k * dt / tau)  # I(k dt) = (q / tau) e^{-k dt / tau}
    assert torch.allclose(currents, expected, rtol=1e-12, atol=0)
    ratio = currents[1:] / currents[:-1]
    assert torch.allclose(ratio, torch.full_like(ratio, math.exp(-dt / tau)), rtol=1e-12)


def test_exponential_under_a_spike_every_step_is_a_geometric_sum() -> None:
    dt, tau, q = 1.0, 2.0, 1.0
    syn = ExponentialCurrent(
        2, step_time=dt, spike_charge=q, time_constant=torch.tensor([2.0, 2.0], dtype=torch.float64)
    )
    currents = _run(syn, torch.ones(20, 3, 2, dtype=torch.float64))
    a = math.exp(-dt / tau)
    k = torch.arange(20, dtype=torch.float64)
    expected = (q / tau) * (1 - a ** (k + 1)) / (1 - a)
    assert torch.allclose(currents[:, 1, 0], expected, rtol=1e-12)


def test_double_exponential_matches_its_closed_form() -> None:
    dt, td, tr, q, steps = 0.1, 5.0, 1.0, 2.0, 200
    syn = DoubleExponentialCurrent(1, step_time=dt, spike_charge=q, tc_decay=td, tc_rise=tr)
    spikes = torch.zeros(steps, 1, 1, dtype=torch.float64)
    spikes[0] = 1.0
    currents = _run(syn, spikes)[:, 0, 0]
    t = torch.arange(steps, dtype=torch.float64) * dt
    expected = q / (td - tr) * (torch.exp(-t / td) - torch.exp(-t / tr))
    assert torch.allclose(currents, expected, rtol=1e-10, atol=1e-15)
    assert currents[0] == 0.0
    peak = td * tr / (td - tr) * math.log(td / tr)  # 2.0118 ms
    assert abs(float(t[currents.argmax()]) - peak) <= dt


# delayed reads


@pytest.mark.parametrize("mode", ["previous", "nearest", "linear"])
def test_a_delay_of_d_ms_returns_the_input_of_d_ms_ago(mode: str, device: torch.device) -> None:
    dt = 0.5
    syn = DeltaCurrent((2, 3), step_time=dt, spike_charge=0.5, delay=2.0, interp_mode=mode).to(
        device
    )
    assert syn.history_length == 5  # 0, 1, 2, 3 and 4 steps back
    spikes = torch.rand(12, 4, 2, 3, generator=torch.Generator().manual_seed(1)) < 0.5
    spikes = spikes.to(device)
    selector = (torch.arange(5, device=device) * dt).expand(2, 3, 5)  # 0, 0.5, ..., 2 ms
    with torch.no_grad():
        for t in range(12):
            syn(spikes[t])
            current, spike = syn.current_at(selector), syn.spike_at(selector)
            for k in range(5):
                then = spikes[t - k] if t >= k else torch.zeros_like(spikes[0])  # rest before t=0
                assert torch.equal(spike[..., k], then)
                assert torch.equal(current[..., k], then.float() * (0.5 / dt))


def test_reads_between_steps_interpolate_by_formula() -> None:
    dt = 0.5
    spikes = (torch.rand(10, 2, 3, generator=torch.Generator().manual_seed(2)) < 0.4).double()
    selector = torch.tensor([0.1, 0.65, 1.25, 1.3]).expand(3, 4)  # s = 0.2, 1.3, 2.5, 2.6 steps
    results = {}
    for mode in ("previous", "nearest", "linear"):
        syn = ExponentialCurrent(3, step_time=dt, time_constant=3.0, delay=1.5, interp_mode=mode)
        history = _run(syn, spikes)  # (T, batch, 3)
        results[mode] = syn.current_at(selector.double())
        spiked = syn.spike_at(selector.double())
    x = history.flip(0)  # x[k] = k steps back
    assert torch.equal(results["previous"], torch.stack([x[1], x[2], x[3], x[3]], -1))
    assert torch.equal(results["nearest"], torch.stack([x[0], x[1], x[3], x[3]], -1))
    linear = torch.stack(
        [
            0.8 * x[0] + 0.2 * x[1],
            0.7 * x[1] + 0.3 * x[2],
            0.5 * x[2] + 0.5 * x[3],
            0.4 * x[2] + 0.6 * x[3],
        ],
        -1,
    )
    assert torch.allclose(results["linear"], linear, rtol=1e-6)
    s = spikes.bool().flip(0)
    assert torch.equal(spiked, torch.stack([s[0], s[1], s[3], s[3]], -1))  # nearest for linear


def test_reads_before_the_history_fills_are_at_rest() -> None:
    syn = ExponentialCurrent(2, step_time=1.0, time_constant=2.0, delay=4.0)
    with torch.no_grad():
        syn(torch.ones(1, 2))
        syn(torch.ones(1, 2))
    selector = torch.tensor([0.0, 1.0, 1.5, 2.0, 4.0]).expand(2, 5)
    current = syn.current_at(selector)[0, 0]
    assert torch.allclose(current, torch.tensor([0.5 + 0.5 * math.exp(-0.5), 0.5, 0.25, 0.0, 0.0]))
    # spikes are read at the nearest step; 1.5 steps is a tie, read 2 steps back (rest)
    assert syn.spike_at(selector)[0, 0].tolist() == [True, True, False, False, False]


def test_reads_beyond_the_history_clamp_to_the_oldest_or_fill() -> None:
    spikes = torch.tensor([[[1.0]], [[0.0]], [[0.0]], [[0.0]]])  # a spike 3 steps ago
    selector = torch.tensor([[1.0, 2.0, 9.0]])
    clamped = DeltaCurrent(1, step_time=1.0, delay=2.0)
    filled = DeltaCurrent(1, step_time=1.0, delay=2.0, current_overbound=-5.0, spike_overbound=True)
    for syn in (clamped, filled):
        _run(syn, spikes)
    # the history holds 0, 1, 2 steps back; the spike (3 back) has left it
    assert clamped.current_at(selector).tolist() == [[[0.0, 0.0, 0.0]]]
    assert filled.current_at(selector).tolist() == [[[0.0, 0.0, -5.0]]]
    assert filled.spike_at(selector).tolist() == [[[False, False, True]]]


def test_delay_zero_is_this_step_and_needs_no_history(device: torch.device) -> None:
    syn = ExponentialCurrent(3, step_time=1.0, time_constant=2.0).to(device)
    assert syn.history_length == 1
    with torch.no_grad():
        syn(torch.ones(2, 3, device=device))
        out = syn(torch.tensor([[1.0, 0, 0], [0, 0, 1]], device=device))
    assert syn.current_history is None
    read = syn.current_at(torch.zeros(3, 2, device=device))
    assert torch.equal(read, out.unsqueeze(-1).expand(2, 3, 2))
    # with no history, every delay reads this step (clamped)
    assert torch.equal(syn.current_at(torch.ones(3, 1, device=device))[..., 0], out)


def test_history_is_a_bounded_ring_not_reallocated() -> None:
    syn = DeltaCurrent(5, step_time=1.0, delay=3.0)
    with torch.no_grad():
        syn(torch.ones(2, 5))
        pointer = syn.current_history.data_ptr()
        for _ in range(20):
            syn(torch.ones(2, 5))
    # H = 4 steps, held in a ring of 2H slots (each step written twice)
    assert syn.current_history.shape == (2, 5, 8)
    assert syn.spike_history.shape == (2, 5, 8)
    assert syn.current_history.data_ptr() == pointer


def test_changing_the_delay_keeps_the_newest_steps() -> None:
    syn = DeltaCurrent(1, step_time=1.0, delay=2.0)
    _run(syn, torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1) > 2.5)  # F F T T
    syn.delay = 4.0
    assert syn.history_length == 5 and syn.current_history.shape[-1] == 10
    selector = torch.arange(5.0).view(1, 5)
    assert syn.spike_at(selector).tolist() == [[[True, True, False, False, False]]]
    syn.delay = 1.0
    assert syn.spike_at(selector).tolist() == [
        [[True, True, True, True, True]]
    ]  # clamped to 1 back
    syn.delay = 0.0
    assert syn.current_history is None and syn.current.tolist() == [[1.0]]


# state


def test_state_at_any_batch_size_and_reset() -> None:
    syn = DoubleExponentialCurrent(3, step_time=1.0, delay=2.0)
    _run(syn, torch.ones(3, 4, 3))
    assert syn.batch_size == 4 and syn.decay_term.shape == (4, 3)
    current = syn.current.clone()
    with pytest.raises(ValueError, match="inputs has batch size 1 .* batch size 4"):
        syn(torch.ones(1, 3))
    assert torch.equal(syn.current, current)
    syn.reset()
    assert syn.batch_size is None and syn.current is None
    out = _run(syn, torch.ones(2, 1, 3))
    assert out.shape == (2, 1, 3) and syn.current_history.shape == (1, 3, 6)
    assert torch.allclose(out[0], torch.zeros(1, 3))  # rest again after reset


def test_state_dict_holds_no_per_sample_state() -> None:
    syn = ExponentialCurrent(
        3, step_time=1.0, time_constant=torch.tensor([1.0, 2.0, 3.0]), delay=2.0
    )
    _run(syn, torch.ones(2, 4, 3))
    state = syn.state_dict()
    assert set(state) == {"time_constant"}
    fresh = ExponentialCurrent(3, step_time=1.0, time_constant=torch.ones(3), delay=2.0)
    fresh.load_state_dict(state)
    out = _run(fresh, torch.ones(1, 1, 3))
    assert torch.allclose(out[0, 0], 1.0 / torch.tensor([1.0, 2.0, 3.0]))


def test_autograd_through_delayed_reads() -> None:
    syn = ExponentialCurrent(2, step_time=1.0, time_constant=2.0, delay=2.0)
    spikes = torch.zeros(4, 1, 2, requires_grad=True)
    loss = 0.0
    for t in range(4):
        syn(spikes[t])
        loss = loss + syn.current_at(torch.full((2, 1), 2.0)).sum()  # reads 2 steps back
    loss.backward()
    # d loss / d s[u] = sum over t >= u + 2 of (1 / tau) a^(t - 2 - u), a = e^{-1/2}
    a = math.exp(-0.5)
    expected = torch.tensor([0.5 * (1 + a), 0.5, 0.0, 0.0])
    assert torch.allclose(spikes.grad[:, 0, 0], expected)


# validation


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DeltaCurrent(2, 1.0, delay=-1.0), "delay must be non-negative"),
        (lambda: ExponentialCurrent(2, 1.0, time_constant=0.0), "time_constant must be positive"),
        (
            lambda: ExponentialCurrent(2, 1.0, time_constant=torch.tensor([1.0, -2.0])),
            "time_constant",
        ),
        (lambda: DoubleExponentialCurrent(2, 1.0, tc_rise=-1.0), "tc_rise must be positive"),
        (lambda: DoubleExponentialCurrent(2, 1.0, tc_decay=0.0), "tc_decay must be positive"),
        (
            lambda: DoubleExponentialCurrent(2, 1.0, tc_decay=1.0, tc_rise=2.0),
            "tc_decay .* greater than tc_rise",
        ),
        (lambda: DeltaCurrent(2, 0.0), "step_time must be positive"),
        (lambda: DeltaCurrent(2, 1.0, spike_charge=math.nan), "spike_charge must be finite"),
        (lambda: DeltaCurrent(2, 1.0, interp_mode="cubic"), "interp_mode must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_negative_delay_setter_leaves_the_synapse_unchanged() -> None:
    syn = DeltaCurrent(2, 1.0, delay=2.0)
    with pytest.raises(ValueError, match="delay must be non-negative"):
        syn.delay = -0.5
    assert syn.delay == 2.0 and syn.history_length == 3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(2, 4), r"inputs must have shape \(batch, 3\), got \(2, 4\)"),
        (torch.zeros(3), r"inputs must have shape \(batch, 3\)"),
        (torch.tensor([[0.0, math.nan, 1.0], [0.0, 0.0, 0.0]]), "inputs must be finite"),
        (torch.tensor([[0.0, math.inf, 1.0], [0.0, 0.0, 0.0]]), "inputs must be finite"),
    ],
)
def test_bad_inputs_raise_before_any_state_changes(bad: torch.Tensor, message: str) -> None:
    syn = ExponentialCurrent(3, step_time=1.0, time_constant=2.0, delay=1.0)
    _run(syn, torch.ones(2, 2, 3))
    before = {name: getattr(syn, name).clone() for name in syn.state_names}
    cursor = syn._cursor
    with pytest.raises(ValueError, match=message):
        syn(bad)
    for name, value in before.items():
        assert torch.equal(getattr(syn, name), value), name
    assert syn._cursor == cursor


def test_check_inputs_off_skips_only_the_finiteness_check() -> None:
    syn = DeltaCurrent(2, 1.0, check_inputs=False)
    with torch.no_grad():
        out = syn(torch.tensor([[math.nan, 0.0]]))
    assert math.isnan(out[0, 0].item())
    with pytest.raises(ValueError, match="inputs must have shape"):
        syn(torch.zeros(1, 3))


def test_delayed_read_validation() -> None:
    syn = DeltaCurrent(3, 1.0, delay=1.0)
    with pytest.raises(RuntimeError, match="call forward"):
        syn.current_at(torch.zeros(3, 1))
    _run(syn, torch.ones(1, 1, 3))
    with pytest.raises(ValueError, match=r"selector must be delays in ms shaped \(3, N\)"):
        syn.current_at(torch.zeros(4, 1))


def test_finiteness_check_fast_path_matches_the_exact_check() -> None:
    # The per-step check sums first; values whose sum overflows are finite and pass,
    # NaN or inf anywhere (spikes or injection) raise the exact check's error.
    huge = torch.full((2, 3), 3.0e38)
    syn = DeltaPlusCurrent(3, 1.0)
    with torch.no_grad():
        syn(huge, huge)
    assert syn.current is not None  # the finite input went through
    for bad in (
        torch.tensor([[0.0, math.nan, 1.0], [3.0e38, 3.0e38, 0.0]]),
        torch.tensor([[0.0, -math.inf, 1.0], [0.0, 0.0, 0.0]]),
    ):
        with pytest.raises(ValueError, match=r"inputs must be finite, got 1 NaN or infinite"):
            DeltaCurrent(3, 1.0)(bad)
        with pytest.raises(ValueError, match=r"injection must be finite, got 1 NaN or infinite"):
            DeltaPlusCurrent(3, 1.0)(torch.zeros(2, 3), bad)
    # Bool spikes need no finiteness check.
    with torch.no_grad():
        assert DeltaCurrent(3, 1.0)(torch.ones(2, 3, dtype=torch.bool)).shape == (2, 3)
