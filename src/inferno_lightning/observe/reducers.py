r"""Reducers: what a monitor keeps of the values it observes, with bounded memory.

A :class:`Reducer` receives one observation per simulation step,
``forward(value)`` with ``value`` shaped ``(batch, *shape)``, and keeps a
summary of fixed size: the latest value, a fixed-duration history, a trace, an
event count, the time since the last event, a running mean or an exponential
moving average. ``peek()`` returns what is kept.

Memory never grows with the length of a run: every reducer preallocates its
state on the first step and afterwards updates it in place (one to three tensor
operations per step, no host-device synchronisation).

The state is per sample: a non-persistent buffer created lazily at the batch
size of the first observation (so it follows ``module.to(device)`` but never
enters ``state_dict``, and checkpoints stay batch-size agnostic), dropped by
``reset()``. Reducers hold no parameters and no learned state.

``peek()`` returns the live state tensor (no copy) for every reducer except
:class:`HistoryReducer`; it changes at the next step, so clone it to keep it,
and do not write into it.

Events (for traces, counts and time since event) are the elements where the
observation equals ``target`` (or lies within ``tolerance`` of it). The
default ``target=1.0`` matches spikes given as 0/1 floats or as booleans.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import torch

from .._validation import as_float, check_choice, finite, nonnegative, positive
from ..functional.traces import (
    cumulative_trace_,
    nearest_trace_,
    scaled_trace_,
    trace_decay,
)
from ..neural.base import StatefulModule

__all__ = [
    "Reducer",
    "LatestReducer",
    "HistoryReducer",
    "NearestTraceReducer",
    "CumulativeTraceReducer",
    "ScaledTraceReducer",
    "EventCountReducer",
    "TimeSinceEventReducer",
    "MeanReducer",
    "EMAReducer",
    "PriorTraceReducer",
]


def _state_dtype(value: torch.Tensor) -> torch.dtype:
    """Floating dtype for accumulated state: the value's own, or the default one."""
    return value.dtype if value.is_floating_point() else torch.get_default_dtype()


class Reducer(StatefulModule, ABC):
    """Keeps a bounded summary of one observation per simulation step.

    Subclasses implement ``forward(value)`` (record one step's observation,
    ``(batch, *shape)``) and :meth:`peek` (return what is kept, ``None``
    before the first step), and report their hyperparameters in
    :attr:`config`, which decides whether two reducers are interchangeable
    (a :class:`~inferno_lightning.observe.MonitorPool` shares a monitor only
    between requests with equal configurations).
    """

    @abstractmethod
    def forward(self, value: torch.Tensor) -> None:
        """Record one step's observation ``value``, shaped ``(batch, *shape)``.

        Implementations detach ``value`` first, so no autograd graph is kept.
        """

    @abstractmethod
    def peek(self) -> torch.Tensor | None:
        """What is kept, or ``None`` before the first step."""

    @property
    def config(self) -> dict[str, Any]:
        """Hyperparameters (name -> value); equal configs reduce identically."""
        return {}

    def _detached(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` detached, after checking it is a tensor (a host-side check, no sync)."""
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__}: value must be a torch.Tensor (batch, *shape), "
                f"got {type(value).__name__}"
            )
        return value.detach() if value.requires_grad else value

    def _check_shape(self, state: torch.Tensor, value: torch.Tensor, skip: int = 0) -> None:
        # A plain tuple comparison: no tensor op and no device synchronisation.
        if state.shape[skip:] != value.shape:
            raise ValueError(
                f"{type(self).__name__}: value has shape {tuple(value.shape)} but the kept state "
                f"was built for shape {tuple(state.shape[skip:])}; call reset() between samples "
                "of different batch sizes or shapes"
            )

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())


class _EventReducer(Reducer):
    """A reducer whose updates depend on events: ``value == target`` (within ``tolerance``)."""

    def __init__(self, target: float = 1.0, tolerance: float | None = None) -> None:
        super().__init__()
        self._target = as_float("target", target, finite)
        self._tolerance = (
            None if tolerance is None else as_float("tolerance", tolerance, nonnegative)
        )

    @property
    def target(self) -> float:
        """Value that counts as an event."""
        return self._target

    @property
    def tolerance(self) -> float | None:
        """Largest distance from :attr:`target` that still counts as an event."""
        return self._tolerance

    def events(self, value: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the events in ``value``."""
        if self._tolerance is None:
            if value.dtype == torch.bool and self._target == 1.0:
                return value  # boolean spikes are their own events
            return value == self._target
        if not value.is_floating_point():
            value = value.to(torch.get_default_dtype())
        return (value - self._target).abs_() <= self._tolerance

    @property
    def config(self) -> dict[str, Any]:
        return {"target": self._target, "tolerance": self._tolerance}


class LatestReducer(Reducer):
    """Keeps the latest observation.

    ``peek()`` returns ``(batch, *shape)`` in the observation's dtype (boolean
    spikes stay boolean).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_state("data")

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        data = self._buffers["data"]
        if data is None:
            self.data = value.clone(memory_format=torch.contiguous_format)
            return
        self._check_shape(data, value)
        data.copy_(value)

    def peek(self) -> torch.Tensor | None:
        """The latest observation, ``(batch, *shape)``."""
        return self._buffers["data"]


class HistoryReducer(Reducer):
    r"""Keeps the observations of the last ``duration`` ms in a ring buffer.

    The buffer holds :math:`\lceil \text{duration} / \Delta t \rceil + 1` steps
    (the current step and those up to ``duration`` ms before it). It is
    allocated once, on the first step, and written in place at a moving index:
    its size never depends on the length of the run.

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        duration: how far back to keep observations, in ms (0 keeps only the
            current step).

    Raises:
        ValueError: ``step_time`` not positive or ``duration`` negative.
    """

    def __init__(self, step_time: float, duration: float) -> None:
        super().__init__()
        self._step_time = as_float("step_time", step_time, positive, "ms")
        self._duration = as_float("duration", duration, nonnegative, "ms")
        # The small slack keeps e.g. duration=0.3, step_time=0.1 at 3 steps back, not 4.
        self._capacity = math.ceil(self._duration / self._step_time - 1e-9) + 1
        self._write = 0
        self._filled = 0
        self.register_state("data")

    @property
    def step_time(self) -> float:
        """Simulation step, in ms."""
        return self._step_time

    @property
    def duration(self) -> float:
        """How far back observations are kept, in ms."""
        return self._duration

    @property
    def capacity(self) -> int:
        """Number of steps the buffer holds."""
        return self._capacity

    @property
    def filled(self) -> int:
        """Number of steps currently kept (at most :attr:`capacity`)."""
        return self._filled

    @property
    def config(self) -> dict[str, Any]:
        return {"step_time": self._step_time, "duration": self._duration}

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        data = self.data
        if data is None:
            data = self.data = torch.zeros(
                (self._capacity, *value.shape), dtype=value.dtype, device=value.device
            )
        else:
            self._check_shape(data, value, skip=1)
        data[self._write].copy_(value)
        self._write = (self._write + 1) % self._capacity
        if self._filled < self._capacity:
            self._filled += 1

    def peek(self) -> torch.Tensor | None:
        """The kept steps in time order, oldest first: ``(filled, batch, *shape)`` (a copy)."""
        data = self.data
        if data is None:
            return None
        if self._filled < self._capacity:
            return data[: self._filled].clone()
        return torch.roll(data, -self._write, 0)

    @property
    def batch_size(self) -> int | None:
        """Batch size of the kept observations, ``None`` before the first step."""
        return None if self.data is None else int(self.data.shape[1])

    def peek_step(self, steps_ago: int = 0) -> torch.Tensor:
        """The observation of ``steps_ago`` steps before the latest, ``(batch, *shape)`` (a view).

        Raises:
            ValueError: nothing recorded that long ago.
        """
        if isinstance(steps_ago, bool) or not isinstance(steps_ago, int):
            raise TypeError(f"steps_ago must be an int, got {steps_ago!r}")
        if not 0 <= steps_ago < self._filled:
            raise ValueError(
                f"steps_ago must be in [0, {self._filled - 1}] (steps kept), got {steps_ago}"
            )
        return self.data[(self._write - 1 - steps_ago) % self._capacity]

    def reset(self) -> None:
        super().reset()
        self._write = 0
        self._filled = 0


class _DecayingTrace:
    r"""Mixin for reducers that keep a trace decaying by :math:`\exp(-\Delta t/\tau)` per step."""

    def _init_trace(self, step_time: float, time_constant: float) -> None:
        self._step_time = as_float("step_time", step_time, positive, "ms")
        self._time_constant = as_float("time_constant", time_constant, positive, "ms")
        self._decay = trace_decay(self._step_time, self._time_constant)
        self.register_state("trace")

    @property
    def step_time(self) -> float:
        """Simulation step, in ms."""
        return self._step_time

    @property
    def time_constant(self) -> float:
        """Trace time constant, in ms."""
        return self._time_constant

    @property
    def decay(self) -> float:
        r"""Per-step decay factor :math:`\exp(-\Delta t/\tau)`."""
        return self._decay

    def _trace_config(self) -> dict[str, Any]:
        return {"step_time": self._step_time, "time_constant": self._time_constant}

    def _state(self, value: torch.Tensor) -> torch.Tensor:
        """The trace, created as zeros shaped like ``value`` on its first observation."""
        trace = self._buffers["trace"]
        if trace is None:
            trace = self.trace = torch.zeros(
                value.shape, dtype=_state_dtype(value), device=value.device
            )
        else:
            self._check_shape(trace, value)
        return trace


class _TraceReducer(_EventReducer, _DecayingTrace):
    def __init__(
        self,
        step_time: float,
        time_constant: float,
        amplitude: float,
        target: float,
        tolerance: float | None,
    ) -> None:
        super().__init__(target, tolerance)
        self._init_trace(step_time, time_constant)
        self._amplitude = as_float("amplitude", amplitude, finite)

    @property
    def amplitude(self) -> float:
        """Value set (nearest) or added (cumulative) on an event."""
        return self._amplitude

    @property
    def config(self) -> dict[str, Any]:
        return {**self._trace_config(), "amplitude": self._amplitude, **super().config}

    def peek(self) -> torch.Tensor | None:
        """The trace, ``(batch, *shape)``."""
        return self._buffers["trace"]


class NearestTraceReducer(_TraceReducer):
    r"""Nearest-event trace of the observations (only the latest event counts).

    .. math::

        x_t = \begin{cases} A & \text{if } v_t = \text{target} \\
                            x_{t-1} \exp(-\Delta t/\tau) & \text{otherwise} \end{cases}

    with :math:`x = 0` before the first step
    (:func:`~inferno_lightning.functional.traces.nearest_trace_`).

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        time_constant: :math:`\tau`, in ms.
        amplitude: :math:`A`, the value set on an event.
        target: observation value that counts as an event (1.0: a spike).
        tolerance: if given, an event is :math:`|v_t - \text{target}| \le` tolerance.

    Raises:
        ValueError: ``step_time`` or ``time_constant`` not positive, ``amplitude``
            or ``target`` not finite, ``tolerance`` negative.
    """

    def __init__(
        self,
        step_time: float,
        time_constant: float,
        amplitude: float = 1.0,
        target: float = 1.0,
        tolerance: float | None = None,
    ) -> None:
        super().__init__(step_time, time_constant, amplitude, target, tolerance)

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        nearest_trace_(self._state(value), self.events(value), self._decay, self._amplitude)


class CumulativeTraceReducer(_TraceReducer):
    r"""Cumulative (all-to-all) trace of the observations (every event adds).

    .. math:: x_t = x_{t-1} \exp(-\Delta t/\tau) + A \, [v_t = \text{target}]

    with :math:`x = 0` before the first step
    (:func:`~inferno_lightning.functional.traces.cumulative_trace_`).

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        time_constant: :math:`\tau`, in ms.
        amplitude: :math:`A`, added per event.
        target: observation value that counts as an event (1.0: a spike).
        tolerance: if given, an event is :math:`|v_t - \text{target}| \le` tolerance.

    Raises:
        ValueError: as :class:`NearestTraceReducer`.
    """

    def __init__(
        self,
        step_time: float,
        time_constant: float,
        amplitude: float = 1.0,
        target: float = 1.0,
        tolerance: float | None = None,
    ) -> None:
        super().__init__(step_time, time_constant, amplitude, target, tolerance)

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        cumulative_trace_(self._state(value), self.events(value), self._decay, self._amplitude)


class ScaledTraceReducer(Reducer, _DecayingTrace):
    r"""Leaky integral of a real-valued observation (no events).

    .. math:: x_t = x_{t-1} \exp(-\Delta t/\tau) + a \, v_t

    with :math:`x = 0` before the first step
    (:func:`~inferno_lightning.functional.traces.scaled_trace_`). For 0/1
    spikes it equals :class:`CumulativeTraceReducer` with amplitude :math:`a`.

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        time_constant: :math:`\tau`, in ms.
        scale: :math:`a`.

    Raises:
        ValueError: ``step_time`` or ``time_constant`` not positive, ``scale`` not finite.
    """

    def __init__(self, step_time: float, time_constant: float, scale: float = 1.0) -> None:
        super().__init__()
        self._init_trace(step_time, time_constant)
        self._scale = as_float("scale", scale, finite)

    @property
    def scale(self) -> float:
        """Factor applied to each observation before it is added."""
        return self._scale

    @property
    def config(self) -> dict[str, Any]:
        return {**self._trace_config(), "scale": self._scale}

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        scaled_trace_(self._state(value), value, self._decay, self._scale)

    def peek(self) -> torch.Tensor | None:
        """The trace, ``(batch, *shape)``."""
        return self._buffers["trace"]


class EventCountReducer(_EventReducer):
    """Counts the events (``value == target``) since the last reset.

    ``peek()`` returns the counts ``(batch, *shape)`` as floats (the
    observation's floating dtype, or the default dtype), exact up to
    :math:`2^{24}` events in float32.

    Args:
        target: observation value that counts as an event (1.0: a spike).
        tolerance: if given, an event is ``|value - target| <= tolerance``.
    """

    def __init__(self, target: float = 1.0, tolerance: float | None = None) -> None:
        super().__init__(target, tolerance)
        self.register_state("count")

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        count = self.count
        if count is None:
            count = self.count = torch.zeros(
                value.shape, dtype=_state_dtype(value), device=value.device
            )
        else:
            self._check_shape(count, value)
        count.add_(self.events(value))

    def peek(self) -> torch.Tensor | None:
        """Event counts, ``(batch, *shape)``."""
        return self.count


class TimeSinceEventReducer(_EventReducer):
    r"""Time since the latest event, in ms.

    .. math::

        s_t = \begin{cases} 0 & \text{if } v_t = \text{target} \\
                            s_{t-1} + \Delta t & \text{otherwise} \end{cases}

    with :math:`s = +\infty` before any event (and so until the first one).

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        target: observation value that counts as an event (1.0: a spike).
        tolerance: if given, an event is ``|value - target| <= tolerance``.

    Raises:
        ValueError: ``step_time`` not positive.
    """

    def __init__(
        self, step_time: float, target: float = 1.0, tolerance: float | None = None
    ) -> None:
        super().__init__(target, tolerance)
        self._step_time = as_float("step_time", step_time, positive, "ms")
        self.register_state("elapsed")

    @property
    def step_time(self) -> float:
        """Simulation step, in ms."""
        return self._step_time

    @property
    def config(self) -> dict[str, Any]:
        return {"step_time": self._step_time, **super().config}

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        elapsed = self.elapsed
        if elapsed is None:
            elapsed = self.elapsed = torch.full(
                value.shape, math.inf, dtype=_state_dtype(value), device=value.device
            )
        else:
            self._check_shape(elapsed, value)
        elapsed.add_(self._step_time).masked_fill_(self.events(value), 0.0)

    def peek(self) -> torch.Tensor | None:
        """Time since the latest event in ms, ``(batch, *shape)``; ``inf`` before any."""
        return self.elapsed


class MeanReducer(Reducer):
    r"""Running mean of the observations since the last reset.

    .. math:: m_n = m_{n-1} + (v_n - m_{n-1}) / n

    (the exact mean of the :math:`n` steps seen, without keeping them).
    """

    def __init__(self) -> None:
        super().__init__()
        self._steps = 0
        self.register_state("mean")

    @property
    def steps(self) -> int:
        """Number of steps averaged."""
        return self._steps

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        mean = self.mean
        if mean is None:
            self.mean = value.to(_state_dtype(value), copy=True)
            self._steps = 1
            return
        self._check_shape(mean, value)
        self._steps += 1
        mean.lerp_(value.to(mean.dtype), 1.0 / self._steps)

    def peek(self) -> torch.Tensor | None:
        """The mean, ``(batch, *shape)``."""
        return self.mean

    def reset(self) -> None:
        super().reset()
        self._steps = 0


class EMAReducer(Reducer):
    r"""Exponential moving average of the observations.

    .. math:: m_t = m_{t-1} + \alpha (v_t - m_{t-1}), \qquad m_1 = v_1

    The average starts at the first observation. Give either the smoothing
    factor :math:`\alpha` directly, or a time constant, for which
    :math:`\alpha = 1 - \exp(-\Delta t/\tau)`.

    Args:
        smoothing: :math:`\alpha \in (0, 1]`.
        step_time: simulation step :math:`\Delta t` in ms (with ``time_constant``).
        time_constant: :math:`\tau` in ms (with ``step_time``).

    Raises:
        ValueError: ``smoothing`` outside (0, 1], both or neither of ``smoothing``
            and ``time_constant`` given, ``step_time`` or ``time_constant`` not
            positive.
    """

    def __init__(
        self,
        smoothing: float | None = None,
        *,
        step_time: float | None = None,
        time_constant: float | None = None,
    ) -> None:
        super().__init__()
        if (smoothing is None) == (time_constant is None):
            raise ValueError(
                "give exactly one of smoothing (in (0, 1]) and time_constant (ms, with "
                f"step_time), got smoothing={smoothing!r}, time_constant={time_constant!r}"
            )
        if smoothing is not None:
            if step_time is not None:
                raise ValueError(
                    f"step_time is used only with time_constant, got step_time={step_time!r} "
                    "with smoothing"
                )
            alpha = as_float("smoothing", smoothing, finite)
            if not 0.0 < alpha <= 1.0:
                raise ValueError(f"smoothing must be in (0, 1], got {alpha!r}")
        else:
            if step_time is None:
                raise ValueError("step_time (ms) is required with time_constant, got None")
            dt = as_float("step_time", step_time, positive, "ms")
            tau = as_float("time_constant", time_constant, positive, "ms")
            alpha = 1.0 - math.exp(-dt / tau)
        self._smoothing = alpha
        self.register_state("average")

    @property
    def smoothing(self) -> float:
        r"""Smoothing factor :math:`\alpha`."""
        return self._smoothing

    @property
    def config(self) -> dict[str, Any]:
        return {"smoothing": self._smoothing}

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        average = self.average
        if average is None:
            self.average = value.to(_state_dtype(value), copy=True)
            return
        self._check_shape(average, value)
        average.lerp_(value.to(average.dtype), self._smoothing)

    def peek(self) -> torch.Tensor | None:
        """The average, ``(batch, *shape)``."""
        return self.average


class PriorTraceReducer(Reducer, _DecayingTrace):
    r"""A spike trace read *before* the current step's spikes are added.

    Keeps the trace :math:`x_t` of :class:`CumulativeTraceReducer`
    (``mode="cumulative"``) or :class:`NearestTraceReducer`
    (``mode="nearest"``), amplitude 1, an event being an observation equal to
    1 (a spike), but :meth:`peek` returns

    .. math:: x_{t^-} = x_{t-1} \exp(-\Delta t/\tau),

    its value just before the events of step :math:`t` (the
    :math:`t - \epsilon` of continuous-time models).

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        time_constant: :math:`\tau`, in ms.
        mode: ``"cumulative"`` or ``"nearest"``.

    Raises:
        ValueError: ``step_time`` or ``time_constant`` not positive, an unknown ``mode``.
    """

    def __init__(self, step_time: float, time_constant: float, mode: str = "cumulative") -> None:
        super().__init__()
        self._init_trace(step_time, time_constant)
        check_choice("mode", mode, ("cumulative", "nearest"))
        self._mode = mode
        self.register_state("prior")

    @property
    def mode(self) -> str:
        """``"cumulative"`` or ``"nearest"``."""
        return self._mode

    @property
    def config(self) -> dict[str, Any]:
        return {**self._trace_config(), "mode": self._mode}

    def forward(self, value: torch.Tensor) -> None:
        value = self._detached(value)
        trace = self._state(value)
        if self.prior is None:
            self.prior = torch.zeros_like(trace)
        torch.mul(trace, self._decay, out=self.prior)
        events = value if value.dtype == torch.bool else value == 1.0
        if self._mode == "nearest":
            nearest_trace_(trace, events, self._decay, 1.0)
        else:
            cumulative_trace_(trace, events, self._decay, 1.0)

    def peek(self) -> torch.Tensor | None:
        """The trace before this step's events, ``(batch, *shape)``."""
        return self.prior
