"""Reducers against hand computations; bounded memory; per-sample state."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch.testing import assert_close

from inferno_lightning.observe import (
    CumulativeTraceReducer,
    EMAReducer,
    EventCountReducer,
    HistoryReducer,
    LatestReducer,
    MeanReducer,
    NearestTraceReducer,
    Reducer,
    ScaledTraceReducer,
    TimeSinceEventReducer,
)

# tau = dt / ln 2 makes the per-step decay exactly one half.
HALF_LIFE_TAU = 1.0 / math.log(2.0)
SPIKES = [1.0, 0.0, 1.0, 1.0, 0.0]


def _feed(reducer: Reducer, values: list[float], device: torch.device) -> list[torch.Tensor]:
    """Feed a one-sample, one-neuron sequence; return a copy of peek() after each step."""
    out = []
    for v in values:
        reducer(torch.tensor([[v]], device=device))
        out.append(reducer.peek().clone())
    return out


def _flat(kept: list[torch.Tensor]) -> list[float]:
    return [float(k.reshape(-1)[0]) for k in kept]


def test_latest_keeps_a_copy_of_the_last_value(device: torch.device) -> None:
    reducer = LatestReducer()
    assert reducer.peek() is None
    x = torch.tensor([[1.0, 2.0]], device=device)
    reducer(x)
    x.fill_(7.0)  # the observed module may update its state in place
    assert_close(reducer.peek(), torch.tensor([[1.0, 2.0]], device=device))
    reducer(torch.tensor([[3.0, 4.0]], device=device))
    assert_close(reducer.peek(), torch.tensor([[3.0, 4.0]], device=device))
    spikes = LatestReducer()
    spikes(torch.tensor([[True, False]], device=device))
    assert spikes.peek().dtype == torch.bool


def test_nearest_and_cumulative_traces_by_hand(device: torch.device) -> None:
    nearest = NearestTraceReducer(step_time=1.0, time_constant=HALF_LIFE_TAU, amplitude=2.0)
    cumulative = CumulativeTraceReducer(step_time=1.0, time_constant=HALF_LIFE_TAU, amplitude=2.0)
    assert nearest.decay == pytest.approx(0.5)
    # nearest: x = A on a spike, else x/2; cumulative: x = x/2 + A s
    assert _flat(_feed(nearest, SPIKES, device)) == pytest.approx([2.0, 1.0, 2.0, 2.0, 1.0])
    assert _flat(_feed(cumulative, SPIKES, device)) == pytest.approx([2.0, 1.0, 2.5, 3.25, 1.625])


def test_traces_of_boolean_spikes_and_batches(device: torch.device) -> None:
    nearest = NearestTraceReducer(1.0, HALF_LIFE_TAU)
    cumulative = CumulativeTraceReducer(1.0, HALF_LIFE_TAU)
    # two samples, two neurons: sample 0 neuron 0 gets SPIKES, the rest never spike
    for s in SPIKES:
        spikes = torch.zeros(2, 2, dtype=torch.bool, device=device)
        spikes[0, 0] = bool(s)
        nearest(spikes)
        cumulative(spikes)
    assert nearest.peek().dtype == torch.get_default_dtype()
    assert_close(nearest.peek(), torch.tensor([[0.5, 0.0], [0.0, 0.0]], device=device))
    assert_close(cumulative.peek(), torch.tensor([[0.8125, 0.0], [0.0, 0.0]], device=device))


def test_trace_target_and_tolerance(device: torch.device) -> None:
    # Events are values within 0.1 of -1: steps 0 and 2.
    reducer = NearestTraceReducer(1.0, HALF_LIFE_TAU, target=-1.0, tolerance=0.1)
    assert _flat(_feed(reducer, [-0.95, 0.0, -1.05, 1.0], device)) == pytest.approx(
        [1.0, 0.5, 1.0, 0.5]
    )


def test_scaled_trace_by_hand(device: torch.device) -> None:
    # x = x/2 + 3 v for v = 2, 0, -1: 6, 3, -1.5
    reducer = ScaledTraceReducer(1.0, HALF_LIFE_TAU, scale=3.0)
    assert _flat(_feed(reducer, [2.0, 0.0, -1.0], device)) == pytest.approx([6.0, 3.0, -1.5])


def test_event_count_by_hand(device: torch.device) -> None:
    assert _flat(_feed(EventCountReducer(), SPIKES, device)) == [1.0, 1.0, 2.0, 3.0, 3.0]
    assert _flat(_feed(EventCountReducer(target=0.0), SPIKES, device))[-1] == 2.0


def test_time_since_event_by_hand(device: torch.device) -> None:
    reducer = TimeSinceEventReducer(step_time=0.5)
    assert reducer.peek() is None
    kept = _flat(_feed(reducer, [0.0, 1.0, 0.0, 0.0, 1.0, 0.0], device))
    assert kept == [math.inf, 0.0, 0.5, 1.0, 0.0, 0.5]


def test_mean_by_hand(device: torch.device) -> None:
    reducer = MeanReducer()
    assert _flat(_feed(reducer, [1.0, 2.0, 3.0, 6.0], device)) == pytest.approx(
        [1.0, 1.5, 2.0, 3.0]
    )
    assert reducer.steps == 4
    reducer.reset()
    assert reducer.steps == 0
    assert _flat(_feed(reducer, [5.0], device)) == [5.0]


def test_ema_by_hand(device: torch.device) -> None:
    # m_1 = v_1, m_t = m_{t-1} + 0.5 (v_t - m_{t-1}): 2, 3, 1.5
    expected = [2.0, 3.0, 1.5]
    assert _flat(_feed(EMAReducer(0.5), [2.0, 4.0, 0.0], device)) == pytest.approx(expected)
    # alpha = 1 - exp(-dt/tau) = 0.5 for tau = dt / ln 2
    by_tau = EMAReducer(step_time=1.0, time_constant=HALF_LIFE_TAU)
    assert by_tau.smoothing == pytest.approx(0.5)
    assert _flat(_feed(by_tau, [2.0, 4.0, 0.0], device)) == pytest.approx(expected)


def test_history_returns_last_steps_in_order_after_wrapping(device: torch.device) -> None:
    reducer = HistoryReducer(step_time=1.0, duration=2.0)
    assert reducer.capacity == 3
    assert reducer.peek() is None
    for t in range(2):
        reducer(torch.tensor([float(t), 10.0 * t], device=device))
    assert_close(reducer.peek(), torch.tensor([[0.0, 0.0], [1.0, 10.0]], device=device))
    for t in range(2, 7):
        reducer(torch.tensor([float(t), 10.0 * t], device=device))
    expected = torch.tensor([[4.0, 40.0], [5.0, 50.0], [6.0, 60.0]], device=device)
    assert_close(reducer.peek(), expected)
    assert reducer.filled == 3
    assert_close(reducer.peek_step(0), expected[2])
    assert_close(reducer.peek_step(2), expected[0])
    with pytest.raises(ValueError, match="steps_ago"):
        reducer.peek_step(3)
    assert reducer.batch_size == 2


@pytest.mark.parametrize(
    ("step_time", "duration", "capacity"),
    [(1.0, 0.0, 1), (1.0, 2.5, 4), (0.1, 0.3, 4), (0.5, 10.0, 21)],
)
def test_history_capacity(step_time: float, duration: float, capacity: int) -> None:
    assert HistoryReducer(step_time, duration).capacity == capacity


def test_history_memory_stays_fixed_over_a_long_run() -> None:
    reducer = HistoryReducer(step_time=1.0, duration=4.0)
    x = torch.zeros(2, 3)
    reducer(x)
    numel, pointer = reducer.data.numel(), reducer.data.data_ptr()
    for t in range(1, 10_000):
        x.fill_(float(t))
        reducer(x)
    assert reducer.data.numel() == numel == 5 * 2 * 3
    assert reducer.data.data_ptr() == pointer  # written in place, never reallocated
    assert reducer.peek()[:, 0, 0].tolist() == [9995.0, 9996.0, 9997.0, 9998.0, 9999.0]


ALL_REDUCERS = [
    LatestReducer,
    lambda: HistoryReducer(1.0, 3.0),
    lambda: NearestTraceReducer(1.0, 20.0),
    lambda: CumulativeTraceReducer(1.0, 20.0),
    lambda: ScaledTraceReducer(1.0, 20.0),
    EventCountReducer,
    lambda: TimeSinceEventReducer(1.0),
    MeanReducer,
    lambda: EMAReducer(0.1),
]


@pytest.mark.parametrize("make", ALL_REDUCERS)
def test_state_is_per_sample_and_not_in_state_dict(make, device: torch.device) -> None:
    reducer = make()
    for _ in range(3):
        reducer((torch.rand(4, 5, device=device) < 0.5).float())
    assert reducer.batch_size == 4
    assert reducer.peek().device.type == device.type
    assert reducer.state_dict() == {}
    assert len(list(reducer.buffers())) == 1  # the state is a (non-persistent) buffer
    with pytest.raises(ValueError, match="reset"):
        reducer(torch.zeros(1, 5, device=device))
    reducer.reset()
    assert reducer.peek() is None and reducer.batch_size is None
    reducer(torch.ones(1, 5, device=device))
    assert reducer.batch_size == 1
    assert reducer.peek().shape[-2:] == (1, 5)


@pytest.mark.parametrize("make", ALL_REDUCERS)
def test_values_are_detached(make) -> None:
    reducer = make()
    x = torch.ones(2, 3, requires_grad=True)
    reducer(x * 1.0)
    reducer(x * 1.0)
    assert not reducer.peek().requires_grad


def test_reducer_pickles_with_its_state() -> None:
    reducer = HistoryReducer(1.0, 1.0)
    for t in range(3):
        reducer(torch.full((1, 2), float(t)))
    copy = pickle.loads(pickle.dumps(reducer))
    assert_close(copy.peek(), reducer.peek())
    copy(torch.full((1, 2), 3.0))
    assert copy.peek()[:, 0, 0].tolist() == [2.0, 3.0]


def test_config_describes_hyperparameters() -> None:
    a = NearestTraceReducer(1.0, 20.0, amplitude=0.5)
    assert a.config == NearestTraceReducer(1.0, 20.0, 0.5).config
    assert a.config != NearestTraceReducer(1.0, 20.0, 1.0).config
    assert a.config["time_constant"] == 20.0
    assert "time_constant=20.0" in repr(a)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: HistoryReducer(step_time=0.0, duration=1.0), "step_time"),
        (lambda: HistoryReducer(step_time=1.0, duration=-1.0), "duration"),
        (lambda: HistoryReducer(step_time=1.0, duration=math.inf), "duration"),
        (lambda: NearestTraceReducer(step_time=1.0, time_constant=0.0), "time_constant"),
        (lambda: NearestTraceReducer(step_time=-1.0, time_constant=5.0), "step_time"),
        (lambda: CumulativeTraceReducer(1.0, -20.0), "time_constant"),
        (lambda: CumulativeTraceReducer(1.0, 20.0, amplitude=math.nan), "amplitude"),
        (lambda: NearestTraceReducer(1.0, 20.0, target=math.inf), "target"),
        (lambda: EventCountReducer(tolerance=-0.1), "tolerance"),
        (lambda: ScaledTraceReducer(1.0, 0.0), "time_constant"),
        (lambda: TimeSinceEventReducer(step_time=0.0), "step_time"),
        (lambda: EMAReducer(0.0), "smoothing"),
        (lambda: EMAReducer(1.5), "smoothing"),
        (lambda: EMAReducer(), "smoothing"),
        (lambda: EMAReducer(0.5, time_constant=2.0), "smoothing"),
        (lambda: EMAReducer(0.5, step_time=1.0), "step_time"),
        (lambda: EMAReducer(time_constant=2.0), "step_time"),
        (lambda: EMAReducer(step_time=1.0, time_constant=0.0), "time_constant"),
    ],
)
def test_bad_arguments_name_the_argument(make, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: NearestTraceReducer("1", 20.0), "step_time"),
        (lambda: HistoryReducer(1.0, torch.ones(3)), "duration"),
        (lambda: EventCountReducer(target=True), "target"),
    ],
)
def test_bad_argument_types_name_the_argument(make, name: str) -> None:
    with pytest.raises(TypeError, match=name):
        make()


@pytest.mark.parametrize(
    ("mode", "traces"), [("cumulative", [1.0, 0.5, 1.25]), ("nearest", [1.0, 0.5, 1.0])]
)
def test_prior_trace_is_the_trace_before_this_steps_spikes(mode: str, traces: list[float]) -> None:
    from inferno_lightning.observe import PriorTraceReducer

    # tau = dt / ln 2: the trace halves each step.
    reducer = PriorTraceReducer(step_time=1.0, time_constant=1.0 / math.log(2.0), mode=mode)
    priors = []
    for spike in [1.0, 0.0, 1.0]:
        reducer(torch.tensor([[spike]]))
        priors.append(reducer.peek().item())
    # Before step t's spike: the previous trace decayed once.
    assert priors == pytest.approx([0.0, 0.5, 0.25])
    assert reducer.trace.item() == pytest.approx(traces[-1])
    with pytest.raises(ValueError, match="mode must be one of"):
        PriorTraceReducer(1.0, 5.0, mode="all")
