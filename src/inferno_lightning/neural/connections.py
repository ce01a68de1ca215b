r"""Connections: a synapse plus a trainable mapping from its current to postsynaptic current.

Every connection owns a :class:`~inferno_lightning.neural.base.Synapse` that
the user builds and passes in (``synapse=``), shaped like the connection's
input; the connection checks the shape and raises the synapse's
:attr:`~inferno_lightning.neural.base.Synapse.delay` to the largest delay it
needs. Per step, ``forward`` steps the synapse with the presynaptic spikes and
maps its current :math:`I` (nA) through ``weight`` :math:`W` (and ``bias``
:math:`b`, nA):

* :class:`LinearDense`: :math:`y = I W^\top + b`; with delays
  :math:`y_i = \sum_j W_{ij} I_j(t - d_{ij}) + b_i`;
* :class:`LinearDirect`: :math:`y = W \odot I + b` (one to one);
* :class:`LinearLateral`: :math:`y = I\,(W \odot (1 - \mathbb{1}))^\top + b`
  (all to all except self);
* :class:`Conv2d`: :math:`y = \operatorname{conv2d}(I, W, b)` with stride,
  padding, dilation and groups; with delays each kernel entry
  :math:`W_{ocij}` reads input channel :math:`c` :math:`d_{ocij}` ms ago.

Weights are initialised by ``weight_init``: ``"uniform"`` (``weight_init_args``
``(low, high)``, default :math:`\pm 1/\sqrt{\text{fan in}}`), ``"normal"``
(``(mean, std)``, default :math:`(0, 1/\sqrt{\text{fan in}})`), ``"constant"``
(``weight_init_args`` the value), a float (that constant), or a tensor
broadcastable to the weight's shape. Bounds on weights are the learning
rules' business, not the connection's.

Delays (``delay=``, ms) are a trainable ``nn.Parameter`` laid out like
``weight``, one per synapse (per kernel entry for :class:`Conv2d`); reads
beyond the synapse's history (a delay learned past ``max_delay``) are clamped
to it (or read the synapse's overbound value), and a negative delay reads as
0. Set :attr:`~LinearDense.max_delay` to enlarge the history.

Learning support (see :class:`~inferno_lightning.neural.base.Connection`):
presynaptic values are in the *input layout* ``(batch, *input_shape)`` without
delays and in the *synaptic layout* with them: ``(batch, *weight.shape)`` for
the linear connections, ``(batch, *weight.shape, L)`` (``L`` output positions)
for :class:`Conv2d`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import (
    _dims,
    as_float,
    as_shape,
    check_choice,
    check_finite,
    host_readable,
    nonnegative,
)
from ..functional.interpolation import read_history
from .base import Connection, Correlation, Synapse
from .synapses import HistorySynapse

__all__ = ["LinearDense", "LinearDirect", "LinearLateral", "Conv2d", "BATCH_REDUCTIONS"]

#: Values accepted by ``batch_reduction`` in :meth:`~LinearDense.correlate`.
BATCH_REDUCTIONS: tuple[str, ...] = ("none", "sum", "mean")

WeightInit = str | float | torch.Tensor


def _count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _initial_tensor(
    arg: str,
    shape: tuple[int, ...],
    init: WeightInit,
    args: float | Sequence[float] | None,
    fan_in: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Build an initial parameter tensor of ``shape`` from the initialiser ``arg``."""
    dtype = torch.get_default_dtype()
    args_name = f"{arg}_args"
    if isinstance(init, torch.Tensor):
        try:
            value = init.detach().to(dtype).expand(shape).clone()
        except RuntimeError:
            raise ValueError(
                f"{arg} must be a float or a tensor broadcastable to shape {shape}, "
                f"got a tensor of shape {tuple(init.shape)}"
            ) from None
        check_finite(arg, value)
        return value
    if isinstance(init, bool) or not isinstance(init, str | int | float):
        raise TypeError(
            f"{arg} must be 'uniform', 'normal', 'constant', a float or a tensor, got {init!r}"
        )
    if not isinstance(init, str):
        if not math.isfinite(float(init)):
            raise ValueError(f"{arg} must be finite, got {init!r}")
        init, args = "constant", float(init)
    check_choice(arg, init, ("uniform", "normal", "constant"))
    scale = 1.0 / math.sqrt(fan_in)
    out = torch.empty(shape, dtype=dtype)
    if init == "constant":
        if args is None or isinstance(args, Sequence):
            raise ValueError(f"{args_name} must be the constant value (a float), got {args!r}")
        return out.fill_(as_float(args_name, args))
    if args is None:
        args = (-scale, scale) if init == "uniform" else (0.0, scale)
    expected = "(low, high)" if init == "uniform" else "(mean, std)"
    if not isinstance(args, Sequence) or isinstance(args, str) or len(args) != 2:
        raise ValueError(f"{args_name} must be {expected}, two floats, for {init!r}, got {args!r}")
    try:
        a, b = (as_float(args_name, v) for v in args)
    except TypeError:
        raise ValueError(
            f"{args_name} must be {expected}, two floats, for {init!r}, got {args!r}"
        ) from None
    if init == "uniform":
        if not (math.isfinite(a) and math.isfinite(b) and a <= b):
            raise ValueError(f"{args_name} must be (low, high) with low <= high, got {args!r}")
        return out.uniform_(a, b, generator=generator)
    if not (math.isfinite(a) and math.isfinite(b) and b >= 0):
        raise ValueError(f"{args_name} must be (mean, std) with std >= 0, got {args!r}")
    return out.normal_(a, b, generator=generator)


def _check_layout(name: str, tensor: torch.Tensor, shape: tuple[int, ...], what: str) -> int:
    if (
        not isinstance(tensor, torch.Tensor)
        or tensor.dim() != len(shape) + 1
        or tuple(tensor.shape[1:]) != shape
    ):
        got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"{name} must be {what} shaped (batch, {_dims(shape)}), got {got}")
    return int(tensor.shape[0])


def _float(tensor: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.is_floating_point() else tensor.to(like.dtype)


#: Largest fraction of nonzero postsynaptic spikes for which the product goes sparse.
SPARSE_FRACTION = 0.1


def _spike_matrix(
    post: torch.Tensor, pre: torch.Tensor, weight: torch.Tensor, reduction: str
) -> torch.Tensor | None:
    r"""Boolean postsynaptic spikes ``(batch, O)`` as a sparse ``(O, batch)`` matrix, or ``None``.

    A spike train adds, per spike, one row of the presynaptic values to its
    output's row of ``post.T @ pre``. On CPU, where a dense product costs in
    proportion to its size whatever the values, a sparse-dense product over
    the spikes does the same sums in far fewer operations. The values are 1
    (``"sum"``) or 1/batch (``"mean"``). ``None`` (use the dense product) off
    a :func:`~inferno_lightning._validation.host_readable` device (CPU; finding the
    spikes would cost a host sync), when ``post`` is not
    boolean, when gradients flow to ``pre``, or when more than
    :data:`SPARSE_FRACTION` of ``post`` are spikes.
    """
    if post.dtype != torch.bool or not host_readable(weight.device):
        return None
    if pre.requires_grad and torch.is_grad_enabled():
        return None
    batch, outputs = post.shape
    index = post.t().nonzero().t()  # (2, nnz): output then sample, in coalesced order
    count = index.shape[1]
    if count > SPARSE_FRACTION * batch * outputs:
        return None
    scale = 1.0 / batch if reduction == "mean" else 1.0
    values = torch.full((count,), scale, dtype=weight.dtype)
    return torch.sparse_coo_tensor(
        index, values, (outputs, batch), is_coalesced=True, check_invariants=False
    )


#: Largest fraction of the columns (inputs) that spiked for which a correlation of presynaptic
#: spikes is added at those columns only (:meth:`_DenseCorrelation.add_to_`). A column of a
#: row-major weight is strided: adding to one costs about as much as 1/8 of a dense rank-k
#: update of the whole weight, measured on CPU (784 x 400, batch 16), hence a tenth.
EVENT_COLUMN_FRACTION = 0.1

#: Largest fraction of nonzero input currents for which a dense connection's forward goes sparse.
SPARSE_INPUT_FRACTION = 0.02


def _sparse_linear(
    current: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor | None:
    r""":math:`I W^\top + b` from the nonzero input currents alone, or ``None`` for the dense product.

    Spike-driven currents (a delta synapse's, or the few spikes of a
    winner-take-all layer) are mostly zero: on CPU a sparse-dense product over
    the nonzero entries does the same sums (in another order) in a fraction
    of the operations. ``None`` off a host-readable device (CPU) or under ``torch.compile`` (finding the
    nonzero entries needs a host sync), when gradients flow, or when more than
    :data:`SPARSE_INPUT_FRACTION` of the currents are nonzero.
    """
    if (
        not host_readable(current.device)
        or torch.compiler.is_compiling()
        or (torch.is_grad_enabled() and (current.requires_grad or weight.requires_grad))
    ):
        return None
    index = current.nonzero()
    if index.shape[0] > SPARSE_INPUT_FRACTION * current.numel():
        return None
    index = index.t()
    values = current[index[0], index[1]]
    spikes = torch.sparse_coo_tensor(
        index, values, current.shape, is_coalesced=True, check_invariants=False
    )
    out = torch.sparse.mm(spikes, weight.t())
    return out if bias is None else out.add_(bias)


class _DenseCorrelation(Correlation):
    """``post.T @ pre`` reduced over the batch, computed into its destination (one ``addmm``).

    Boolean factors (spikes) are kept as given: they make the product known
    non-negative (with a non-negative other factor) and give its support (the
    rows of the outputs that spiked, the columns of the inputs that did). The
    left operand of the product (a sparse matrix of the spikes, on CPU) is
    built only when the whole product is computed.
    """

    def __init__(
        self,
        post: torch.Tensor,
        pre: torch.Tensor,
        weight: torch.Tensor,
        reduction: str,
        zero_diagonal: bool,
    ) -> None:
        self._post = post
        self._pre_spikes = pre if pre.dtype == torch.bool else None
        # The caller's own tensor (copied if the product is held; see keep); boolean spikes
        # are converted to the weight's dtype only when a product needs them.
        self._pre_given = pre
        self._pre_float: torch.Tensor | None = pre if pre.is_floating_point() else None
        self._weight = weight
        self._reduction = reduction
        self._batch = post.shape[0] if reduction == "mean" else 1
        self._zero_diagonal = zero_diagonal
        self._shape = torch.Size((post.shape[1], pre.shape[1]))
        self._left_matrix: torch.Tensor | None = None
        self._factor_extremes: tuple[tuple[float, float], tuple[float, float]] | None = None
        # The rows or columns support() last returned: at batch size 1 the spike factor is 1
        # there.
        self._support_rows: torch.Tensor | None = None
        self._support_cols: torch.Tensor | None = None

    @property
    def _pre(self) -> torch.Tensor:
        """The presynaptic factor in a floating dtype (spikes converted on first use)."""
        if self._pre_float is None:
            self._pre_float = self._pre_given.to(self._weight.dtype)
        return self._pre_float

    @property
    def _left(self) -> torch.Tensor:
        """``post.T`` scaled by the reduction: sparse for few boolean spikes on CPU, else dense."""
        if self._left_matrix is None:
            post = self._post
            left = None
            if post.dtype == torch.bool:
                left = _spike_matrix(post, self._pre, self._weight, self._reduction)
            if left is None:
                left = _float(post, self._weight)
                if self._batch > 1:
                    # Scale the small operand, not the (O, I) product: one pass over the weight less.
                    left = left / self._batch
                left = left.t()
            self._left_matrix = left
        return self._left_matrix

    @property
    def shape(self) -> torch.Size:
        return self._shape

    @property
    def dtype(self) -> torch.dtype:
        given = self._pre_given
        return given.dtype if given.is_floating_point() else self._weight.dtype

    @property
    def device(self) -> torch.device:
        return self._pre_given.device

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        if self._zero_diagonal:
            out.diagonal().zero_()
        return out

    def tensor(self) -> torch.Tensor:
        left = self._left
        if left.layout == torch.sparse_coo:
            return self._finish(torch.sparse.mm(left, self._pre))
        return self._finish(left @ self._pre)

    def write_(self, out: torch.Tensor) -> torch.Tensor:
        left = self._left
        if left.layout == torch.sparse_coo:
            return self._finish(out.zero_().addmm_(left, self._pre))
        return self._finish(torch.mm(left, self._pre, out=out))

    def add_to_(self, out: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        # Sparse spikes on CPU are a sparse left operand: only their rows cost anything.
        # Sparse presynaptic spikes: only their columns are added to.
        if not self._zero_diagonal:
            if self._post.dtype != torch.bool and self._add_columns_(out, alpha):
                return out
            return out.addmm_(self._left, self._pre, alpha=alpha)
        # The product's diagonal is zero: out keeps its own (a weight's need not be zero).
        diagonal = out.diagonal().clone()
        out.addmm_(self._left, self._pre, alpha=alpha)
        out.diagonal().copy_(diagonal)
        return out

    def _add_columns_(self, out: torch.Tensor, alpha: float) -> bool:
        """Add the product into ``out`` at the columns of the inputs that spiked; ``False`` if not.

        For boolean presynaptic spikes on few columns (at most
        :data:`EVENT_COLUMN_FRACTION` of them), on CPU: whole rows of the
        transpose, one ``index_add_``.
        """
        spikes = self._pre_spikes
        if spikes is None or out.dim() != 2 or not host_readable(out.device):
            return False
        cols = self._support_cols
        if cols is None:
            columns = spikes.shape[1]
            if int(spikes.count_nonzero()) > EVENT_COLUMN_FRACTION * columns:
                return False  # each spike is one column at most: too many to count
            cols = (
                spikes[0].nonzero().flatten()
                if spikes.shape[0] == 1
                else (spikes.any(0).nonzero().flatten())
            )
            if cols.numel() > EVENT_COLUMN_FRACTION * columns:
                return False
            self._support_cols = cols
        if self._post.shape[0] == 1:
            block_t = self.block(cols=cols).t()  # (C, O), a view of the one sample's factor
        else:
            # (C, B) @ (B, O): the rows of the transpose, contiguous, as index_add_ reads them.
            block_t = self._pre.index_select(1, cols).t() @ self._left.t()
        out.t().index_add_(0, cols, block_t, alpha=alpha)
        return True

    def _extremes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(min, max)`` of ``post`` and of ``pre``, read once (one ``aminmax`` per float factor).

        Boolean spikes are ``(0, 1)`` without a read; an empty factor is ``(0, 0)``.
        """
        if self._factor_extremes is None:
            extremes = []
            for factor in (self._post, self._pre_given):
                if factor.numel() == 0:
                    extremes.append((0.0, 0.0))
                elif factor.dtype == torch.bool:
                    extremes.append((0.0, 1.0))
                else:
                    low, high = torch.aminmax(factor.detach())
                    extremes.append((float(low), float(high)))
            self._factor_extremes = (extremes[0], extremes[1])
        return self._factor_extremes

    def magnitude(self) -> float:
        # |sum_b post_b pre_b| <= B max|post| max|pre| (divided by B for the mean): one
        # reduction of each small float factor, no pass over the product.
        bounds = []
        for low, high in self._extremes():
            if math.isnan(low) or math.isnan(high):
                return math.nan
            bounds.append(max(abs(low), abs(high)))
        return bounds[0] * bounds[1] * self._post.shape[0] / self._batch

    @property
    def nonnegative(self) -> bool:
        # Spikes are >= 0; a float factor is read on the host, on CPU only (it is small:
        # batch x neurons). NaN is not >= 0.
        if not host_readable(self._pre_given.device):
            return False
        return all(low >= 0.0 for low, _ in self._extremes())

    def support(self, budget: int | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self._zero_diagonal or not host_readable(self._pre_given.device):
            return None, None
        rows, cols = self._shape
        if self._post.dtype == torch.bool:
            spikes, across = self._post, cols
        elif self._pre_spikes is not None:
            spikes, across = self._pre_spikes, rows
        else:
            return None, None
        if spikes.shape[0] == 1:
            where = spikes[0].nonzero().flatten()
        else:
            # Each spike touches at most one row (column) of the weight: count before locating.
            if budget is not None and int(spikes.count_nonzero()) * across > budget:
                return None, None
            where = spikes.any(0).nonzero().flatten()
        if budget is not None and where.numel() * across > budget:
            return None, None
        if spikes is self._post:
            self._support_rows = where
            return where, None
        self._support_cols = where
        return None, where

    def block(
        self, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self._post.shape[0] == 1:
            # One sample, the block at its own support: the spike factor is 1 there, so the
            # block is the other factor repeated (a view, no product).
            if rows is not None and rows is self._support_rows and cols is None:
                return self._pre.expand(rows.numel(), -1)
            if cols is not None and cols is self._support_cols and rows is None:
                return _float(self._post, self._weight).t().expand(-1, cols.numel())
            if rows is not None and cols is None and self._post.dtype != torch.bool:
                # One sample: the outer product by broadcasting (spikes need no conversion).
                return self._post.index_select(1, rows).t() * self._pre_given
        pre = self._pre if cols is None else self._pre.index_select(1, cols)
        if rows is None:
            left = self._left
            if left.layout == torch.sparse_coo:
                return torch.sparse.mm(left, pre)
            return left @ pre
        left = self._post.index_select(1, rows).t().to(pre.dtype)
        if self._batch > 1:
            left = left / self._batch
        return left @ pre

    def keep(self) -> None:
        given = self._pre_given
        if self._pre_float is given:
            self._pre_float = given.clone()
        if self._pre_spikes is not None:
            self._pre_spikes = given.clone()
            if self._pre_float is None:
                self._pre_given = self._pre_spikes
        if self._left_matrix is None:
            self._post = self._post.clone()


def _reduce(product: torch.Tensor, batch: int, reduction: str) -> torch.Tensor:
    # Every caller hands over a fresh product, so the mean is taken in place.
    return product if reduction == "sum" else product.div_(batch)


class _WeightedConnection(Connection):
    """Shared construction: synapse check, weight, bias, delay."""

    def __init__(
        self,
        synapse: Synapse,
        input_shape: tuple[int, ...],
        output_shape: tuple[int, ...],
        weight_shape: tuple[int, ...],
        bias_shape: tuple[int, ...],
        fan_in: int,
        *,
        bias: bool | float | torch.Tensor,
        weight_init: WeightInit,
        weight_init_args: float | Sequence[float] | None,
        delay: float | torch.Tensor | None,
        max_delay: float | None,
        generator: torch.Generator | None,
    ) -> None:
        super().__init__()
        if not isinstance(synapse, Synapse):
            raise TypeError(
                f"synapse must be a Synapse instance shaped like the input {input_shape}, "
                f"got {type(synapse).__name__}"
            )
        if tuple(synapse.shape) != input_shape:
            raise ValueError(
                f"synapse shape must equal the connection's input shape {input_shape}, "
                f"got a synapse of shape {tuple(synapse.shape)}"
            )
        self._input_shape = input_shape
        self._output_shape = output_shape
        weight = _initial_tensor(
            "weight_init", weight_shape, weight_init, weight_init_args, fan_in, generator
        )
        self.weight = nn.Parameter(weight)
        if isinstance(bias, bool):
            bias_value = torch.zeros(bias_shape) if bias else None
        else:
            if not isinstance(bias, int | float | torch.Tensor):
                raise TypeError(
                    f"bias must be a bool, a float or a tensor broadcastable to {bias_shape}, "
                    f"got {bias!r}"
                )
            bias_value = _initial_tensor("bias", bias_shape, bias, None, fan_in, None)
        self.bias = None if bias_value is None else nn.Parameter(bias_value)
        self.synapse = synapse
        self._max_delay = 0.0
        if delay is None:
            if max_delay is not None:
                raise ValueError("max_delay needs per-synapse delays: pass delay= as well")
            self.register_parameter("delay", None)
        else:
            if isinstance(delay, torch.Tensor):
                nonnegative("delay", delay, "ms")
                value = delay.detach().to(torch.get_default_dtype())
                try:
                    value = value.expand(weight_shape).clone()
                except RuntimeError:
                    raise ValueError(
                        f"delay must be a float or a tensor broadcastable to the weight shape "
                        f"{weight_shape}, got a tensor of shape {tuple(delay.shape)}"
                    ) from None
            else:
                value = torch.full(weight_shape, as_float("delay", delay, nonnegative, "ms"))
            self.delay = nn.Parameter(value)
            largest = float(value.max())
            if max_delay is None:
                max_delay = largest
            max_delay = as_float("max_delay", max_delay, nonnegative, "ms")
            if max_delay < largest:
                raise ValueError(
                    f"max_delay must be at least the largest delay ({largest} ms), got {max_delay}"
                )
            self.max_delay = max_delay

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the presynaptic input, excluding the batch dimension."""
        return self._input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the postsynaptic output, excluding the batch dimension."""
        return self._output_shape

    @property
    def max_delay(self) -> float:
        """Largest delay (ms) the synapse's history serves for this connection (0 without delays)."""
        return self._max_delay

    @max_delay.setter
    def max_delay(self, value: float) -> None:
        value = as_float("max_delay", value, nonnegative, "ms")
        if not self.delayed and value > 0:
            raise ValueError("max_delay needs per-synapse delays: the connection has delay=None")
        self._max_delay = value
        if value > self.synapse.delay:
            self.synapse.delay = value

    def _check_reduction(self, batch_reduction: str) -> None:
        check_choice("batch_reduction", batch_reduction, BATCH_REDUCTIONS)

    def extra_repr(self) -> str:
        text = f"input_shape={self._input_shape}, output_shape={self._output_shape}"
        if self.bias is None:
            text += ", bias=False"
        if self.delayed:
            text += f", max_delay={self._max_delay}"
        return text


class _DenseLike(_WeightedConnection):
    """Dense and lateral: weight ``(O, I)``, synaptic layout ``(batch, O, I)``."""

    def _selector(self) -> torch.Tensor:
        # current_at wants delays shaped (*input_shape, O): delay is (O, I).
        return self.delay.t().reshape(*self.input_shape, self.weight.shape[0])

    def _delayed(self, values: torch.Tensor) -> torch.Tensor:
        batch = values.shape[0]
        return values.reshape(batch, self.weight.shape[1], self.weight.shape[0]).transpose(1, 2)

    def _map(self, current: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        batch = current.shape[0]
        if not self.delayed:
            flat = current.reshape(batch, -1)
            out = _sparse_linear(flat, weight, self.bias)
            if out is None:
                out = F.linear(flat, weight, self.bias)
        else:
            # synaptic layout (B, O, I) times (O, I), summed over I
            out = (self._delayed(self.synapse.current_at(self._selector())) * weight).sum(-1)
            if self.bias is not None:
                out = out + self.bias
        return out.view(batch, *self.output_shape)

    @property
    def syncurrent(self) -> torch.Tensor:
        """Presynaptic current (nA): ``(batch, *input_shape)``, or ``(batch, O, I)`` with delays."""
        if not self.delayed:
            return self.synapse.current
        return self._delayed(self.synapse.current_at(self._selector()))

    @property
    def synspike(self) -> torch.Tensor:
        """Presynaptic spikes (bool): ``(batch, *input_shape)``, or ``(batch, O, I)`` with delays."""
        if not self.delayed:
            return self._modules["synapse"].spike
        return self._delayed(self.synapse.spike_at(self._selector()))

    def like_synaptic(self, inputs: torch.Tensor) -> torch.Tensor:
        """Input-layout values ``(batch, *input_shape)`` as a synaptic-layout view ``(batch, O, I)``."""
        batch = _check_layout("inputs", inputs, self.input_shape, "presynaptic values")
        return inputs.reshape(batch, 1, -1).expand(batch, *self.weight.shape)

    def _pre(self, presynaptic: torch.Tensor) -> torch.Tensor:
        if not self.delayed:
            batch = _check_layout(
                "presynaptic", presynaptic, self.input_shape, "input-layout values"
            )
            return presynaptic.reshape(batch, -1)
        _check_layout(
            "presynaptic", presynaptic, tuple(self.weight.shape), "synaptic-layout values"
        )
        return presynaptic

    def presyn_receptive(self, inputs: torch.Tensor) -> torch.Tensor:
        """Presynaptic values against ``(batch, O, I, 1)``.

        Args:
            inputs: ``(batch, *input_shape)``, or ``(batch, O, I)`` with delays.

        Returns:
            ``(batch, 1, I, 1)``, or ``(batch, O, I, 1)`` with delays.
        """
        pre = self._pre(inputs)
        if not self.delayed:
            return pre.reshape(pre.shape[0], 1, -1, 1)
        return pre.unsqueeze(-1)

    def postsyn_receptive(self, outputs: torch.Tensor) -> torch.Tensor:
        """Postsynaptic values ``(batch, *output_shape)`` as ``(batch, O, 1, 1)``."""
        batch = _check_layout("outputs", outputs, self.output_shape, "postsynaptic values")
        return outputs.reshape(batch, -1, 1, 1)

    def _checked(
        self, postsynaptic: torch.Tensor, presynaptic: torch.Tensor
    ) -> tuple[int, torch.Tensor]:
        """The batch size and the presynaptic values in the layout correlations take, checked."""
        batch = _check_layout(
            "postsynaptic", postsynaptic, self.output_shape, "postsynaptic values"
        )
        presynaptic = self._pre(presynaptic)
        if presynaptic.shape[0] != batch:
            raise ValueError(
                f"presynaptic has batch size {presynaptic.shape[0]}, postsynaptic has {batch}"
            )
        return batch, presynaptic

    def _correlate(
        self, postsynaptic: torch.Tensor, presynaptic: torch.Tensor, batch_reduction: str
    ) -> torch.Tensor:
        self._check_reduction(batch_reduction)
        if not self.delayed and batch_reduction != "none":
            return self.correlation(postsynaptic, presynaptic, batch_reduction).tensor()
        batch, presynaptic = self._checked(postsynaptic, presynaptic)
        post = _float(postsynaptic, self.weight).reshape(batch, -1)
        pre = _float(presynaptic, self.weight)
        if batch_reduction == "none":
            return post.unsqueeze(2) * (pre.unsqueeze(1) if not self.delayed else pre)
        product = torch.einsum("bo,boi->oi", post, pre)
        return _reduce(product, batch, batch_reduction)

    #: Whether correlations have a zero diagonal (self-connections never learn).
    _zero_diagonal = False

    def correlation(
        self, postsynaptic: torch.Tensor, presynaptic: torch.Tensor, batch_reduction: str
    ) -> Correlation:
        """See :meth:`Connection.correlation`: without delays, one ``addmm`` into the destination."""
        if self.delayed or batch_reduction not in ("mean", "sum"):
            return super().correlation(postsynaptic, presynaptic, batch_reduction)
        batch, presynaptic = self._checked(postsynaptic, presynaptic)
        return _DenseCorrelation(
            postsynaptic.reshape(batch, -1),
            presynaptic,
            self._parameters["weight"],
            batch_reduction,
            self._zero_diagonal,
        )


class LinearDense(_DenseLike):
    r"""All-to-all connection: :math:`y = I W^\top + b`.

    With per-synapse delays :math:`d_{ij}` (ms):
    :math:`y_i(t) = \sum_j W_{ij}\, I_j(t - d_{ij}) + b_i`, the delayed current
    read from the synapse's history with its ``interp_mode``.

    Args:
        in_shape: presynaptic shape (``I`` = its number of elements).
        out_shape: postsynaptic shape (``O`` = its number of elements).
        synapse: the synapse, shaped ``in_shape``; owned by the connection.
        bias: ``False`` (none), ``True`` (zeros), a float or a tensor
            broadcastable to ``(O,)``; in nA.
        weight_init: ``"uniform"``, ``"normal"``, ``"constant"``, a float or a
            tensor broadcastable to ``(O, I)``.
        weight_init_args: ``(low, high)``, ``(mean, std)`` or the constant.
        delay: ``None`` (no delays), or the initial delays in ms, a float or a
            tensor broadcastable to ``(O, I)``; non-negative.
        max_delay: largest delay the history must serve, in ms (default: the
            largest initial delay).
        generator: random generator for the initialisation.

    Raises:
        TypeError: ``synapse`` is not a Synapse.
        ValueError: ``synapse`` shaped unlike ``in_shape``, a negative
            ``delay``, ``max_delay`` below the largest delay, or a bad
            initialiser.

    Shapes:
        ``forward(spikes, *extra)``: ``(batch, *in_shape)`` (extra inputs go to
        the synapse, e.g. an injection); returns ``(batch, *out_shape)`` nA.
        ``weight``, ``delay``: ``(O, I)``; ``bias``: ``(O,)``.

    Learning support:
        ``presyn_receptive(x)``: ``(batch, *in_shape)`` -> ``(batch, 1, I, 1)``,
        or with delays ``(batch, O, I)`` -> ``(batch, O, I, 1)``.
        ``postsyn_receptive(y)``: ``(batch, *out_shape)`` -> ``(batch, O, 1, 1)``.
        ``correlate(y, x, r)``: :math:`\sum_b y_{bi} x_{bj}` (or
        :math:`x_{bij}` with delays): ``(batch, O, I)`` for ``r="none"``, else
        ``(O, I)`` (``"sum"`` or ``"mean"`` over the batch), by one matrix
        product.

    Example::

        >>> conn = LinearDense(784, 100, synapse=DeltaCurrent(784, step_time=1.0))
        >>> conn(torch.zeros(8, 784)).shape
        torch.Size([8, 100])
    """

    def __init__(
        self,
        in_shape: int | tuple[int, ...],
        out_shape: int | tuple[int, ...],
        *,
        synapse: Synapse,
        bias: bool | float | torch.Tensor = False,
        weight_init: WeightInit = "uniform",
        weight_init_args: float | Sequence[float] | None = None,
        delay: float | torch.Tensor | None = None,
        max_delay: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        input_shape = as_shape("in_shape", in_shape)
        output_shape = as_shape("out_shape", out_shape)
        n_in, n_out = _count(input_shape), _count(output_shape)
        super().__init__(
            synapse,
            input_shape,
            output_shape,
            (n_out, n_in),
            (n_out,),
            n_in,
            bias=bias,
            weight_init=weight_init,
            weight_init_args=weight_init_args,
            delay=delay,
            max_delay=max_delay,
            generator=generator,
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Step the synapse with ``inputs`` (spikes ``(batch, *in_shape)``); return current (nA)."""
        self.check_placement(*inputs)
        # Direct dictionary reads: this runs every step (nn.Module.__getattr__ costs more).
        return self._map(self._modules["synapse"](*inputs), self._parameters["weight"])

    def correlate(
        self,
        postsynaptic: torch.Tensor,
        presynaptic: torch.Tensor,
        batch_reduction: str = "none",
    ) -> torch.Tensor:
        """Post x pre in the weight's layout, ``(batch, O, I)`` or ``(O, I)``; see the class docstring."""
        return self._correlate(postsynaptic, presynaptic, batch_reduction)


class LinearLateral(_DenseLike):
    r"""All-to-all connection within one group, except self: :math:`y = I\,(W \odot (1 - \mathbb{1}))^\top + b`.

    The self-weights (the diagonal of ``weight``) are held at zero: at
    construction, on every ``forward`` (before use, so weights set by hand or
    by an optimiser are corrected) and on ``load_state_dict``; :meth:`correlate`
    returns zeros on the diagonal, so local rules never change them.

    Args:
        shape: shape of the group (``N`` = its number of elements); input and
            output.
        synapse, bias, weight_init, weight_init_args, delay, max_delay,
        generator: as for :class:`LinearDense`, with ``(N, N)`` weights.

    Learning support:
        As :class:`LinearDense` with ``O = I = N``; :meth:`correlate` zeroes
        the diagonal.
    """

    _zero_diagonal = True

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        synapse: Synapse,
        bias: bool | float | torch.Tensor = False,
        weight_init: WeightInit = "uniform",
        weight_init_args: float | Sequence[float] | None = None,
        delay: float | torch.Tensor | None = None,
        max_delay: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        group = as_shape("shape", shape)
        n = _count(group)
        super().__init__(
            synapse,
            group,
            group,
            (n, n),
            (n,),
            max(n - 1, 1),
            bias=bias,
            weight_init=weight_init,
            weight_init_args=weight_init_args,
            delay=delay,
            max_delay=max_delay,
            generator=generator,
        )
        self.zero_self_weights()

    def zero_self_weights(self) -> None:
        """Set the self-weights (the diagonal of ``weight``) to zero, in place."""
        # Through .data: the diagonal is never used, so an autograd graph that
        # saved the weight stays valid.
        self.weight.data.diagonal().zero_()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Step the synapse with ``inputs`` (spikes ``(batch, *shape)``); return current (nA)."""
        # The synapse checks the inputs first: on bad input not even the diagonal is touched.
        self.check_placement(*inputs)
        current = self._modules["synapse"](*inputs)
        # Every step: a write through .data (which bumps no version) must not leave a self-weight.
        weight = self._parameters["weight"]
        weight.data.diagonal().zero_()
        return self._map(current, weight)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.zero_self_weights()

    def correlate(
        self,
        postsynaptic: torch.Tensor,
        presynaptic: torch.Tensor,
        batch_reduction: str = "none",
    ) -> torch.Tensor:
        """Post x pre in the weight's layout with a zero diagonal, ``(batch, N, N)`` or ``(N, N)``."""
        out = self._correlate(postsynaptic, presynaptic, batch_reduction)
        out.diagonal(dim1=-2, dim2=-1).zero_()
        return out


class LinearDirect(_WeightedConnection):
    r"""One-to-one connection: :math:`y = W \odot I + b`.

    With per-synapse delays :math:`y_i(t) = W_i\, I_i(t - d_i) + b_i`.

    Args:
        shape: shape of the input and the output.
        synapse, bias, weight_init, weight_init_args, delay, max_delay,
        generator: as for :class:`LinearDense`, with weights, delays and
            bias shaped ``shape`` (fan in 1).

    Learning support:
        The synaptic layout is the input layout, ``(batch, *shape)``.
        ``presyn_receptive(x)`` and ``postsyn_receptive(y)``:
        ``(batch, *shape)`` -> ``(batch, *shape, 1)``. ``correlate(y, x, r)``:
        :math:`y \odot x`, ``(batch, *shape)`` or ``shape`` reduced.
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        synapse: Synapse,
        bias: bool | float | torch.Tensor = False,
        weight_init: WeightInit = "uniform",
        weight_init_args: float | Sequence[float] | None = None,
        delay: float | torch.Tensor | None = None,
        max_delay: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        group = as_shape("shape", shape)
        super().__init__(
            synapse,
            group,
            group,
            group,
            group,
            1,
            bias=bias,
            weight_init=weight_init,
            weight_init_args=weight_init_args,
            delay=delay,
            max_delay=max_delay,
            generator=generator,
        )

    def _delayed_read(self, read) -> torch.Tensor:
        return read(self.delay.unsqueeze(-1)).squeeze(-1)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Step the synapse with ``inputs`` (spikes ``(batch, *shape)``); return current (nA)."""
        self.check_placement(*inputs)
        current = self.synapse(*inputs)
        if self.delayed:
            current = self._delayed_read(self.synapse.current_at)
        out = current * self.weight
        return out if self.bias is None else out + self.bias

    @property
    def syncurrent(self) -> torch.Tensor:
        """Presynaptic current (nA) at each synapse, ``(batch, *shape)``."""
        if not self.delayed:
            return self.synapse.current
        return self._delayed_read(self.synapse.current_at)

    @property
    def synspike(self) -> torch.Tensor:
        """Presynaptic spikes (bool) at each synapse, ``(batch, *shape)``."""
        if not self.delayed:
            return self._modules["synapse"].spike
        return self._delayed_read(self.synapse.spike_at)

    def like_synaptic(self, inputs: torch.Tensor) -> torch.Tensor:
        """Input-layout values as synaptic layout (the same, ``(batch, *shape)``)."""
        _check_layout("inputs", inputs, self.input_shape, "presynaptic values")
        return inputs

    def presyn_receptive(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, *shape)`` -> ``(batch, *shape, 1)``."""
        _check_layout("inputs", inputs, self.input_shape, "presynaptic values")
        return inputs.unsqueeze(-1)

    def postsyn_receptive(self, outputs: torch.Tensor) -> torch.Tensor:
        """``(batch, *shape)`` -> ``(batch, *shape, 1)``."""
        _check_layout("outputs", outputs, self.output_shape, "postsynaptic values")
        return outputs.unsqueeze(-1)

    def correlate(
        self,
        postsynaptic: torch.Tensor,
        presynaptic: torch.Tensor,
        batch_reduction: str = "none",
    ) -> torch.Tensor:
        """Elementwise post x pre, ``(batch, *shape)`` or ``shape`` reduced over the batch."""
        self._check_reduction(batch_reduction)
        batch = _check_layout(
            "postsynaptic", postsynaptic, self.output_shape, "postsynaptic values"
        )
        pre_batch = _check_layout(
            "presynaptic", presynaptic, self.input_shape, "presynaptic values"
        )
        if pre_batch != batch:
            raise ValueError(f"presynaptic has batch size {pre_batch}, postsynaptic has {batch}")
        product = _float(postsynaptic, self.weight) * _float(presynaptic, self.weight)
        if batch_reduction == "none":
            return product
        return _reduce(product.sum(0), batch, batch_reduction)


def _pair(name: str, value: int | Sequence[int], minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, Sequence)
        or len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in pair)
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


class Conv2d(_WeightedConnection):
    r"""2-D convolution: :math:`y = \operatorname{conv2d}(I, W, b)`.

    As :func:`torch.nn.functional.conv2d` with ``stride``, ``padding``,
    ``dilation`` and ``groups``. With per-synapse delays :math:`d_{ocij}`
    (ms, one per weight entry), kernel entry :math:`(i, j)` of filter
    :math:`o` sees input channel :math:`c` (of the filter's group) as it was
    :math:`d_{ocij}` ms ago:

    .. math::

        y_{bo}[p](t) = \sum_{c,i,j} W_{ocij}\,
            I_{bc}\bigl[p\,s + (i, j)\,\delta - \pi\bigr](t - d_{ocij}) + b_o,

    (:math:`s` stride, :math:`\delta` dilation, :math:`\pi` padding; padded
    positions are 0 at every time), the delayed current read from the
    synapse's history as :meth:`~inferno_lightning.neural.synapses.HistorySynapse.current_at`
    reads it (its ``interp_mode``, clamping and ``current_overbound``).

    **Cost with delays.** A delay read is a combination of at most two whole
    steps of history, so the output is one ``conv2d`` of the last ``S``
    steps of input, stacked as channels, with weights :math:`W_{ocij}` spread
    over the steps by the interpolation coefficients: ``S`` times the
    multiply-adds of the delay-free convolution (``S`` = the synapse's
    ``history_length``, :math:`\lceil d_\max/\Delta t\rceil + 1`, plus one
    when the synapse has a ``current_overbound``), and no per-synapse
    temporary. The synaptic-layout values (:attr:`syncurrent`,
    :attr:`synspike`, for learning rules) are gathered only when read: one
    ``(batch, O, K, kH, kW, L)`` tensor, by index from the stacked history
    with precomputed indices (``O * K * kH * kW * L`` int64, built on first
    use).

    Args:
        in_shape: ``(C, H, W)``, the presynaptic shape.
        out_channels: ``O``, the number of filters.
        kernel_size: ``(kH, kW)`` or an int.
        synapse: the synapse, shaped ``in_shape``; with delays a
            :class:`~inferno_lightning.neural.synapses.HistorySynapse`.
        stride, padding, dilation: ints or pairs, as in ``conv2d``.
        groups: ``C`` and ``O`` must both be divisible by it.
        bias, weight_init, weight_init_args, generator: as for
            :class:`LinearDense`, with ``(O, C/groups, kH, kW)`` weights
            (fan in ``C/groups * kH * kW``) and ``(O,)`` bias.
        delay: ``None`` (no delays), or the initial delays in ms, a float or a
            tensor broadcastable to ``(O, C/groups, kH, kW)``; non-negative.
        max_delay: largest delay the history must serve, in ms (default: the
            largest initial delay).

    Raises:
        TypeError: ``synapse`` is not a Synapse, or not a HistorySynapse with
            delays.
        ValueError: bad geometry (naming the argument), a negative ``delay``,
            ``max_delay`` below the largest delay, or a synapse not shaped
            ``in_shape``.

    Shapes:
        ``forward(spikes)``: ``(batch, C, H, W)`` -> ``(batch, O, Ho, Wo)``.
        ``weight``, ``delay``: ``(O, K, kH, kW)``; ``bias``: ``(O,)``.

    Learning support (``L = Ho * Wo`` output positions, ``K = C/groups``):
        Without delays presynaptic values are in the input layout
        ``(batch, C, H, W)``. ``presyn_receptive(x)``: -> unfolded patches
        ``(batch, 1, C, kH, kW, L)`` (``groups == 1``) or
        ``(batch, O, K, kH, kW, L)`` (each filter's group of channels).

        With delays they are in the *synaptic layout*
        ``(batch, O, K, kH, kW, L)``: entry ``[b, o, c, i, j, l]`` is the value
        that kernel entry ``(o, c, i, j)`` sees at output position ``l``
        (input channel ``g * K + c`` for filter ``o`` of group ``g``, pixel
        ``l * stride + (i, j) * dilation - padding``, delayed by
        ``delay[o, c, i, j]``; 0 on padding). :attr:`syncurrent` and
        :attr:`synspike` return it, ``like_synaptic(x)`` lays input-layout
        values ``(batch, C, H, W)`` out so (undelayed), and
        ``presyn_receptive(x)`` returns it unchanged.

        ``postsyn_receptive(y)``: ``(batch, O, Ho, Wo)`` -> ``(batch, O, 1, 1, 1, L)``.
        ``correlate(y, x, r)``: :math:`\sum_l y_{bol}\,x_{b\,ocij\,l}` (the
        patch entry without delays), ``(batch, O, K, kH, kW)`` or
        ``(O, K, kH, kW)`` reduced: one batched matrix product per group
        without delays, one batched matrix-vector product per (sample,
        filter) with them.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_channels: int,
        kernel_size: int | Sequence[int],
        *,
        synapse: Synapse,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool | float | torch.Tensor = False,
        weight_init: WeightInit = "uniform",
        weight_init_args: float | Sequence[float] | None = None,
        delay: float | torch.Tensor | None = None,
        max_delay: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        input_shape = as_shape("in_shape", in_shape)
        if len(input_shape) != 3:
            raise ValueError(f"in_shape must be (channels, height, width), got {in_shape!r}")
        if delay is not None and isinstance(synapse, Synapse):
            if not isinstance(synapse, HistorySynapse):
                raise TypeError(
                    "synapse must be a HistorySynapse for a Conv2d with delays (its delayed "
                    f"reads are gathered from the history), got {type(synapse).__name__}"
                )
        if isinstance(out_channels, bool) or not isinstance(out_channels, int):
            raise TypeError(f"out_channels must be a positive int, got {out_channels!r}")
        if out_channels < 1:
            raise ValueError(f"out_channels must be a positive int, got {out_channels!r}")
        kernel = _pair("kernel_size", kernel_size, 1)
        self._stride = _pair("stride", stride, 1)
        self._padding = _pair("padding", padding, 0)
        self._dilation = _pair("dilation", dilation, 1)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"groups must be a positive int, got {groups!r}")
        channels, height, width = input_shape
        if channels % groups or out_channels % groups:
            raise ValueError(
                f"groups must divide both the input channels ({channels}) and "
                f"out_channels ({out_channels}), got {groups}"
            )
        self._groups = groups
        self._kernel = kernel
        size = []
        for extent, k, s, p, d in zip(
            (height, width), kernel, self._stride, self._padding, self._dilation, strict=True
        ):
            size.append((extent + 2 * p - d * (k - 1) - 1) // s + 1)
        if min(size) < 1:
            raise ValueError(
                f"kernel_size {kernel} (dilation {self._dilation}) does not fit the padded "
                f"input {(height, width)} with padding {self._padding}"
            )
        output_shape = (out_channels, size[0], size[1])
        per_group = channels // groups
        super().__init__(
            synapse,
            input_shape,
            output_shape,
            (out_channels, per_group, *kernel),
            (out_channels,),
            per_group * kernel[0] * kernel[1],
            bias=bias,
            weight_init=weight_init,
            weight_init_args=weight_init_args,
            delay=delay,
            max_delay=max_delay,
            generator=generator,
        )
        # Flat input pixel (c * H + y) * W + x read by each kernel entry at each
        # output position, C * H * W on padding: a cache built on the first
        # synaptic read (a plain attribute: derived from the geometry, never saved).
        self._pixel_index: torch.Tensor | None = None

    @property
    def positions(self) -> int:
        """``L``, the number of output positions (``Ho * Wo``)."""
        return self._output_shape[1] * self._output_shape[2]

    def _conv(self, inputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            inputs, weight, self.bias, self._stride, self._padding, self._dilation, self._groups
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Step the synapse with ``inputs`` (spikes ``(batch, C, H, W)``); return current (nA)."""
        self.check_placement(*inputs)
        current = self.synapse(*inputs)
        if not self.delayed:
            return self._conv(current, self.weight)
        history = self._history(self.synapse.current_at, self.synapse.current_overbound)
        batch, steps = history.shape[0], history.shape[-1]
        channels, height, width = self.input_shape
        # (B, C, H, W, S) -> (B, C * S, H, W): channel c * S + k is channel c, slot k
        stacked = history.permute(0, 1, 4, 2, 3).reshape(batch, channels * steps, height, width)
        earlier, later, fraction = self._current_slots()
        coefficients = F.one_hot(earlier, steps) * (1 - fraction).unsqueeze(-1)
        coefficients = coefficients + F.one_hot(later, steps) * fraction.unsqueeze(-1)
        weight = self.weight.unsqueeze(-1) * coefficients  # (O, K, kH, kW, S)
        out_channels, per_group, kh, kw = self.weight.shape
        weight = weight.permute(0, 1, 4, 2, 3).reshape(out_channels, per_group * steps, kh, kw)
        return self._conv(stacked, weight)

    # delayed reads

    def _history(self, read, overbound: float | bool | None) -> torch.Tensor:
        """The last ``H`` steps, oldest first, ``(batch, C, H, W, S)``; slot ``H`` holds ``overbound``."""
        length = self.synapse.history_length
        ago = torch.arange(length - 1, -1, -1, device=self.weight.device, dtype=self.weight.dtype)
        # whole steps: read exactly, in every interp_mode
        history = read((ago * self.step_time).expand(*self.input_shape, length))
        if overbound is None:
            return history
        fill = history.new_full((*history.shape[:-1], 1), overbound)
        return torch.cat([history, fill], -1)

    def _slot_position(self, mode: str, overbound: float | bool | None) -> torch.Tensor:
        """Where each delay reads the ``_history`` slots: ``(O, K, kH, kW)``, in ``[0, S - 1]``.

        Reads a probe history whose slot ``k`` holds ``k`` with the synapse's
        own rules (:func:`read_history`), so the position is fractional for a
        linear read between two steps, whole otherwise, and the overbound slot
        for reads beyond the history when the synapse has an overbound value;
        differentiable in ``delay`` for linear reads.
        """
        length = self.synapse.history_length
        probe = torch.arange(length, device=self.delay.device, dtype=self.delay.dtype)
        position = read_history(
            probe.view(1, 1, length),
            self.delay.reshape(1, -1),
            self.step_time,
            mode,
            None if overbound is None else float(length),
        )
        return position.view(self.weight.shape)

    def _current_slots(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Current reads as ``(1 - f) x[earlier] + f x[later]``: slots and ``f``, each ``(O, K, kH, kW)``."""
        synapse = self.synapse
        position = self._slot_position(synapse.interp_mode, synapse.current_overbound)
        earlier = position.detach().floor()
        fraction = position - earlier
        earlier = earlier.long()
        # the newest step and the overbound slot have no later slot (fraction 0)
        later = torch.where(earlier >= synapse.history_length - 1, earlier, earlier + 1)
        return earlier, later, fraction

    def _pixels(self) -> torch.Tensor:
        index = self._pixel_index
        if index is not None and index.device == self.weight.device:
            return index
        out_channels, per_group, kh, kw = self.weight.shape
        channels, height, width = self.input_shape
        _, out_h, out_w = self.output_shape
        (sy, sx), (py, px), (dy, dx) = self._stride, self._padding, self._dilation

        def axis(n: int, dim: int) -> torch.Tensor:
            shape = [1] * 6
            shape[dim] = n
            return torch.arange(n, device=self.weight.device).view(shape)

        filters, channel = axis(out_channels, 0), axis(per_group, 1)
        y = axis(out_h, 4) * sy + axis(kh, 2) * dy - py
        x = axis(out_w, 5) * sx + axis(kw, 3) * dx - px
        channel = (filters // (out_channels // self._groups)) * per_group + channel
        pixel = (channel * height + y) * width + x
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        index = torch.where(inside, pixel, channels * height * width)
        index = index.expand(*self.weight.shape, out_h, out_w).reshape(*self.weight.shape, -1)
        self._pixel_index = index.contiguous()
        return self._pixel_index

    def _synaptic(self, history: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """``history`` ``(batch, C, H, W, S)`` read at ``slot`` ``(O, K, kH, kW)`` in synaptic layout."""
        batch, steps = history.shape[0], history.shape[-1]
        # one all-zero pixel after the last, for the padding
        flat = torch.cat([history.reshape(batch, -1), history.new_zeros(batch, steps)], 1)
        index = self._pixels() * steps + slot.unsqueeze(-1)
        # gather with the index broadcast over the batch (faster than index_select for bool)
        out = torch.gather(flat, 1, index.view(1, -1).expand(batch, -1))
        return out.view(batch, *index.shape)

    @property
    def syncurrent(self) -> torch.Tensor:
        """Presynaptic current (nA): ``(batch, C, H, W)``, or ``(batch, O, K, kH, kW, L)`` with delays."""
        if not self.delayed:
            return self.synapse.current
        history = self._history(self.synapse.current_at, self.synapse.current_overbound)
        earlier, later, fraction = self._current_slots()
        out = self._synaptic(history, earlier)
        if self.synapse.interp_mode != "linear":
            return out
        return torch.lerp(out, self._synaptic(history, later), fraction.unsqueeze(-1))

    @property
    def synspike(self) -> torch.Tensor:
        """Presynaptic spikes (bool): ``(batch, C, H, W)``, or ``(batch, O, K, kH, kW, L)`` with delays."""
        if not self.delayed:
            return self._modules["synapse"].spike
        synapse = self.synapse
        # as HistorySynapse.spike_at: spikes are events, never blended
        mode = "previous" if synapse.interp_mode == "previous" else "nearest"
        slot = self._slot_position(mode, synapse.spike_overbound).detach().long()
        return self._synaptic(self._history(synapse.spike_at, synapse.spike_overbound), slot)

    # learning support

    def _unfold(self, presynaptic: torch.Tensor, name: str = "presynaptic") -> torch.Tensor:
        """``(batch, C, H, W)`` -> ``(batch, groups, K * kH * kW, L)``."""
        batch = _check_layout(name, presynaptic, self.input_shape, "input-layout values")
        patches = F.unfold(
            _float(presynaptic, self.weight),
            self._kernel,
            dilation=self._dilation,
            padding=self._padding,
            stride=self._stride,
        )
        return patches.view(batch, self._groups, -1, patches.shape[-1])

    def _synaptic_shape(self) -> tuple[int, ...]:
        return (*self.weight.shape, self.positions)

    def _patches(self, inputs: torch.Tensor, name: str) -> torch.Tensor:
        """``(batch, C, H, W)`` -> ``(batch, O, K, kH, kW, L)``, a view when ``groups == 1``."""
        patches = self._unfold(inputs, name)  # (B, g, Kk, L)
        batch, groups = patches.shape[0], self._groups
        per_group = self.weight.shape[0] // groups
        expanded = patches.unsqueeze(2).expand(batch, groups, per_group, *patches.shape[2:])
        return expanded.reshape(batch, *self._synaptic_shape())

    def like_synaptic(self, inputs: torch.Tensor) -> torch.Tensor:
        """Input-layout values ``(batch, C, H, W)`` in the synaptic layout ``(batch, O, K, kH, kW, L)``.

        Each kernel entry's patch value, undelayed (0 on padding); a view
        expanded over the filters when ``groups == 1``.
        """
        return self._patches(inputs, "inputs")

    def _pre_synaptic(self, presynaptic: torch.Tensor) -> torch.Tensor:
        _check_layout("presynaptic", presynaptic, self._synaptic_shape(), "synaptic-layout values")
        return _float(presynaptic, self.weight)

    def presyn_receptive(self, inputs: torch.Tensor) -> torch.Tensor:
        """Unfolded patches ``(batch, 1 or O, K, kH, kW, L)``; with delays the synaptic layout as is."""
        if self.delayed:
            return self._pre_synaptic(inputs)
        if self._groups > 1:
            return self._patches(inputs, "presynaptic")
        patches = self._unfold(inputs)
        return patches.view(patches.shape[0], 1, *self.weight.shape[1:], patches.shape[-1])

    def postsyn_receptive(self, outputs: torch.Tensor) -> torch.Tensor:
        """``(batch, O, Ho, Wo)`` -> ``(batch, O, 1, 1, 1, L)``."""
        batch = _check_layout("outputs", outputs, self.output_shape, "postsynaptic values")
        return outputs.reshape(batch, self.weight.shape[0], 1, 1, 1, -1)

    def correlate(
        self,
        postsynaptic: torch.Tensor,
        presynaptic: torch.Tensor,
        batch_reduction: str = "none",
    ) -> torch.Tensor:
        """Sum over positions of post x pre: ``(batch, O, K, kH, kW)`` or ``(O, K, kH, kW)``."""
        self._check_reduction(batch_reduction)
        batch = _check_layout(
            "postsynaptic", postsynaptic, self.output_shape, "postsynaptic values"
        )
        if self.delayed:
            pre = self._pre_synaptic(presynaptic)
            if pre.shape[0] != batch:
                raise ValueError(
                    f"presynaptic has batch size {pre.shape[0]}, postsynaptic has {batch}"
                )
            out_channels = self.weight.shape[0]
            post = _float(postsynaptic, self.weight).reshape(batch, out_channels, -1, 1)
            # (B, O, K kH kW, L) @ (B, O, L, 1): one matrix-vector product per (sample, filter)
            product = torch.matmul(pre.reshape(batch, out_channels, -1, self.positions), post)
            product = product.view(batch, *self.weight.shape)
            if batch_reduction == "none":
                return product
            return _reduce(product.sum(0), batch, batch_reduction)
        patches = self._unfold(presynaptic)  # (B, g, Kk, L)
        if patches.shape[0] != batch:
            raise ValueError(
                f"presynaptic has batch size {patches.shape[0]}, postsynaptic has {batch}"
            )
        groups = self._groups
        post = _float(postsynaptic, self.weight).reshape(batch, groups, -1, self.positions)
        if batch_reduction == "none":
            product = torch.matmul(post, patches.transpose(-1, -2))  # (B, g, O/g, Kk)
            return product.reshape(batch, *self.weight.shape)
        # Fold the batch into the contraction: (g, O/g, B*L) @ (g, B*L, Kk).
        post = post.permute(1, 2, 0, 3).reshape(groups, post.shape[2], -1)
        patches = patches.permute(1, 0, 3, 2).reshape(groups, -1, patches.shape[2])
        product = torch.bmm(post, patches).reshape(self.weight.shape)
        return _reduce(product, batch, batch_reduction)
