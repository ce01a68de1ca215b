r"""Post-update constraints: rules a weight must satisfy after every update.

An :class:`~inferno_lightning.learn.Accumulator` runs its constraints, in
order, on the updated weight before writing it back, so an error inside a
constraint leaves the parameter unchanged. A constraint is a picklable callable
``constraint(weight) -> new_weight`` that does not modify its input.

- :class:`Clamp`: :math:`w \leftarrow \operatorname{clamp}(w, w_\min, w_\max)`.
- :class:`Normalize`: scale each postsynaptic neuron's input weights so their
  :math:`p`-norm is a constant, e.g. Diehl & Cook (2015), whose 784 input
  weights of each excitatory neuron sum to 78.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._validation import finite, positive

__all__ = ["Constraint", "Clamp", "Normalize", "check_limits"]


def check_limits(
    w_min: float | torch.Tensor | None,
    w_max: float | torch.Tensor | None,
    min_name: str = "w_min",
    max_name: str = "w_max",
) -> None:
    r"""Require finite limits with :math:`w_\min \le w_\max` (everywhere, for tensors).

    Raises:
        TypeError: a limit is neither ``None``, a real number nor a real tensor.
        ValueError: a limit is not finite, or ``w_min > w_max``, naming both.
    """
    if w_min is not None:
        finite(min_name, w_min)
    if w_max is not None:
        finite(max_name, w_max)
    if w_min is None or w_max is None:
        return
    lo = torch.as_tensor(w_min, dtype=torch.float64)
    hi = torch.as_tensor(w_max, dtype=torch.float64)
    try:
        ok = bool((lo.detach().cpu() <= hi.detach().cpu()).all())
    except RuntimeError as error:
        raise ValueError(
            f"{min_name} (shape {tuple(lo.shape)}) and {max_name} (shape {tuple(hi.shape)}) "
            "must broadcast together"
        ) from error
    if not ok:
        raise ValueError(
            f"{min_name} ({_describe(w_min)}) must be less than or equal to "
            f"{max_name} ({_describe(w_max)})"
        )


def _describe(value: float | torch.Tensor) -> str:
    if isinstance(value, torch.Tensor):
        return (
            repr(value.item()) if value.numel() == 1 else f"a tensor of shape {tuple(value.shape)}"
        )
    return repr(value)


class Constraint:
    """Base of post-update constraints: ``constraint(weight) -> new_weight``."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        """Return the constrained weight as a new tensor (``weight`` is not modified)."""
        raise NotImplementedError


class Clamp(Constraint):
    r"""Clamp every weight into :math:`[w_\min, w_\max]`.

    .. math::

        w \leftarrow \min(\max(w, w_\min), w_\max)

    Args:
        w_min: lower limit (float or tensor broadcastable to the weight), or
            ``None`` for no lower limit.
        w_max: upper limit, or ``None`` for no upper limit.

    Raises:
        ValueError: both limits are ``None`` (the constraint would do nothing),
            a limit is not finite, or ``w_min > w_max``.

    Example::

        Clamp(0.0, 1.0)(torch.tensor([-0.5, 0.3, 1.7]))  # tensor([0.0, 0.3, 1.0])
    """

    def __init__(
        self, w_min: float | torch.Tensor | None = None, w_max: float | torch.Tensor | None = None
    ) -> None:
        if w_min is None and w_max is None:
            raise ValueError("Clamp needs w_min, w_max or both; got neither")
        check_limits(w_min, w_max)
        self.w_min = float(w_min) if isinstance(w_min, int | float) else w_min
        self.w_max = float(w_max) if isinstance(w_max, int | float) else w_max

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        """The clamped weight, a new tensor."""
        w_min = _on(self.w_min, weight)
        w_max = _on(self.w_max, weight)
        return torch.clamp(weight, min=w_min, max=w_max)

    def __repr__(self) -> str:
        return f"Clamp(w_min={self.w_min!r}, w_max={self.w_max!r})"


class Normalize(Constraint):
    r"""Scale each postsynaptic neuron's input weights to a fixed :math:`p`-norm.

    .. math::

        w_{ij} \leftarrow w_{ij}\,\frac{c}{\lVert w_{i\cdot} \rVert_p},
        \qquad \lVert w_{i\cdot} \rVert_p = \Bigl(\sum_j |w_{ij}|^p\Bigr)^{1/p}

    where :math:`i` indexes postsynaptic neurons and :math:`j` the reduced
    dimensions (``dim``). With ``p=1`` and non-negative weights, each neuron's
    input weights sum to :math:`c` (Diehl & Cook 2015 use :math:`c = 78` for 784
    inputs). A neuron whose input weights are all zero cannot be scaled to
    :math:`c` and is left unchanged.

    Args:
        total: the target norm :math:`c` (positive, finite).
        dim: the dimension(s) reduced, i.e. the presynaptic ones. ``None``
            (default) reduces every dimension except the first, which is the
            postsynaptic one for ``(out, in)`` dense and ``(out, in, kh, kw)``
            convolutional weights; a 1-D weight is normalised as a whole.
        p: the order of the norm (positive; ``math.inf`` for the largest magnitude).

    Raises:
        ValueError: ``total`` or ``p`` is not positive, or ``dim`` is not an int
            or a sequence of ints.

    Example::

        Normalize(78.0)  # Diehl & Cook: each row of a (n_exc, 784) weight sums to 78
    """

    def __init__(
        self, total: float, dim: int | Sequence[int] | None = None, p: float = 1.0
    ) -> None:
        self.total = float(positive("total", total))
        if isinstance(p, bool) or not isinstance(p, int | float) or math.isnan(p) or p <= 0:
            raise ValueError(f"p must be a positive number (math.inf allowed), got {p!r}")
        self.p = float(p)
        if dim is None:
            self.dim: tuple[int, ...] | None = None
        elif isinstance(dim, int) and not isinstance(dim, bool):
            self.dim = (dim,)
        elif (
            isinstance(dim, Sequence)
            and all(isinstance(d, int) and not isinstance(d, bool) for d in dim)
            and len(dim) > 0
        ):
            self.dim = tuple(dim)
        else:
            raise ValueError(
                f"dim must be None, an int or a non-empty sequence of ints, got {dim!r}"
            )

    def _dims(self, weight: torch.Tensor) -> tuple[int, ...]:
        if self.dim is not None:
            for d in self.dim:
                if not -weight.dim() <= d < weight.dim():
                    raise ValueError(
                        f"Normalize dim {self.dim} is out of range for a weight of shape "
                        f"{tuple(weight.shape)}"
                    )
            return self.dim
        if weight.dim() <= 1:
            return tuple(range(weight.dim()))
        return tuple(range(1, weight.dim()))

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        """The normalised weight, a new tensor."""
        norm = torch.linalg.vector_norm(weight, ord=self.p, dim=self._dims(weight), keepdim=True)
        scale = torch.where(norm > 0, self.total / norm, torch.ones_like(norm))
        return weight * scale

    def __repr__(self) -> str:
        return f"Normalize(total={self.total!r}, dim={self.dim!r}, p={self.p!r})"


def _on(value: float | torch.Tensor | None, like: torch.Tensor) -> float | torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.to(device=like.device, dtype=like.dtype)
    return value
