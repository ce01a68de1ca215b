r"""Spike-train encodings: pure functions from rates or intensities to spikes.

Every function returns a time-first tensor ``(steps, *shape)`` of 0/1 values.
Time is in ms and rates in Hz, so the expected number of spikes a rate
:math:`r` gives in one step of length :math:`\Delta t` is

.. math::
    \lambda = r \, \Delta t / 1000.

Step :math:`n` covers the interval :math:`[n \Delta t, (n + 1) \Delta t)`.

Absolute refractory periods are counted in whole steps, rounded up:
:math:`R = \lceil t_\text{refrac} / \Delta t \rceil`. As for a neuron, the step
of a spike is the first of its :math:`R` refractory steps, so two spikes are
always at least :math:`R` steps apart.

Random encoders draw every random number from the optional ``generator``
(which must live on the device of the input), so a fixed seed gives the same
spikes on the same device.

Each encoding has one implementation, a generator of consecutive windows of at
most ``window`` steps (:func:`poisson_windows`, :func:`regular_windows`,
:func:`latency_windows`), so a long train is never held whole; the whole-train
functions are its one-window case. The encoder modules of
:mod:`inferno_lightning.encode` call the same generators, and the same public
checks (:func:`check_intensities`, :func:`check_poisson_rate`, ...) for the
arguments they hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Literal

import torch

__all__ = [
    "refractory_steps",
    "refractory_compensated_rate",
    "homogeneous_poisson_exp_interval",
    "homogeneous_poisson_bernoulli_approx",
    "homogeneous_regular",
    "latency",
    "poisson_windows",
    "regular_windows",
    "latency_windows",
    "check_intensities",
    "check_generator",
    "check_poisson_rate",
    "check_regular_rate",
    "check_phase",
    "check_latency_mapping",
    "spike_dtype",
]

# Tolerance for quantities that are meant to land exactly on a step boundary
# (2.0 / 1.0 refractory steps, a regular train's 10th period) but carry
# floating-point error.
_EPS = 1e-9

LatencyMapping = Literal["linear", "log"]
PoissonMethod = Literal["exact", "bernoulli"]


# --------------------------------------------------------------------------- checks


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_steps(steps: int) -> int:
    return _check_count("steps", steps)


def _check_time(name: str, value: float, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number in ms, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {kind} and finite (ms), got {value!r}")
    return value


def _check_rate(name: str, value: float) -> float:
    """Require one finite non-negative rate in Hz (a Python number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number in Hz, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be non-negative and finite (Hz), got {value!r}")
    return value


def _check_rates(rates: torch.Tensor, bound: float | None = None) -> float:
    """Require finite non-negative rates; return the largest, or ``bound``.

    Without ``bound``: two device syncs (the check, the largest). With an upper
    ``bound`` on the rates (``max_rate``): one, and ``bound`` is returned.
    """
    if not isinstance(rates, torch.Tensor):
        raise TypeError(f"rates must be a torch.Tensor of rates in Hz, got {type(rates).__name__}")
    if rates.is_complex() or rates.dtype == torch.bool:
        raise TypeError(f"rates must be a real tensor of rates in Hz, got dtype {rates.dtype}")
    if rates.numel() == 0:
        return 0.0 if bound is None else bound
    values = rates.detach()
    valid = (values >= 0) & torch.isfinite(values)
    within = valid if bound is None else (values >= 0) & (values <= bound * (1 + _EPS))
    if bool((~within).any()):
        bad = ~valid
        if bound is not None and not bool(bad.any()):
            raise ValueError(
                f"max_rate must be at least the largest rate, got max_rate {bound} Hz "
                f"and a rate of {float(values.max())} Hz"
            )
        raise ValueError(
            f"rates must be non-negative and finite (Hz), got {int(bad.sum())} invalid "
            f"value(s) in a tensor of shape {tuple(rates.shape)}"
        )
    return float(values.max()) if bound is None else bound


def _check_method(method: str) -> PoissonMethod:
    if method not in ("exact", "bernoulli"):
        raise ValueError(f"method must be one of ['exact', 'bernoulli'], got {method!r}")
    return method


def check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    """Require ``None`` or a ``torch.Generator`` on ``device``.

    Checked before any draw, so the message names the generator and both devices.

    Args:
        generator: the source of randomness to check, or ``None`` (the global
            generator of ``device``).
        device: the device of the tensor the generator will draw for.

    Raises:
        TypeError: ``generator`` is neither ``None`` nor a ``torch.Generator``.
        ValueError: ``generator`` lives on another device than ``device``.
    """
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    gen_device = generator.device
    same = gen_device.type == device.type and (
        gen_device.index is None or device.index is None or gen_device.index == device.index
    )
    if not same:
        raise ValueError(
            f"generator is on device {gen_device} but the input is on {device}; "
            f"create it with torch.Generator(device={str(device)!r})"
        )


def spike_dtype(dtype: torch.dtype | None, like: torch.Tensor) -> torch.dtype:
    """The dtype of an encoding's spikes: ``dtype`` if given, else that of ``like`` if floating.

    Args:
        dtype: the requested dtype (any, ``torch.bool`` included), or ``None``.
        like: the encoded input (rates or intensities).

    Returns:
        ``dtype``; for ``None``, the dtype of ``like`` if it is floating, else
        ``torch.get_default_dtype()``.

    Raises:
        TypeError: ``dtype`` is neither ``None`` nor a ``torch.dtype``.
    """
    if dtype is not None:
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtype must be a torch.dtype or None, got {dtype!r}")
        return dtype
    return like.dtype if like.is_floating_point() else torch.get_default_dtype()


def check_intensities(intensities: torch.Tensor, *, batched: bool = False) -> None:
    r"""Require a real tensor of intensities, every value in :math:`[0, 1]` (NaN fails).

    One device synchronisation when the tensor holds values (to read whether
    any is out of range).

    Args:
        intensities: the tensor to check, shape ``(*shape)``; ``bool`` passes.
        batched: also require a batch dimension, i.e. shape ``(batch, ...)``
            rather than a 0-d tensor. Defaults to False.

    Raises:
        TypeError: ``intensities`` is not a real tensor.
        ValueError: no batch dimension (if ``batched``), or values outside
            :math:`[0, 1]` (the message counts them and the NaNs among them).
    """
    if not isinstance(intensities, torch.Tensor):
        raise TypeError(
            f"intensities must be a torch.Tensor of values in [0, 1], got {type(intensities).__name__}"
        )
    if intensities.is_complex():
        raise TypeError(f"intensities must be a real tensor, got dtype {intensities.dtype}")
    if batched and intensities.dim() == 0:
        raise ValueError("intensities must have shape (batch, ...), got a 0-d tensor")
    if intensities.numel() == 0 or intensities.dtype == torch.bool:
        return
    values = intensities.detach()
    bad = ~((values >= 0) & (values <= 1))
    if bool(bad.any()):
        nan = int(torch.isnan(values).sum()) if values.is_floating_point() else 0
        numbers = values[~torch.isnan(values)] if values.is_floating_point() else values
        span = (
            f", values from {float(numbers.min())} to {float(numbers.max())}"
            if numbers.numel()
            else ""
        )
        raise ValueError(
            f"intensities must lie in [0, 1], got {int(bad.sum())} value(s) outside "
            f"({nan} NaN){span}"
        )


# --------------------------------------------------------------------------- refractoriness


def refractory_steps(refrac_t: float, step_time: float) -> int:
    r"""Whole steps an absolute refractory period spans, :math:`R = \lceil t_\text{refrac} / \Delta t \rceil`.

    A value within :math:`10^{-9}` of a whole number of steps counts as that
    number (so ``refractory_steps(0.3, 0.1) == 3`` despite rounding error).

    Args:
        refrac_t: refractory period :math:`t_\text{refrac}`, in ms, non-negative.
        step_time: step :math:`\Delta t`, in ms, positive.

    Returns:
        :math:`R`, the number of steps a spike blocks, its own step included.

    Raises:
        ValueError: ``refrac_t`` negative or ``step_time`` not positive.
    """
    refrac_t = _check_time("refrac_t", refrac_t, allow_zero=True)
    step_time = _check_time("step_time", step_time, allow_zero=False)
    return max(0, math.ceil(refrac_t / step_time - _EPS))


def refractory_compensated_rate(rates: torch.Tensor, refrac_t: float) -> torch.Tensor:
    r"""Rate to draw from so that, after a dead time, the requested rate is delivered.

    A renewal process whose intervals are a dead time :math:`d` plus an
    exponential interval of rate :math:`r'` has mean interval
    :math:`d + 1/r'`. Setting that to :math:`1/r` gives

    .. math::
        r' = \frac{r}{1 - r \, d / 1000},

    with :math:`r, r'` in Hz and :math:`d` in ms. It is finite only for
    :math:`r \, d < 1000`; at :math:`r \, d = 1000` the train is regular with
    period :math:`d` and :math:`r' = \infty`.

    Args:
        rates: requested rates :math:`r`, in Hz, any shape, non-negative.
        refrac_t: dead time :math:`d`, in ms, non-negative.

    Returns:
        :math:`r'` in Hz, same shape and dtype as ``rates`` (``inf`` where
        :math:`r \, d = 1000`).

    Raises:
        ValueError: a rate is negative or not finite, ``refrac_t`` is
            negative, or some :math:`r \, d > 1000` (that rate cannot be
            delivered with that dead time).
    """
    max_rate = _check_rates(rates)
    refrac_t = _check_time("refrac_t", refrac_t, allow_zero=True)
    if max_rate * refrac_t > 1000.0 * (1 + _EPS):
        raise ValueError(
            f"rates too high for refrac_t: rate * refrac_t must be at most 1000 Hz*ms, "
            f"got a rate of {max_rate} Hz with refrac_t {refrac_t} ms"
        )
    return rates / (1 - rates * (refrac_t / 1000.0)).clamp_min(0)


# --------------------------------------------------------------------------- Poisson


def _free_interval_scale(
    lam: torch.Tensor, dead: int, compensate: bool, discrete: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale of the random part of the interval and the mean interval, both in steps.

    ``lam`` is the requested number of spikes per step (float64). Continuous
    (exact) intervals are ``dead + scale * E``; discrete (Bernoulli) ones are
    ``dead + ceil(scale * E)`` with ``scale = -1 / log(1 - p)``, a geometric
    number of steps; ``E`` is a unit exponential draw.
    """
    if discrete:
        p = lam / (1 - lam * dead) if compensate else lam
        p = p.clamp(0, 1)
        scale = -1 / torch.log1p(-p)  # p = 0 -> inf, p = 1 -> 0
        mean = dead + 1 / p
    else:
        scale = 1 / lam - dead if compensate else 1 / lam
        scale = scale.clamp_min(0)
        mean = dead + scale
    return scale, mean


def _draw_free(
    scale: torch.Tensor, count: int | None, discrete: bool, generator: torch.Generator | None
) -> torch.Tensor:
    shape = tuple(scale.shape) if count is None else (count, *scale.shape)
    unit = torch.empty(shape, dtype=torch.float64, device=scale.device)
    # A draw of exactly 0 would turn an infinite scale (rate 0) into NaN.
    unit.exponential_(generator=generator).clamp_min_(1e-300)
    free = unit * scale
    if discrete:
        free = free.ceil_().clamp_min_(1)
    return free


def _first_events(
    scale: torch.Tensor,
    mean: torch.Tensor,
    dead: int,
    discrete: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Time (in steps) of each train's first event, drawn from the stationary start.

    The first event of a stationary renewal process comes after the forward
    recurrence time, whose density is ``P(interval > x) / mean``: uniform over
    the dead time with total probability ``dead / mean``, otherwise the dead
    time plus a free draw. Starting this way, the expected count in any
    window is exactly ``window / mean``.
    """
    free = _draw_free(scale, None, discrete, generator)
    # The discrete process counts the spike step as the first of the free
    # draw's steps, hence the -1 (a first spike at step 0 needs free = 1).
    after_dead = dead + free - (1 if discrete else 0)
    if dead == 0:
        return after_dead
    choose = torch.rand(scale.shape, dtype=torch.float64, device=scale.device, generator=generator)
    within = torch.rand(scale.shape, dtype=torch.float64, device=scale.device, generator=generator)
    within = within * dead
    if discrete:
        within = within.floor_()
    return torch.where(choose * mean < dead, within, after_dead)


def _renewal_window(
    next_event: torch.Tensor,
    steps: int,
    draw: Callable[[int], torch.Tensor],
    chunk: int,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes of renewal trains over ``steps`` steps, and their next events.

    ``next_event`` holds, per train, the time (in steps, float64) of its next
    event from the start of the window. Events at time ``u`` fall in step
    ``floor(u)``; several in one step give one spike. ``draw(k)`` returns
    ``k`` further intervals per train. Returns spikes ``(steps, *shape)`` and
    the time of each train's first event at or after the window's end,
    measured from that end.
    """
    shape = tuple(next_event.shape)
    out = torch.zeros((steps + 1, *shape), dtype=dtype, device=next_event.device)
    times = next_event.unsqueeze(0)
    after = torch.full(shape, math.inf, dtype=torch.float64, device=next_event.device)
    while True:
        # Events beyond the window land in the spare last row, dropped below.
        index = torch.where(times < steps, times, float(steps)).long()
        out.scatter_(0, index, 1)
        beyond = torch.where(times >= steps, times, math.inf)
        after = torch.minimum(after, beyond.amin(0))
        last = times[-1]
        active = last < steps
        if not bool(active.any()):
            break
        times = torch.where(active, last + draw(chunk).cumsum(0), last)
    return out[:steps], after - steps


def _chunk_size(window: int, mean_min: float, dead: int) -> int:
    """Intervals to draw per round: enough for nearly every train in one round."""
    expected = window / mean_min if mean_min > 0 else float(window)
    size = math.ceil(expected + 4 * math.sqrt(expected) + 2)
    # With a dead time of R steps a window holds at most ceil(window / R) spikes.
    cap = math.ceil(window / dead) + 1 if dead >= 1 else window + 1
    return max(1, min(size, cap))


def _generate_poisson(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    method: PoissonMethod,
    refrac: int,
    compensate: bool,
    max_rate: float,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    window: int,
) -> Iterator[torch.Tensor]:
    """Yield a Poisson train in windows of at most ``window`` steps (arguments already checked)."""
    discrete = method == "bernoulli"
    lam = rates.detach().to(torch.float64) * (step_time / 1000.0)
    if discrete and refrac <= 1:
        # No dead time beyond the spike's own step: a Bernoulli trial per step.
        p = lam.to(torch.float32)
        for start in range(0, steps, window):
            size = min(window, steps - start)
            draws = torch.rand((size, *p.shape), device=p.device, generator=generator)
            yield (draws < p).to(dtype)
        return
    dead = refrac - 1 if discrete else refrac
    scale, mean = _free_interval_scale(lam, dead, compensate, discrete)
    lam_max = max_rate * step_time / 1000.0
    if lam_max > 0:
        if compensate:
            mean_min = 1 / lam_max
        else:
            mean_min = dead + 1 / lam_max
    else:
        mean_min = math.inf
    next_event = _first_events(scale, mean, dead, discrete, generator)

    def draw(count: int) -> torch.Tensor:
        return dead + _draw_free(scale, count, discrete, generator)

    for start in range(0, steps, window):
        size = min(window, steps - start)
        spikes, next_event = _renewal_window(
            next_event, size, draw, _chunk_size(size, mean_min, dead), dtype
        )
        yield spikes


def check_poisson_rate(
    max_rate: float,
    step_time: float,
    *,
    method: PoissonMethod = "exact",
    refrac_t: float = 0.0,
    compensate: bool = True,
    name: str = "rates",
) -> None:
    r"""Require that a Poisson train can deliver the rate ``max_rate``.

    With :math:`\lambda = r_\text{max} \Delta t / 1000` spikes per step and
    :math:`R` refractory steps (:func:`refractory_steps`):

    - ``method="bernoulli"`` needs :math:`\lambda \le 1`, a probability per step;
    - ``compensate`` needs :math:`R \lambda \le 1`: a spike every :math:`R`
      steps is the most a refractory train delivers.

    Both within :math:`10^{-9}`. This is the check
    :func:`homogeneous_poisson_exp_interval`,
    :func:`homogeneous_poisson_bernoulli_approx` and :func:`poisson_windows`
    make of their largest rate; an encoder makes it of its own ``max_rate``.

    Args:
        max_rate: the largest rate :math:`r_\text{max}`, in Hz, non-negative.
        step_time: step :math:`\Delta t`, in ms, positive.
        method: ``"exact"`` or ``"bernoulli"``. Defaults to ``"exact"``.
        refrac_t: absolute refractory period, in ms, non-negative. Defaults to 0.
        compensate: whether the rate is to be compensated for ``refrac_t``.
            Defaults to True.
        name: the name of ``max_rate`` in the messages. Defaults to ``"rates"``.

    Raises:
        TypeError: ``max_rate``, ``step_time`` or ``refrac_t`` not a real number.
        ValueError: ``max_rate`` negative or not finite, ``step_time`` not
            positive, ``refrac_t`` negative, an unknown ``method``, or a rate
            too high as above (the message names ``name``).
    """
    max_rate = _check_rate(name, max_rate)
    step_time = _check_time("step_time", step_time, allow_zero=False)
    method = _check_method(method)
    refrac = refractory_steps(refrac_t, step_time)
    lam = max_rate * step_time / 1000.0
    if method == "bernoulli" and lam > 1 + _EPS:
        raise ValueError(
            f"{name} too high for the Bernoulli approximation: rate * step_time / 1000 "
            f"is a spike probability per step and must be at most 1, got "
            f"{max_rate} Hz * {step_time} ms / 1000 = {lam}"
        )
    if compensate and lam * refrac > 1 + _EPS:
        raise ValueError(
            f"{name} too high for refrac_t: with a refractory period of {refrac} step(s) "
            f"of {step_time} ms at most {1000.0 / (refrac * step_time)} Hz can be delivered, "
            f"got {max_rate} Hz"
        )


def poisson_windows(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    window: int,
    method: PoissonMethod = "exact",
    refrac_t: float = 0.0,
    compensate: bool = True,
    max_rate: float | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    r"""Homogeneous Poisson spike trains, generated ``window`` steps at a time.

    The process of :func:`homogeneous_poisson_exp_interval` (``method="exact"``)
    or :func:`homogeneous_poisson_bernoulli_approx` (``method="bernoulli"``),
    which are this function's one-window case. Window :math:`k` holds steps
    :math:`[k w, \min((k + 1) w, T))`, so at most :math:`w \cdot |\text{shape}|`
    spikes are held at a time. Each train's next event is carried from one
    window to the next, so refractory periods and intervals run on across
    window boundaries and the train is one stationary renewal process.

    With :math:`w \ge T` the one window is exactly the whole-train function's
    output for the same generator state. Smaller windows give a train of the
    same process, the same for the same generator state and :math:`w`, but
    drawn in another order of random numbers, hence a different train.

    Arguments are checked when this is called, not on the first ``next()``.

    Args:
        rates: requested rates :math:`r`, in Hz, shape ``(*shape)``, finite and
            non-negative.
        steps: number of steps :math:`T` in all, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        window: steps per window :math:`w`, positive (more than ``steps``
            gives one window).
        method: ``"exact"`` (exponential intervals) or ``"bernoulli"`` (one
            trial per step). Defaults to ``"exact"``.
        refrac_t: absolute refractory period, in ms, non-negative, rounded up
            to whole steps. Defaults to 0.
        compensate: keep the delivered rate at ``rates`` despite the
            refractory period. Defaults to True.
        max_rate: an upper bound on ``rates``, in Hz, at least the largest
            rate; ``None`` (the default) takes the largest rate. It sizes the
            rounds in which intervals are drawn, so it decides which random
            number lands where but not the statistics; an encoder passes its
            own ``max_rate``, so how it consumes the generator follows its
            configuration rather than the batch's largest value. Given, it
            must itself be a rate the method can deliver (checked as the
            largest rate is otherwise), and the rates are checked against it
            with one device sync instead of two.
        generator: source of randomness, on the device of ``rates``.
        dtype: dtype of the spikes; defaults to the dtype of ``rates`` if
            floating, else the default dtype.

    Returns:
        An iterator over :math:`\lceil T / w \rceil` tensors of spikes
        ``(size, *shape)`` of 0/1, ``size`` being :math:`w` but for the last.

    Raises:
        TypeError: ``steps`` or ``window`` not an int, ``rates`` not a real
            tensor, ``generator`` not a ``torch.Generator``, ``dtype`` not a
            ``torch.dtype``.
        ValueError: as :func:`homogeneous_poisson_exp_interval` and
            :func:`homogeneous_poisson_bernoulli_approx`; ``window`` not
            positive, an unknown ``method``, ``max_rate`` below the largest rate.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> windows = poisson_windows(torch.full((2, 3), 50.0), 100, 1.0, window=32, generator=g)
        >>> [tuple(w.shape) for w in windows]
        [(32, 2, 3), (32, 2, 3), (32, 2, 3), (4, 2, 3)]
    """
    bound = None if max_rate is None else _check_rate("max_rate", max_rate)
    bound, refrac = _check_poisson(
        rates, steps, step_time, refrac_t, compensate, method, generator, bound
    )
    window = _check_count("window", window)
    return _generate_poisson(
        rates,
        steps,
        float(step_time),
        method=method,
        refrac=refrac,
        compensate=compensate,
        max_rate=bound,
        generator=generator,
        dtype=spike_dtype(dtype, rates),
        window=window,
    )


def _check_poisson(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    refrac_t: float,
    compensate: bool,
    method: str,
    generator: torch.Generator | None,
    bound: float | None = None,
) -> tuple[float, int]:
    """Check a Poisson call; return the largest rate (or its ``bound``) and the refractory steps."""
    steps = _check_steps(steps)
    step_time = _check_time("step_time", step_time, allow_zero=False)
    refrac = refractory_steps(refrac_t, step_time)
    method = _check_method(method)
    max_rate = _check_rates(rates, bound)
    check_generator(generator, rates.device)
    check_poisson_rate(
        max_rate, step_time, method=method, refrac_t=refrac_t, compensate=compensate, name="rates"
    )
    return max_rate, refrac


def homogeneous_poisson_exp_interval(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    refrac_t: float = 0.0,
    compensate: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Homogeneous Poisson spike trains built from exponential inter-spike intervals.

    Each train is a renewal process in continuous time: intervals are a dead
    time :math:`d = R \Delta t` (:math:`R` the refractory steps, see
    :func:`refractory_steps`) plus an exponential draw,

    .. math::
        I_k = d + E_k / r', \qquad E_k \sim \operatorname{Exp}(1),

    and spike times are their cumulative sums. A spike at time :math:`t` is
    written to step :math:`\lfloor t / \Delta t \rfloor`. The first spike is
    drawn from the process's stationary start (uniform over the dead time with
    probability :math:`d \cdot \text{rate}`, otherwise after a full dead time
    and an exponential draw), so the expected spike count in any window is
    exactly the window times the delivered rate, from the first step on.

    **Several spikes in one step.** Only possible without a refractory period
    (:math:`R = 0`): they merge into a single 1, so the probability of a spike
    in a step is :math:`1 - e^{-\lambda}` rather than :math:`\lambda = r \Delta t / 1000`
    (0.5 % fewer spikes at :math:`\lambda = 0.01`, 5 % at :math:`\lambda = 0.1`).
    Any ``refrac_t > 0`` rules merging out.

    **Refractory compensation.** With ``compensate`` (the default),
    :math:`r' = r / (1 - r d / 1000)` (:func:`refractory_compensated_rate`),
    so the mean interval is :math:`1000 / r` ms and the delivered rate is
    exactly the requested :math:`r`; this needs :math:`r d \le 1000`. Without
    it, :math:`r' = r` and the delivered rate is :math:`r / (1 + r d / 1000)`.

    Rates are in Hz and ``rates`` may have any shape, e.g. ``(batch, ...)``.
    Vectorised over trains and time: intervals are drawn in rounds of many per
    train (usually one or two rounds in all), and a loop runs only over rounds.

    Args:
        rates: requested rates :math:`r`, in Hz, shape ``(*shape)``, finite and
            non-negative. Zero gives no spikes.
        steps: number of steps :math:`T` to generate, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        refrac_t: absolute refractory period, in ms, non-negative, rounded up
            to whole steps. Defaults to 0.
        compensate: raise the drawn rate so the delivered rate equals ``rates``
            despite the refractory period. Defaults to True (no effect when
            ``refrac_t`` is 0).
        generator: source of randomness, on the device of ``rates``.
        dtype: dtype of the output; defaults to the dtype of ``rates`` if
            floating, else the default dtype. ``torch.bool`` is allowed.

    Returns:
        Spikes ``(steps, *shape)``, 1 where a spike falls in a step, else 0.

    Raises:
        TypeError: ``steps`` is not an int, or ``rates`` is not a real tensor.
        ValueError: ``steps`` not positive, ``step_time`` not positive,
            ``refrac_t`` negative, a rate negative or not finite, a rate too
            high to be compensated for the refractory period, or a
            ``generator`` on another device.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> spikes = homogeneous_poisson_exp_interval(torch.full((2, 3), 50.0), 100, 1.0, generator=g)
        >>> spikes.shape
        torch.Size([100, 2, 3])
    """
    with torch.no_grad():
        (spikes,) = poisson_windows(
            rates,
            steps,
            step_time,
            window=steps,
            method="exact",
            refrac_t=refrac_t,
            compensate=compensate,
            generator=generator,
            dtype=dtype,
        )
    return spikes


def homogeneous_poisson_bernoulli_approx(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    refrac_t: float = 0.0,
    compensate: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Approximately Poisson spike trains: one Bernoulli trial per step.

    Each step spikes with probability

    .. math::
        p = \lambda = r \, \Delta t / 1000,

    independently, so the expected count over :math:`T` steps is exactly
    :math:`T \lambda` (the requested rate) while the count is binomial rather
    than Poisson; the approximation is good for :math:`\lambda \ll 1` and
    requires :math:`\lambda \le 1`. One ``torch.rand`` call for all steps.

    **Refractory period.** With :math:`R \ge 2` refractory steps (see
    :func:`refractory_steps`), a spike blocks the :math:`R - 1` steps after
    it, so intervals are :math:`(R - 1) + G` steps with :math:`G` geometric
    on :math:`\{1, 2, \dots\}` with parameter :math:`p`. These are drawn as
    intervals and summed (as in :func:`homogeneous_poisson_exp_interval`,
    with the same stationary start). Since the spike's own step is already one
    trial, the dead time is :math:`(R - 1) \Delta t`, and with ``compensate``

    .. math::
        p = \frac{\lambda}{1 - (R - 1) \lambda},

    which makes the mean interval :math:`1 / \lambda` steps, i.e. the
    delivered rate equals the requested one; this needs :math:`R \lambda \le 1`.
    Without ``compensate``, :math:`p = \lambda` and the delivered rate is
    :math:`r / (1 + (R - 1) \lambda)`. :math:`R \le 1` is the plain process.

    Args:
        rates: requested rates :math:`r`, in Hz, shape ``(*shape)``, finite and
            non-negative.
        steps: number of steps :math:`T` to generate, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        refrac_t: absolute refractory period, in ms, non-negative, rounded up
            to whole steps. Defaults to 0.
        compensate: raise :math:`p` so the delivered rate equals ``rates``
            despite the refractory period. Defaults to True.
        generator: source of randomness, on the device of ``rates``.
        dtype: dtype of the output; defaults to the dtype of ``rates`` if
            floating, else the default dtype.

    Returns:
        Spikes ``(steps, *shape)`` of 0/1.

    Raises:
        TypeError: ``steps`` is not an int, or ``rates`` is not a real tensor.
        ValueError: as :func:`homogeneous_poisson_exp_interval`, and a rate
            with :math:`r \Delta t / 1000 > 1` (a probability above 1).
    """
    with torch.no_grad():
        (spikes,) = poisson_windows(
            rates,
            steps,
            step_time,
            window=steps,
            method="bernoulli",
            refrac_t=refrac_t,
            compensate=compensate,
            generator=generator,
            dtype=dtype,
        )
    return spikes


# --------------------------------------------------------------------------- regular


def _regular_window(
    lam: torch.Tensor, start: int, stop: int, phase: float, lam_max: float, dtype: torch.dtype
) -> torch.Tensor:
    r"""Steps ``start .. stop - 1`` of regular trains with ``lam`` spikes per step (float64).

    The :math:`k`-th spike falls in the first step :math:`n` with
    :math:`(n + 1)\lambda + \varphi \ge k`, i.e.
    :math:`n_k = \lceil (k - \varphi) / \lambda \rceil - 1`; only the few
    spikes of the window are computed and scattered.
    """
    size = stop - start
    out = torch.zeros((size + 1, *lam.shape), dtype=dtype, device=lam.device)
    # Spikes emitted before the window, then at most this many within it.
    before = torch.floor(start * lam + phase + _EPS)
    most = min(size, math.floor(size * lam_max + 1 + _EPS)) if lam_max > 0 else 0
    if most == 0:
        return out[:size]
    # One ordinal to spare on either side: the window's spikes are picked by
    # their step, computed by one formula for every window, so rounding in
    # ``before`` can neither drop nor repeat a spike at a window boundary.
    shape = (-1, *([1] * lam.dim()))
    ordinal = before + torch.arange(0, most + 2, dtype=torch.float64, device=lam.device).view(shape)
    step = torch.ceil((ordinal - phase - _EPS) / lam) - 1  # lam = 0 -> inf
    inside = (step >= start) & (step < stop)
    index = torch.where(inside, step - start, float(size)).long()
    out.scatter_(0, index, 1)
    return out[:size]


def homogeneous_regular(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    phase: float = 0.0,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Regular (deterministic) spike trains at the given rates: rate encoding.

    A phase accumulator grows by :math:`\lambda = r \Delta t / 1000` per step
    from the initial ``phase`` :math:`\varphi`; a step spikes when the phase
    crosses a whole number. The number of spikes up to the end of step
    :math:`n` is :math:`c_n = \lfloor (n + 1) \lambda + \varphi \rfloor`, so

    .. math::
        s_n = c_n - c_{n - 1}, \qquad \sum_{n < T} s_n = \lfloor T \lambda + \varphi \rfloor.

    With the default :math:`\varphi = 0` the first spike comes at the end of
    the first full period: 100 Hz at 1 ms spikes at steps 9, 19, 29, ...; with
    :math:`\varphi = 0.5` at steps 4, 14, 24, .... Periods that are not whole
    steps alternate between the two nearest whole numbers of steps. Crossings
    within :math:`10^{-9}` of a whole number count, so rounding error never
    drops a spike. Rate 0 never spikes.

    Args:
        rates: rates :math:`r`, in Hz, shape ``(*shape)``, with
            :math:`0 \le r \Delta t / 1000 \le 1` (at most one spike per step).
        steps: number of steps :math:`T`, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        phase: initial phase :math:`\varphi` in :math:`[0, 1)`, the fraction of
            a period already elapsed at time 0. Defaults to 0.
        dtype: dtype of the output; defaults to the dtype of ``rates`` if
            floating, else the default dtype.

    Returns:
        Spikes ``(steps, *shape)`` of 0/1.

    Raises:
        ValueError: ``steps`` or ``step_time`` not positive, a rate negative,
            not finite or above one spike per step, ``phase`` outside
            :math:`[0, 1)`.
    """
    (spikes,) = regular_windows(rates, steps, step_time, window=steps, phase=phase, dtype=dtype)
    return spikes


def check_phase(phase: float) -> float:
    r"""Require a phase :math:`\varphi \in [0, 1)`, the fraction of a period elapsed at time 0.

    Args:
        phase: the phase to check.

    Returns:
        ``phase`` as a float.

    Raises:
        TypeError: ``phase`` is not a real number.
        ValueError: ``phase`` is outside :math:`[0, 1)` (or NaN).
    """
    if isinstance(phase, bool) or not isinstance(phase, int | float):
        raise TypeError(f"phase must be a real number in [0, 1), got {phase!r}")
    if not 0 <= phase < 1:
        raise ValueError(f"phase must be in [0, 1), got {phase!r}")
    return float(phase)


def check_regular_rate(max_rate: float, step_time: float, *, name: str = "rates") -> None:
    r"""Require at most one spike per step of a regular train: :math:`r_\text{max} \Delta t / 1000 \le 1`.

    Within :math:`10^{-9}`. This is the check :func:`homogeneous_regular` and
    :func:`regular_windows` make of their largest rate; an encoder makes it of
    its own ``max_rate``.

    Args:
        max_rate: the largest rate :math:`r_\text{max}`, in Hz, non-negative.
        step_time: step :math:`\Delta t`, in ms, positive.
        name: the name of ``max_rate`` in the messages. Defaults to ``"rates"``.

    Raises:
        TypeError: ``max_rate`` or ``step_time`` not a real number.
        ValueError: ``max_rate`` negative, not finite or above
            :math:`1000 / \Delta t` Hz (the message names ``name``),
            ``step_time`` not positive.
    """
    max_rate = _check_rate(name, max_rate)
    step_time = _check_time("step_time", step_time, allow_zero=False)
    if max_rate * step_time / 1000.0 > 1 + _EPS:
        raise ValueError(
            f"{name} too high: at most one spike per step, i.e. {1000.0 / step_time} Hz with "
            f"step_time {step_time} ms, got {max_rate} Hz"
        )


def _generate_regular(
    lam: torch.Tensor, steps: int, window: int, phase: float, lam_max: float, dtype: torch.dtype
) -> Iterator[torch.Tensor]:
    for start in range(0, steps, window):
        yield _regular_window(lam, start, min(start + window, steps), phase, lam_max, dtype)


def regular_windows(
    rates: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    window: int,
    phase: float = 0.0,
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    r"""Regular (deterministic) spike trains, generated ``window`` steps at a time.

    The trains of :func:`homogeneous_regular`, which is this function's
    one-window case: with :math:`\lambda = r \Delta t / 1000`, step :math:`n`
    spikes when :math:`\lfloor (n + 1)\lambda + \varphi \rfloor >
    \lfloor n \lambda + \varphi \rfloor`. Window :math:`k` holds steps
    :math:`[k w, \min((k + 1) w, T))`; each window is computed from its first
    step alone (only its own spikes are placed), so the windows put together
    are exactly the whole train, for every :math:`w`.

    Arguments are checked when this is called, not on the first ``next()``.

    Args:
        rates: rates :math:`r`, in Hz, shape ``(*shape)``, with
            :math:`0 \le r \Delta t / 1000 \le 1`.
        steps: number of steps :math:`T` in all, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        window: steps per window :math:`w`, positive (more than ``steps``
            gives one window).
        phase: initial phase :math:`\varphi \in [0, 1)`. Defaults to 0.
        dtype: dtype of the spikes; defaults to the dtype of ``rates`` if
            floating, else the default dtype.

    Returns:
        An iterator over :math:`\lceil T / w \rceil` tensors of spikes
        ``(size, *shape)`` of 0/1, ``size`` being :math:`w` but for the last.

    Raises:
        TypeError: ``steps`` or ``window`` not an int, ``rates`` not a real
            tensor, ``dtype`` not a ``torch.dtype``.
        ValueError: as :func:`homogeneous_regular`; ``window`` not positive.

    Example::

        >>> windows = regular_windows(torch.tensor([100.0]), 25, 1.0, window=10)
        >>> [w.flatten().nonzero().flatten().tolist() for w in windows]
        [[9], [9], []]
    """
    steps = _check_steps(steps)
    step_time = _check_time("step_time", step_time, allow_zero=False)
    window = _check_count("window", window)
    phase = check_phase(phase)
    max_rate = _check_rates(rates)
    check_regular_rate(max_rate, step_time, name="rates")
    out_dtype = spike_dtype(dtype, rates)
    lam = rates.detach().to(torch.float64) * (step_time / 1000.0)
    return _generate_regular(lam, steps, window, phase, max_rate * step_time / 1000.0, out_dtype)


# --------------------------------------------------------------------------- latency


def _latency_steps(
    intensities: torch.Tensor,
    steps: int,
    step_time: float,
    mapping: LatencyMapping,
    time_constant: float | None,
    threshold: float,
    fire_last: bool,
) -> torch.Tensor:
    """Step index of each input's single spike (int64), ``steps`` for none."""
    x = intensities.detach().to(torch.float64)
    if mapping == "linear":
        position = (1 - x) * (steps - 1)
        silent = x <= 0
    else:
        assert time_constant is not None
        above = x > threshold
        # Where x <= threshold the logarithm is undefined; those stay silent.
        safe = torch.where(above, x, 2.0)
        times = time_constant * torch.log(safe / (safe - threshold))
        position = times / step_time
        silent = ~above
    # Round half up; positions past the window are silent too.
    index = torch.floor(position + 0.5 + _EPS)
    silent = silent | (index > steps - 1)
    last = float(steps - 1) if fire_last else float(steps)
    return torch.where(silent, last, index).long()


def _latency_window(index: torch.Tensor, start: int, stop: int, dtype: torch.dtype) -> torch.Tensor:
    size = stop - start
    out = torch.zeros((size + 1, *index.shape), dtype=dtype, device=index.device)
    inside = (index >= start) & (index < stop)
    out.scatter_(0, torch.where(inside, index - start, size).unsqueeze(0), 1)
    return out[:size]


def check_latency_mapping(
    mapping: LatencyMapping, time_constant: float | None, threshold: float
) -> tuple[float | None, float]:
    r"""Check the arguments of a latency mapping (see :func:`latency`).

    ``"log"`` needs a time constant :math:`\tau > 0` (ms) and a threshold
    :math:`\theta \in (0, 1)`; ``"linear"`` uses neither, but a
    ``time_constant`` given to it must still be positive.

    Args:
        mapping: ``"linear"`` or ``"log"``.
        time_constant: :math:`\tau` in ms, or ``None``.
        threshold: :math:`\theta`.

    Returns:
        ``(time_constant, threshold)``, as floats (``time_constant`` stays
        ``None`` if not given to ``"linear"``; ``threshold`` is returned
        unchecked for ``"linear"``).

    Raises:
        TypeError: ``time_constant`` or ``threshold`` not a real number.
        ValueError: an unknown ``mapping``; ``time_constant`` not positive;
            for ``"log"``, ``time_constant`` missing or ``threshold`` outside
            :math:`(0, 1)`.
    """
    if mapping not in ("linear", "log"):
        raise ValueError(f"mapping must be one of ['linear', 'log'], got {mapping!r}")
    if mapping == "linear":
        # Unused here, but a bad value is still a mistake worth naming.
        if time_constant is not None:
            time_constant = _check_time("time_constant", time_constant, allow_zero=False)
        return time_constant, threshold
    if time_constant is None:
        raise ValueError("time_constant (ms) is required for mapping='log', got None")
    time_constant = _check_time("time_constant", time_constant, allow_zero=False)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise TypeError(f"threshold must be a real number in [0, 1), got {threshold!r}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1) for mapping='log', got {threshold!r}")
    return time_constant, float(threshold)


def latency(
    intensities: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    mapping: LatencyMapping = "linear",
    time_constant: float | None = None,
    threshold: float = 0.2,
    fire_last: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Latency (time-to-first-spike) encoding: one spike per input, stronger is earlier.

    Each intensity :math:`x \in [0, 1]` gives a spike time :math:`t` (ms),
    written to the nearest step :math:`n = \lfloor t / \Delta t + 1/2 \rfloor`
    (step :math:`n` taken to lie at time :math:`n \Delta t`; halves round to the
    later step).

    - ``"linear"``: :math:`t = (1 - x)(T - 1) \Delta t`, i.e.
      :math:`n = \lfloor (1 - x)(T - 1) + 1/2 \rfloor`. :math:`x = 1` fires
      at step 0 and :math:`x \to 0^+` at the last step :math:`T - 1`;
      :math:`x = 0` is silent.
    - ``"log"``: the time a leaky integrator with time constant :math:`\tau`
      driven by a constant :math:`x` takes to charge from 0 to the threshold
      :math:`\theta`,

      .. math::
          t = \tau \ln \frac{x}{x - \theta}, \qquad x > \theta;

      :math:`x \le \theta` never reaches it and is silent. Strong inputs are
      spread out less than weak ones.

    Inputs whose step would fall after the window are silent as well. With
    ``fire_last``, every silent input (zero, at or below the threshold, or too
    late) fires at the last step instead, so every input spikes exactly once.

    Args:
        intensities: :math:`x`, any shape ``(*shape)`` (e.g. ``(batch, ...)``),
            values in :math:`[0, 1]`.
        steps: number of steps :math:`T`, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        mapping: ``"linear"`` or ``"log"``. Defaults to ``"linear"``.
        time_constant: :math:`\tau` in ms, required for ``"log"``.
        threshold: :math:`\theta \in (0, 1)` for ``"log"``. Defaults to 0.2.
        fire_last: silent inputs fire at the last step. Defaults to False.
        dtype: dtype of the output; defaults to the dtype of ``intensities``
            if floating, else the default dtype.

    Returns:
        Spikes ``(steps, *shape)`` of 0/1, at most one 1 per input.

    Raises:
        ValueError: ``steps`` or ``step_time`` not positive, intensities
            outside :math:`[0, 1]` or NaN, an unknown ``mapping``, or
            ``time_constant`` / ``threshold`` missing or out of range for
            ``"log"``.
    """
    (spikes,) = latency_windows(
        intensities,
        steps,
        step_time,
        window=steps,
        mapping=mapping,
        time_constant=time_constant,
        threshold=threshold,
        fire_last=fire_last,
        dtype=dtype,
    )
    return spikes


def _generate_latency(
    index: torch.Tensor, steps: int, window: int, dtype: torch.dtype
) -> Iterator[torch.Tensor]:
    for start in range(0, steps, window):
        yield _latency_window(index, start, min(start + window, steps), dtype)


def latency_windows(
    intensities: torch.Tensor,
    steps: int,
    step_time: float,
    *,
    window: int,
    mapping: LatencyMapping = "linear",
    time_constant: float | None = None,
    threshold: float = 0.2,
    fire_last: bool = False,
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    r"""Latency (time-to-first-spike) encoding, generated ``window`` steps at a time.

    The trains of :func:`latency`, which is this function's one-window case:
    each intensity :math:`x \in [0, 1]` spikes once, at step
    :math:`n = \lfloor t / \Delta t + 1/2 \rfloor` with
    :math:`t = (1 - x)(T - 1) \Delta t` (``"linear"``) or
    :math:`t = \tau \ln(x / (x - \theta))` (``"log"``). The spike steps are
    computed once, when this is called; window :math:`k` holds steps
    :math:`[k w, \min((k + 1) w, T))`, so the windows put together are
    exactly the whole train, for every :math:`w`.

    Arguments are checked when this is called, not on the first ``next()``.

    Args:
        intensities: :math:`x`, shape ``(*shape)``, values in :math:`[0, 1]`.
        steps: number of steps :math:`T` in all, positive.
        step_time: step :math:`\Delta t`, in ms, positive.
        window: steps per window :math:`w`, positive (more than ``steps``
            gives one window).
        mapping: ``"linear"`` or ``"log"``. Defaults to ``"linear"``.
        time_constant: :math:`\tau` in ms, required for ``"log"``.
        threshold: :math:`\theta \in (0, 1)` for ``"log"``. Defaults to 0.2.
        fire_last: silent inputs fire at the last step. Defaults to False.
        dtype: dtype of the spikes; defaults to the dtype of ``intensities``
            if floating, else the default dtype.

    Returns:
        An iterator over :math:`\lceil T / w \rceil` tensors of spikes
        ``(size, *shape)`` of 0/1, ``size`` being :math:`w` but for the last;
        over all windows, at most one 1 per input.

    Raises:
        TypeError: ``steps`` or ``window`` not an int, ``intensities`` not a
            real tensor, ``dtype`` not a ``torch.dtype``.
        ValueError: as :func:`latency`; ``window`` not positive.

    Example::

        >>> windows = latency_windows(torch.tensor([1.0, 0.5]), 10, 1.0, window=4)
        >>> [w.nonzero().tolist() for w in windows]
        [[[0, 0]], [[1, 1]], []]
    """
    steps = _check_steps(steps)
    step_time = _check_time("step_time", step_time, allow_zero=False)
    window = _check_count("window", window)
    time_constant, threshold = check_latency_mapping(mapping, time_constant, threshold)
    check_intensities(intensities, batched=False)
    out_dtype = spike_dtype(dtype, intensities)
    index = _latency_steps(
        intensities, steps, step_time, mapping, time_constant, threshold, fire_last
    )
    return _generate_latency(index, steps, window, out_dtype)
