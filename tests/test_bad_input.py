"""Bad input gets a clear error, before any state changes (DESIGN.md invariant 6).

Property tests over the public constructors and calls of the core packages
(``neural``, ``encode``, ``learn``, ``observe``), the callbacks, the metrics
and a few ``functional`` entry points. Each negative property asserts

* the exception type (``TypeError`` for a wrong type, ``ValueError`` for a
  value out of range or a shape that does not fit),
* that the message names the argument and what was expected,
* where there is state, that nothing changed: per-sample state, weights,
  pending updates, metric states are ``torch.equal`` before and after.

Each family also has one positive property, so that the strategies are not
only rejected: any value in range constructs, runs and gives finite output.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from inferno_lightning import functional as F
from inferno_lightning.callbacks import LocalLearning, SpikeStatistics
from inferno_lightning.encode import LatencyEncoder, PoissonEncoder, RateEncoder
from inferno_lightning.learn import (
    MSTDP,
    MSTDPET,
    STDP,
    Accumulator,
    Clamp,
    DelayLearning,
    LinearHomeostasis,
    Normalize,
    TripletSTDP,
    Updater,
    updater_for,
)
from inferno_lightning.metrics import (
    LabelAssignment,
    LabelAssignmentAccuracy,
    SpikeRate,
    assign_labels,
    predict_labels,
)
from inferno_lightning.neural import (
    ALIF,
    EIF,
    LIF,
    QIF,
    AdEx,
    Conv2d,
    DeltaCurrent,
    DeltaPlusCurrent,
    DoubleExponentialCurrent,
    ExponentialCurrent,
    Izhikevich,
    Layer,
    LinearDense,
    LinearDirect,
    LinearLateral,
    Serial,
)
from inferno_lightning.observe import (
    CumulativeTraceReducer,
    EMAReducer,
    EventCountReducer,
    HistoryReducer,
    LatestReducer,
    MeanReducer,
    Monitor,
    NearestTraceReducer,
    PriorTraceReducer,
    ScaledTraceReducer,
    TimeSinceEventReducer,
)

NAN, INF = math.nan, math.inf
PROPERTY = settings(max_examples=20, deadline=None, derandomize=True)
FEW = settings(max_examples=8, deadline=None, derandomize=True)

# ----------------------------------------------------------------- strategies

#: Not a valid time constant or step: zero, negative, NaN, infinite.
NOT_POSITIVE = st.one_of(
    st.floats(max_value=0.0, allow_nan=False),
    st.sampled_from([NAN, INF, -INF, 0.0, -0.0]),
)
#: Not a valid refractory period, delay or rate: negative, NaN, infinite.
NOT_NONNEGATIVE = st.one_of(
    st.floats(max_value=-1e-9, allow_nan=False),
    st.sampled_from([NAN, INF, -INF]),
)
#: Not finite.
NOT_FINITE = st.sampled_from([NAN, INF, -INF])
#: Not a real number (a str, None, a list, a dict, a bool).
NOT_A_NUMBER = st.sampled_from(["1.0", None, [1.0], {"ms": 1.0}, True, False])
#: Not a bool: what ``bool()`` would quietly read as a truth value.
NOT_A_BOOL = st.sampled_from([0, 1, "no", "yes", None, 1.0, "False"])
#: Not an int count: a bool, a float, a str, None.
NOT_AN_INT = st.sampled_from([True, False, 2.0, "3", None])
#: A name that is not among the accepted choices.
UNKNOWN_NAME = st.text(alphabet="abcxyz_", min_size=1, max_size=8).filter(
    lambda s: s not in {"abc"}  # keep it obviously unknown; no valid choice is this short
)
POSITIVE = st.floats(min_value=0.05, max_value=500.0, allow_nan=False)
STEP = st.floats(min_value=0.05, max_value=2.0, allow_nan=False)


def raises(
    exception: type[Exception], call: Callable[[], object], *fragments: str
) -> pytest.ExceptionInfo:
    """``call()`` raises ``exception`` whose message holds every fragment (case-sensitive)."""
    with pytest.raises(exception) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info


def snapshot(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    return [None if t is None else t.detach().clone() for t in tensors]


def unchanged(before: list[torch.Tensor | None], after: list[torch.Tensor | None]) -> bool:
    return len(before) == len(after) and all(
        (a is None and b is None)
        or (a is not None and b is not None and a.shape == b.shape and torch.equal(a, b))
        for a, b in zip(before, after, strict=True)
    )


# ================================================================== neurons

MODELS = [LIF, ALIF, QIF, EIF, AdEx, Izhikevich]

#: (model, keyword) pairs that must be positive and finite.
POSITIVE_ARGS = [(model, "step_time") for model in MODELS] + [
    (LIF, "time_constant"),
    (ALIF, "time_constant"),
    (QIF, "time_constant"),
    (EIF, "time_constant"),
    (AdEx, "time_constant"),
    (ALIF, "tc_adaptation"),
    (AdEx, "tc_adaptation"),
    (Izhikevich, "tc_adaptation"),
    (LIF, "resistance"),
    (Izhikevich, "resistance"),
    (QIF, "affinity"),
    (EIF, "sharpness"),
    (AdEx, "sharpness"),
]

#: Scalar float keywords of every model (a wrong type is a TypeError naming it).
SCALAR_ARGS = [
    (model, name)
    for model in MODELS
    for name in ("step_time", "rest_v", "reset_v", "thresh_v", "refrac_t", "resistance")
] + [(LIF, "time_constant"), (QIF, "crit_v"), (EIF, "rheobase_v"), (Izhikevich, "tc_adaptation")]


def neuron_state(neuron: nn.Module) -> list[torch.Tensor | None]:
    """Every per-sample state of a neuron group, and ALIF's shared adaptation, cloned."""
    names = ["voltage", "refrac", "spike"]
    if isinstance(neuron, AdEx):
        names.append("adaptation")
    if isinstance(neuron, Izhikevich):
        names.append("recovery")
    if isinstance(neuron, ALIF):
        names.append("adaptation")
    return snapshot(*(getattr(neuron, n) for n in names))


def stepped(model: type, shape: tuple[int, ...] = (3,), batch: int = 2) -> nn.Module:
    """A neuron group that has state: a few steps with a strong drive."""
    neuron = model(shape)
    for _ in range(3):
        neuron(torch.full((batch, *shape), 30.0))
    return neuron


@PROPERTY
@given(case=st.sampled_from(POSITIVE_ARGS), value=NOT_POSITIVE)
def test_neuron_time_constants_and_scales_must_be_positive(case, value) -> None:
    model, name = case
    raises(ValueError, lambda: model(3, **{name: value}), name, "positive and finite")


@PROPERTY
@given(model=st.sampled_from(MODELS), value=NOT_NONNEGATIVE)
def test_neuron_refractory_period_must_be_non_negative(model, value) -> None:
    raises(ValueError, lambda: model(3, refrac_t=value), "refrac_t", "non-negative", "ms")


@PROPERTY
@given(
    model=st.sampled_from(MODELS),
    reset_v=st.floats(min_value=-90.0, max_value=40.0),
    below=st.floats(min_value=0.0, max_value=30.0),
)
def test_neuron_threshold_at_or_below_reset_is_rejected(model, reset_v, below) -> None:
    thresh_v = reset_v - below
    info = raises(
        ValueError,
        lambda: model(3, reset_v=reset_v, thresh_v=thresh_v),
        "thresh_v",
        "must be greater than",
        "reset_v",
    )
    assert repr(thresh_v) in str(info.value) or "thresh_v (" in str(info.value)


@PROPERTY
@given(model=st.sampled_from(MODELS), index=st.integers(0, 3))
def test_neuron_threshold_tensor_below_reset_anywhere_is_rejected(model, index) -> None:
    thresh_v = torch.full((4,), 0.0)
    thresh_v[index] = -80.0
    raises(
        ValueError,
        lambda: model(4, reset_v=-65.0, thresh_v=thresh_v),
        "thresh_v",
        "greater than reset_v",
    )


@PROPERTY
@given(rest_v=st.floats(min_value=-90.0, max_value=0.0), below=st.floats(0.0, 20.0))
def test_qif_critical_voltage_at_or_below_rest_is_rejected(rest_v, below) -> None:
    raises(
        ValueError,
        lambda: QIF(3, rest_v=rest_v, reset_v=rest_v, crit_v=rest_v - below, thresh_v=30.0),
        "crit_v",
        "greater than rest_v",
    )


def test_izhikevich_from_abcd_names_c_when_it_is_above_the_cutoff() -> None:
    raises(
        ValueError,
        lambda: Izhikevich.from_abcd(3, a=0.02, b=0.2, c=40.0, d=8.0),
        "thresh_v",
        "c (reset_v)",
    )
    raises(ValueError, lambda: Izhikevich.from_abcd(3, 0.0, 0.2, -65.0, 8.0), "a", "positive")


@PROPERTY
@given(case=st.sampled_from(SCALAR_ARGS), value=NOT_A_NUMBER)
def test_neuron_scalar_of_the_wrong_type_is_a_type_error(case, value) -> None:
    model, name = case
    raises(TypeError, lambda: model(3, **{name: value}), name, "real number")


@PROPERTY
@given(model=st.sampled_from(MODELS), name=st.sampled_from(["check_finite"]), value=NOT_A_BOOL)
def test_neuron_flags_must_be_bools(model, name, value) -> None:
    raises(TypeError, lambda: model(3, **{name: value}), name, "must be a bool")


@PROPERTY
@given(value=NOT_A_BOOL)
def test_alif_sync_ranks_must_be_a_bool(value) -> None:
    raises(TypeError, lambda: ALIF(3, sync_ranks=value), "sync_ranks", "bool")


@PROPERTY
@given(
    model=st.sampled_from(MODELS),
    shape=st.one_of(st.sampled_from([True, 3.0, "3", None, (2, 0), (2, -1), 0, -3, (), (2, 2.0)])),
)
def test_neuron_shape_must_be_positive_ints(model, shape) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        model(shape)
    assert "shape" in str(info.value)
    assert "positive" in str(info.value) or "at least one dimension" in str(info.value)
    assert isinstance(info.value, TypeError) == (
        isinstance(shape, bool | float | str) or shape is None or shape == (2, 2.0)
    )


@PROPERTY
@given(
    case=st.sampled_from([(LIF, "time_constant"), (ALIF, "thresh_v"), (EIF, "rest_v")]),
    size=st.integers(1, 4),
    extra=st.integers(1, 3),
)
def test_neuron_tensor_parameter_of_the_wrong_shape(case, size, extra) -> None:
    model, name = case
    value = torch.full((size + extra,), 5.0)
    raises(
        ValueError,
        lambda: model(size, **{name: value}),
        name,
        f"broadcastable to shape ({size},)",
        f"shape ({size + extra},)",
    )


@PROPERTY
@given(
    model=st.sampled_from([ALIF, AdEx]),
    k=st.integers(2, 4),
    other=st.integers(2, 4),
)
def test_adaptation_terms_must_agree_in_number(model, k, other) -> None:
    if k == other:
        other += 1
    raises(
        ValueError,
        lambda: model(3, tc_adaptation=[10.0] * k, spike_increment=[1.0] * other),
        f"tc_adaptation has {k}",
        f"spike_increment has {other}",
    )


@PROPERTY
@given(model=st.sampled_from(MODELS), bad=st.sampled_from(["shape", "batch", "nan", "int", "list"]))
def test_bad_input_leaves_neuron_state_unchanged(model, bad) -> None:
    neuron = stepped(model)
    neuron.train()
    before = neuron_state(neuron)
    inputs = {
        "shape": torch.zeros(2, 4),
        "batch": torch.zeros(5, 3),
        "nan": torch.tensor([[0.0, NAN, 1.0], [0.0, 0.0, 0.0]]),
        "int": torch.zeros(2, 3, dtype=torch.long),
        "list": [[0.0, 0.0, 0.0]] * 2,
    }[bad]
    expected = {
        "shape": "must have shape (batch, 3)",
        "batch": "has batch size 5",
        "nan": "must be finite",
        "int": "floating-point",
        "list": "torch.Tensor",
    }[bad]
    exception = TypeError if bad in ("int", "list") else ValueError
    raises(exception, lambda: neuron(inputs), "inputs", expected)
    assert unchanged(before, neuron_state(neuron))


@PROPERTY
@given(
    model=st.sampled_from(MODELS),
    case=st.sampled_from(
        [
            ("voltage", torch.full((2, 3), NAN), "voltage must be finite"),
            ("voltage", torch.zeros(5, 3), "voltage has batch size 5"),
            ("voltage", torch.zeros(2, 3, dtype=torch.long), "floating-point"),
            ("refrac", torch.full((2, 3), -1.0), "refrac must be non-negative"),
            ("spike", torch.zeros(2, 4), "spike must have shape (batch, 3)"),
        ]
    ),
)
def test_failed_state_setter_leaves_neuron_state_unchanged(model, case) -> None:
    name, value, expected = case
    neuron = stepped(model)
    before = neuron_state(neuron)
    with pytest.raises((TypeError, ValueError)) as info:
        setattr(neuron, name, value)
    assert expected in str(info.value)
    assert unchanged(before, neuron_state(neuron))


@PROPERTY
@given(
    model=st.sampled_from(MODELS),
    step_time=STEP,
    ratio=st.floats(min_value=1.0, max_value=200.0),
    drive=st.floats(min_value=-50.0, max_value=50.0),
)
def test_any_positive_time_constant_steps_with_finite_output(
    model, step_time, ratio, drive
) -> None:
    # Forward-Euler models need tau >= dt to stay stable, so the ratio starts at 1.
    tau = step_time * ratio
    keywords = {"tc_adaptation": tau} if model is Izhikevich else {"time_constant": tau}
    neuron = model((2, 3), step_time=step_time, **keywords)
    for _ in range(5):
        spikes = neuron(torch.full((4, 2, 3), drive))
    assert spikes.shape == (4, 2, 3)
    assert bool(((spikes == 0) | (spikes == 1)).all())
    assert bool(torch.isfinite(neuron.voltage).all())


# ================================================================== synapses

SYNAPSES = [DeltaCurrent, DeltaPlusCurrent, ExponentialCurrent, DoubleExponentialCurrent]
SYNAPSE_TIME_CONSTANTS = [(synapse, "step_time") for synapse in SYNAPSES] + [
    (ExponentialCurrent, "time_constant"),
    (DoubleExponentialCurrent, "tc_decay"),
    (DoubleExponentialCurrent, "tc_rise"),
]


def synapse_state(synapse: nn.Module) -> list[torch.Tensor | None]:
    return snapshot(*(getattr(synapse, name) for name in synapse.state_names))


@PROPERTY
@given(case=st.sampled_from(SYNAPSE_TIME_CONSTANTS), value=NOT_POSITIVE)
def test_synapse_time_constants_must_be_positive(case, value) -> None:
    synapse, name = case
    arguments = {"step_time": 1.0, name: value}
    if name == "tc_rise":
        arguments["tc_decay"] = 10.0
    raises(ValueError, lambda: synapse(3, **arguments), name, "positive and finite", "ms")


@PROPERTY
@given(synapse=st.sampled_from(SYNAPSES), value=NOT_NONNEGATIVE)
def test_synapse_delay_must_be_non_negative(synapse, value) -> None:
    raises(ValueError, lambda: synapse(3, 1.0, delay=value), "delay", "non-negative", "ms")


@PROPERTY
@given(rise=st.floats(min_value=0.1, max_value=50.0), shorter=st.floats(0.0, 1.0))
def test_double_exponential_decay_must_outlast_rise(rise, shorter) -> None:
    decay = rise * shorter if shorter > 0 else rise
    raises(
        ValueError,
        lambda: DoubleExponentialCurrent(3, 1.0, tc_decay=decay, tc_rise=rise),
        "tc_decay",
        "must be greater than tc_rise",
    )


def test_double_exponential_time_constant_tensors_of_the_wrong_shape() -> None:
    raises(
        ValueError,
        lambda: DoubleExponentialCurrent(
            3, 1.0, tc_decay=torch.full((4,), 5.0), tc_rise=torch.ones(3)
        ),
        "tc_decay",
        "broadcastable to shape (3,)",
    )


@PROPERTY
@given(synapse=st.sampled_from(SYNAPSES), mode=UNKNOWN_NAME)
def test_synapse_interp_mode_must_be_known(synapse, mode) -> None:
    raises(
        ValueError,
        lambda: synapse(3, 1.0, interp_mode=mode),
        "interp_mode",
        "['previous', 'nearest', 'linear']",
    )


@PROPERTY
@given(
    synapse=st.sampled_from(SYNAPSES),
    case=st.sampled_from(
        [
            ("current_overbound", "high", TypeError, "real number"),
            ("current_overbound", NAN, ValueError, "finite"),
            ("current_overbound", [0.0], TypeError, "real number"),
            ("spike_overbound", 1, TypeError, "bool"),
            ("check_inputs", "no", TypeError, "bool"),
            ("check_inputs", 0, TypeError, "bool"),
            ("spike_charge", NAN, ValueError, "finite"),
            ("spike_charge", "1", TypeError, "real number"),
        ]
    ),
)
def test_synapse_options_of_the_wrong_type_or_value(synapse, case) -> None:
    name, value, exception, expected = case
    raises(exception, lambda: synapse(3, 1.0, **{name: value}), name, expected)


@PROPERTY
@given(
    synapse=st.sampled_from(SYNAPSES),
    bad=st.sampled_from(["shape", "batch", "nan", "none", "count"]),
)
def test_bad_spikes_leave_synapse_state_and_history_unchanged(synapse, bad) -> None:
    syn = synapse(3, 1.0, delay=2.0)
    for _ in range(3):
        syn(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    before = synapse_state(syn)
    args = {
        "shape": (torch.zeros(2, 4),),
        "batch": (torch.zeros(5, 3),),
        "nan": (torch.full((2, 3), NAN),),
        "none": (None,),
        "count": (torch.zeros(2, 3),) * 3,
    }[bad]
    exception = TypeError if bad == "none" else ValueError
    raises(exception, lambda: syn(*args), "inputs")
    assert unchanged(before, synapse_state(syn))


@PROPERTY
@given(value=st.one_of(NOT_NONNEGATIVE, st.just(torch.tensor([-1.0, 2.0]))))
def test_failed_synapse_delay_setter_leaves_history_unchanged(value) -> None:
    syn = ExponentialCurrent(3, 1.0, delay=2.0)
    syn(torch.ones(2, 3))
    before = synapse_state(syn)
    raises(ValueError, lambda: setattr(syn, "delay", value), "delay", "non-negative")
    assert syn.delay == 2.0 and syn.history_length == 3
    assert unchanged(before, synapse_state(syn))


def test_bad_injection_leaves_delta_plus_state_unchanged() -> None:
    syn = DeltaPlusCurrent(3, 1.0, delay=1.0)
    syn(torch.ones(2, 3), torch.ones(2, 3))
    before = synapse_state(syn)
    raises(ValueError, lambda: syn(torch.ones(2, 3), torch.ones(2, 4)), "injection", "(batch, 3)")
    raises(
        ValueError, lambda: syn(torch.ones(2, 3), torch.full((2, 3), INF)), "injection", "finite"
    )
    assert unchanged(before, synapse_state(syn))


@PROPERTY
@given(synapse=st.sampled_from(SYNAPSES), step_time=STEP, tau=POSITIVE, rise=st.floats(0.01, 0.99))
def test_any_positive_synapse_time_constant_gives_finite_current(
    synapse, step_time, tau, rise
) -> None:
    keywords = {
        ExponentialCurrent: {"time_constant": tau},
        DoubleExponentialCurrent: {"tc_decay": tau, "tc_rise": tau * rise},
    }.get(synapse, {})
    syn = synapse((2, 2), step_time, delay=3 * step_time, **keywords)
    for t in range(6):
        current = syn(torch.full((3, 2, 2), float(t % 2)))
    assert current.shape == (3, 2, 2) and bool(torch.isfinite(current).all())
    assert bool(torch.isfinite(syn.current_at(torch.full((2, 2, 1), step_time))).all())


# =============================================================== connections

LINEAR = [LinearDense, LinearDirect, LinearLateral]


def linear(kind: type, n: int = 4, **keywords) -> nn.Module:
    synapse = keywords.pop("synapse") if "synapse" in keywords else DeltaCurrent(n, 1.0)
    if kind is LinearDense:
        return kind(n, 3, synapse=synapse, **keywords)
    return kind(n, synapse=synapse, **keywords)


@PROPERTY
@given(kind=st.sampled_from(LINEAR), n=st.integers(1, 6), other=st.integers(1, 6))
def test_connection_synapse_must_be_shaped_like_the_input(kind, n, other) -> None:
    if n == other:
        other += 1
    raises(
        ValueError,
        lambda: linear(kind, n, synapse=DeltaCurrent(other, 1.0)),
        "synapse shape",
        f"input shape ({n},)",
        f"shape ({other},)",
    )


@PROPERTY
@given(kind=st.sampled_from(LINEAR), value=st.sampled_from([None, "x", 3, nn.Linear(2, 2)]))
def test_connection_synapse_must_be_a_synapse(kind, value) -> None:
    raises(TypeError, lambda: linear(kind, synapse=value), "synapse", "Synapse")


@PROPERTY
@given(kind=st.sampled_from(LINEAR), value=NOT_NONNEGATIVE)
def test_connection_delay_must_be_non_negative(kind, value) -> None:
    raises(ValueError, lambda: linear(kind, delay=value), "delay", "non-negative", "ms")
    raises(
        ValueError,
        lambda: linear(kind, delay=torch.tensor([0.0, 1.0, value, 2.0])),
        "delay",
        "non-negative",
    )


@PROPERTY
@given(kind=st.sampled_from(LINEAR), extra=st.integers(1, 5))
def test_connection_delay_tensor_of_the_wrong_shape(kind, extra) -> None:
    raises(
        ValueError,
        lambda: linear(kind, delay=torch.ones(4 + extra)),
        "delay",
        "broadcastable to the weight shape",
        f"({4 + extra},)",
    )


@PROPERTY
@given(kind=st.sampled_from(LINEAR), delay=st.floats(1.0, 20.0), short=st.floats(0.0, 0.99))
def test_connection_max_delay_below_the_largest_delay(kind, delay, short) -> None:
    raises(
        ValueError,
        lambda: linear(kind, delay=delay, max_delay=delay * short),
        "max_delay",
        "at least the largest delay",
    )


@PROPERTY
@given(
    kind=st.sampled_from(LINEAR),
    case=st.sampled_from(
        [
            ({"weight_init": "orthogonal"}, ValueError, "weight_init", "'uniform'"),
            ({"weight_init": NAN}, ValueError, "weight_init", "finite"),
            ({"weight_init": True}, TypeError, "weight_init", "a float or a tensor"),
            ({"weight_init": torch.full((1,), INF)}, ValueError, "weight_init", "finite"),
            ({"weight_init_args": (1.0, 0.0)}, ValueError, "weight_init_args", "low <= high"),
            ({"weight_init_args": ("a", "b")}, ValueError, "weight_init_args", "two floats"),
            ({"weight_init_args": 0.5}, ValueError, "weight_init_args", "(low, high)"),
            (
                {"weight_init": "normal", "weight_init_args": (0.0, -1.0)},
                ValueError,
                "weight_init_args",
                "std >= 0",
            ),
            ({"weight_init": "constant"}, ValueError, "weight_init_args", "constant value"),
            (
                {"weight_init": "constant", "weight_init_args": NAN},
                ValueError,
                "weight_init_args",
                "finite",
            ),
            ({"bias": None}, TypeError, "bias", "a bool, a float or a tensor"),
            ({"bias": "zeros"}, TypeError, "bias", "a bool, a float or a tensor"),
            ({"bias": NAN}, ValueError, "bias", "finite"),
            ({"bias": torch.ones(9)}, ValueError, "bias", "broadcastable"),
            ({"max_delay": 1.0}, ValueError, "max_delay", "delay="),
            ({"delay": 1.0, "max_delay": NAN}, ValueError, "max_delay", "non-negative"),
            ({"delay": "1"}, TypeError, "delay", "real number"),
        ]
    ),
)
def test_connection_initialisers_of_the_wrong_type_or_value(kind, case) -> None:
    keywords, exception, name, expected = case
    raises(exception, lambda: linear(kind, **keywords), name, expected)


@PROPERTY
@given(
    case=st.sampled_from(
        [
            ({"out_channels": (2, 3)}, TypeError, "out_channels", "positive int"),
            ({"out_channels": True}, TypeError, "out_channels", "positive int"),
            ({"out_channels": 2.0}, TypeError, "out_channels", "positive int"),
            ({"out_channels": 0}, ValueError, "out_channels", "positive int"),
            ({"kernel_size": 7}, ValueError, "kernel_size", "does not fit"),
            ({"kernel_size": 0}, ValueError, "kernel_size", "int >= 1"),
            ({"kernel_size": "3"}, ValueError, "kernel_size", "int >= 1"),
            ({"stride": 0}, ValueError, "stride", "int >= 1"),
            ({"stride": (1, True)}, ValueError, "stride", "int >= 1"),
            ({"padding": -1}, ValueError, "padding", "int >= 0"),
            ({"dilation": 0}, ValueError, "dilation", "int >= 1"),
            ({"groups": 3}, ValueError, "groups", "divide"),
            ({"groups": True}, ValueError, "groups", "positive int"),
            ({"delay": torch.ones(5)}, ValueError, "delay", "broadcastable"),
            ({"delay": -2.0}, ValueError, "delay", "non-negative"),
            ({"in_shape": (2, 5)}, ValueError, "in_shape", "(channels, height, width)"),
        ]
    ),
)
def test_conv2d_geometry_of_the_wrong_type_or_value(case) -> None:
    keywords, exception, name, expected = case
    arguments = {"in_shape": (2, 5, 5), "out_channels": 4, "kernel_size": 3}
    arguments.update(keywords)
    synapse = DeltaCurrent(arguments["in_shape"], 1.0)
    raises(exception, lambda: Conv2d(**arguments, synapse=synapse), name, expected)


@PROPERTY
@given(kind=st.sampled_from(LINEAR), bad=st.sampled_from(["shape", "batch", "nan"]))
def test_bad_input_leaves_connection_weights_and_state_unchanged(kind, bad) -> None:
    connection = linear(kind, synapse=ExponentialCurrent(4, 1.0, delay=1.0), delay=1.0)
    connection(torch.ones(2, 4))
    with torch.no_grad():  # weights set by hand (a lateral diagonal too): kept on bad input
        connection.weight.add_(0.25)
    before = snapshot(connection.weight, connection.delay, *synapse_state(connection.synapse))
    inputs = {
        "shape": torch.zeros(2, 5),
        "batch": torch.zeros(3, 4),
        "nan": torch.full((2, 4), NAN),
    }[bad]
    raises(ValueError, lambda: connection(inputs), "inputs")
    after = snapshot(connection.weight, connection.delay, *synapse_state(connection.synapse))
    assert unchanged(before, after)


@PROPERTY
@given(kind=st.sampled_from(LINEAR), value=NOT_NONNEGATIVE)
def test_failed_max_delay_setter_leaves_connection_unchanged(kind, value) -> None:
    connection = linear(kind, synapse=ExponentialCurrent(4, 1.0), delay=2.0)
    connection(torch.ones(2, 4))
    before = snapshot(*synapse_state(connection.synapse))
    raises(ValueError, lambda: setattr(connection, "max_delay", value), "max_delay")
    assert connection.max_delay == 2.0 and connection.synapse.delay == 2.0
    assert unchanged(before, synapse_state(connection.synapse))


@PROPERTY
@given(
    kind=st.sampled_from(LINEAR),
    case=st.sampled_from(
        [
            ("post_shape", ValueError, "postsynaptic", "shaped (batch,"),
            ("pre_shape", ValueError, "presynaptic", "shaped (batch,"),
            ("batch", ValueError, "presynaptic has batch size 3", "postsynaptic has 2"),
            ("reduction", ValueError, "batch_reduction", "['none', 'sum', 'mean']"),
        ]
    ),
)
def test_correlate_names_the_bad_argument(kind, case) -> None:
    which, exception, *expected = case
    connection = linear(kind)
    post = torch.zeros(2, *connection.output_shape)
    pre = torch.zeros(2, 4)
    reduction = "none"
    if which == "post_shape":
        post = torch.zeros(2, 9)
    elif which == "pre_shape":
        pre = torch.zeros(2, 9)
    elif which == "batch":
        pre = torch.zeros(3, 4)
    else:
        reduction = "median"
    raises(exception, lambda: connection.correlate(post, pre, reduction), *expected)


@PROPERTY
@given(
    kind=st.sampled_from(LINEAR),
    n=st.integers(1, 6),
    delay=st.floats(0.0, 5.0),
    batch=st.integers(1, 3),
)
def test_any_valid_connection_steps_with_finite_output(kind, n, delay, batch) -> None:
    connection = linear(kind, n, synapse=ExponentialCurrent(n, 0.5), delay=delay, bias=0.5)
    for t in range(4):
        out = connection(torch.full((batch, n), float(t % 2)))
    assert out.shape == (batch, *connection.output_shape)
    assert bool(torch.isfinite(out).all())


# =================================================================== layers


def layer_parts(n_in: int = 4, n_out: int = 3) -> tuple[nn.Module, nn.Module, nn.Module]:
    dense = LinearDense(n_in, n_out, synapse=ExponentialCurrent(n_in, 1.0), weight_init=2.0)
    lateral = LinearLateral(n_out, synapse=ExponentialCurrent(n_out, 1.0), weight_init=-1.0)
    return dense, lateral, LIF(n_out, thresh_v=-64.0)


@PROPERTY
@given(n_out=st.integers(1, 5), other=st.integers(1, 5), serial=st.booleans())
def test_connection_output_must_match_the_neuron_group(n_out, other, serial) -> None:
    if n_out == other:
        other += 1
    dense = LinearDense(4, n_out, synapse=DeltaCurrent(4, 1.0))
    build = (
        (lambda: Serial(dense, LIF(other)))
        if serial
        else (lambda: Layer({"c": dense}, {"n": LIF(other)}, {"c": "n"}))
    )
    raises(ValueError, build, f"output_shape ({n_out},)", f"has shape ({other},)")


@PROPERTY
@given(step_time=STEP.filter(lambda dt: dt != 1.0))
def test_connection_and_neuron_step_times_must_agree(step_time) -> None:
    dense = LinearDense(4, 3, synapse=DeltaCurrent(4, 1.0))
    raises(
        ValueError,
        lambda: Serial(dense, LIF(3, step_time=step_time)),
        "step_time 1.0 ms",
        f"step_time {step_time} ms",
    )


@PROPERTY
@given(
    case=st.sampled_from(
        [
            ("connections", TypeError, "connections must be a mapping"),
            ("neurons", TypeError, "neurons must be a mapping"),
            ("wiring", TypeError, "wiring must be a mapping"),
            ("key", TypeError, "keyed by names"),
            ("dotted", ValueError, "without '.'"),
            ("unknown_group", ValueError, "unknown neuron group 'm'"),
            ("unwired", ValueError, "missing ['d']"),
            ("unfed", ValueError, "unfed: ['m']"),
            ("combine", ValueError, "combine must be one of"),
            ("combine_type", TypeError, "combine must be one of"),
        ]
    )
)
def test_layer_wiring_errors_name_the_argument(case) -> None:
    which, exception, expected = case
    dense, lateral, lif = layer_parts()
    connections, neurons, wiring = {"c": dense}, {"n": lif}, {"c": "n"}
    combine = "sum"
    if which == "connections":
        connections = [dense]
    elif which == "neurons":
        neurons = [lif]
    elif which == "wiring":
        wiring = None
    elif which == "key":
        connections, wiring = {1: dense}, {1: "n"}
    elif which == "dotted":
        connections, wiring = {"a.b": dense}, {"a.b": "n"}
    elif which == "unknown_group":
        wiring = {"c": "m"}
    elif which == "unwired":
        connections = {"c": dense, "d": lateral}
    elif which == "unfed":
        neurons = {"n": lif, "m": LIF(3)}
    elif which == "combine":
        combine = "product"
    else:
        combine = 3
    raises(exception, lambda: Layer(connections, neurons, wiring, combine=combine), expected)


@PROPERTY
@given(
    bad=st.sampled_from(["shape", "batch", "nan", "missing", "unknown", "list", "neuron_batch"]),
    which=st.sampled_from(["input", "lateral"]),
)
def test_bad_input_to_one_connection_changes_no_state_in_the_layer(bad, which) -> None:
    dense, lateral, lif = layer_parts()
    layer = Layer({"input": dense, "lateral": lateral}, {"n": lif}, {"input": "n", "lateral": "n"})
    good = {"input": torch.ones(2, 4), "lateral": torch.zeros(2, 3)}
    spikes = layer(good)["n"]
    layer({"input": torch.ones(2, 4), "lateral": spikes})
    before = snapshot(
        *synapse_state(dense.synapse), *synapse_state(lateral.synapse), *neuron_state(lif)
    )
    inputs = dict(good)
    size = 4 if which == "input" else 3
    exception = ValueError
    expected: tuple[str, ...] = (f"inputs[{which!r}]",)
    if bad == "shape":
        inputs[which] = torch.zeros(2, size + 1)
        expected += (f"(batch, {size})",)
    elif bad == "batch":
        inputs[which] = torch.zeros(3, size)
        expected += ("batch size 3",)
    elif bad == "nan":
        inputs[which] = torch.full((2, size), NAN)
        expected += ("must be finite",)
    elif bad == "missing":
        del inputs[which]
        expected = ("missing", which)
    elif bad == "unknown":
        inputs["other"] = torch.zeros(2, 3)
        expected = ("unknown ['other']",)
    elif bad == "list":
        inputs = [inputs["input"], inputs["lateral"]]
        exception, expected = TypeError, ("inputs must be a mapping",)
    else:
        lif.reset()
        lif(torch.zeros(5, 3))
        before = snapshot(
            *synapse_state(dense.synapse), *synapse_state(lateral.synapse), *neuron_state(lif)
        )
        expected = ("neuron group 'n'", "batch size 5")
    raises(exception, lambda: layer(inputs), *expected)
    after = snapshot(
        *synapse_state(dense.synapse), *synapse_state(lateral.synapse), *neuron_state(lif)
    )
    assert unchanged(before, after)


def test_serial_batch_mismatch_with_the_neurons_changes_no_state() -> None:
    dense, _, lif = layer_parts()
    serial = Serial(dense, lif)
    serial(torch.ones(2, 4))
    serial.connection.reset()  # a partial reset: the neurons still hold batch 2
    before = snapshot(*synapse_state(dense.synapse), *neuron_state(lif))
    raises(ValueError, lambda: serial(torch.ones(3, 4)), "batch size 3", "batch size 2", "reset()")
    assert unchanged(before, snapshot(*synapse_state(dense.synapse), *neuron_state(lif)))


@PROPERTY
@given(n_in=st.integers(1, 6), n_out=st.integers(1, 6), batch=st.integers(1, 3))
def test_any_matching_layer_steps_with_spikes(n_in, n_out, batch) -> None:
    dense, lateral, lif = layer_parts(n_in, n_out)
    layer = Layer({"input": dense, "lateral": lateral}, {"n": lif}, {"input": "n", "lateral": "n"})
    spikes = torch.zeros(batch, n_out)
    for _ in range(4):
        spikes = layer({"input": torch.ones(batch, n_in), "lateral": spikes})["n"]
    assert spikes.shape == (batch, n_out) and bool(((spikes == 0) | (spikes == 1)).all())


# ================================================================= encoders

ENCODERS = [
    (PoissonEncoder, {"max_rate": 100.0}),
    (RateEncoder, {"max_rate": 100.0}),
    (LatencyEncoder, {}),
]


@PROPERTY
@given(case=st.sampled_from(ENCODERS), value=NOT_POSITIVE)
def test_encoder_step_time_and_duration_must_be_positive(case, value) -> None:
    encoder, keywords = case
    raises(ValueError, lambda: encoder(value, steps=5, **keywords), "step_time", "positive")
    raises(ValueError, lambda: encoder(1.0, duration=value, **keywords), "duration", "positive")


@PROPERTY
@given(case=st.sampled_from(ENCODERS), steps=st.one_of(NOT_AN_INT, st.integers(-5, 0)))
def test_encoder_steps_must_be_a_positive_int(case, steps) -> None:
    encoder, keywords = case
    exception = ValueError if type(steps) is int else TypeError
    if steps is None:  # neither steps nor duration
        exception, expected = ValueError, "exactly one of steps or duration"
    else:
        expected = "steps must be a positive int"
    raises(exception, lambda: encoder(1.0, steps=steps, **keywords), expected)


@PROPERTY
@given(
    case=st.sampled_from(ENCODERS),
    wrong=st.sampled_from(
        [
            ({"dtype": "float32"}, TypeError, "dtype", "torch.dtype"),
            ({"step_time": "1"}, TypeError, "step_time", "real number"),
            ({"step_time": torch.ones(2)}, TypeError, "step_time", "real number"),
            ({"duration": 2.5, "steps": None}, ValueError, "duration", "whole number of steps"),
        ]
    ),
)
def test_encoder_arguments_of_the_wrong_type(case, wrong) -> None:
    encoder, keywords = case
    changes, exception, name, expected = wrong
    arguments = {"step_time": 1.0, "steps": 5, **keywords, **changes}
    raises(exception, lambda: encoder(**arguments), name, expected)


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (PoissonEncoder, "max_rate", "non-negative"),
            (RateEncoder, "max_rate", "non-negative"),
            (PoissonEncoder, "refrac_t", "non-negative"),
        ]
    ),
    value=NOT_NONNEGATIVE,
)
def test_encoder_rates_and_refractory_periods_must_be_non_negative(case, value) -> None:
    encoder, name, expected = case
    arguments = {"steps": 5, "max_rate": 10.0, name: value}
    raises(ValueError, lambda: encoder(1.0, **arguments), name, expected)


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (PoissonEncoder, {"max_rate": 10.0, "method": "gaussian"}, "method", "'exact'"),
            (PoissonEncoder, {"max_rate": 10.0, "compensate": "yes"}, "compensate", "bool"),
            (PoissonEncoder, {"max_rate": 2000.0, "method": "bernoulli"}, "max_rate", "at most 1"),
            (PoissonEncoder, {"max_rate": 600.0, "refrac_t": 2.0}, "max_rate", "refrac_t"),
            (PoissonEncoder, {"max_rate": 10.0, "generator": 7}, "generator", "torch.Generator"),
            (RateEncoder, {"max_rate": 1500.0}, "max_rate", "one spike per step"),
            (RateEncoder, {"max_rate": 10.0, "phase": 1.0}, "phase", "[0, 1)"),
            (RateEncoder, {"max_rate": 10.0, "phase": NAN}, "phase", "[0, 1)"),
            (LatencyEncoder, {"mapping": "exp"}, "mapping", "['linear', 'log']"),
            (LatencyEncoder, {"mapping": "log"}, "time_constant", "required"),
            (
                LatencyEncoder,
                {"mapping": "log", "time_constant": -2.0},
                "time_constant",
                "positive",
            ),
            (LatencyEncoder, {"time_constant": 0.0}, "time_constant", "positive"),
            (
                LatencyEncoder,
                {"mapping": "log", "time_constant": 5.0, "threshold": 1.0},
                "threshold",
                "(0, 1)",
            ),
            (LatencyEncoder, {"fire_last": 1}, "fire_last", "bool"),
        ]
    )
)
def test_encoder_options_out_of_range(case) -> None:
    encoder, keywords, name, expected = case
    with pytest.raises((TypeError, ValueError)) as info:
        encoder(1.0, steps=5, **keywords)
    assert name in str(info.value) and expected in str(info.value)


@PROPERTY
@given(
    case=st.sampled_from(ENCODERS),
    bad=st.sampled_from(
        [
            (torch.full((2, 3), -0.25), ValueError, "[0, 1]"),
            (torch.full((2, 3), 1.5), ValueError, "[0, 1]"),
            (torch.tensor([[0.5, NAN, 0.5]]), ValueError, "1 NaN"),
            (torch.full((2, 3), 2), ValueError, "[0, 1]"),
            (torch.zeros(2, 3, dtype=torch.complex64), TypeError, "real tensor"),
            (torch.tensor(0.5), ValueError, "(batch, ...)"),
            ([[0.5, 0.5]], TypeError, "torch.Tensor"),
        ]
    ),
)
def test_encoder_call_with_bad_intensities(case, bad) -> None:
    encoder, keywords = case
    intensities, exception, expected = bad
    enc = encoder(1.0, steps=5, **keywords)
    raises(exception, lambda: enc(intensities), "intensities", expected)
    raises(exception, lambda: enc.iter(intensities), "intensities", expected)


@PROPERTY
@given(case=st.sampled_from(ENCODERS), chunk=st.one_of(NOT_AN_INT, st.integers(-3, 0)))
def test_encoder_iter_chunk_steps_must_be_a_positive_int(case, chunk) -> None:
    encoder, keywords = case
    enc = encoder(1.0, steps=5, **keywords)
    raises(ValueError, lambda: enc.iter(torch.zeros(1, 2), chunk_steps=chunk), "chunk_steps")


@PROPERTY
@given(
    case=st.sampled_from(ENCODERS),
    step_time=STEP,
    steps=st.integers(1, 12),
    values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
)
def test_any_intensities_in_range_encode_to_binary_spikes(case, step_time, steps, values) -> None:
    encoder, keywords = case
    if encoder is RateEncoder:
        keywords = {"max_rate": min(100.0, 1000.0 / step_time)}
    enc = encoder(step_time, steps=steps, **keywords)
    intensities = torch.tensor([values, values[::-1]])
    spikes = enc(intensities, generator=torch.Generator().manual_seed(0))
    assert spikes.shape == (steps, 2, len(values))
    assert bool(((spikes == 0) | (spikes == 1)).all())


# ======================================================== functional entries


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (
                lambda: F.homogeneous_poisson_exp_interval(torch.tensor([5.0, -1.0]), 5, 1.0),
                ValueError,
                ("rates", "non-negative"),
            ),
            (
                lambda: F.homogeneous_poisson_bernoulli_approx(torch.tensor([NAN]), 5, 1.0),
                ValueError,
                ("rates", "finite"),
            ),
            (
                lambda: F.homogeneous_poisson_exp_interval(torch.tensor([True]), 5, 1.0),
                TypeError,
                ("rates", "real tensor"),
            ),
            (
                lambda: F.homogeneous_poisson_exp_interval(torch.ones(2), True, 1.0),
                TypeError,
                ("steps", "positive int"),
            ),
            (
                lambda: F.homogeneous_regular(torch.ones(2), 5, 0.0),
                ValueError,
                ("step_time", "positive"),
            ),
            (
                lambda: F.latency(torch.tensor([0.5, 1.5]), 5, 1.0),
                ValueError,
                ("intensities", "[0, 1]"),
            ),
            (lambda: F.resolve_bound("cosine"), ValueError, ("bound", "'soft'")),
            (lambda: F.resolve_bound("power"), ValueError, ("bound", "PowerBound")),
            (lambda: F.resolve_bound(3), TypeError, ("bound", "Bound instance")),
            (lambda: F.PowerBound(-1.0), ValueError, ("power", "positive")),
            (lambda: F.PowerBound(1.0, lower_power="2"), TypeError, ("lower_power",)),
            (lambda: F.Surrogate("relu"), ValueError, ("surrogate", "'arctan'")),
            (lambda: F.Surrogate("arctan", slope=0.0), ValueError, ("slope", "positive")),
            (lambda: F.interpolation("cubic"), ValueError, ("interp_mode", "'linear'")),
            (
                lambda: F.reduce_batch(torch.ones(2, 3), "min"),
                ValueError,
                ("batch_reduction", "'median'"),
            ),
            (
                lambda: F.reduce_batch(torch.ones(2, 3), 3),
                TypeError,
                ("batch_reduction", "callable"),
            ),
            (lambda: F.refractory_steps(-1.0, 1.0), ValueError, ("refrac_t", "non-negative")),
        ]
    )
)
def test_functional_entry_points_name_the_bad_argument(case) -> None:
    call, exception, fragments = case
    raises(exception, call, *fragments)


# ============================================================ accumulators


def weighted() -> nn.Linear:
    linear = nn.Linear(4, 3, bias=True)
    with torch.no_grad():
        linear.weight.uniform_(0.2, 0.8)
    return linear


@PROPERTY
@given(w_max=st.floats(-5.0, 5.0), gap=st.floats(1e-3, 5.0), as_tensor=st.booleans())
def test_lower_limit_above_upper_limit_is_rejected(w_max, gap, as_tensor) -> None:
    w_min = w_max + gap
    limit = torch.full((3, 4), w_min) if as_tensor else w_min
    for build in (
        lambda: Accumulator("weight", module=weighted(), w_min=limit, w_max=w_max),
        lambda: Clamp(limit, w_max),
    ):
        raises(ValueError, build, "w_min", "less than or equal to", "w_max")


@PROPERTY
@given(
    case=st.sampled_from(
        [
            ({"w_min": NAN}, ValueError, "w_min", "finite"),
            ({"w_max": INF}, ValueError, "w_max", "finite"),
            ({"w_min": "0"}, TypeError, "w_min", "real number"),
            ({"w_max": True}, TypeError, "w_max", "real number"),
            ({"w_min": torch.zeros(5)}, ValueError, "w_min", "broadcastable to the shape (3, 4)"),
            ({"batch_reduction": "median"}, ValueError, "batch_reduction", "['mean', 'sum']"),
            ({"batch_reduction": 3}, ValueError, "batch_reduction", "callable"),
            ({"time_reduction": "max"}, ValueError, "time_reduction", "['mean', 'sum']"),
            ({"rank_reduction": "max"}, ValueError, "rank_reduction", "['mean', 'sum']"),
            (
                {"rank_reduction": "sum", "batch_reduction": "mean"},
                ValueError,
                "rank_reduction",
                "contradicts batch_reduction",
            ),
            ({"bound": "cosine"}, ValueError, "bound", "'soft'"),
            ({"bound": "soft"}, ValueError, "w_min, w_max or both", "SoftBound"),
            ({"constraints": [3]}, TypeError, "constraints[0]", "callable"),
            ({"constraints": Normalize(1.0)}, TypeError, "constraints", "sequence"),
        ]
    )
)
def test_accumulator_configuration_names_the_bad_argument(case) -> None:
    keywords, exception, *expected = case
    raises(exception, lambda: Accumulator("weight", module=weighted(), **keywords), *expected)


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (lambda m: Accumulator("wieght", module=m), AttributeError, "'wieght'"),
            (lambda m: Accumulator("weight"), TypeError, "module must be the nn.Module"),
            (lambda m: Accumulator(3), TypeError, "parameter must be a tensor"),
            (
                lambda m: Accumulator(torch.zeros(3, dtype=torch.long)),
                TypeError,
                "floating-point",
            ),
            (lambda m: Accumulator(m.weight, name=3), TypeError, "name must be a str"),
            (lambda m: Updater(None), TypeError, "module must be an nn.Module"),
            (lambda m: Updater(m, time_reduction="max"), ValueError, "time_reduction"),
            (lambda m: Updater(m).add(3), TypeError, "name must be a string"),
        ]
    )
)
def test_accumulator_and_updater_targets(case) -> None:
    build, exception, expected = case
    raises(exception, lambda: build(weighted()), expected)


@PROPERTY
@given(
    bad=st.sampled_from(
        [
            (lambda: torch.zeros(4, 3), {}, ValueError, "must have shape (3, 4)"),
            (lambda: torch.zeros(3, 4, dtype=torch.long), {}, TypeError, "floating-point"),
            (lambda: [[0.0] * 4] * 3, {}, TypeError, "tensor or None"),
            (lambda: torch.zeros(3, 4), {"batched": True}, ValueError, "(batch, 3, 4)"),
            (lambda: torch.zeros(2, 3, 4), {"batched": "yes"}, TypeError, "batched must be a bool"),
        ]
    )
)
def test_bad_accumulate_adds_nothing(bad) -> None:
    linear = weighted()
    accumulator = Accumulator("weight", module=linear)
    accumulator.accumulate(torch.full((3, 4), 0.1), torch.full((3, 4), 0.05))
    pending = accumulator.pending()
    make, keywords, exception, expected = bad
    raises(exception, lambda: accumulator.accumulate(make(), **keywords), expected)
    assert accumulator.steps == 1
    assert unchanged(list(pending), list(accumulator.pending()))


@PROPERTY
@given(
    bad=st.sampled_from(
        [
            ("potentiation", torch.full((3, 4), NAN), ValueError, "must be finite"),
            ("depression", torch.full((3, 4), -INF), ValueError, "must be finite"),
            ("potentiation", torch.zeros(4, 3), ValueError, "parameter's shape (3, 4)"),
            ("depression", torch.zeros(3, 4, dtype=torch.int32), TypeError, "floating-point"),
        ]
    ),
    bound=st.sampled_from(["clamp", "hard", "soft"]),
)
def test_bad_update_leaves_trained_weights_unchanged(bad, bound) -> None:
    linear = weighted()
    accumulator = Accumulator("weight", module=linear, bound=bound, w_min=0.0, w_max=1.0)
    before = snapshot(linear.weight)
    term, value, exception, expected = bad
    raises(
        exception,
        lambda: accumulator.step((value, None) if term == "potentiation" else (None, value)),
        term,
        expected,
    )
    assert unchanged(before, snapshot(linear.weight))


def test_non_finite_pending_update_leaves_every_weight_unchanged() -> None:
    linear = weighted()
    updater = Updater(linear)
    updater.weight.accumulate(torch.full((3, 4), 0.1))
    updater.bias.accumulate(torch.full((3,), NAN))
    before = snapshot(linear.weight, linear.bias)
    raises(ValueError, updater.step, "'bias'", "must be finite", "unchanged")
    assert unchanged(before, snapshot(linear.weight, linear.bias))


def test_bad_running_state_leaves_accumulator_unchanged() -> None:
    accumulator = Accumulator("weight", module=weighted())
    accumulator.accumulate(torch.full((3, 4), 0.1))
    before = accumulator.pending()
    for state, expected in (
        ({"steps": "x", "sums": [None, None], "history": [[], []]}, "'steps'"),
        ({"steps": -1, "sums": [None, None], "history": [[], []]}, "non-negative int"),
        ({"steps": 1, "sums": [None], "history": [[], []]}, "two entries"),
        ({"steps": 1, "sums": [torch.zeros(2), None], "history": [[], []]}, "shape (3, 4)"),
        (None, "must have 'steps', 'sums' and 'history'"),
    ):
        raises(ValueError, lambda state=state: accumulator.load_state_dict(state), expected)
    assert accumulator.steps == 1 and unchanged(list(before), list(accumulator.pending()))


@PROPERTY
@given(
    case=st.sampled_from(
        [
            ({"total": 0.0}, ValueError, "total", "positive"),
            ({"total": NAN}, ValueError, "total", "positive"),
            ({"total": "1"}, TypeError, "total", "real number"),
            ({"total": 1.0, "p": 0.0}, ValueError, "p", "positive"),
            ({"total": 1.0, "p": NAN}, ValueError, "p", "positive"),
            ({"total": 1.0, "dim": True}, ValueError, "dim", "int"),
            ({"total": 1.0, "dim": []}, ValueError, "dim", "non-empty"),
        ]
    )
)
def test_normalize_arguments(case) -> None:
    keywords, exception, *expected = case
    raises(exception, lambda: Normalize(**keywords), *expected)


@PROPERTY
@given(
    lr=st.floats(-1.0, 1.0),
    w_min=st.floats(-1.0, 0.0),
    width=st.floats(0.0, 2.0),
    bound=st.sampled_from(["clamp", "hard", "soft"]),
)
def test_any_valid_bounded_update_keeps_weights_finite(lr, w_min, width, bound) -> None:
    linear = nn.Linear(4, 3, bias=False)
    w_max = w_min + width
    with torch.no_grad():
        linear.weight.uniform_(w_min, w_max)
    accumulator = Accumulator("weight", module=linear, bound=bound, w_min=w_min, w_max=w_max)
    for _ in range(3):
        accumulator.accumulate(torch.full((3, 4), lr), torch.full((3, 4), -lr / 2))
    accumulator.step()
    weight = linear.weight.detach()
    assert bool(torch.isfinite(weight).all())
    if bound == "clamp":  # hard and soft bounds scale the step; only clamp confines the result
        assert bool((weight >= w_min - 1e-6).all() and (weight <= w_max + 1e-6).all())


# ========================================================= learning rules

RULE_TIME_CONSTANTS = [
    (STDP, "tc_post"),
    (STDP, "tc_pre"),
    (TripletSTDP, "tc_plus"),
    (TripletSTDP, "tc_minus"),
    (TripletSTDP, "tc_x"),
    (TripletSTDP, "tc_y"),
    (MSTDP, "tc_post"),
    (MSTDPET, "tc_pre"),
    (MSTDPET, "tc_eligibility"),
    (DelayLearning, "window"),
]
RULE_RATES = [
    (STDP, "lr_post"),
    (STDP, "lr_pre"),
    (TripletSTDP, "a3_plus"),
    (MSTDP, "scale"),
    (MSTDPET, "lr_post"),
    (DelayLearning, "lr"),
    (LinearHomeostasis, "lr"),
]


def learning_cell(delay: bool = False):  # noqa: ANN201
    kwargs = {"delay": 1.0, "max_delay": 3.0} if delay else {}
    dense = LinearDense(4, 3, synapse=DeltaCurrent(4, 1.0), weight_init=0.5, **kwargs)
    serial = Serial(dense, LIF(3, thresh_v=-64.0, refrac_t=0.0))
    return serial, serial.cell()


@PROPERTY
@given(case=st.sampled_from(RULE_TIME_CONSTANTS), value=NOT_POSITIVE)
def test_rule_time_constants_must_be_positive(case, value) -> None:
    rule, name = case
    raises(ValueError, lambda: rule(**{name: value}), name, "positive and finite", "(in ms)")


@PROPERTY
@given(
    case=st.sampled_from([(DelayLearning, "lead", "ms"), (LinearHomeostasis, "target_rate", "Hz")]),
    value=NOT_NONNEGATIVE,
)
def test_rule_lead_and_target_rate_must_be_non_negative(case, value) -> None:
    rule, name, unit = case
    raises(ValueError, lambda: rule(**{name: value}), name, "non-negative", f"(in {unit})")


@PROPERTY
@given(case=st.sampled_from(RULE_RATES), value=st.one_of(NOT_FINITE, NOT_A_NUMBER))
def test_rule_learning_rates_must_be_finite_numbers(case, value) -> None:
    rule, name = case
    exception = ValueError if isinstance(value, float) else TypeError
    expected = "finite" if exception is ValueError else "real number"
    raises(exception, lambda: rule(**{name: value}), name, expected)


@PROPERTY
@given(
    rule=st.sampled_from([STDP, TripletSTDP, MSTDP, MSTDPET]),
    mode=st.one_of(UNKNOWN_NAME, st.sampled_from([None, 1, ["nearest"]])),
)
def test_rule_trace_mode_must_be_known(rule, mode) -> None:
    raises(ValueError, lambda: rule(trace_mode=mode), "trace_mode", "['cumulative', 'nearest']")


@PROPERTY
@given(rule=st.sampled_from([MSTDP, MSTDPET]), value=NOT_A_BOOL)
def test_reward_rule_check_finite_must_be_a_bool(rule, value) -> None:
    raises(TypeError, lambda: rule(check_finite=value), "check_finite", "bool")


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (STDP, {"tc_post": -1.0}, ValueError, "tc_post"),
            (STDP, {"trace_mode": "all"}, ValueError, "trace_mode"),
            (STDP, {"tc_postsynaptic": 5.0}, TypeError, "unknown hyperparameter"),
            (MSTDPET, {"tc_eligibility": 0.0}, ValueError, "tc_eligibility"),
        ]
    )
)
def test_bad_register_override_leaves_nothing_behind(case) -> None:
    rule_type, overrides, exception, expected = case
    serial, cell = learning_cell()
    rule = rule_type()
    raises(exception, lambda: rule.register(cell, **overrides), expected)
    assert len(rule.cells) == 0 and len(rule.monitors) == 0
    assert "updater" not in serial.connection._modules


def test_delay_learning_needs_a_delayed_connection() -> None:
    serial, cell = learning_cell(delay=False)
    raises(ValueError, lambda: DelayLearning().register(cell), "delay=None")
    assert "updater" not in serial.connection._modules


@PROPERTY
@given(
    rule_type=st.sampled_from([MSTDP, MSTDPET]),
    reward=st.sampled_from(
        [
            (torch.ones(3), ValueError, "shape (batch,) = (2,)"),
            (torch.ones(2, 1), ValueError, "shape (batch,)"),
            (torch.tensor([1.0, NAN]), ValueError, "must be finite"),
            ([1.0, 1.0], TypeError, "tensor of shape (batch,)"),
        ]
    ),
)
def test_bad_reward_accumulates_nothing(rule_type, reward) -> None:
    serial, cell = learning_cell()
    rule = rule_type()
    rule.register(cell)
    serial.train()
    serial(torch.ones(2, 4))
    rule(reward=torch.ones(2))
    accumulator = rule.updater(cell).weight
    before = list(accumulator.pending())
    trace = snapshot(getattr(rule._record(cell), "eligibility", None))
    value, exception, expected = reward
    serial(torch.ones(2, 4))
    raises(exception, lambda: rule(reward=value), "reward", expected)
    assert accumulator.steps == 1 and unchanged(before, list(accumulator.pending()))
    assert unchanged(trace, snapshot(getattr(rule._record(cell), "eligibility", None)))


@PROPERTY
@given(
    tc_post=POSITIVE,
    tc_pre=POSITIVE,
    trace_mode=st.sampled_from(["cumulative", "nearest"]),
    lr=st.floats(-1.0, 1.0),
)
def test_any_valid_stdp_gives_finite_updates(tc_post, tc_pre, trace_mode, lr) -> None:
    serial, cell = learning_cell()
    rule = STDP(lr_post=lr, lr_pre=lr / 2, tc_post=tc_post, tc_pre=tc_pre, trace_mode=trace_mode)
    rule.register(cell)
    serial.train()
    for t in range(5):
        serial(torch.full((2, 4), float(t % 2)))
        rule()
    before = snapshot(serial.connection.weight)
    updater_for(serial.connection).step()
    weight = serial.connection.weight.detach()
    assert bool(torch.isfinite(weight).all()) and weight.shape == before[0].shape


# ============================================================ observation

TRACES = [NearestTraceReducer, CumulativeTraceReducer, ScaledTraceReducer, PriorTraceReducer]


@PROPERTY
@given(
    reducer=st.sampled_from(TRACES),
    name=st.sampled_from(["step_time", "time_constant"]),
    value=NOT_POSITIVE,
)
def test_trace_reducer_time_constants_must_be_positive(reducer, name, value) -> None:
    arguments = {"step_time": 1.0, "time_constant": 20.0, name: value}
    raises(ValueError, lambda: reducer(**arguments), name, "positive and finite", "ms")


@PROPERTY
@given(
    reducer=st.sampled_from(TRACES),
    name=st.sampled_from(["step_time", "time_constant"]),
    value=NOT_A_NUMBER,
)
def test_trace_reducer_time_constants_of_the_wrong_type(reducer, name, value) -> None:
    arguments = {"step_time": 1.0, "time_constant": 20.0, name: value}
    raises(TypeError, lambda: reducer(**arguments), name, "must be a real number")


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (lambda: HistoryReducer(1.0, -1.0), ValueError, "duration", "non-negative"),
            (lambda: HistoryReducer(0.0, 5.0), ValueError, "step_time", "positive"),
            (lambda: TimeSinceEventReducer(-1.0), ValueError, "step_time", "positive"),
            (lambda: EventCountReducer(tolerance=-0.1), ValueError, "tolerance", "non-negative"),
            (lambda: EventCountReducer(target=NAN), ValueError, "target", "finite"),
            (
                lambda: NearestTraceReducer(1.0, 5.0, amplitude=INF),
                ValueError,
                "amplitude",
                "finite",
            ),
            (lambda: ScaledTraceReducer(1.0, 5.0, scale=NAN), ValueError, "scale", "finite"),
            (lambda: PriorTraceReducer(1.0, 5.0, mode="all"), ValueError, "mode", "'nearest'"),
            (lambda: EMAReducer(0.0), ValueError, "smoothing", "(0, 1]"),
            (lambda: EMAReducer(1.5), ValueError, "smoothing", "(0, 1]"),
            (lambda: EMAReducer(), ValueError, "smoothing", "time_constant"),
            (lambda: EMAReducer(time_constant=5.0), ValueError, "step_time", "required"),
            (
                lambda: EMAReducer(time_constant=-5.0, step_time=1.0),
                ValueError,
                "time_constant",
                "positive",
            ),
        ]
    )
)
def test_reducer_arguments_out_of_range(case) -> None:
    build, exception, *expected = case
    raises(exception, build, *expected)


ALL_REDUCERS = [
    LatestReducer,
    MeanReducer,
    EventCountReducer,
    lambda: HistoryReducer(1.0, 3.0),
    lambda: EMAReducer(0.5),
    lambda: TimeSinceEventReducer(1.0),
    *(lambda reducer=reducer: reducer(1.0, 5.0) for reducer in TRACES),
]


@PROPERTY
@given(
    make=st.sampled_from(ALL_REDUCERS),
    bad=st.sampled_from(
        [
            (torch.zeros(2, 4), ValueError, "value has shape (2, 4)"),
            (torch.zeros(3, 3), ValueError, "call reset()"),
            ([[0.0, 1.0, 0.0]], TypeError, "value must be a torch.Tensor"),
        ]
    ),
)
def test_bad_observation_leaves_reducer_state_unchanged(make, bad) -> None:
    reducer = make()
    for t in range(3):
        reducer(torch.tensor([[1.0, 0.0, float(t % 2)], [0.0, 1.0, 1.0]]))
    before = snapshot(*(getattr(reducer, n) for n in reducer.state_names))
    value, exception, expected = bad
    raises(exception, lambda: reducer(value), expected)
    assert unchanged(before, snapshot(*(getattr(reducer, n) for n in reducer.state_names)))


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (lambda n: Monitor(3, "voltage", LatestReducer()), TypeError, "module"),
            (lambda n: Monitor(n, "volts", LatestReducer()), AttributeError, "'volts'"),
            (lambda n: Monitor(n, 3, LatestReducer()), TypeError, "attribute must be a str"),
            (lambda n: Monitor(n, "a..b", LatestReducer()), ValueError, "dotted attribute path"),
            (lambda n: Monitor(n, "voltage", LatestReducer), TypeError, "reducer must be"),
            (
                lambda n: Monitor(n, "voltage", LatestReducer(), train_update=1),
                TypeError,
                "train_update must be a bool",
            ),
            (
                lambda n: Monitor(
                    n, "voltage", LatestReducer(), train_update=False, eval_update=False
                ),
                ValueError,
                "never record",
            ),
        ]
    )
)
def test_monitor_arguments(case) -> None:
    build, exception, expected = case
    raises(exception, lambda: build(LIF(3)), expected)


@PROPERTY
@given(
    reducer=st.sampled_from(TRACES),
    step_time=STEP,
    tau=POSITIVE,
    batch=st.integers(1, 3),
)
def test_any_positive_trace_time_constant_gives_finite_bounded_traces(
    reducer, step_time, tau, batch
) -> None:
    trace = reducer(step_time, tau)
    for t in range(6):
        trace(torch.full((batch, 4), float(t % 2)))
    value = trace.peek()
    assert value.shape == (batch, 4) and bool(torch.isfinite(value).all())
    assert bool((value >= 0).all())


# ================================================================ metrics


@PROPERTY
@given(
    bad=st.sampled_from(
        [
            ((torch.full((2, 3), -1.0), 10.0), ValueError, "spikes must be non-negative"),
            ((torch.full((2, 3), NAN), 10.0), ValueError, "spikes must be finite"),
            ((torch.zeros(2, 4), 10.0), ValueError, "spikes must have shape (batch, 3)"),
            ((torch.zeros(2, 3), 0.0), ValueError, "duration must be positive"),
            ((torch.zeros(2, 3), NAN), ValueError, "duration must be positive"),
            ((torch.zeros(2, 3), None), ValueError, "duration must be given"),
            ((torch.zeros(2, 3), "10"), TypeError, "duration must be a real number"),
            (([[0.0] * 3], 1.0), TypeError, "spikes must be a torch.Tensor"),
        ]
    )
)
def test_bad_spike_rate_update_adds_nothing(bad) -> None:
    rate = SpikeRate(3, step_time=1.0)
    rate.update(torch.ones(2, 3), 10.0)
    before = snapshot(rate.spike_sum, rate.time_sum)
    args, exception, expected = bad
    raises(exception, lambda: rate.update(*args), expected)
    assert unchanged(before, snapshot(rate.spike_sum, rate.time_sum))


@PROPERTY
@given(
    case=st.sampled_from(
        [
            (lambda: SpikeRate(0), ValueError, "shape", "positive"),
            (lambda: SpikeRate(3, step_time=-1.0), ValueError, "step_time", "positive"),
            (lambda: SpikeRate(3, reduce="max"), ValueError, "reduce", "['mean', 'none']"),
            (lambda: LabelAssignment(True, 3), ValueError, "num_classes", "positive int"),
            (lambda: LabelAssignment(2.0, 3), ValueError, "num_classes", "positive int"),
            (lambda: LabelAssignment(0, 3), ValueError, "num_classes", "positive int"),
            (
                lambda: LabelAssignmentAccuracy(3, 4, weighting="max"),
                ValueError,
                "weighting",
                "'vote'",
            ),
            (
                lambda: assign_labels(torch.zeros(2, 3), torch.zeros(3)),
                ValueError,
                "class_count",
                "(num_classes,) = (2,)",
            ),
            (
                lambda: assign_labels(torch.full((2, 3), -1.0), torch.ones(2)),
                ValueError,
                "response_sum",
                "non-negative",
            ),
            (
                lambda: predict_labels(torch.zeros(2, 3), torch.tensor([0, 5, 1]), 2),
                ValueError,
                "labels",
                "[0, 2) or -1",
            ),
            (
                lambda: predict_labels(torch.zeros(2, 3), torch.tensor([0, 1]), 2),
                ValueError,
                "counts",
                "(batch, 2)",
            ),
            (
                lambda: predict_labels(torch.zeros(2, 2), torch.tensor([0, 1]), 2, torch.ones(3)),
                ValueError,
                "proportions",
                "shaped like labels",
            ),
        ]
    )
)
def test_metric_arguments_name_the_bad_one(case) -> None:
    build, exception, *expected = case
    raises(exception, build, *expected)


@PROPERTY
@given(
    bad=st.sampled_from(
        [
            (torch.zeros(2, 4), torch.tensor([0, 1]), ValueError, "counts"),
            (torch.zeros(2, 3), torch.tensor([0, 3]), ValueError, "labels must be class indices"),
            (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), ValueError, "integer tensor"),
            (torch.zeros(2, 3), torch.tensor([0]), ValueError, "(batch,) = (2,)"),
            (torch.full((2, 3), -2.0), torch.tensor([0, 1]), ValueError, "non-negative"),
        ]
    )
)
def test_bad_labelled_counts_change_no_metric_state(bad) -> None:
    labelling = LabelAssignment(3, 3)
    labelling.update(torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]), torch.tensor([0, 1]))
    accuracy = LabelAssignmentAccuracy(3, 3)
    accuracy.set_assignments(labelling.compute())
    accuracy.update(torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([0]))
    before = snapshot(
        labelling.response_sum, labelling.class_count, accuracy.correct, accuracy.total
    )
    counts, labels, exception, expected = bad
    raises(exception, lambda: labelling.update(counts, labels), expected)
    raises(exception, lambda: accuracy.update(counts, labels), expected)
    after = snapshot(
        labelling.response_sum, labelling.class_count, accuracy.correct, accuracy.total
    )
    assert unchanged(before, after)


@PROPERTY
@given(
    bad=st.sampled_from(
        [
            ((torch.tensor([0, 3, 1]),), ValueError, "assignments must be class indices"),
            ((torch.tensor([0.0, 1.0, 1.0]),), ValueError, "integer tensor"),
            ((torch.tensor([0, 1]),), ValueError, "assignments must have shape (3,)"),
            ((torch.tensor([0, 1, 1]), torch.tensor([0.5, 2.0, 0.1])), ValueError, "[0, 1]"),
            (([0, 1, 1],), TypeError, "assignments must be an Assignments or a tensor"),
        ]
    )
)
def test_failed_set_assignments_keeps_the_current_ones(bad) -> None:
    accuracy = LabelAssignmentAccuracy(3, 3)
    accuracy.set_assignments(torch.tensor([2, 0, -1]), torch.tensor([0.5, 1.0, 0.0]))
    before = snapshot(accuracy.assignments, accuracy.proportions)
    args, exception, expected = bad
    raises(exception, lambda: accuracy.set_assignments(*args), expected)
    assert unchanged(before, snapshot(accuracy.assignments, accuracy.proportions))


@PROPERTY
@given(
    counts=st.lists(st.integers(0, 20), min_size=6, max_size=6),
    duration=st.floats(0.5, 1000.0),
)
def test_any_valid_counts_give_a_finite_non_negative_rate(counts, duration) -> None:
    rate = SpikeRate(3)
    rate.update(torch.tensor(counts, dtype=torch.float32).view(2, 3), duration)
    value = rate.compute()
    assert bool(torch.isfinite(value)) and float(value) >= 0.0


# ============================================================== callbacks


@PROPERTY
@given(value=st.one_of(UNKNOWN_NAME, st.sampled_from([None, 1, True])))
def test_local_learning_apply_every_must_be_known(value) -> None:
    raises(ValueError, lambda: LocalLearning(value), "apply_every", "['batch', 'step']")


@PROPERTY
@given(state=st.sampled_from([{}, {"steps": -1}, {"steps": "3"}, {"steps": True}, None]))
def test_local_learning_bad_state_keeps_its_count(state) -> None:
    callback = LocalLearning()
    callback.steps = 7
    raises(ValueError, lambda: callback.load_state_dict(state), "LocalLearning", "'steps'")
    assert callback.steps == 7


@PROPERTY
@given(
    case=st.sampled_from(
        [
            ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps", "positive int"),
            ({"log_every_n_steps": True}, ValueError, "log_every_n_steps", "positive int"),
            ({"plot_every_n_steps": 2.5}, ValueError, "plot_every_n_steps", "positive int"),
            ({"histograms": 1}, TypeError, "histograms", "bool"),
            ({"raster": "yes"}, TypeError, "raster", "bool"),
            ({"receptive_fields": None}, TypeError, "receptive_fields", "bool"),
            ({"histogram_bins": 0}, ValueError, "histogram_bins", "[1, 512]"),
            ({"histogram_bins": 1000}, ValueError, "histogram_bins", "[1, 512]"),
            ({"max_receptive_fields": 0}, ValueError, "max_receptive_fields", "positive int"),
            ({"receptive_field_shape": (0, 4)}, ValueError, "receptive_field_shape", "positive"),
            ({"receptive_field_shape": 28}, ValueError, "receptive_field_shape", "(height, width)"),
            ({"modules": "layer"}, ValueError, "modules", "sequence of module paths"),
            ({"modules": []}, ValueError, "modules", "non-empty"),
            ({"modules": ["a", "a"]}, ValueError, "modules", "repeat"),
            ({"prefix": 3}, TypeError, "prefix", "str"),
        ]
    )
)
def test_spike_statistics_arguments(case) -> None:
    keywords, exception, *expected = case
    raises(exception, lambda: SpikeStatistics(**keywords), *expected)


def test_firing_period_needs_a_positive_step_and_non_negative_refractory_period() -> None:
    from inferno_lightning.callbacks.statistics import firing_period

    raises(ValueError, lambda: firing_period(1.0, 0.0), "step_time", "positive")
    raises(ValueError, lambda: firing_period(-1.0, 1.0), "refrac_t", "non-negative")
    assert float(firing_period(2.0, 1.0)) == 2.0
