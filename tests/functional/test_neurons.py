"""Pure neuron step functions against closed forms and hand-computed steps (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from inferno_lightning.functional import neurons as nf
from inferno_lightning.functional.spikes import Surrogate

F64 = torch.float64


def _t(values, device) -> torch.Tensor:
    return torch.tensor(values, dtype=F64, device=device)


def _lif(inputs, voltage, refrac, *, step_time, time_constant, rest_v, reset_v, thresh_v,
         refrac_t, resistance, surrogate=None):  # fmt: skip
    """One LIF step from the parameters: (spikes, voltage, refrac)."""
    coefficients = nf.lif_coefficients(
        step_time, time_constant=time_constant, rest_v=rest_v, resistance=resistance
    )
    firing = nf.Firing(step_time, thresh_v=thresh_v, reset_v=reset_v, refrac_t=refrac_t)
    spikes, state = nf.lif_step(
        inputs, nf.NeuronState(voltage, refrac), coefficients, firing, surrogate
    )
    return spikes, state.voltage, state.refrac


def test_lif_subthreshold_equals_closed_form(device):
    # Three neurons with their own time constants, resistances and currents, all
    # below threshold: V(t) = V_inf + (V0 - V_inf) exp(-t / tau), V_inf = rest + R I.
    tau = _t([5.0, 20.0, 80.0], device)
    resistance = _t([1.0, 2.0, 0.5], device)
    current = _t([[10.0, 5.0, 20.0]], device)
    rest, dt, v0 = -65.0, 0.1, -70.0
    v_inf = rest + resistance * current
    voltage = torch.full_like(current, v0)
    refrac = torch.zeros_like(current)
    trajectory = []
    for _ in range(1000):
        spikes, voltage, refrac = _lif(
            current,
            voltage,
            refrac,
            step_time=dt,
            time_constant=tau,
            rest_v=rest,
            reset_v=-65.0,
            thresh_v=-50.0,
            refrac_t=2.0,
            resistance=resistance,
        )
        assert not spikes.any()
        trajectory.append(voltage[0])
    t = torch.arange(1, 1001, dtype=F64, device=device).unsqueeze(1) * dt
    expected = v_inf + (v0 - v_inf) * torch.exp(-t / tau)
    relative = ((torch.stack(trajectory) - expected) / expected).abs().max().item()
    assert relative < 1e-5
    # 100 ms is 20 time constants for the first neuron: it has reached V_inf
    assert voltage[0, 0].item() == pytest.approx(v_inf[0, 0].item(), abs=1e-6)


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_lif_interspike_interval_equals_closed_form(dt, device):
    # ISI = t_ref + tau ln((V_inf - V_reset) / (V_inf - V_thresh)) to one step, for
    # every pair of (current, refractory period): one neuron per pair.
    currents = [16.0, 20.0, 30.0, 60.0]
    refracs = [0.0, 2.0, 5.0]
    tau, rest, reset, thresh = 20.0, -65.0, -65.0, -50.0
    current = _t([[i for i in currents for _ in refracs]], device)
    refrac_t = _t([r for _ in currents for r in refracs], device)
    voltage = torch.full_like(current, rest)
    refrac = torch.zeros_like(current)
    steps = int(200 / dt)
    spikes = []
    for _ in range(steps):
        z, voltage, refrac = _lif(
            current,
            voltage,
            refrac,
            step_time=dt,
            time_constant=tau,
            rest_v=rest,
            reset_v=reset,
            thresh_v=thresh,
            refrac_t=refrac_t,
            resistance=1.0,
        )
        spikes.append(z[0])
    times = torch.stack(spikes).nonzero()
    for k, (i, r) in enumerate((i, r) for i in currents for r in refracs):
        spike_steps = times[times[:, 1] == k, 0].double() * dt
        isi = torch.diff(spike_steps)
        v_inf = rest + i
        closed = r + tau * math.log((v_inf - reset) / (v_inf - thresh))
        assert len(isi) >= 2, (i, r)
        assert (isi - closed).abs().max().item() <= dt + 1e-9, (i, r, isi, closed)


def test_alif_step_by_hand(device):
    # One neuron, two samples, one threshold term: tau_a = 10 ms, increment 2 mV.
    coefficients = nf.alif_coefficients(
        1.0, time_constant=1.0, rest_v=-65.0, resistance=1.0, tc_adaptation=10.0,
        spike_increment=2.0,
    )  # fmt: skip
    firing = nf.Firing(1.0, thresh_v=-50.0, reset_v=-65.0, refrac_t=0.0)

    def step(inputs, state, **kwargs):
        return nf.alif_step(inputs, state, coefficients, firing, **kwargs)

    adaptation = torch.zeros(1, 1, dtype=F64, device=device)
    voltage = _t([[-65.0], [-65.0]], device)
    state = nf.ALIFState(voltage, torch.zeros_like(voltage), adaptation)
    strong = _t([[100.0], [0.0]], device)  # sample 0 spikes, sample 1 does not
    spikes, state = step(strong, state)
    assert spikes.tolist() == [[1.0], [0.0]]
    assert state.adaptation.item() == pytest.approx(2.0 * 0.5)  # mean over the batch
    assert adaptation.item() == 0.0  # out of place by default
    quiet = torch.zeros_like(strong)
    _, state = step(quiet, state)
    assert state.adaptation.item() == pytest.approx(1.0 * math.exp(-0.1))
    _, frozen = step(quiet, state, training=False)
    assert frozen.adaptation is state.adaptation
    # in place: the adaptation tensor given is the one returned, updated
    theta = state.adaptation.clone()
    _, written = step(quiet, state._replace(adaptation=theta), inplace=True)
    assert written.adaptation is theta and theta.item() == pytest.approx(math.exp(-0.2))
    # a rank reducer sees the batch-reduced spikes and the reduction's name
    seen = []

    def reducer(reduced, reduction):
        seen.append((reduced.tolist(), reduction))
        return reduced * 3

    _, reduced = step(strong, state._replace(adaptation=torch.zeros_like(theta)),
                      batch_reduction="sum", rank_reducer=reducer)  # fmt: skip
    assert seen == [([1.0], "sum")] and reduced.adaptation.item() == pytest.approx(6.0)
    # the raised threshold stops a drive that crosses -50 but not -50 + theta
    drive = torch.full_like(strong, 15.5 / (1 - math.exp(-1.0)))  # V1 = -49.5
    rest = torch.full_like(strong, -65.0)
    spikes, _ = step(drive, nf.ALIFState(rest, None, state.adaptation))
    assert spikes.tolist() == [[0.0], [0.0]]
    spikes, _ = step(drive, nf.ALIFState(rest, None, torch.zeros_like(theta)))
    assert spikes.tolist() == [[1.0], [1.0]]


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [("mean", 0.25 * 3), ("sum", 1.0 * 3), ("max", 1.0 * 3), ("median", 0.0), (torch.sum, 3.0)],
)
def test_adaptive_threshold_update_by_hand(reduction, expected, device):
    # theta <- theta * exp(-dt/tau) + increment * reduce_b(spikes); 1 of 4 samples spiked.
    spikes = _t([[1.0], [0.0], [0.0], [0.0]], device)
    theta = _t([[0.5], [2.0]], device)  # K = 2 terms
    decay = _t([[0.9], [0.5]], device)
    increment = _t([[3.0], [1.0]], device)
    new = nf.adaptive_threshold_update(
        theta, spikes, decay=decay, spike_increment=increment, batch_reduction=reduction
    )
    reduced = expected / 3.0
    assert new[:, 0].tolist() == pytest.approx([0.45 + 3 * reduced, 1.0 + reduced])
    assert theta.tolist() == [[0.5], [2.0]]  # out of place
    nf.adaptive_threshold_update_(
        theta, spikes, decay=decay, spike_increment=increment, batch_reduction=reduction
    )
    assert torch.equal(theta, new)


def test_reduce_batch_rejects_unknown_name():
    with pytest.raises(ValueError, match="batch_reduction"):
        nf.reduce_batch(torch.zeros(2, 3), "avg")


def test_qif_one_step_by_hand(device):
    # V' = V + dt/tau [a (V - rest)(V - crit) + R I]
    #    = -60 + 0.1 [0.1 * 5 * (-5) + 2 * 2] = -60 + 0.1 * 1.5 = -59.85
    kwargs = dict(
        step_time=1.0,
        time_constant=10.0,
        rest_v=-65.0,
        crit_v=-55.0,
        affinity=0.1,
        reset_v=-70.0,
        thresh_v=-30.0,
        refrac_t=1.0,
        resistance=2.0,
    )
    voltage = _t([[-60.0, -31.0]], device)
    coefficients = nf.qif_coefficients(**kwargs_coefficients(kwargs))
    firing = nf.Firing(1.0, thresh_v=-30.0, reset_v=-70.0, refrac_t=1.0)
    spikes, (v, r) = nf.qif_step(
        _t([[2.0, 2.0]], device), nf.NeuronState(voltage), coefficients, firing
    )
    # second neuron: -31 + 0.1 [0.1 * 34 * 24 + 4] = -31 + 8.56 = -22.44 >= -30: spike
    assert v[0, 0].item() == pytest.approx(-59.85, abs=1e-12)
    assert spikes.tolist() == [[0.0, 1.0]]
    assert v[0, 1].item() == -70.0 and r.tolist() == [[0.0, 1.0]]
    assert nf.qif_integrate(
        _t([[2.0, 2.0]], device), voltage, nf.qif_coefficients(**kwargs_coefficients(kwargs))
    )[0, 1].item() == pytest.approx(-22.44, abs=1e-12)


def kwargs_coefficients(kwargs: dict) -> dict:
    keep = {"step_time", "time_constant", "rest_v", "crit_v", "affinity", "resistance"}
    return {k: v for k, v in kwargs.items() if k in keep}


def test_eif_one_step_by_hand(device):
    # V' = V + dt/tau [-(V - rest) + dT exp((V - V_T)/dT) + R I]
    #    = -55 + 0.1 [-10 + 2 exp(-2.5) + 3]
    expected = -55.0 + 0.1 * (-10.0 + 2.0 * math.exp(-2.5) + 3.0)
    voltage = _t([[-55.0]], device)
    coefficients = nf.eif_coefficients(
        1.0, time_constant=10.0, rest_v=-65.0, rheobase_v=-50.0, sharpness=2.0, resistance=1.0
    )
    firing = nf.Firing(1.0, thresh_v=-40.0, reset_v=-65.0, refrac_t=2.0)
    spikes, (v, _) = nf.eif_step(
        _t([[3.0]], device),
        nf.NeuronState(voltage, torch.zeros_like(voltage)),
        coefficients,
        firing,
    )
    assert spikes.item() == 0.0
    assert v.item() == pytest.approx(expected, abs=1e-12)


def test_eif_exponential_cannot_overflow(device):
    coefficients = nf.eif_coefficients(
        1.0, time_constant=10.0, rest_v=-65.0, rheobase_v=-50.0, sharpness=2.0, resistance=1.0
    )
    for dtype in (torch.float32, F64):
        voltage = torch.tensor([[1000.0, 1e30]], dtype=dtype, device=device)
        out = nf.eif_integrate(torch.zeros_like(voltage), voltage, coefficients)
        assert torch.isfinite(out).all()
        # capped: the exponential term is at most e^50 mV
        assert out[0, 0].item() <= 1000.0 + 0.1 * math.exp(50) * 1.0001


def test_adex_one_step_by_hand(device):
    # Two adaptation currents. Sample 0 stays below threshold; sample 1 spikes.
    #   tau dV/dt = -(V - rest) + dT exp((V - V_T)/dT) - R sum_k w_k + R I
    #   tau_k dw_k/dt = a_k (V - rest) - w_k;  w_k += b_k on a spike
    rest, v_t, d_t, tau, r, dt = -65.0, -50.0, 2.0, 10.0, 2.0, 1.0
    tau_k, a_k, b_k = [100.0, 20.0], [0.1, 0.05], [1.0, 0.5]
    v0, w0, current = [-60.0, -41.0], [[0.5, -0.2], [0.3, 0.1]], [3.0, 40.0]

    def euler(v, w, i):
        dv = -(v - rest) + d_t * math.exp((v - v_t) / d_t) - r * sum(w) + r * i
        new_w = [w[k] + dt / tau_k[k] * (a_k[k] * (v - rest) - w[k]) for k in range(2)]
        return v + dt / tau * dv, new_w

    expected = [euler(v0[b], w0[b], current[b]) for b in range(2)]
    assert expected[0][0] < -40.0 <= expected[1][0]  # as intended
    shape_k = lambda values: _t(values, device).view(2, 1)  # noqa: E731
    voltage = _t([[v] for v in v0], device)
    coefficients = nf.adex_coefficients(
        dt,
        time_constant=tau,
        rest_v=rest,
        rheobase_v=v_t,
        sharpness=d_t,
        resistance=r,
        tc_adaptation=shape_k(tau_k),
        voltage_coupling=shape_k(a_k),
        spike_increment=shape_k(b_k),
    )
    firing = nf.Firing(dt, thresh_v=-40.0, reset_v=-70.0, refrac_t=3.0)
    state = nf.AdExState(voltage, None, _t([[[x] for x in row] for row in w0], device))
    spikes, (v, refrac, w) = nf.adex_step(
        _t([[i] for i in current], device), state, coefficients, firing
    )
    assert spikes.tolist() == [[0.0], [1.0]]
    assert v[0, 0].item() == pytest.approx(expected[0][0], abs=1e-12)
    assert v[1, 0].item() == -70.0 and refrac.tolist() == [[0.0], [3.0]]
    assert w[0, :, 0].tolist() == pytest.approx(expected[0][1], abs=1e-12)
    assert w[1, :, 0].tolist() == pytest.approx(
        [expected[1][1][k] + b_k[k] for k in range(2)], abs=1e-12
    )
    # by hand for sample 0: w_1 = 0.5 + 0.01 (0.1 * 5 - 0.5) = 0.5,
    # w_2 = -0.2 + 0.05 (0.05 * 5 + 0.2) = -0.1775
    assert w[0, :, 0].tolist() == pytest.approx([0.5, -0.1775], abs=1e-12)


def test_izhikevich_one_step_by_hand(device):
    # v' = v + dt (0.04 v^2 + 5 v + 140 - u + R I),  u' = u + dt a (b v - u)
    # sample 0: v = -65, u = -10, I = 10, dt = 0.5, a = 0.02, b = 0.2:
    #   v' = -65 + 0.5 (169 - 325 + 140 + 10 + 10) = -63
    #   u' = -10 + 0.01 (-13 + 10) = -10.03
    # sample 1: v = 29 crosses 30: v <- c = -65, u <- u' + d
    voltage = _t([[-65.0], [29.0]], device)
    recovery = _t([[-10.0], [-2.0]], device)
    coefficients = nf.izhikevich_coefficients(
        0.5, tc_adaptation=50.0, voltage_coupling=0.2, resistance=1.0, spike_increment=8.0
    )
    firing = nf.Firing(0.5, thresh_v=30.0, reset_v=-65.0, refrac_t=0.0)
    state = nf.IzhikevichState(voltage, torch.zeros_like(voltage), recovery)
    spikes, (v, refrac, u) = nf.izhikevich_step(
        _t([[10.0], [10.0]], device), state, coefficients, firing
    )
    assert spikes.tolist() == [[0.0], [1.0]]
    assert v[0, 0].item() == pytest.approx(-63.0, abs=1e-12)
    assert u[0, 0].item() == pytest.approx(-10.03, abs=1e-12)
    assert v[1, 0].item() == -65.0
    assert u[1, 0].item() == pytest.approx(-2.0 + 0.01 * (0.2 * 29.0 + 2.0) + 8.0, abs=1e-12)
    assert refrac.tolist() == [[0.0], [0.0]]


def test_lif_step_surrogate_gradient_one_step(device):
    # V1 = rest + R I (1 - e^{-dt/tau}); dz/dI = sigma'(V1 - thresh) R (1 - e^{-dt/tau})
    surrogate = Surrogate("arctan", 0.5)
    current = _t([[40.0, 20.0]], device).requires_grad_()
    voltage = torch.full_like(current, -65.0).detach()
    spikes, _, _ = _lif(
        current,
        voltage,
        torch.zeros_like(voltage),
        step_time=1.0,
        time_constant=2.0,
        rest_v=-65.0,
        reset_v=-65.0,
        thresh_v=-50.0,
        refrac_t=2.0,
        resistance=1.0,
        surrogate=surrogate,
    )
    spikes.sum().backward()
    growth = 1 - math.exp(-0.5)
    v1 = [-65.0 + 40.0 * growth, -65.0 + 20.0 * growth]
    assert spikes.tolist() == [[1.0, 0.0]]
    expected = [
        (0.25 / (1 + (math.pi / 4 * (v + 50.0)) ** 2)) * growth for v in v1
    ]  # k/2 / (1 + (pi/2 k x)^2) with k = 0.5
    assert current.grad[0].tolist() == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------ the form for torch.compile


@pytest.mark.parametrize("surrogate", [None, Surrogate("arctan", 0.5)])
def test_hold_spike_reset_select_equals_hold_spike_reset(surrogate, device):
    # Every case at once: held neurons, neurons released this step, spikes at exact
    # equality, per-neuron thresholds; same values and same gradients as the lerp form.
    from inferno_lightning.functional.spikes import hold_spike_reset

    thresh = _t([-50.0, -55.0, -50.0, -52.0, -50.0, -50.0], device)
    refrac = _t([[0.0, 0.5, 1.0, 2.0, 0.0, 3.0]] * 2, device)
    voltage = _t([[-60.0, -54.0, -51.0, -40.0, -50.5, -70.0]] * 2, device)
    integrated = _t([[-50.0, -56.0, -49.0, -45.0, -51.0, -20.0], [-49.0] * 6], device)
    options = dict(step_time=1.0, thresh_v=thresh, reset_v=-65.0, refrac_t=2.0, surrogate=surrogate)
    results = []
    for function in (hold_spike_reset, nf.hold_spike_reset_select):
        leaves = [t.clone().requires_grad_(surrogate is not None) for t in (integrated, voltage)]
        spikes, new_voltage, new_refrac = function(*leaves, refrac, **options)
        grads = (None, None)
        if surrogate is not None:
            grads = torch.autograd.grad((spikes * 3 + new_voltage).sum(), leaves)
        results.append((spikes, new_voltage, new_refrac, *grads))
    lerp, select = results
    assert lerp[0].sum() > 0 and (lerp[2] > 0).any()
    for a, b in zip(lerp, select, strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("surrogate", [None, Surrogate("arctan", 0.5)])
def test_fire_without_any_refractory_time_skips_the_hold(surrogate, device):
    # refrac None and refrac_t None (zero everywhere): nothing can be held, so the step is
    # threshold and reset alone, with the values and gradients of the full hold at zero.
    integrated = _t([[-50.0, -56.0, -49.0, -70.0], [-20.0, -50.5, -51.0, -50.0]], device)
    voltage = torch.full_like(integrated, -60.0)
    thresh = _t([-50.0, -55.0, -50.0, -52.0], device)
    results = []
    for refrac, firing in [
        (None, nf.Firing(1.0, thresh_v=thresh, reset_v=-65.0, refrac_t=None)),
        (torch.zeros_like(voltage), nf.Firing(1.0, thresh_v=thresh, reset_v=-65.0, refrac_t=0.0)),
    ]:
        leaf = integrated.clone().requires_grad_(surrogate is not None)
        spikes, new_voltage, new_refrac = nf.fire(leaf, voltage, refrac, firing, surrogate)
        grad = None
        if surrogate is not None:
            (grad,) = torch.autograd.grad((spikes * 3 + new_voltage).sum(), leaf)
        results.append((spikes, new_voltage, new_refrac, grad))
    fast, full = results
    assert fast[2] is None and not full[2].any()
    assert fast[0].tolist() == [[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]]
    for a, b in zip(fast[:2] + fast[3:], full[:2] + full[3:], strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


def test_integrate_and_fire_step_by_hand(device):
    # V' = V + dt I / C: 0.5 nA for 1 ms on 2 nF adds 0.25 mV; reset to -1 at threshold 0.5.
    coefficients = nf.integrate_and_fire_coefficients(1.0, capacitance=_t([2.0, 4.0], device))
    firing = nf.Firing(1.0, thresh_v=0.5, reset_v=-1.0)
    state = nf.NeuronState(torch.zeros(1, 2, dtype=F64, device=device))
    voltages = []
    for _ in range(3):
        spikes, state = nf.integrate_and_fire_step(
            torch.full((1, 2), 0.5, dtype=F64, device=device), state, coefficients, firing
        )
        voltages.append(state.voltage[0].tolist())
        assert state.refrac is None  # no refractory period: none kept
    assert voltages == [[0.25, 0.125], [-1.0, 0.25], [-0.75, 0.375]]
