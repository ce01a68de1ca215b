"""Neuron modules: dynamics against closed forms, state handling, gradients, bad input."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from inferno_lightning.functional.spikes import Surrogate
from inferno_lightning.neural.base import Neuron
from inferno_lightning.neural.neurons import ALIF, EIF, LIF, QIF, AdEx, Izhikevich

MODELS = [LIF, ALIF, QIF, EIF, AdEx, Izhikevich]
F64 = torch.float64
# A current that makes every model spike within a few steps at default parameters.
DRIVE = 40.0


def _double(cls: type[Neuron], *args, **kwargs) -> Neuron:
    """Build with float64 parameters (a float parameter is stored in the default dtype)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        return cls(*args, **kwargs)
    finally:
        torch.set_default_dtype(default)


def _states(neuron: Neuron) -> dict[str, torch.Tensor | None]:
    """Every per-sample state, and the shared ALIF adaptation, cloned."""
    names = ["voltage", "refrac", "spike"]
    if isinstance(neuron, AdEx):
        names.append("adaptation")
    if isinstance(neuron, Izhikevich):
        names.append("recovery")
    out = {n: getattr(neuron, n) for n in names}
    if isinstance(neuron, ALIF):
        out["theta"] = neuron.adaptation
    return {k: None if v is None else v.detach().clone() for k, v in out.items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
        for x, y in zip(a.values(), b.values(), strict=True)
    )


# ------------------------------------------------------------------------ LIF maths


def test_lif_subthreshold_closed_form(device):
    neuron = LIF(3, step_time=0.5, time_constant=torch.tensor([4.0, 10.0, 30.0])).to(device)
    neuron.double()
    current = torch.tensor([[12.0, 8.0, 14.0]], dtype=F64, device=device)
    v_inf = -65.0 + current  # R = 1
    trajectory = []
    for _ in range(400):
        assert neuron(current).sum().item() == 0.0
        trajectory.append(neuron.voltage)
    t = torch.arange(1, 401, dtype=F64, device=device).unsqueeze(1) * 0.5
    tau = torch.tensor([4.0, 10.0, 30.0], dtype=F64, device=device)
    expected = v_inf + (-65.0 - v_inf) * torch.exp(-t / tau)
    relative = ((torch.stack(trajectory)[:, 0] - expected) / expected).abs().max().item()
    assert relative < 1e-5


def test_lif_interspike_interval_closed_form(device):
    # One neuron per (current, refractory period), per-neuron currents and refrac_t:
    # ISI = t_ref + tau ln((V_inf - V_reset) / (V_inf - V_thresh)), to one step.
    currents, refracs, dt = [17.0, 25.0, 50.0], [0.0, 1.0, 3.0, 4.5], 0.5
    pairs = [(i, r) for i in currents for r in refracs]
    neuron = LIF(
        len(pairs),
        step_time=dt,
        refrac_t=torch.tensor([r for _, r in pairs]),
        reset_v=-70.0,
    ).to(device)
    neuron.double()
    current = torch.tensor([[i for i, _ in pairs]], dtype=F64, device=device)
    spikes = torch.stack([neuron(current)[0] for _ in range(520)])
    for k, (i, r) in enumerate(pairs):
        times = spikes[:, k].nonzero()[:, 0].double() * dt
        isi = torch.diff(times)
        closed = r + 20.0 * math.log((-65.0 + i + 70.0) / (-65.0 + i + 50.0))
        assert len(isi) >= 3
        assert (isi - closed).abs().max().item() <= dt + 1e-9, (i, r, isi.tolist(), closed)


@pytest.mark.parametrize(
    ("refrac_t", "held_steps"), [(0.0, 0), (1.0, 0), (2.0, 1), (2.5, 2), (3.0, 2), (5.0, 4)]
)
def test_refractory_holds_for_documented_steps(refrac_t, held_steps, device):
    # dt = 1: a spike at step t is held at t+1 .. t+held and integrates at t+held+1,
    # held = ceil(refrac_t / dt) - 1 (the spike step is the first refractory step).
    neuron = LIF(1, step_time=1.0, refrac_t=refrac_t).to(device)
    assert neuron(torch.tensor([[1000.0]], device=device)).item() == 1.0
    assert neuron.refrac.item() == refrac_t
    for step in range(held_steps):
        wild = torch.tensor([[1000.0 * (-1) ** step]], device=device)
        assert neuron(wild).item() == 0.0
        assert neuron.voltage.item() == -65.0  # held at reset, input ignored
        assert neuron.refrac.item() == pytest.approx(max(refrac_t - step - 1, 0.0))
    # the next step integrates: with a large input it spikes again at once
    assert neuron(torch.tensor([[1000.0]], device=device)).item() == 1.0


def test_refractory_example_from_the_docs(device):
    # dt = 1, refrac_t = 2: spike at t, held at t+1, integrates at t+2.
    neuron = LIF(1, step_time=1.0, refrac_t=2.0, time_constant=1.0).to(device)
    neuron.double()
    big = torch.tensor([[100.0]], dtype=F64, device=device)
    small = torch.tensor([[10.0]], dtype=F64, device=device)
    assert neuron(big).item() == 1.0
    assert neuron(small).item() == 0.0 and neuron.voltage.item() == -65.0
    assert neuron(small).item() == 0.0
    assert neuron.voltage.item() == pytest.approx(-65.0 + 10.0 * (1 - math.exp(-1.0)))


def test_setting_voltage_and_refrac_by_hand(device):
    neuron = LIF(2, step_time=1.0).to(device)
    neuron.double()
    neuron.voltage = torch.tensor([[-55.0, -60.0]], dtype=F64, device=device)
    neuron.refrac = torch.tensor([[0.0, 3.0]], dtype=F64, device=device)
    neuron(torch.zeros(1, 2, dtype=F64, device=device))
    assert neuron.voltage[0, 0].item() == pytest.approx(-65.0 + 10.0 * math.exp(-1 / 20))
    assert neuron.voltage[0, 1].item() == -60.0  # held
    assert neuron.refrac.tolist() == [[0.0, 2.0]]
    neuron.spike = torch.tensor([[True, False]], device=device)
    assert neuron.spike.tolist() == [[True, False]]


# -------------------------------------------------------------------------- ALIF


def test_alif_threshold_increments_and_decays_by_hand(device):
    # theta <- theta e^{-dt/tau_a} + increment * mean_b(spikes); dt 1, tau_a 10, inc 2.
    neuron = ALIF(1, step_time=1.0, refrac_t=0.0, tc_adaptation=10.0, spike_increment=2.0)
    neuron = neuron.to(device).double()
    big = torch.tensor([[1000.0]], dtype=F64, device=device)
    zero = torch.zeros_like(big)
    assert neuron(big).item() == 1.0
    assert neuron.adaptation.item() == pytest.approx(2.0)
    assert neuron.threshold.item() == pytest.approx(-48.0)
    neuron(zero)
    assert neuron.adaptation.item() == pytest.approx(2.0 * math.exp(-0.1))
    neuron(big)  # spikes again: decay, then add
    assert neuron.adaptation.item() == pytest.approx(2.0 * math.exp(-0.2) + 2.0)


def test_alif_several_terms(device):
    neuron = ALIF(
        2, step_time=1.0, refrac_t=0.0, tc_adaptation=[10.0, 100.0], spike_increment=[1.0, 0.5]
    )
    neuron = neuron.to(device).double()
    assert neuron.terms == 2 and neuron.adaptation.shape == (2, 2)
    inputs = torch.tensor([[1000.0, 0.0]], dtype=F64, device=device)
    neuron(inputs)
    neuron(torch.zeros_like(inputs))
    assert neuron.adaptation[:, 0].tolist() == pytest.approx(
        [math.exp(-0.1), 0.5 * math.exp(-0.01)]
    )
    assert neuron.adaptation[:, 1].tolist() == [0.0, 0.0]
    assert neuron.threshold[0].item() == pytest.approx(
        -50.0 + math.exp(-0.1) + 0.5 * math.exp(-0.01)
    )


@pytest.mark.parametrize(
    ("reduction", "expected"), [("mean", 0.5), ("sum", 2.0), ("max", 2.0), ("median", 0.0)]
)
def test_alif_shared_across_the_batch(reduction, expected, device):
    # 1 of 4 samples spikes: mean adds increment / 4.
    neuron = ALIF(1, refrac_t=0.0, spike_increment=2.0, batch_reduction=reduction).to(device)
    inputs = torch.tensor([[1000.0], [0.0], [0.0], [0.0]], device=device)
    assert neuron(inputs).tolist() == [[1.0], [0.0], [0.0], [0.0]]
    assert neuron.adaptation.shape == (1, 1)  # not per sample
    assert neuron.adaptation.item() == pytest.approx(expected)


def _sum_over(spikes: torch.Tensor, dim: int) -> torch.Tensor:
    return spikes.sum(dim) * 10.0


def test_alif_callable_reduction_pickles(device):
    neuron = ALIF(1, refrac_t=0.0, spike_increment=1.0, batch_reduction=_sum_over).to(device)
    neuron(torch.tensor([[1000.0], [1000.0]], device=device))
    assert neuron.adaptation.item() == pytest.approx(20.0)
    clone = pickle.loads(pickle.dumps(neuron))
    assert clone.batch_reduction is _sum_over


def test_alif_frozen_in_eval_and_loads_from_state_dict(device):
    neuron = ALIF(1, refrac_t=0.0, spike_increment=2.0).to(device)
    big = torch.tensor([[1000.0]], device=device)
    neuron(big)
    theta = neuron.adaptation.clone()
    neuron.eval()
    for _ in range(3):
        neuron(big)
    assert torch.equal(neuron.adaptation, theta)  # neither decayed nor grew
    state = neuron.state_dict()
    assert "adaptation" in state and "voltage" not in state and "_voltage" not in state
    fresh = ALIF(1, refrac_t=0.0, spike_increment=2.0).to(device)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.adaptation, theta)
    fresh.eval()
    below = torch.tensor([[15.0 + 1.0]], device=device)  # crosses -50 but not -50 + 2
    assert all(fresh(below).item() == 0.0 for _ in range(200))
    fresh.reset_adaptation()
    assert any(fresh(below).item() == 1.0 for _ in range(200))


# ------------------------------------------------------------- other models' maths


def test_qif_eif_one_step_match_hand_values(device):
    qif = _double(QIF, 1, time_constant=10.0, resistance=2.0, crit_v=-55.0, affinity=0.1)
    qif = qif.to(device)
    qif.voltage = torch.tensor([[-60.0]], dtype=F64, device=device)
    qif(torch.tensor([[2.0]], dtype=F64, device=device))
    assert qif.voltage.item() == pytest.approx(-59.85, abs=1e-12)  # see functional test
    eif = _double(EIF, 1, time_constant=10.0).to(device)
    eif.voltage = torch.tensor([[-55.0]], dtype=F64, device=device)
    eif(torch.tensor([[3.0]], dtype=F64, device=device))
    expected = -55.0 + 0.1 * (-10.0 + 2.0 * math.exp(-2.5) + 3.0)
    assert eif.voltage.item() == pytest.approx(expected, abs=1e-12)


def test_izhikevich_first_step_from_rest(device):
    # v0 = -65, u0 = b v0 = -13, I = 10, dt = 0.5:
    # v' = -65 + 0.5 (169 - 325 + 140 + 13 + 10) = -61.5, u' = -13 + 0.01 (-13 + 13) = -13
    neuron = _double(Izhikevich.from_abcd, 1, a=0.02, b=0.2, c=-65.0, d=8.0, step_time=0.5)
    neuron = neuron.to(device)
    neuron(torch.tensor([[10.0]], dtype=F64, device=device))
    assert neuron.voltage.item() == pytest.approx(-61.5, abs=1e-12)
    assert neuron.recovery.item() == pytest.approx(-13.0, abs=1e-12)


def test_izhikevich_fast_spiking_fires_more_than_regular(device):
    # Regular spiking (a .02, d 8) and fast spiking (a .1, d 2), b .2, c -65, I = 10,
    # 500 ms: FS fires several times more often.
    neuron = Izhikevich(
        2,
        step_time=0.5,
        tc_adaptation=torch.tensor([1 / 0.02, 1 / 0.1]),
        spike_increment=torch.tensor([8.0, 2.0]),
    ).to(device)
    inputs = torch.full((1, 2), 10.0, device=device)
    counts = sum(neuron(inputs) for _ in range(1000))[0].tolist()
    regular, fast = counts
    assert 5 <= regular < fast
    assert fast >= 3 * regular


def test_adex_adaptation_lengthens_interspike_intervals(device):
    neuron = AdEx(1, step_time=0.5, spike_increment=3.0).to(device)
    inputs = torch.full((1, 1), 30.0, device=device)
    spikes = torch.stack([neuron(inputs)[0, 0] for _ in range(600)])
    isi = torch.diff(spikes.nonzero()[:, 0].double() * 0.5)
    assert len(isi) >= 4
    assert (torch.diff(isi) >= 0).all()  # never shorter
    assert isi[-1] > 1.2 * isi[0]
    assert neuron.adaptation.shape == (1, 1, 1) and neuron.adaptation.item() > 0


def test_adex_several_currents_are_per_sample(device):
    neuron = AdEx(3, tc_adaptation=[50.0, 500.0], spike_increment=[1.0, 0.1]).to(device)
    inputs = torch.tensor([[60.0] * 3, [0.0] * 3], device=device)
    for _ in range(30):
        neuron(inputs)
    assert neuron.terms == 2 and neuron.adaptation.shape == (2, 2, 3)
    assert (neuron.adaptation[0] > neuron.adaptation[1]).all()  # the driven sample adapted


# --------------------------------------------------------------- gradients (BPTT)


def test_lif_surrogate_gradient_through_time(device):
    # No spike until the last of T steps: V_T = sum_t R (1 - d) d^{T-1-t} I_t + const,
    # so dz_T / dI_t = sigma'(V_T - thresh) R (1 - d) d^{T-1-t}.
    steps, tau, slope = 5, 10.0, 0.5
    neuron = LIF(1, time_constant=tau, surrogate=Surrogate("arctan", slope)).to(device).double()
    currents = torch.full((steps, 1, 1), 12.0, dtype=F64, device=device, requires_grad=True)
    outputs = [neuron(currents[t]) for t in range(steps)]
    assert all(z.item() == 0.0 for z in outputs)
    outputs[-1].sum().backward()
    d = math.exp(-1.0 / tau)
    x = neuron.voltage.item() + 50.0
    sigma = (slope / 2) / (1 + (math.pi / 2 * slope * x) ** 2)
    expected = [sigma * (1 - d) * d ** (steps - 1 - t) for t in range(steps)]
    assert currents.grad[:, 0, 0].tolist() == pytest.approx(expected, rel=1e-10)


def test_plain_heaviside_has_no_gradient(device):
    neuron = LIF(2).to(device)
    current = torch.full((1, 2), 30.0, device=device, requires_grad=True)
    assert not neuron(current).requires_grad


def test_parameters_stay_parameters_and_learn(device):
    thresh = nn.Parameter(torch.tensor(-50.0))
    tau = nn.Parameter(torch.full((3,), 10.0))
    neuron = LIF(3, thresh_v=thresh, time_constant=tau, surrogate="sigmoid").to(device)
    assert dict(neuron.named_parameters()).keys() == {"thresh_v", "time_constant"}
    assert {"rest_v", "reset_v", "refrac_t", "resistance"} <= set(dict(neuron.named_buffers()))
    inputs = torch.full((2, 3), 20.0, device=device)
    total = sum(neuron(inputs).sum() for _ in range(10))
    total.backward()
    assert neuron.thresh_v.grad is not None and neuron.thresh_v.grad.item() < 0
    assert neuron.time_constant.grad is not None and (neuron.time_constant.grad != 0).all()


def test_a_plain_tensor_becomes_a_copied_buffer():
    rest = torch.tensor([-65.0, -60.0])
    neuron = LIF(2, rest_v=rest)
    rest.fill_(0.0)
    assert neuron.rest_v.tolist() == [-65.0, -60.0]
    assert "rest_v" in neuron.state_dict()


@pytest.mark.parametrize("cls", MODELS)
def test_every_model_trains_with_a_surrogate(cls, device):
    neuron = cls(4, surrogate="arctan").to(device)
    inputs = torch.full((2, 4), DRIVE, device=device, requires_grad=True)
    sum(neuron(inputs).sum() for _ in range(20)).backward()
    assert inputs.grad is not None and (inputs.grad != 0).any()


# ------------------------------------------------------------ cached coefficients


def test_cached_constants_follow_buffer_changes(device):
    neuron = LIF(1, step_time=1.0, refrac_t=0.0).to(device).double()
    zero = torch.zeros(1, 1, dtype=F64, device=device)

    def step_from(v: float) -> float:
        neuron.voltage = torch.full((1, 1), v, dtype=F64, device=device)
        neuron(zero)
        return neuron.voltage.item()

    assert step_from(-55.0) == pytest.approx(-65.0 + 10.0 * math.exp(-1 / 20))
    neuron.time_constant.fill_(5.0)  # in place
    assert step_from(-55.0) == pytest.approx(-65.0 + 10.0 * math.exp(-1 / 5))
    neuron.time_constant = torch.tensor(2.0, dtype=F64, device=device)  # assignment
    assert step_from(-55.0) == pytest.approx(-65.0 + 10.0 * math.exp(-1 / 2))
    other = LIF(1, step_time=1.0, refrac_t=0.0, time_constant=40.0, rest_v=-70.0)
    neuron.load_state_dict(other.state_dict())  # copies in place
    assert step_from(-55.0) == pytest.approx(-70.0 + 15.0 * math.exp(-1 / 40))
    neuron.thresh_v.fill_(-56.0)
    assert step_from(-55.0) == -65.0  # -70 + 15 e^{-1/40} = -55.4 >= -56: reset to -65


def test_a_buffer_replaced_by_a_parameter_or_moved_is_used_at_once(device):
    neuron = LIF(1, refrac_t=0.0, surrogate="arctan").to(device)
    zero = torch.zeros(1, 1, device=device)
    neuron(zero)  # constants cached from the buffers
    neuron.thresh_v = nn.Parameter(torch.tensor(-70.0, device=device))  # below rest: fires
    assert neuron(zero).item() == 1.0
    neuron.thresh_v = nn.Parameter(torch.tensor(-50.0, device=device))
    spikes = neuron(torch.full((1, 1), 1000.0, device=device))
    spikes.sum().backward()
    assert spikes.item() == 1.0 and neuron.thresh_v.grad is not None
    neuron.double()  # every buffer replaced by a float64 copy
    neuron.reset()
    assert neuron(zero.double()).dtype == F64 and neuron.voltage.dtype == F64


# ------------------------------------------------------------------- eager fast path


def _trajectory(cls, dtype, surrogate, seed=0):
    """Spikes, states and input gradients of 30 steps (a reset at 15) of a fresh neuron."""
    torch.manual_seed(seed)
    neuron = _double(cls, (2, 3), 0.7, surrogate=surrogate).to(dtype)
    inputs = (torch.rand(30, 4, 2, 3, dtype=dtype) * 3 * DRIVE).requires_grad_(
        surrogate is not None
    )
    records, total = [], 0.0
    for t, x in enumerate(inputs):
        if t == 15:
            neuron.reset()
        spikes = neuron(x)
        total = total + (spikes * torch.arange(1.0, 7.0, dtype=dtype).view(2, 3)).sum()
        records.append(_states(neuron))
    grad = None
    if surrogate is not None:
        total.backward()
        grad = inputs.grad
    return records, grad


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("surrogate", [None, "arctan"])
def test_scalar_operands_as_0d_tensors_change_no_bit(cls, dtype, surrogate, monkeypatch):
    # The eager step passes float constants to small ops as cached 0-d tensors; the numbers
    # must be exactly those of the plain Python floats, forward and backward.
    from inferno_lightning.functional import neurons as functional_neurons
    from inferno_lightning.functional import spikes as functional_spikes
    from inferno_lightning.neural import neurons as neural_neurons

    fast, fast_grad = _trajectory(cls, dtype, surrogate)
    assert any(r["spike"].any() for r in fast)
    for module in (functional_spikes, functional_neurons, neural_neurons):
        monkeypatch.setattr(module, "_operand", lambda value, like: value)
    plain, plain_grad = _trajectory(cls, dtype, surrogate)
    assert all(_same(a, b) for a, b in zip(fast, plain, strict=True))
    assert (fast_grad is None and plain_grad is None) or torch.equal(fast_grad, plain_grad)


def test_state_is_rebound_each_step_not_overwritten():
    # Readers may keep a step's state (a list of voltages): the next step must not change it.
    neuron = LIF(3, refrac_t=2.0)
    with torch.no_grad():
        neuron(torch.full((2, 3), DRIVE))
        kept = [neuron.voltage, neuron.refrac, neuron._spike]
        copies = [t.clone() for t in kept]
        neuron(torch.full((2, 3), DRIVE))
    assert all(torch.equal(a, b) for a, b in zip(kept, copies, strict=True))
    assert neuron.voltage is not kept[0] and neuron.refrac is not kept[1]


def test_state_is_a_buffer_bound_each_step():
    # The step writes the state's buffer entries directly (not through nn.Module.__setattr__),
    # and it is still a non-persistent buffer: read back, moved by .to(), not in state_dict.
    neuron = ALIF(3)
    neuron(torch.full((2, 3), DRIVE))
    assert neuron.voltage is neuron._buffers["_voltage"]
    assert dict(neuron.named_buffers())["_voltage"] is neuron.voltage
    assert "_voltage" not in neuron.state_dict() and "adaptation" in neuron.state_dict()
    assert neuron.double().voltage.dtype == F64
    assert neuron(torch.full((2, 3), DRIVE, dtype=F64)).dtype == F64


# --------------------------------------------------------------- batch-agnostic state


@pytest.mark.parametrize("cls", MODELS)
def test_state_at_any_batch_size(cls, device, tmp_path):
    neuron = cls((2, 3)).to(device)
    for _ in range(5):
        neuron(torch.full((4, 2, 3), DRIVE, device=device))
    assert neuron.voltage.shape == (4, 2, 3) and neuron.batch_size == 4
    with pytest.raises(ValueError, match="inputs has batch size 1 .* batch size 4"):
        neuron(torch.zeros(1, 2, 3, device=device))
    path = tmp_path / "neuron.pt"
    torch.save(neuron.state_dict(), path)  # saved with state at batch 4
    neuron.reset()
    assert neuron.voltage is None and neuron.refrac is None and neuron.spike is None
    assert neuron(torch.zeros(1, 2, 3, device=device)).shape == (1, 2, 3)
    assert neuron.voltage.shape == (1, 2, 3)
    fresh = cls((2, 3)).to(device)
    fresh.load_state_dict(torch.load(path))
    for name, value in neuron.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value)
    assert fresh(torch.zeros(1, 2, 3, device=device)).shape == (1, 2, 3)
    assert fresh.voltage.shape == (1, 2, 3)


@pytest.mark.parametrize("cls", MODELS)
def test_pickle_and_deepcopy(cls):
    neuron = cls(3, surrogate=Surrogate("triangle", 0.5))
    inputs = torch.full((2, 3), DRIVE)
    neuron(inputs)
    reference = copy.deepcopy(neuron)(inputs)
    for clone in (pickle.loads(pickle.dumps(neuron)), copy.deepcopy(neuron)):
        assert clone.surrogate == neuron.surrogate
        assert torch.equal(clone(inputs), reference)


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    cls=st.sampled_from(MODELS),
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
    batch=st.integers(1, 4),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_shapes_and_dtypes(cls, shape, batch, dtype):
    neuron = cls(shape).to(dtype)
    out = neuron(torch.full((batch, *shape), DRIVE, dtype=dtype))
    out = neuron(torch.full((batch, *shape), DRIVE, dtype=dtype))
    assert out.shape == (batch, *shape) and out.dtype == dtype
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert neuron.spike.dtype == torch.bool and torch.equal(neuron.spike, out.bool())
    assert neuron.voltage.shape == neuron.refrac.shape == (batch, *shape)
    assert neuron.voltage.dtype == dtype
    if isinstance(neuron, AdEx):
        assert neuron.adaptation.shape == (batch, 1, *shape)
    if isinstance(neuron, Izhikevich):
        assert neuron.recovery.shape == (batch, *shape)


# ------------------------------------------------------------------------- bad input

_SMALL = {"shape": 3}
CONSTRUCTION_ERRORS = [
    (LIF, {"time_constant": 0.0}, ["time_constant"]),
    (LIF, {"time_constant": -5.0}, ["time_constant"]),
    (LIF, {"time_constant": torch.tensor([10.0, 0.0, 5.0])}, ["time_constant"]),
    (LIF, {"thresh_v": -65.0}, ["thresh_v", "reset_v"]),
    (LIF, {"thresh_v": -70.0}, ["thresh_v", "reset_v"]),
    (LIF, {"refrac_t": -1.0}, ["refrac_t"]),
    (LIF, {"step_time": 0.0}, ["step_time"]),
    (LIF, {"resistance": 0.0}, ["resistance"]),
    (LIF, {"rest_v": float("nan")}, ["rest_v"]),
    (LIF, {"rest_v": torch.zeros(5)}, ["rest_v"]),
    (LIF, {"surrogate": "relu"}, ["surrogate"]),
    (ALIF, {"tc_adaptation": [10.0, 0.0]}, ["tc_adaptation"]),
    (ALIF, {"spike_increment": -1.0}, ["spike_increment"]),
    (
        ALIF,
        {"tc_adaptation": [1.0, 2.0], "spike_increment": [1.0, 2.0, 3.0]},
        ["tc_adaptation", "spike_increment"],
    ),
    (ALIF, {"tc_adaptation": torch.ones(2, 4)}, ["tc_adaptation"]),
    (ALIF, {"batch_reduction": "avg"}, ["batch_reduction"]),
    (ALIF, {"thresh_v": -80.0}, ["thresh_v", "reset_v"]),
    (QIF, {"crit_v": -70.0}, ["crit_v", "rest_v"]),
    (QIF, {"affinity": 0.0}, ["affinity"]),
    (QIF, {"time_constant": 0.0}, ["time_constant"]),
    (EIF, {"sharpness": 0.0}, ["sharpness"]),
    (EIF, {"refrac_t": -0.5}, ["refrac_t"]),
    (AdEx, {"tc_adaptation": 0.0}, ["tc_adaptation"]),
    (AdEx, {"time_constant": -1.0}, ["time_constant"]),
    (AdEx, {"thresh_v": -66.0}, ["thresh_v", "reset_v"]),
    (Izhikevich, {"tc_adaptation": 0.0}, ["tc_adaptation"]),
    (Izhikevich, {"thresh_v": -70.0}, ["thresh_v", "reset_v"]),
    (Izhikevich, {"step_time": -1.0}, ["step_time"]),
]


@pytest.mark.parametrize(("cls", "kwargs", "names"), CONSTRUCTION_ERRORS)
def test_construction_errors_name_the_argument(cls, kwargs, names):
    with pytest.raises(ValueError) as error:
        cls(**{**_SMALL, **kwargs})
    for name in names:
        assert name in str(error.value)


def test_izhikevich_from_abcd_rejects_bad_a():
    with pytest.raises(ValueError, match="a must be positive"):
        Izhikevich.from_abcd(1, a=0.0, b=0.2, c=-65.0, d=8.0)


@pytest.mark.parametrize("cls", MODELS)
def test_bad_inputs_raise_before_any_state_changes(cls, device):
    neuron = cls((2, 3)).to(device)
    bad = [
        (torch.zeros(4, 3, 2, device=device), ValueError, "inputs must have shape"),
        (torch.zeros(4, 6, device=device), ValueError, "inputs must have shape"),
        (torch.full((4, 2, 3), float("nan"), device=device), ValueError, "inputs must be finite"),
        (torch.full((4, 2, 3), float("inf"), device=device), ValueError, "inputs must be finite"),
        (torch.zeros(4, 2, 3, dtype=torch.long, device=device), TypeError, "inputs"),
        ([[0.0]], TypeError, "inputs"),
    ]
    for inputs, error, message in bad:  # before the first step: no state appears
        with pytest.raises(error, match=message):
            neuron(inputs)
        assert neuron.voltage is None and neuron.batch_size is None
    for _ in range(3):
        neuron(torch.full((4, 2, 3), DRIVE, device=device))
    before = _states(neuron)
    for inputs, error, message in [
        *bad,
        (torch.zeros(2, 2, 3, device=device), ValueError, "inputs has batch size 2"),
    ]:
        with pytest.raises(error, match=message):
            neuron(inputs)
        assert _same(_states(neuron), before)


def test_nan_check_can_be_switched_off():
    neuron = LIF(2, check_finite=False)
    neuron(torch.tensor([[float("nan"), 20.0]]))
    assert math.isnan(neuron.voltage[0, 0].item())
    with pytest.raises(ValueError, match="inputs must have shape"):
        neuron(torch.zeros(1, 3))  # shapes are still checked


def test_state_setters_validate():
    neuron = AdEx(3, tc_adaptation=[10.0, 20.0])
    neuron(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="voltage must have shape"):
        neuron.voltage = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="voltage must be finite"):
        neuron.voltage = torch.full((2, 3), float("nan"))
    with pytest.raises(ValueError, match="voltage has batch size 5"):
        neuron.voltage = torch.zeros(5, 3)
    with pytest.raises(ValueError, match="refrac must be non-negative"):
        neuron.refrac = torch.full((2, 3), -1.0)
    with pytest.raises(TypeError, match="refrac must be a floating-point"):
        neuron.refrac = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="adaptation must have shape"):
        neuron.adaptation = torch.zeros(2, 1, 3)
    neuron.adaptation = torch.ones(2, 2, 3)
    assert neuron.adaptation.sum().item() == 12.0
    with pytest.raises(ValueError, match="recovery must have shape"):
        Izhikevich(3).recovery = torch.zeros(2, 4)


@pytest.mark.cuda
def test_neuron_on_another_device_is_a_clear_error():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    neuron = LIF(2)
    with pytest.raises(ValueError, match="inputs is on cuda"):
        neuron(torch.zeros(1, 2, device="cuda"))
