r"""Encoders: modules that turn intensities in [0, 1] into spike trains.

Every encoder maps a batch of intensities ``(batch, ...)`` to spikes
``(T, batch, ...)``, time first, over ``steps`` steps of ``step_time`` ms,
with the maths, and the generation a window of steps at a time, in
:mod:`inferno_lightning.functional.encoding` (an encoder holds its
configuration and picks the window):

- :class:`PoissonEncoder`: homogeneous Poisson trains at ``intensity * max_rate``
  Hz, exact (exponential intervals) or the Bernoulli approximation, with an
  optional refractory period and compensation for it.
- :class:`RateEncoder`: regular, deterministic trains at ``intensity * max_rate`` Hz.
- :class:`LatencyEncoder`: one spike per input, stronger inputs earlier.

``encoder(x)`` returns all ``T`` steps at once; ``encoder.iter(x)`` yields them
one ``(batch, ...)`` step at a time, generating a few steps at a time, so long
presentations never hold the whole train.

Example::

    >>> encoder = PoissonEncoder(1.0, steps=250, max_rate=63.75)
    >>> spikes = encoder(torch.rand(16, 784), generator=torch.Generator().manual_seed(0))
    >>> spikes.shape
    torch.Size([250, 16, 784])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

from .._validation import as_float, check_choice, flag, nonnegative, positive
from ..functional.encoding import (
    check_generator,
    check_intensities,
    check_latency_mapping,
    check_phase,
    check_poisson_rate,
    check_regular_rate,
    latency_windows,
    poisson_windows,
    refractory_steps,
    regular_windows,
    spike_dtype,
)

__all__ = ["Encoder", "PoissonEncoder", "RateEncoder", "LatencyEncoder"]

_DEFAULT_CHUNK_STEPS = 32


def _resolve_steps(step_time: float, steps: int | None, duration: float | None) -> int:
    if (steps is None) == (duration is None):
        raise ValueError(
            f"give exactly one of steps or duration (ms), got steps={steps!r} and "
            f"duration={duration!r}"
        )
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise TypeError(f"steps must be a positive int, got {steps!r}")
        if steps <= 0:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        return steps
    duration = as_float("duration", duration, positive, "ms")
    count = round(duration / step_time)
    if count < 1 or abs(count * step_time - duration) > 1e-9 * max(1.0, duration):
        raise ValueError(
            f"duration must be a positive whole number of steps of step_time {step_time} ms, "
            f"got {duration} ms ({duration / step_time} steps)"
        )
    return count


class Encoder(nn.Module, ABC):
    r"""Base of the encoders: intensities ``(batch, ...)`` to spikes ``(T, batch, ...)``.

    Args:
        step_time: step :math:`\Delta t`, in ms, positive.
        steps: number of steps :math:`T` per presentation, positive.
        duration: presentation length in ms, instead of ``steps``; must be a
            whole number of steps, :math:`T = \text{duration} / \Delta t`.
        dtype: dtype of the spikes; ``None`` (the default) uses the dtype of
            the intensities if floating, else the default dtype. Any dtype,
            ``torch.bool`` included.

    Raises:
        ValueError: ``step_time`` not positive, neither or both of ``steps``
            and ``duration``, ``steps`` not positive, ``duration`` not a
            positive whole number of steps.
    """

    def __init__(
        self,
        step_time: float,
        *,
        steps: int | None = None,
        duration: float | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self._step_time = as_float("step_time", step_time, positive, "ms")
        self._steps = _resolve_steps(self._step_time, steps, duration)
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtype must be a torch.dtype or None, got {dtype!r}")
        self.dtype = dtype

    @property
    def step_time(self) -> float:
        r"""Step :math:`\Delta t`, in ms."""
        return self._step_time

    @property
    def steps(self) -> int:
        """Number of steps :math:`T` per presentation."""
        return self._steps

    @property
    def duration(self) -> float:
        """Presentation length ``steps * step_time``, in ms."""
        return self._steps * self._step_time

    def forward(
        self, intensities: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Encode a batch into a whole spike train.

        Args:
            intensities: ``(batch, ...)``, every value in [0, 1].
            generator: source of randomness for random encoders, on the device
                of ``intensities``; overrides one given at construction.
                Deterministic encoders ignore it.

        Returns:
            Spikes ``(steps, batch, ...)`` of 0/1 in :attr:`dtype`.

        Raises:
            ValueError: ``intensities`` without a batch dimension, NaN or
                outside [0, 1]; ``generator`` on another device.
        """
        windows = self._start(intensities, generator, self._steps)
        (spikes,) = windows
        return spikes

    def iter(
        self,
        intensities: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        chunk_steps: int = _DEFAULT_CHUNK_STEPS,
    ) -> Iterator[torch.Tensor]:
        """Encode a batch, one step at a time.

        Arguments are checked at once, not on the first ``next()``. Steps are
        generated ``chunk_steps`` at a time, so at most ``chunk_steps`` steps
        are held in memory. Deterministic encoders give exactly the steps of
        ``forward``; random ones give a train with the same statistics, the
        same for the same generator state and ``chunk_steps``, and identical
        to ``forward`` when ``chunk_steps >= steps``.

        Args:
            intensities: ``(batch, ...)``, every value in [0, 1].
            generator: as in :meth:`forward`.
            chunk_steps: steps generated together, positive.

        Returns:
            An iterator over ``steps`` tensors ``(batch, ...)``.
        """
        if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
            raise ValueError(f"chunk_steps must be a positive int, got {chunk_steps!r}")
        windows = self._start(intensities, generator, chunk_steps)
        return (step for window in windows for step in window.unbind(0))

    def _start(
        self, intensities: torch.Tensor, generator: torch.Generator | None, window: int
    ) -> Iterator[torch.Tensor]:
        check_intensities(intensities, batched=True)
        generator = self._generator(generator)
        # Deterministic encoders ignore the generator, but a wrong one is still named.
        check_generator(generator, intensities.device)
        dtype = spike_dtype(self.dtype, intensities)
        return self._windows(intensities.detach(), generator, window, dtype)

    def _generator(self, generator: torch.Generator | None) -> torch.Generator | None:
        return generator

    @abstractmethod
    def _windows(
        self,
        intensities: torch.Tensor,
        generator: torch.Generator | None,
        window: int,
        dtype: torch.dtype,
    ) -> Iterator[torch.Tensor]:
        """The train in consecutive windows of ``window`` steps (the last may be shorter)."""

    def extra_repr(self) -> str:
        return f"step_time={self._step_time}, steps={self._steps}"


class PoissonEncoder(Encoder):
    r"""Homogeneous Poisson spike trains at a rate proportional to the intensity.

    Input :math:`x \in [0, 1]` gives a train at :math:`r = x \, r_\text{max}`
    Hz. ``method="exact"`` sums exponential inter-spike intervals
    (:func:`~inferno_lightning.functional.encoding.homogeneous_poisson_exp_interval`);
    ``method="bernoulli"`` spikes in each step with probability
    :math:`r \Delta t / 1000`
    (:func:`~inferno_lightning.functional.encoding.homogeneous_poisson_bernoulli_approx`),
    cheaper and requiring :math:`r_\text{max} \Delta t \le 1000`.

    With ``refrac_t`` > 0 two spikes are at least
    :math:`R = \lceil t_\text{refrac} / \Delta t \rceil` steps apart, and
    ``compensate`` (the default) raises the drawn rate so that the delivered
    rate is still :math:`r` (exact method: :math:`r' = r / (1 - r R \Delta t / 1000)`;
    needs :math:`r_\text{max} R \Delta t \le 1000`). Without a refractory
    period the exact method merges several spikes in one step into one, so it
    delivers a spike probability of :math:`1 - e^{-r \Delta t / 1000}` per step.

    Args:
        step_time: step :math:`\Delta t`, in ms, positive.
        steps: number of steps :math:`T`, positive (or give ``duration``).
        duration: presentation length in ms, a whole number of steps.
        max_rate: rate :math:`r_\text{max}` of intensity 1, in Hz, non-negative.
        method: ``"exact"`` (default) or ``"bernoulli"``.
        refrac_t: absolute refractory period in ms, non-negative, rounded up
            to whole steps. Defaults to 0.
        compensate: keep the delivered rate at :math:`r` despite ``refrac_t``.
            Defaults to True.
        generator: default source of randomness, used when ``forward`` gets
            none; it must be on the device of the intensities (a CPU generator
            does not follow ``module.to("cuda")``). ``None`` uses the global
            generator of that device.
        dtype: dtype of the spikes (see :class:`Encoder`).

    Raises:
        TypeError: ``compensate`` not a bool, ``generator`` not a ``torch.Generator``.
        ValueError: as :class:`Encoder`; ``max_rate`` negative or not finite;
            ``refrac_t`` negative; an unknown ``method``; ``max_rate`` too
            high for the Bernoulli approximation (:math:`r_\text{max} \Delta t > 1000`)
            or to be compensated for ``refrac_t``.

    Example::

        >>> encoder = PoissonEncoder(0.5, duration=100.0, max_rate=40.0, refrac_t=2.0)
        >>> g = torch.Generator().manual_seed(1)
        >>> encoder(torch.full((4, 10), 0.5), g).shape
        torch.Size([200, 4, 10])
    """

    def __init__(
        self,
        step_time: float,
        *,
        steps: int | None = None,
        duration: float | None = None,
        max_rate: float,
        method: Literal["exact", "bernoulli"] = "exact",
        refrac_t: float = 0.0,
        compensate: bool = True,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(step_time, steps=steps, duration=duration, dtype=dtype)
        self.max_rate = as_float("max_rate", max_rate, nonnegative, "Hz")
        check_choice("method", method, ("exact", "bernoulli"))
        self.method = method
        self.refrac_t = as_float("refrac_t", refrac_t, nonnegative, "ms")
        self.compensate = flag("compensate", compensate)
        self._refrac_steps = refractory_steps(self.refrac_t, self._step_time)
        check_poisson_rate(
            self.max_rate,
            self._step_time,
            method=method,
            refrac_t=self.refrac_t,
            compensate=self.compensate,
            name="max_rate",
        )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        self.generator = generator

    @property
    def refrac_steps(self) -> int:
        """Refractory period in whole steps, :math:`R`."""
        return self._refrac_steps

    def _generator(self, generator: torch.Generator | None) -> torch.Generator | None:
        return generator if generator is not None else self.generator

    def _windows(
        self,
        intensities: torch.Tensor,
        generator: torch.Generator | None,
        window: int,
        dtype: torch.dtype,
    ) -> Iterator[torch.Tensor]:
        return poisson_windows(
            intensities.to(torch.float64) * self.max_rate,
            self._steps,
            self._step_time,
            window=window,
            method=self.method,
            refrac_t=self.refrac_t,
            compensate=self.compensate,
            # The configured bound sizes the rounds of draws, so how the generator
            # is consumed follows the configuration, not the batch's largest value.
            max_rate=self.max_rate,
            generator=generator,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, max_rate={self.max_rate}, method={self.method!r}, "
            f"refrac_t={self.refrac_t}, compensate={self.compensate}"
        )


class RateEncoder(Encoder):
    r"""Regular, deterministic spike trains at a rate proportional to the intensity.

    Input :math:`x \in [0, 1]` spikes at :math:`r = x \, r_\text{max}` Hz,
    through a phase accumulator
    (:func:`~inferno_lightning.functional.encoding.homogeneous_regular`): with
    :math:`\lambda = r \Delta t / 1000`, step :math:`n` spikes when
    :math:`\lfloor (n + 1)\lambda + \varphi \rfloor > \lfloor n\lambda + \varphi \rfloor`,
    so a train holds exactly :math:`\lfloor T \lambda + \varphi \rfloor` spikes.
    With :math:`\varphi = 0`, 100 Hz at 1 ms spikes at steps 9, 19, 29, ....

    Args:
        step_time: step :math:`\Delta t`, in ms, positive.
        steps: number of steps :math:`T`, positive (or give ``duration``).
        duration: presentation length in ms, a whole number of steps.
        max_rate: rate :math:`r_\text{max}` of intensity 1, in Hz, with at
            most one spike per step: :math:`0 \le r_\text{max} \Delta t \le 1000`.
        phase: initial phase :math:`\varphi \in [0, 1)`, the fraction of a
            period already elapsed at time 0. Defaults to 0.
        dtype: dtype of the spikes (see :class:`Encoder`).

    Raises:
        ValueError: as :class:`Encoder`; ``max_rate`` negative or above one
            spike per step; ``phase`` outside [0, 1).
    """

    def __init__(
        self,
        step_time: float,
        *,
        steps: int | None = None,
        duration: float | None = None,
        max_rate: float,
        phase: float = 0.0,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(step_time, steps=steps, duration=duration, dtype=dtype)
        self.max_rate = as_float("max_rate", max_rate, nonnegative, "Hz")
        check_regular_rate(self.max_rate, self._step_time, name="max_rate")
        self.phase = check_phase(phase)

    def _windows(
        self,
        intensities: torch.Tensor,
        generator: torch.Generator | None,
        window: int,
        dtype: torch.dtype,
    ) -> Iterator[torch.Tensor]:
        return regular_windows(
            intensities.to(torch.float64) * self.max_rate,
            self._steps,
            self._step_time,
            window=window,
            phase=self.phase,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, max_rate={self.max_rate}, phase={self.phase}"


class LatencyEncoder(Encoder):
    r"""Time-to-first-spike encoding: one spike per input, stronger inputs earlier.

    Each input :math:`x \in [0, 1]` spikes once, at the step nearest to a
    time :math:`t` (ms) (:func:`~inferno_lightning.functional.encoding.latency`):

    - ``"linear"`` (default): :math:`t = (1 - x)(T - 1)\Delta t`, so step
      :math:`n = \lfloor (1 - x)(T - 1) + 1/2 \rfloor`: :math:`x = 1` at
      step 0, :math:`x \to 0^+` at step :math:`T - 1`.
    - ``"log"``: :math:`t = \tau \ln(x / (x - \theta))` for :math:`x > \theta`,
      the time a leaky integrator driven by :math:`x` needs to reach
      :math:`\theta`.

    Zero inputs (``"log"``: inputs at or below :math:`\theta`) and inputs whose
    time falls after the window do not spike, unless ``fire_last`` is set: then
    they spike at the last step and every input spikes exactly once.

    Args:
        step_time: step :math:`\Delta t`, in ms, positive.
        steps: number of steps :math:`T`, positive (or give ``duration``).
        duration: presentation length in ms, a whole number of steps.
        mapping: ``"linear"`` or ``"log"``.
        time_constant: :math:`\tau` in ms, required for ``"log"``.
        threshold: :math:`\theta \in (0, 1)` for ``"log"``. Defaults to 0.2.
        fire_last: silent inputs spike at the last step. Defaults to False.
        dtype: dtype of the spikes (see :class:`Encoder`).

    Raises:
        TypeError: ``fire_last`` not a bool.
        ValueError: as :class:`Encoder`; an unknown ``mapping``;
            ``time_constant`` not positive (when given, for either mapping);
            ``time_constant`` missing, or ``threshold`` outside (0, 1), for
            ``"log"``.
    """

    def __init__(
        self,
        step_time: float,
        *,
        steps: int | None = None,
        duration: float | None = None,
        mapping: Literal["linear", "log"] = "linear",
        time_constant: float | None = None,
        threshold: float = 0.2,
        fire_last: bool = False,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(step_time, steps=steps, duration=duration, dtype=dtype)
        self.time_constant, self.threshold = check_latency_mapping(
            mapping, time_constant, threshold
        )
        self.mapping = mapping
        self.fire_last = flag("fire_last", fire_last)

    def _windows(
        self,
        intensities: torch.Tensor,
        generator: torch.Generator | None,
        window: int,
        dtype: torch.dtype,
    ) -> Iterator[torch.Tensor]:
        return latency_windows(
            intensities,
            self._steps,
            self._step_time,
            window=window,
            mapping=self.mapping,
            time_constant=self.time_constant,
            threshold=self.threshold,
            fire_last=self.fire_last,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mapping={self.mapping!r}, fire_last={self.fire_last}"
