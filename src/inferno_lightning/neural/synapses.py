r"""Synapses: presynaptic spikes in, current out, with a bounded delayed-read history.

Units: time in ms, current in nA, charge in pC (1 pC = 1 nA ms).

Every synapse here keeps, per sample, the current and the spikes of the last
step and, when its :attr:`~HistorySynapse.delay` is above zero, a ring buffer
of the last :math:`H = \lceil d_\max / \Delta t \rceil + 1` steps: a write
index moves round :math:`2H` slots, each step written twice (slots :math:`p`
and :math:`p + H`) so that the last :math:`H` steps are always one strided view,
oldest first; nothing is reallocated per step. Delayed reads
(:meth:`~HistorySynapse.current_at`, :meth:`~HistorySynapse.spike_at`) take
delays in ms per element and interpolate between steps (see
:func:`inferno_lightning.functional.interpolation.read_history`):

* delay 0 is this step's value; a whole number :math:`k` of steps is the value
  of :math:`k` steps ago, exactly, in every mode;
* before the history has filled, the missing steps hold the rest values (zero
  current, no spikes), as if the synapse had been at rest forever;
* reads beyond the history return the oldest stored step (the delay is clamped
  to :math:`[0, (H - 1)\,\Delta t]`), or a fill value when
  ``current_overbound`` / ``spike_overbound`` is given;
* currents interpolate with ``interp_mode``; spikes are events and are never
  blended: ``previous`` reads the step at or before the delayed time
  (:math:`\lceil s \rceil` steps back), ``nearest`` and ``linear`` the nearest
  step (:math:`\lfloor s + 1/2 \rfloor` steps back).

Fast path: with autograd off (``torch.no_grad()``, the local-learning loop),
state is updated in place, and the tensors returned by ``forward`` and by
:attr:`~HistorySynapse.current` / :attr:`~HistorySynapse.spike` *are* the state:
the next step overwrites them (``clone()`` what you keep). With autograd on,
every update is out of place so that backpropagation through time works.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch

from .._validation import (
    _dims,
    as_float,
    as_parameter_tensor,
    check_choice,
    check_greater,
    check_input,
    exp_decay,
    finite,
    flag,
    nonnegative,
    positive,
    require_finite,
)
from ..functional.interpolation import INTERPOLATIONS, STEP_TOLERANCE, read_history
from ..functional.synapses import (
    delta_current,
    double_exponential_current,
    exponential_current,
)
from .base import Synapse

__all__ = [
    "HistorySynapse",
    "DeltaCurrent",
    "DeltaPlusCurrent",
    "ExponentialCurrent",
    "DoubleExponentialCurrent",
]


def history_length(delay: float, step_time: float) -> int:
    r"""Samples needed to serve reads up to ``delay`` ms: :math:`\lceil d / \Delta t \rceil + 1`."""
    return int(math.ceil(delay / step_time - STEP_TOLERANCE)) + 1


class HistorySynapse(Synapse):
    r"""Base of the synapses here: validation, lazy state and the delayed-read history.

    A subclass implements :meth:`integrate`, the one-step update of its current
    (and of any extra state it registers with ``register_state``, created in
    :meth:`init_state`).

    Args:
        shape: shape of the presynaptic group, excluding the batch dimension.
        step_time: simulation step :math:`\Delta t`, in ms.
        delay: largest delay, in ms, that delayed reads must serve (a connection
            raises it to the largest delay it needs). Default 0: no history.
        interp_mode: how :meth:`current_at` reads between steps: ``"previous"``,
            ``"nearest"`` or ``"linear"``.
        current_overbound: current (nA) returned for reads beyond the history;
            ``None`` returns the oldest stored value.
        spike_overbound: spike returned for reads beyond the history; ``None``
            returns the oldest stored value.
        check_inputs: check every input for NaN and infinity (costs a
            device-to-host synchronisation per step; shapes are always checked).

    Raises:
        ValueError: ``step_time`` not positive, ``delay`` negative, or an
            unknown ``interp_mode``, ``current_overbound`` not finite.
        TypeError: ``check_inputs`` or ``spike_overbound`` not a bool,
            ``current_overbound`` not a number.

    Shapes:
        ``forward(spikes, ...)``: ``spikes`` ``(batch, *shape)``, 0/1 float or
        bool; returns current ``(batch, *shape)`` in nA, in the dtype of
        ``spikes`` (the default dtype for bool spikes).
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float,
        *,
        delay: float = 0.0,
        interp_mode: str = "linear",
        current_overbound: float | None = None,
        spike_overbound: bool | None = None,
        check_inputs: bool = True,
    ) -> None:
        super().__init__(shape, step_time)
        self._delay = 0.0
        self._length = 1
        self.interp_mode = interp_mode
        self.current_overbound = (
            None if current_overbound is None else as_float("current_overbound", current_overbound)
        )
        self.spike_overbound = (
            None if spike_overbound is None else flag("spike_overbound", spike_overbound)
        )
        self.check_inputs = flag("check_inputs", check_inputs)
        self.register_state("current_state")
        self.register_state("spike_state")
        self.register_state("current_history")
        self.register_state("spike_history")
        # slot of the newest sample in the ring (a host int: slicing needs no device sync)
        self._cursor = 0
        self.delay = delay

    # configuration

    @property
    def delay(self) -> float:
        """Largest delay, in ms, that delayed reads serve without clamping."""
        return self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        if isinstance(value, torch.Tensor):
            # per-synapse delays: every one must be valid, the history serves the largest
            nonnegative("delay", value, "ms")
            value = float(value.detach().max()) if value.numel() else 0.0
        value = as_float("delay", value, nonnegative, "ms")
        length = history_length(value, self.step_time)
        if length != self._length and self.current_state is not None:
            self._resize_history(length)
        self._delay = value
        self._length = length

    @property
    def history_length(self) -> int:
        r""":math:`H`, the number of steps stored (this one included)."""
        return self._length

    @property
    def interp_mode(self) -> str:
        """How :meth:`current_at` reads between steps: previous, nearest or linear."""
        return self._interp_mode

    @interp_mode.setter
    def interp_mode(self, value: str) -> None:
        check_choice("interp_mode", value, INTERPOLATIONS)
        self._interp_mode = value

    # state

    @property
    def current(self) -> torch.Tensor | None:
        """Current of the last step, in nA, ``(batch, *shape)``; ``None`` before the first step."""
        return self.current_state

    @property
    def spike(self) -> torch.Tensor | None:
        """Presynaptic spikes of the last step, bool ``(batch, *shape)``; ``None`` before the first step."""
        return self._buffers["spike_state"]

    def reset(self) -> None:
        """Drop the per-sample state and the history; the next step starts from rest."""
        super().reset()
        self._cursor = 0

    # The history of H steps is a ring of 2H slots: the sample of each step goes
    # to slots p and p + H, so that slots p + 1 .. p + H always hold the last H
    # steps in order, oldest first, as one strided view (no copy, no modulo).

    def _window(self, name: str) -> torch.Tensor:
        """The last H steps of ``name`` ("current" or "spike"), oldest first, ``(batch, *shape, H)``."""
        history = getattr(self, f"{name}_history")
        if history is None:
            return getattr(self, f"{name}_state").unsqueeze(-1)
        return history[..., self._cursor + 1 : self._cursor + 1 + self._length]

    def _resize_history(self, length: int) -> None:
        # Keep the newest min(H_old, H_new) steps in order; new slots hold rest values.
        old_current, old_spike = self._window("current"), self._window("spike")
        self._cursor = 0
        if length == 1:
            self.current_history = None
            self.spike_history = None
            return
        keep = min(old_current.shape[-1], length)
        current = old_current.new_zeros((*old_current.shape[:-1], length))
        spike = old_spike.new_zeros((*old_spike.shape[:-1], length))
        current[..., length - keep :] = old_current[..., -keep:]
        spike[..., length - keep :] = old_spike[..., -keep:]
        # cursor H - 1: slots H .. 2H - 1 are the window, slots 0 .. H - 1 their copy
        self._cursor = length - 1
        self.current_history = torch.cat([current, current], -1)
        self.spike_history = torch.cat([spike, spike], -1)

    def init_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> None:
        """Create the per-sample state at rest for ``batch`` samples (extend to add more)."""
        shape = (batch, *self.shape)
        self.current_state = torch.zeros(shape, dtype=dtype, device=device)
        self.spike_state = torch.zeros(shape, dtype=torch.bool, device=device)
        if self._length > 1:
            ring = (*shape, 2 * self._length)
            self.current_history = torch.zeros(ring, dtype=dtype, device=device)
            self.spike_history = torch.zeros(ring, dtype=torch.bool, device=device)
        self._cursor = 0

    @abstractmethod
    def integrate(
        self, spikes: torch.Tensor, *extra: torch.Tensor | None, inplace: bool
    ) -> torch.Tensor:
        """One step of the current from ``spikes`` (0/1 in the state's dtype).

        Args:
            spikes: ``(batch, *shape)``.
            extra: further validated inputs of ``forward`` (e.g. injected current).
            inplace: update the state tensors in place (autograd is off).

        Returns:
            The new current, ``(batch, *shape)`` in nA.
        """

    # stepping

    def _check(self, spikes: torch.Tensor) -> int:
        batch = check_input("inputs", spikes, self.shape, self.batch_size, False)
        if self.check_inputs:
            require_finite("inputs", spikes)
        return batch

    def _step(self, spikes: torch.Tensor, *extra: torch.Tensor | None) -> torch.Tensor:
        # Direct buffer reads and writes: this runs every step (see StatefulModule).
        buffers = self._buffers
        state = buffers["current_state"]
        if state is None:
            dtype = spikes.dtype if spikes.is_floating_point() else torch.get_default_dtype()
            self.init_state(spikes.shape[0], dtype, spikes.device)
            state = buffers["current_state"]
        inplace = not torch.is_grad_enabled()
        current = self.integrate(spikes.to(state.dtype), *extra, inplace=inplace)
        if current is not state:
            buffers["current_state"] = current
        spike = buffers["spike_state"]
        spike.copy_(spikes)
        if self._length > 1:
            self._record(current, spike)
        return current

    def _record(self, current: torch.Tensor, spike: torch.Tensor) -> None:
        length = self._length
        cursor = self._cursor = (self._cursor + 1) % length
        history = self.current_history
        if torch.is_grad_enabled() and (current.requires_grad or history.requires_grad):
            slots = torch.tensor([cursor, cursor + length], device=history.device)
            pair = current.unsqueeze(-1).expand(*current.shape, 2)
            self.current_history = history.index_copy(-1, slots, pair)
        else:
            history[..., cursor] = current
            history[..., cursor + length] = current
        spikes = self.spike_history
        spikes[..., cursor] = spike
        spikes[..., cursor + length] = spike

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with presynaptic ``spikes``; return the current in nA.

        Args:
            inputs: ``spikes``, ``(batch, *shape)``, 0/1 float or bool.

        Returns:
            Current ``(batch, *shape)`` in nA.

        Raises:
            ValueError: wrong number of inputs, wrong shape, a batch size other
                than that of the live state, or non-finite values (naming
                ``inputs``), before any state changes.
        """
        if len(inputs) != 1:
            raise ValueError(
                f"inputs must be one tensor of spikes (batch, {_dims(self.shape)}), "
                f"got {len(inputs)} tensors"
            )
        (spikes,) = inputs
        self._check(spikes)
        return self._step(spikes)

    # delayed reads

    def _check_selector(self, selector: torch.Tensor) -> None:
        n = len(self.shape)
        if (
            not isinstance(selector, torch.Tensor)
            or selector.dim() not in (n + 1, n + 2)
            or tuple(selector.shape[-n - 1 : -1]) != self.shape
        ):
            got = tuple(selector.shape) if isinstance(selector, torch.Tensor) else type(selector)
            raise ValueError(
                f"selector must be delays in ms shaped ({_dims(self.shape)}, N) or "
                f"(batch, {_dims(self.shape)}, N), got {got}"
            )
        if self.current_state is None:
            raise RuntimeError("the synapse has no state yet: call forward() before a delayed read")

    def current_at(self, selector: torch.Tensor) -> torch.Tensor:
        r"""Current ``selector`` ms ago, interpolated with :attr:`interp_mode`.

        Args:
            selector: delays in ms, ``(*shape, N)`` or ``(batch, *shape, N)``.

        Returns:
            Current in nA, ``(batch, *shape, N)``.

        Raises:
            ValueError: ``selector`` has the wrong shape.
            RuntimeError: called before the first step.
        """
        self._check_selector(selector)
        return read_history(
            self._window("current"),
            selector,
            self.step_time,
            self._interp_mode,
            self.current_overbound,
        )

    def spike_at(self, selector: torch.Tensor) -> torch.Tensor:
        r"""Spikes ``selector`` ms ago: the step at or before the delayed time for
        ``previous``, the nearest step otherwise.

        Args:
            selector: delays in ms, ``(*shape, N)`` or ``(batch, *shape, N)``.

        Returns:
            Spikes, bool ``(batch, *shape, N)``.

        Raises:
            ValueError: ``selector`` has the wrong shape.
            RuntimeError: called before the first step.
        """
        self._check_selector(selector)
        mode = "previous" if self._interp_mode == "previous" else "nearest"
        return read_history(
            self._window("spike"),
            selector,
            self.step_time,
            mode,
            self.spike_overbound,
        )

    def _parameter(self, name: str, value: float | torch.Tensor, check=positive, unit: str = ""):
        # Floats stay Python floats (cheapest per step); tensors become buffers
        # (per-neuron values, saved in state_dict, moved with the module).
        value = check(name, value, unit)
        if isinstance(value, torch.Tensor):
            tensor = as_parameter_tensor(name, value.detach().clone(), self.shape)
            self.register_buffer(name, tensor)
            return tensor
        setattr(self, name, float(value))
        return float(value)

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, step_time={self.step_time}, delay={self._delay}, "
            f"interp_mode={self._interp_mode!r}"
        )


class DeltaCurrent(HistorySynapse):
    r"""A spike delivers its charge within one step.

    .. math::
        I[t] = \frac{q}{\Delta t}\, s[t]

    so :math:`I[t]\,\Delta t = q` pC on a spike step and 0 otherwise.

    Args:
        shape: shape of the presynaptic group, excluding the batch dimension.
        step_time: simulation step :math:`\Delta t`, in ms.
        spike_charge: :math:`q`, charge per spike in pC (nA ms); a float or a
            tensor broadcastable to ``shape``; any sign (negative: inhibitory).
        delay, interp_mode, current_overbound, spike_overbound, check_inputs:
            see :class:`HistorySynapse`.

    Example::

        >>> syn = DeltaCurrent(3, step_time=0.5, spike_charge=2.0)
        >>> syn(torch.tensor([[1.0, 0.0, 1.0]]))
        tensor([[4., 0., 4.]])
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float,
        *,
        spike_charge: float | torch.Tensor = 1.0,
        delay: float = 0.0,
        interp_mode: str = "linear",
        current_overbound: float | None = None,
        spike_overbound: bool | None = None,
        check_inputs: bool = True,
    ) -> None:
        super().__init__(
            shape,
            step_time,
            delay=delay,
            interp_mode=interp_mode,
            current_overbound=current_overbound,
            spike_overbound=spike_overbound,
            check_inputs=check_inputs,
        )
        self._parameter("spike_charge", spike_charge, check=_finite_charge, unit="pC")

    def integrate(
        self, spikes: torch.Tensor, *extra: torch.Tensor | None, inplace: bool
    ) -> torch.Tensor:
        return delta_current(
            spikes,
            self.spike_charge,
            self.step_time,
            out=self._buffers["current_state"] if inplace else None,
        )


class DeltaPlusCurrent(DeltaCurrent):
    r"""A delta synapse plus a pass-through injected current.

    .. math::
        I[t] = \frac{q}{\Delta t}\, s[t] + I_\text{inj}[t]

    The injected current enters the history like the rest of the current.

    Args:
        shape, step_time, spike_charge, delay, interp_mode, current_overbound,
        spike_overbound, check_inputs: see :class:`DeltaCurrent`.

    Shapes:
        ``forward(spikes, injection=None)``: both ``(batch, *shape)``;
        ``injection`` in nA (``None``: no injection).
    """

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        """Advance one step with ``spikes`` and optional ``injection`` (nA); return current.

        Raises:
            ValueError: a wrong shape, batch size or non-finite value in
                ``inputs`` (the spikes) or ``injection``, before any state changes.
        """
        if len(inputs) not in (1, 2):
            raise ValueError(
                f"inputs must be spikes and optionally an injection, got {len(inputs)} tensors"
            )
        spikes = inputs[0]
        injection = inputs[1] if len(inputs) == 2 else None
        batch = self._check(spikes)
        if injection is not None:
            check_input("injection", injection, self.shape, batch, False)
            if self.check_inputs:
                require_finite("injection", injection)
        return self._step(spikes, injection)

    def integrate(
        self, spikes: torch.Tensor, *extra: torch.Tensor | None, inplace: bool
    ) -> torch.Tensor:
        current = super().integrate(spikes, inplace=inplace)
        injection = extra[0] if extra else None
        if injection is None:
            return current
        return current.add_(injection) if inplace else current + injection


class ExponentialCurrent(HistorySynapse):
    r"""A current that jumps by :math:`q / \tau` on a spike and decays with time constant :math:`\tau`.

    .. math::
        I[t] = I[t - \Delta t]\, e^{-\Delta t / \tau} + \frac{q}{\tau}\, s[t]

    (exact integration of :math:`\tau\, dI/dt = -I` between spikes). A single
    spike's continuous-time current :math:`(q/\tau) e^{-t/\tau}` integrates to
    the charge :math:`q`; the step-sampled sum is
    :math:`q\,(\Delta t/\tau) / (1 - e^{-\Delta t/\tau})`.

    Args:
        shape: shape of the presynaptic group, excluding the batch dimension.
        step_time: simulation step :math:`\Delta t`, in ms.
        spike_charge: :math:`q`, charge per spike in pC; float or tensor
            broadcastable to ``shape``.
        time_constant: :math:`\tau` in ms, positive; float or tensor
            broadcastable to ``shape``.
        delay, interp_mode, current_overbound, spike_overbound, check_inputs:
            see :class:`HistorySynapse`.

    Raises:
        ValueError: ``time_constant`` not positive (and see :class:`HistorySynapse`).
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float,
        *,
        spike_charge: float | torch.Tensor = 1.0,
        time_constant: float | torch.Tensor = 5.0,
        delay: float = 0.0,
        interp_mode: str = "linear",
        current_overbound: float | None = None,
        spike_overbound: bool | None = None,
        check_inputs: bool = True,
    ) -> None:
        super().__init__(
            shape,
            step_time,
            delay=delay,
            interp_mode=interp_mode,
            current_overbound=current_overbound,
            spike_overbound=spike_overbound,
            check_inputs=check_inputs,
        )
        self._parameter("time_constant", time_constant, unit="ms")
        self._parameter("spike_charge", spike_charge, check=_finite_charge, unit="pC")

    def integrate(
        self, spikes: torch.Tensor, *extra: torch.Tensor | None, inplace: bool
    ) -> torch.Tensor:
        tau = self.time_constant
        decay = exp_decay(self.step_time, tau)
        return exponential_current(
            self.current_state, spikes, decay, self.spike_charge / tau, inplace=inplace
        )


class DoubleExponentialCurrent(HistorySynapse):
    r"""A difference of exponentials, with a rise and a decay time constant.

    .. math::
        A[t] &= A[t - \Delta t]\, e^{-\Delta t / \tau_d} + a\, s[t] \\
        B[t] &= B[t - \Delta t]\, e^{-\Delta t / \tau_r} + a\, s[t] \\
        I[t] &= A[t] - B[t], \qquad a = \frac{q}{\tau_d - \tau_r}

    A spike at time 0 gives
    :math:`I(t) = \frac{q}{\tau_d - \tau_r}(e^{-t/\tau_d} - e^{-t/\tau_r})`:
    0 at the spike, peaking at
    :math:`t^* = \frac{\tau_d \tau_r}{\tau_d - \tau_r}\ln(\tau_d/\tau_r)`, with
    integral :math:`q`.

    Args:
        shape: shape of the presynaptic group, excluding the batch dimension.
        step_time: simulation step :math:`\Delta t`, in ms.
        spike_charge: :math:`q`, charge per spike in pC.
        tc_decay: :math:`\tau_d` in ms, positive and greater than ``tc_rise``.
        tc_rise: :math:`\tau_r` in ms, positive.
        delay, interp_mode, current_overbound, spike_overbound, check_inputs:
            see :class:`HistorySynapse`.

    Raises:
        ValueError: a time constant not positive, or ``tc_decay <= tc_rise``.

    State:
        ``decay_term`` (:math:`A`) and ``rise_term`` (:math:`B`), nA, ``(batch, *shape)``.
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float,
        *,
        spike_charge: float | torch.Tensor = 1.0,
        tc_decay: float | torch.Tensor = 5.0,
        tc_rise: float | torch.Tensor = 1.0,
        delay: float = 0.0,
        interp_mode: str = "linear",
        current_overbound: float | None = None,
        spike_overbound: bool | None = None,
        check_inputs: bool = True,
    ) -> None:
        super().__init__(
            shape,
            step_time,
            delay=delay,
            interp_mode=interp_mode,
            current_overbound=current_overbound,
            spike_overbound=spike_overbound,
            check_inputs=check_inputs,
        )
        # Each is checked (positive, shape) before the two are compared; the half-built
        # synapse is discarded on an error.
        tc_decay = self._parameter("tc_decay", tc_decay, unit="ms")
        tc_rise = self._parameter("tc_rise", tc_rise, unit="ms")
        check_greater("tc_decay", tc_decay, "tc_rise", tc_rise)
        self._parameter("spike_charge", spike_charge, check=_finite_charge, unit="pC")
        self.register_state("decay_term")
        self.register_state("rise_term")

    def init_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> None:
        super().init_state(batch, dtype, device)
        self.decay_term = torch.zeros_like(self.current_state)
        self.rise_term = torch.zeros_like(self.current_state)

    def integrate(
        self, spikes: torch.Tensor, *extra: torch.Tensor | None, inplace: bool
    ) -> torch.Tensor:
        decay = exp_decay(self.step_time, self.tc_decay)
        rise = exp_decay(self.step_time, self.tc_rise)
        increment = self.spike_charge / (self.tc_decay - self.tc_rise)
        decay_term, rise_term, current = double_exponential_current(
            self.decay_term,
            self.rise_term,
            spikes,
            decay,
            rise,
            increment,
            inplace=inplace,
            out=self.current_state if inplace else None,
        )
        if not inplace:
            self.decay_term, self.rise_term = decay_term, rise_term
        return current


def _finite_charge(name: str, value: float | torch.Tensor, unit: str = "") -> float | torch.Tensor:
    return finite(name, value)
