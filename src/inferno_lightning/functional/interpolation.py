r"""Interpolation between two stored samples, and delayed reads from a ring-buffer history.

A history stores one sample per simulation step :math:`\Delta t`. A read at a
time that falls between two stored samples uses the sample before it
(:math:`x_0`, observed at :math:`t_0`), the one after it (:math:`x_1`, observed
at :math:`t_0 + \Delta t`), and the time elapsed since the earlier one,
:math:`\tau = t - t_0 \in [0, \Delta t]`:

* ``previous`` (sample and hold): :math:`x(t) = x_0`;
* ``nearest``: :math:`x(t) = x_1` if :math:`\tau > \Delta t / 2`, else
  :math:`x_0` (a tie goes to the earlier sample);
* ``linear``: :math:`x(t) = x_0 + (x_1 - x_0)\,\tau / \Delta t`.

The functions are plain module-level functions, so a module may store one (or
its name) and still pickle.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "INTERPOLATIONS",
    "STEP_TOLERANCE",
    "interp_previous",
    "interp_nearest",
    "interp_linear",
    "interpolation",
    "interpolate",
    "delay_steps",
    "read_history",
]

#: Names accepted by :func:`interpolation` and by every ``interp_mode`` argument.
INTERPOLATIONS: tuple[str, ...] = ("previous", "nearest", "linear")

#: A delay within this many steps of a whole number of steps counts as that whole
#: number, so that float rounding (``0.3 / 0.1 = 2.9999999999999996``) cannot move
#: a ``previous`` read back by a step.
STEP_TOLERANCE: float = 1e-4

Interpolation = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | float, float], torch.Tensor]


def interp_previous(
    previous: torch.Tensor,
    following: torch.Tensor,
    elapsed: torch.Tensor | float,
    step_time: float,
) -> torch.Tensor:
    r"""Sample and hold: the earlier sample, :math:`x(t) = x_0`.

    Args:
        previous: :math:`x_0`, the sample observed at :math:`t_0`.
        following: :math:`x_1`, the sample observed at :math:`t_0 + \Delta t`
            (unused; kept so that every interpolation has one signature).
        elapsed: :math:`t - t_0` in ms, in :math:`[0, \Delta t]`.
        step_time: :math:`\Delta t` in ms.

    Returns:
        ``previous`` broadcast against ``following`` and ``elapsed``.
    """
    shape = torch.broadcast_shapes(previous.shape, following.shape, torch.as_tensor(elapsed).shape)
    return previous.expand(shape)


def interp_nearest(
    previous: torch.Tensor,
    following: torch.Tensor,
    elapsed: torch.Tensor | float,
    step_time: float,
) -> torch.Tensor:
    r"""The nearer sample: :math:`x_1` if :math:`t - t_0 > \Delta t / 2`, else :math:`x_0`.

    Args:
        previous: :math:`x_0`, the sample observed at :math:`t_0`.
        following: :math:`x_1`, the sample observed at :math:`t_0 + \Delta t`.
        elapsed: :math:`t - t_0` in ms, in :math:`[0, \Delta t]`.
        step_time: :math:`\Delta t` in ms.

    Returns:
        The broadcast of the inputs; a tie (:math:`t - t_0 = \Delta t / 2`)
        returns the earlier sample.
    """
    elapsed = torch.as_tensor(elapsed, device=previous.device)
    return torch.where(elapsed > step_time / 2, following, previous)


def interp_linear(
    previous: torch.Tensor,
    following: torch.Tensor,
    elapsed: torch.Tensor | float,
    step_time: float,
) -> torch.Tensor:
    r"""Linear interpolation: :math:`x(t) = x_0 + (x_1 - x_0)\,(t - t_0) / \Delta t`.

    Args:
        previous: :math:`x_0`, the sample observed at :math:`t_0`.
        following: :math:`x_1`, the sample observed at :math:`t_0 + \Delta t`.
        elapsed: :math:`t - t_0` in ms, in :math:`[0, \Delta t]`.
        step_time: :math:`\Delta t` in ms.

    Returns:
        The broadcast of the inputs (floating point).
    """
    return previous + (following - previous) * (elapsed / step_time)


_BY_NAME: dict[str, Interpolation] = {
    "previous": interp_previous,
    "nearest": interp_nearest,
    "linear": interp_linear,
}


def interpolation(name: str) -> Interpolation:
    """The interpolation function called ``name`` (one of :data:`INTERPOLATIONS`).

    The returned object is a module-level function, so it pickles.

    Raises:
        ValueError: ``name`` is not one of :data:`INTERPOLATIONS`.
    """
    if name not in _BY_NAME:
        raise ValueError(f"interp_mode must be one of {list(INTERPOLATIONS)!r}, got {name!r}")
    return _BY_NAME[name]


def interpolate(
    previous: torch.Tensor,
    following: torch.Tensor,
    elapsed: torch.Tensor | float,
    step_time: float,
    mode: str = "linear",
) -> torch.Tensor:
    """Interpolate between two samples with the interpolation called ``mode``.

    See :func:`interp_previous`, :func:`interp_nearest`, :func:`interp_linear`.
    """
    return interpolation(mode)(previous, following, elapsed, step_time)


def delay_steps(delay: torch.Tensor, step_time: float, length: int) -> torch.Tensor:
    r"""A delay in ms as a (fractional) number of steps, clamped to a history.

    :math:`s = \operatorname{clamp}(d / \Delta t,\ 0,\ H - 1)`, where :math:`H`
    is the number of samples the history holds (:math:`H - 1` steps back).

    Args:
        delay: delays :math:`d` in ms, any shape.
        step_time: :math:`\Delta t` in ms.
        length: :math:`H`, the number of samples in the history.

    Returns:
        :math:`s`, shaped like ``delay``, floating point.
    """
    steps = delay / step_time
    if not steps.is_floating_point():
        steps = steps.to(torch.get_default_dtype())
    return steps.clamp(0.0, float(length - 1))


def read_history(
    window: torch.Tensor,
    selector: torch.Tensor,
    step_time: float,
    mode: str = "linear",
    overbound: float | bool | None = None,
) -> torch.Tensor:
    r"""Read a history at per-element delays, with interpolation.

    ``window[..., H - 1]`` holds the newest sample (delay 0) and
    ``window[..., H - 1 - k]`` the sample :math:`k` steps older (the window
    may be a strided view into a ring buffer). A delay :math:`d` ms lies
    :math:`s = d / \Delta t` steps back, between the samples
    :math:`\lfloor s \rfloor` (the later one, :math:`x_1`) and
    :math:`\lceil s \rceil` (the earlier one, :math:`x_0`) steps back, with
    :math:`\tau = (\lceil s \rceil - s)\,\Delta t` elapsed since the earlier one.
    The value is that of :func:`interp_previous` (the sample
    :math:`\lceil s \rceil` steps back), :func:`interp_nearest` (the sample
    :math:`\lfloor s + 1/2 \rfloor` steps back, a tie going to the earlier) or
    :func:`interp_linear` (:math:`(1 - f)\,x_1 + f\,x_0` with
    :math:`f = s - \lfloor s \rfloor`). A delay within :data:`STEP_TOLERANCE`
    steps of a whole number counts as that whole number for ``previous``.

    Reads beyond the history (:math:`s > H - 1`) return the oldest stored
    sample (:math:`s` is clamped to :math:`[0, H - 1]`), or ``overbound`` when
    it is given. Boolean histories (spikes) cannot be blended; ``linear``
    reads them like ``nearest``.

    Args:
        window: ``(batch, *shape, H)``, oldest sample first.
        selector: delays in ms, ``(*shape, N)`` or ``(batch, *shape, N)``.
        step_time: :math:`\Delta t` in ms.
        mode: one of :data:`INTERPOLATIONS`.
        overbound: value for reads beyond the history; ``None`` clamps to the
            oldest stored sample.

    Returns:
        ``(batch, *shape, N)``, the dtype of ``window``.
    """
    length = window.shape[-1]
    if selector.dim() == window.dim() - 1:
        selector = selector.unsqueeze(0)
    batch, readers = window.shape[0], selector.shape[-1]
    # Gather in the selector's memory order: when the readers are not its fastest
    # dimension (a connection passes its (out, in) delays transposed), read as
    # (batch, N, *shape) from the window broadcast over N, so that neither the
    # index nor the result is strided.
    readers_first = readers > 1 and selector.stride(-1) != 1
    if readers_first:
        selector = selector.movedim(-1, 1)
        window = window.unsqueeze(1)
        out_shape = (batch, readers, *window.shape[2:-1], 1)
        window = window.expand(*out_shape[:-1], length)
        selector = selector.unsqueeze(-1)
    else:
        out_shape = (batch, *window.shape[1:-1], readers)

    # u: position in the window (0 oldest, H - 1 newest) = H - 1 - s, s = d / dt in [0, H - 1]
    def position(offset: float) -> torch.Tensor:
        top = float(length - 1) + offset
        return torch.rsub(selector, top, alpha=1.0 / step_time).clamp(min(offset, 0.0), top)

    def gather(index: torch.Tensor) -> torch.Tensor:
        return torch.gather(window, -1, index.expand(out_shape))

    if mode == "previous":
        # ceil(s) steps back = floor(u + tol); u + tol >= 0, so truncation is floor
        out = gather(position(STEP_TOLERANCE).long())
    elif mode == "nearest" or (mode == "linear" and window.dtype == torch.bool):
        # floor(s + 1/2) steps back = ceil(u - 1/2)
        out = gather(torch.ceil(position(-0.5)).long())
    elif mode == "linear":
        u = position(0.0)
        earlier = u.long()  # floor(u): the sample ceil(s) steps back
        fraction = (u - earlier).to(window.dtype).expand(out_shape)
        later = (earlier + 1).clamp_max_(length - 1)
        # x0 + (x1 - x0) (1 - frac(s)) = interp_linear(x0, x1, (ceil(s) - s) dt, dt)
        out = torch.lerp(gather(earlier), gather(later), fraction)
    else:
        raise ValueError(f"interp_mode must be one of {list(INTERPOLATIONS)!r}, got {mode!r}")

    if overbound is not None:
        beyond = (selector / step_time) > (length - 1) + STEP_TOLERANCE
        fill = torch.as_tensor(overbound, dtype=out.dtype, device=out.device)
        out = torch.where(beyond, fill, out)
    if readers_first:
        out = out.squeeze(-1).movedim(1, -1)
    return out
