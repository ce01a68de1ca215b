"""Abstract bases of the neural vocabulary: Neuron, Synapse, Connection.

Per-sample state (membrane voltages, refractory timers, synaptic currents and
their histories) lives in *non-persistent* buffers that are created lazily from
the first input, so

* the batch size is never a constructor argument,
* ``state_dict()`` holds only what is learned or configured (parameters,
  per-neuron constants, adaptations shared across the batch), so a checkpoint
  saved at one batch size loads at any other (DESIGN.md invariant 3),
* ``module.to(device)`` still moves the state.

``reset()`` drops the per-sample state; the next ``forward`` builds it again at
the batch size of its input.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from .._validation import as_float, as_shape, check_input, check_like, positive

__all__ = ["StatefulModule", "Neuron", "Synapse", "Connection", "Correlation"]

T = TypeVar("T")
_read_version = operator.attrgetter("_version")


class ConstantCache(Generic[T]):
    """A value computed from some of a module's tensors, kept while they are unchanged.

    :meth:`get` returns ``compute(key, True)`` from an earlier call while the
    tensors named by ``names`` are the same tensors (not reassigned, not
    replaced by ``.to()``) at the same version counters (not changed in place,
    e.g. by ``load_state_dict``) and the ``key`` (e.g. a dtype) is the same.
    When one of them is not among the buffers it is given (an
    ``nn.Parameter``, which an optimizer changes) or has no version counter
    (an inference tensor), nothing is kept: ``compute(key, False)`` runs on every
    call, inside autograd. The cache is not pickled or copied with its module.

    Args:
        names: the names of the tensors the value depends on.
    """

    __slots__ = ("names", "_entry")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        # (key, source tensors, their versions, value), or None.
        self._entry: tuple[Hashable, tuple[torch.Tensor, ...], list[int], T] | None = None

    def get(
        self,
        buffers: Mapping[str, torch.Tensor | None],
        key: Hashable,
        compute: Callable[[Any, bool], T],
    ) -> T:
        """The value for ``buffers`` (a module's ``_buffers``) and ``key``.

        Args:
            buffers: where the named tensors are looked up.
            key: anything else the value depends on (compared with ``==``).
            compute: ``compute(key, cached) -> value``; with ``cached`` true it
                runs without autograd and may read tensors on the host, as it
                runs only when a source changes.
        """
        entry = self._entry
        if entry is not None and entry[0] == key:
            sources = entry[1]
            # C-level loops: a step that finds its constants unchanged pays about a microsecond.
            if (
                all(map(operator.is_, map(buffers.get, self.names), sources))
                and list(map(_read_version, sources)) == entry[2]
            ):
                return entry[3]
        sources = tuple(map(buffers.get, self.names))
        versions = [_version(tensor) for tensor in sources]
        if None in versions:
            self._entry = None
            return compute(key, False)
        with torch.no_grad():
            value = compute(key, True)
        self._entry = (key, sources, versions, value)
        return value

    def clear(self) -> None:
        """Forget the kept value."""
        self._entry = None

    def __getstate__(self) -> tuple[str, ...]:
        return self.names

    def __setstate__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self._entry = None


def _version(tensor: torch.Tensor | None) -> int | None:
    if tensor is None:  # not a buffer
        return None
    try:
        return tensor._version
    except RuntimeError:  # inference tensors have no version counter
        return None


class StatefulModule(nn.Module):
    """A module with lazily sized per-sample state.

    Subclasses call :meth:`register_state` in ``__init__`` for every per-sample
    tensor. Each is a non-persistent buffer that is ``None`` until the first
    ``forward`` (or until set by hand) and is dropped by :meth:`reset`.

    A step that rebinds its state every time may write the entries of
    ``self._buffers`` directly: ``nn.Module.__setattr__`` (name checks,
    registration hooks) costs more than the arithmetic of a small group. The
    state is still a buffer to ``.to()``, ``state_dict`` and ``torch.compile``
    (which traces such writes); module buffer registration hooks see it when
    it is registered and set by assignment, not on every step.
    """

    def __init__(self) -> None:
        super().__init__()
        self._state_names: list[str] = []

    def register_state(self, name: str) -> None:
        """Register ``name`` as a per-sample state buffer (not saved in ``state_dict``)."""
        self.register_buffer(name, None, persistent=False)
        self._state_names.append(name)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the per-sample state buffers."""
        return tuple(self._state_names)

    @property
    def batch_size(self) -> int | None:
        """Batch size of the current per-sample state, ``None`` before the first step."""
        buffers = self._buffers
        for name in self._state_names:
            value = buffers[name] if name in buffers else getattr(self, name)
            if value is not None:
                return int(value.shape[0])
        return None

    def reset(self) -> None:
        """Drop the per-sample state; the next ``forward`` starts from rest."""
        for name in self._state_names:
            setattr(self, name, None)


class Neuron(StatefulModule, ABC):
    r"""A group of neurons that turns input current into spikes, one step at a time.

    One step's order, for every model: integrate with this step's input, then
    spike where :math:`V \ge V_\text{thresh}`, then reset. After ``forward``,
    :attr:`voltage` holds the post-reset value.

    Args:
        shape: shape of the neuron group, excluding the batch dimension.
        step_time: simulation step :math:`\Delta t`, in ms.

    Shapes:
        ``forward(inputs)``: ``inputs`` is ``(batch, *shape)`` current in nA;
        returns spikes ``(batch, *shape)`` as 0/1 values of the input's
        floating dtype (differentiable when a surrogate is set).
    """

    def __init__(self, shape: int | tuple[int, ...], step_time: float) -> None:
        super().__init__()
        self._shape = as_shape("shape", shape)
        self._step_time = as_float("step_time", step_time, positive, "ms")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the group, excluding the batch dimension."""
        return self._shape

    @property
    def count(self) -> int:
        """Number of neurons in the group."""
        n = 1
        for d in self._shape:
            n *= d
        return n

    @property
    def step_time(self) -> float:
        """Simulation step :math:`\\Delta t`, in ms."""
        return self._step_time

    @property
    @abstractmethod
    def voltage(self) -> torch.Tensor:
        """Membrane voltage in mV, ``(batch, *shape)``."""

    @property
    @abstractmethod
    def spike(self) -> torch.Tensor:
        """Spikes emitted on the last step, boolean ``(batch, *shape)``."""

    @property
    @abstractmethod
    def refrac(self) -> torch.Tensor:
        """Remaining absolute refractory time in ms, ``(batch, *shape)``."""

    @abstractmethod
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with input current ``inputs`` (nA); return spikes."""

    def check_inputs(self, inputs: torch.Tensor) -> int:
        """Validate ``inputs`` against ``(batch, *shape)`` and the current state; return batch."""
        return check_input("inputs", inputs, self._shape, self.batch_size)

    def extra_repr(self) -> str:
        return f"shape={self._shape}, step_time={self._step_time}"


class Synapse(StatefulModule, ABC):
    r"""Turns presynaptic spikes (and optionally injected current) into current.

    A synapse keeps a bounded history long enough to serve reads delayed by up
    to :attr:`delay` ms, read with interpolation.

    Args:
        shape: shape of the presynaptic group, excluding the batch dimension.
        step_time: simulation step :math:`\Delta t`, in ms.

    Shapes:
        ``forward(*inputs)``: spikes ``(batch, *shape)``; returns the current
        ``(batch, *shape)`` in nA.
        ``current_at(selector)`` / ``spike_at(selector)``: ``selector`` holds
        delays in ms, shaped ``(*shape, N)`` or ``(batch, *shape, N)``; returns
        ``(batch, *shape, N)``.
    """

    def __init__(self, shape: int | tuple[int, ...], step_time: float) -> None:
        super().__init__()
        self._shape = as_shape("shape", shape)
        self._step_time = as_float("step_time", step_time, positive, "ms")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the presynaptic group, excluding the batch dimension."""
        return self._shape

    @property
    def step_time(self) -> float:
        """Simulation step :math:`\\Delta t`, in ms."""
        return self._step_time

    @property
    @abstractmethod
    def delay(self) -> float:
        """Largest delay, in ms, that the history serves."""

    @delay.setter
    @abstractmethod
    def delay(self, value: float) -> None: ...

    @property
    @abstractmethod
    def current(self) -> torch.Tensor:
        """Current of the last step, in nA, ``(batch, *shape)``."""

    @property
    @abstractmethod
    def spike(self) -> torch.Tensor:
        """Presynaptic spikes of the last step, boolean ``(batch, *shape)``."""

    @abstractmethod
    def current_at(self, selector: torch.Tensor) -> torch.Tensor:
        """Current ``selector`` ms ago, interpolated, ``(batch, *shape, N)``."""

    @abstractmethod
    def spike_at(self, selector: torch.Tensor) -> torch.Tensor:
        """Spikes ``selector`` ms ago, boolean ``(batch, *shape, N)``."""

    @abstractmethod
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step; return the current, ``(batch, *shape)``."""


class Correlation:
    r"""A batch-reduced :meth:`Connection.correlate` product, checked now and computed where it goes.

    .. math::

        C = \mathop{\mathrm{R}}_{b=1}^{B} \sum_{\text{positions}}
            \text{post}_b \otimes \text{pre}_b

    in the weight's layout and shape, with :math:`\mathrm{R}` the sum or the
    mean over the batch; the units are those of post times pre (e.g. a spike
    times a trace).

    Learning rules hand it to an :class:`~inferno_lightning.learn.Accumulator`,
    which writes it straight into its running sum (:meth:`write_` on the
    first step after a clear, :meth:`add_to_` after), so a step's
    weight-shaped term needs no tensor of its own: a dense connection does
    one matrix product into the sum (``addmm``), and boolean spikes on CPU
    a sparse one.

    This base holds a product already computed (what any connection's
    :meth:`Connection.correlation` gives by default); connections with a
    faster route subclass it.

    Args:
        product: the reduced product, shaped like the weight.
    """

    def __init__(self, product: torch.Tensor) -> None:
        self._product = product

    @property
    def shape(self) -> torch.Size:
        """The product's shape (the weight's)."""
        return self._product.shape

    @property
    def dtype(self) -> torch.dtype:
        """The product's dtype."""
        return self._product.dtype

    @property
    def device(self) -> torch.device:
        """The product's device."""
        return self._product.device

    def tensor(self) -> torch.Tensor:
        """The product as a new tensor the caller owns."""
        return self._product

    def write_(self, out: torch.Tensor) -> torch.Tensor:
        """Write the product into ``out`` (same shape, dtype and device) and return it."""
        return out.copy_(self._product)

    def add_to_(self, out: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Add ``alpha`` times the product to ``out`` in place and return it."""
        return out.add_(self._product, alpha=alpha)

    def magnitude(self) -> float:
        r"""An upper bound of :math:`\max |C|` over the elements, read on the host.

        ``inf`` or ``nan`` when the product is not finite. The Accumulator
        adds a product straight into a weight only when this bound is small
        enough that no element can overflow. The base reads the product
        (:meth:`tensor`, one pass); a subclass may bound it from its factors.
        """
        product = self.tensor()
        if product.numel() == 0:
            return 0.0
        return float(product.detach().abs().max())

    @property
    def nonnegative(self) -> bool:
        r"""Whether the product is known to be :math:`\ge 0` elementwise without a device sync.

        ``False`` means unknown (the Accumulator then measures the signs where
        it needs them). The base knows nothing about a computed product.
        """
        return False

    def support(self, budget: int | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Row and column indices outside which the product is zero (2-D weights).

        ``(rows, cols)``: the product is zero outside ``rows`` (every column),
        or outside ``cols`` (every row); ``None`` where it is not limited.
        Event-driven updates touch only these rows and columns (the rows of
        the postsynaptic neurons that spiked, the columns of the inputs that
        did). Computed only on a host-readable device (CPU); elsewhere
        ``(None, None)``.

        Args:
            budget: give up (``(None, None)``) when the support may cover
                more elements than this (judged from the number of spikes,
                before finding where they are).
        """
        return None, None

    def block(
        self, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The product at the given rows (``(len(rows), I)``) or columns (``(O, len(cols))``)."""
        product = self._product
        if rows is not None:
            product = product.index_select(0, rows)
        if cols is not None:
            product = product.index_select(1, cols)
        return product

    def keep(self) -> None:
        """Make the product independent of the tensors it was built from.

        The Accumulator calls this when it holds a step's product unevaluated
        (it evaluates it at the next step or at apply), so that a caller that
        later writes into a tensor it passed in cannot change the held term.
        """


class Connection(nn.Module, ABC):
    r"""A trainable mapping from presynaptic spikes to postsynaptic current.

    Owns an injected :class:`Synapse` (shaped like the input) and parameters
    ``weight``, optional ``bias`` and optional per-synapse ``delay`` (ms, laid
    out like ``weight``).

    Learning support, so that one rule serves every connection type. Values
    come in two layouts: the *input layout* ``(batch, *input_shape)`` and,
    when the connection has delays, the *synaptic layout* (one value per
    synapse, e.g. ``(batch, out, in)`` for a dense connection). Presynaptic
    values (:attr:`syncurrent`, :attr:`synspike`, traces of them) are in the
    synaptic layout exactly when :attr:`delayed`, else in the input layout.

    * :meth:`presyn_receptive` / :meth:`postsyn_receptive` lay pre- and
      postsynaptic values out so that they broadcast against
      ``(batch, *weight.shape, L)``, with ``L`` the number of positions at
      which the weight is applied (1 for linear connections, the output
      positions for convolutions);
    * :meth:`correlate` returns the sum over positions of post times pre, in
      the weight's layout, computed efficiently:
      ``correlate(y, x, "none") == (postsyn_receptive(y) * presyn_receptive(x)).sum(-1)``
      (up to self-connections a connection excludes).

    Shapes:
        ``forward(*inputs)``: spikes ``(batch, *input_shape)``; returns current
        ``(batch, *output_shape)`` in nA.
    """

    synapse: Synapse
    weight: nn.Parameter
    bias: nn.Parameter | None
    delay: nn.Parameter | None

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the presynaptic input, excluding the batch dimension."""

    @property
    @abstractmethod
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the postsynaptic output, excluding the batch dimension."""

    @property
    def step_time(self) -> float:
        """Simulation step, in ms (that of the synapse)."""
        return self.synapse.step_time

    @property
    def delayed(self) -> bool:
        """Whether the connection has per-synapse delays (presynaptic values in synaptic layout)."""
        parameters = self._parameters  # read every step: no nn.Module.__getattr__
        if "delay" in parameters:
            return parameters["delay"] is not None
        return getattr(self, "delay", None) is not None

    @property
    @abstractmethod
    def syncurrent(self) -> torch.Tensor:
        """Presynaptic current (nA) as each synapse sees it, input or synaptic layout."""

    @property
    @abstractmethod
    def synspike(self) -> torch.Tensor:
        """Presynaptic spikes (bool) as each synapse sees them, input or synaptic layout."""

    @abstractmethod
    def presyn_receptive(self, inputs: torch.Tensor) -> torch.Tensor:
        """Presynaptic values laid out to broadcast against ``(batch, *weight.shape, L)``."""

    @abstractmethod
    def postsyn_receptive(self, outputs: torch.Tensor) -> torch.Tensor:
        """Postsynaptic values ``(batch, *output_shape)`` laid out like :meth:`presyn_receptive`."""

    @abstractmethod
    def correlate(
        self,
        postsynaptic: torch.Tensor,
        presynaptic: torch.Tensor,
        batch_reduction: str = "none",
    ) -> torch.Tensor:
        """Sum over positions of post x pre: ``(batch, *weight.shape)``, or ``weight.shape`` reduced.

        Returns a new tensor that the caller owns (learning rules scale it in place).
        """

    def correlation(
        self, postsynaptic: torch.Tensor, presynaptic: torch.Tensor, batch_reduction: str
    ) -> Correlation:
        """:meth:`correlate` reduced over the batch (``"mean"`` or ``"sum"``), to be written where it goes.

        The inputs are checked here (the same errors as :meth:`correlate`);
        the product is computed when the :class:`Correlation` is written.
        This default computes it now; dense connections defer it.
        """
        if batch_reduction not in ("mean", "sum"):
            raise ValueError(
                f"batch_reduction must be 'mean' or 'sum' for a correlation, got {batch_reduction!r}"
            )
        return Correlation(self.correlate(postsynaptic, presynaptic, batch_reduction))

    @abstractmethod
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Advance the synapse one step and map its current to the output."""

    def check_placement(self, *inputs: torch.Tensor | None, name: str = "inputs") -> None:
        """Require every tensor input on the weight's device and, if floating, in its dtype.

        Runs before the synapse steps, so a batch of another dtype or device
        never creates per-sample state (which would then refuse valid input).

        Raises:
            ValueError: an input on another device.
            TypeError: a floating-point input of another dtype than the weight.
        """
        weight = self._parameters.get("weight")
        if weight is None:
            weight = self.weight
        for value in inputs:
            if isinstance(value, torch.Tensor):
                check_like(name, value, weight, f"the {type(self).__name__}'s weight")

    def reset(self) -> None:
        """Drop per-sample state (the synapse's)."""
        self.synapse.reset()
