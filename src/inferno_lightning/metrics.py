r"""torchmetrics metrics for spiking networks: firing rates and the label-assignment readout.

:class:`SpikeRate` is the mean firing rate, in Hz, of a neuron group.
:class:`LabelAssignment` and :class:`LabelAssignmentAccuracy` are the readout of
Diehl & Cook (2015), "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity": after (or during) training, a labelling
pass over labelled samples assigns each excitatory neuron the class it
responds to most; a sample is then classified by the responses of the neurons
assigned to each class.

Every state is a fixed-size sum (``dist_reduce_fx="sum"``), so torchmetrics
sums it over all ranks in ``compute()``. ``compute()`` is a collective under
DDP: call it on every rank, never inside a rank-zero branch. Assignments come
from :meth:`LabelAssignment.compute`, that is from the table summed over all
ranks, so every rank predicts with the same assignments.

How a model uses the readout (labelling on the training data, prediction on
the validation data)::

    class Net(SpikingModule):
        def configure_metrics(self):
            n = self.hparams.n_out
            self.labelling = LabelAssignment(num_classes=10, shape=n)
            self.val_accuracy = LabelAssignmentAccuracy(10, n, weighting="proportion")

        def training_step(self, batch, batch_idx):
            inputs, targets = self.unpack_batch(batch)
            spikes = self(inputs)                             # (T, batch, n)
            self.labelling.update(spikes.sum(0), targets)     # this rank's samples

        def on_train_epoch_start(self):
            self.labelling.reset()                            # label with this epoch's responses

        def on_validation_epoch_start(self):
            # Every rank: compute() sums the table over ranks, so all ranks agree.
            self.val_accuracy.set_assignments(self.labelling.compute())

        def validation_step(self, batch, batch_idx):
            inputs, targets = self.unpack_batch(batch)
            self.val_accuracy.update(self(inputs).sum(0), targets)
            self.log("val/accuracy", self.val_accuracy, on_epoch=True)

Lightning runs an epoch's validation before ``on_train_epoch_end``, hence the
assignment in ``on_validation_epoch_start``. In the sanity check before any
training, the table is empty: every neuron is unassigned, every prediction is
``-1`` and the accuracy 0 (torchmetrics also warns that ``compute`` ran before
``update``). A separate labelling pass (learning off, e.g. ``trainer.validate``
on the training data updating :attr:`labelling`) works the same way.

The maths lives in the pure functions :func:`assign_labels` and
:func:`predict_labels`, shared by the metrics and usable without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torchmetrics import Metric
from typing_extensions import override

from ._validation import as_shape, check_choice, check_input, positive

__all__ = [
    "Assignments",
    "LabelAssignment",
    "LabelAssignmentAccuracy",
    "SpikeRate",
    "assign_labels",
    "predict_labels",
]

# Sums of spike counts are exact in float64 up to 2**53 spikes (float32 stops at 2**24).
_SUM_DTYPE = torch.float64


def _check_counts(name: str, counts: torch.Tensor, shape: tuple[int, ...]) -> int:
    """Check ``counts`` is a real ``(batch, *shape)`` tensor, finite and non-negative.

    Returns:
        the batch size.
    """
    if isinstance(counts, torch.Tensor) and counts.is_complex():
        raise ValueError(f"{name} must be a real tensor, got dtype {counts.dtype}")
    batch = check_input(name, counts, shape)
    if counts.dtype != torch.bool and bool((counts < 0).any()):
        raise ValueError(
            f"{name} must be non-negative (spike counts), got minimum {counts.min().item()!r}"
        )
    return batch


def _check_labels(labels: torch.Tensor, batch: int, num_classes: int) -> None:
    """Check ``labels`` holds ``batch`` class indices in ``[0, num_classes)``."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}"
        )
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be an integer tensor of class indices, got {labels.dtype}")
    if tuple(labels.shape) != (batch,):
        raise ValueError(
            f"labels must have shape (batch,) = ({batch},) to match counts, "
            f"got {tuple(labels.shape)}"
        )
    if batch and bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(
            f"labels must be class indices in [0, {num_classes}), got values from "
            f"{labels.min().item()} to {labels.max().item()}"
        )


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return num_classes


# ------------------------------------------------------------------------ spike rate
class SpikeRate(Metric):
    r"""Mean firing rate, in Hz, from spike counts or spike trains.

    The states are the spikes summed over samples per neuron, :math:`K_n`, and
    the observed time summed over samples, :math:`D` (ms; a batch of :math:`b`
    samples observed for :math:`d` ms adds :math:`b d`). The rate of neuron
    :math:`n` and the population mean over the :math:`N` neurons are

    .. math::

        \nu_n = 1000 \, \frac{K_n}{D}, \qquad
        \bar\nu = \frac{1}{N} \sum_n \nu_n = 1000 \, \frac{\sum_n K_n}{N D}

    in Hz, so windows of different lengths are weighted by their duration.
    With nothing observed (:math:`D = 0`) the rates are NaN.

    Args:
        shape: shape of the neuron group (an int for ``n`` neurons).
        step_time: simulation step :math:`\Delta t`, in ms, used to time spike
            trains passed to :meth:`update` without a ``duration``.
        reduce: ``"mean"``: :meth:`compute` returns the population mean
            :math:`\bar\nu`, a scalar; ``"none"``: the per-neuron rates
            :math:`\nu_n`, shaped ``shape``.
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: ``shape``, ``step_time`` or ``reduce`` is invalid.

    Example::

        rate = SpikeRate(100, step_time=1.0)
        rate.update(spikes)             # spike trains (T, batch, 100), T steps of 1 ms
        rate.update(counts, 250.0)      # spike counts (batch, 100) over 250 ms
        rate.compute()                  # mean rate over neurons, Hz
    """

    is_differentiable = False
    higher_is_better: bool | None = None
    full_state_update = False

    spike_sum: torch.Tensor
    time_sum: torch.Tensor

    def __init__(
        self,
        shape: int | Sequence[int],
        step_time: float | None = None,
        reduce: str = "mean",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shape = as_shape("shape", shape)
        self.step_time = (
            None if step_time is None else float(positive("step_time", step_time, "ms"))
        )
        check_choice("reduce", reduce, ("mean", "none"))
        self.reduce = reduce
        self.add_state("spike_sum", torch.zeros(self.shape, dtype=_SUM_DTYPE), dist_reduce_fx="sum")
        self.add_state("time_sum", torch.zeros((), dtype=_SUM_DTYPE), dist_reduce_fx="sum")

    @override
    def update(self, spikes: torch.Tensor, duration: float | None = None) -> None:
        """Add a batch of spike counts or spike trains.

        Args:
            spikes: either spike counts ``(batch, *shape)`` collected over
                ``duration`` ms, or spike trains ``(T, batch, *shape)``,
                time-major (as :meth:`SpikingModule.simulate` returns them).
                Non-negative; bool, int or float.
            duration: the observation window of each sample, in ms. Required
                for counts; for spike trains it defaults to ``T * step_time``.

        Raises:
            ValueError: ``spikes`` has the wrong shape, is negative or not
                finite; ``duration`` is missing or not positive. Nothing is
                added then.
        """
        trains = isinstance(spikes, torch.Tensor) and spikes.dim() == len(self.shape) + 2
        if trains:
            if duration is None:
                if self.step_time is None:
                    raise ValueError(
                        "duration must be given (ms) for spike trains when the SpikeRate "
                        "has no step_time"
                    )
                duration = spikes.shape[0] * self.step_time
            _check_counts("spikes", spikes.flatten(0, 1), self.shape)
        else:
            if isinstance(spikes, torch.Tensor) and spikes.dim() != len(self.shape) + 1:
                dims = ", ".join(str(d) for d in self.shape)
                raise ValueError(
                    f"spikes must be counts (batch, {dims}) or spike trains (T, batch, {dims}), "
                    f"got {tuple(spikes.shape)}"
                )
            _check_counts("spikes", spikes, self.shape)
            if duration is None:
                raise ValueError("duration must be given (ms) with spike counts (batch, ...)")
        duration = float(positive("duration", duration, "ms"))
        batch = spikes.shape[1] if trains else spikes.shape[0]
        counts = spikes.sum(0) if trains else spikes
        self.spike_sum += counts.to(_SUM_DTYPE).sum(0)
        self.time_sum += batch * duration

    @override
    def compute(self) -> torch.Tensor:
        """The rate in Hz: a scalar (``reduce="mean"``) or per neuron, shaped ``shape``."""
        rates = 1000.0 * self.spike_sum / self.time_sum
        return rates.mean() if self.reduce == "mean" else rates


# -------------------------------------------------------------- label assignment
class Assignments(NamedTuple):
    """The outcome of a labelling pass (see :func:`assign_labels`).

    Attributes:
        labels: the class assigned to each neuron, ``-1`` for a neuron that
            never fired, long, shaped like the neuron group.
        proportions: each assigned neuron's share of its total mean response
            that its class drew, in ``[0, 1]`` (0 where unassigned), float64,
            shaped like the neuron group.
        mean_response: the mean response table :math:`r_{c,n}`,
            ``(num_classes, *shape)``, float64.

    From :meth:`LabelAssignment.compute` for a group of one neuron, torchmetrics
    squeezes ``labels`` and ``proportions`` to 0-d tensors;
    :meth:`LabelAssignmentAccuracy.set_assignments` accepts them as they are.
    """

    labels: torch.Tensor
    proportions: torch.Tensor
    mean_response: torch.Tensor


def assign_labels(response_sum: torch.Tensor, class_count: torch.Tensor) -> Assignments:
    r"""Assign each neuron the class to which its mean response is highest.

    With :math:`S_{c,n}` the spike counts of neuron :math:`n` summed over the
    samples of class :math:`c` and :math:`N_c` the number of those samples,

    .. math::

        r_{c,n} = S_{c,n} / N_c \quad (0 \text{ when } N_c = 0), \qquad
        a_n = \operatorname*{arg\,max}_c r_{c,n}, \qquad
        p_n = \frac{r_{a_n,n}}{\sum_c r_{c,n}}.

    Ties go to the lowest class index (as in Diehl & Cook's code). A neuron
    that never fired (:math:`\max_c r_{c,n} = 0`) is left unassigned,
    :math:`a_n = -1`, :math:`p_n = 0`, and takes no part in prediction (Diehl &
    Cook's code assigns it class 0, where it only dilutes class 0's mean). A
    class without samples has :math:`r_{c,n} = 0` and so gets no neuron.

    Args:
        response_sum: :math:`S`, ``(num_classes, *shape)``.
        class_count: :math:`N`, ``(num_classes,)``.

    Returns:
        the :class:`Assignments`: ``labels`` and ``proportions`` shaped
        ``shape``, and ``mean_response`` :math:`r`.

    Raises:
        TypeError: an argument is not a real tensor.
        ValueError: ``class_count`` is not ``(num_classes,)`` for the
            ``(num_classes, *shape)`` of ``response_sum``, or either holds a
            negative or non-finite value.
    """
    for name, value in (("response_sum", response_sum), ("class_count", class_count)):
        if not isinstance(value, torch.Tensor) or value.is_complex():
            got = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a real tensor, got {got}")
    if response_sum.dim() < 2:
        raise ValueError(
            f"response_sum must have shape (num_classes, *shape), got {tuple(response_sum.shape)}"
        )
    if tuple(class_count.shape) != (response_sum.shape[0],):
        raise ValueError(
            f"class_count must have shape (num_classes,) = ({response_sum.shape[0]},) to match "
            f"response_sum {tuple(response_sum.shape)}, got {tuple(class_count.shape)}"
        )
    for name, value in (("response_sum", response_sum), ("class_count", class_count)):
        _check_counts(name, value.unsqueeze(0), tuple(value.shape))
    response = response_sum.to(_SUM_DTYPE)
    count = class_count.to(_SUM_DTYPE).clamp(min=1.0)
    mean = response / count.reshape(-1, *([1] * (response.dim() - 1)))
    best = mean.amax(0)
    fired = best > 0
    labels = torch.where(fired, mean.argmax(0), torch.full_like(best, -1, dtype=torch.long))
    total = mean.sum(0)
    proportions = torch.where(fired, best / torch.where(fired, total, 1.0), 0.0)
    return Assignments(labels, proportions, mean)


def predict_labels(
    counts: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    proportions: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Predict each sample's class from the responses of the neurons assigned to each class.

    With :math:`A_c = \{n : a_n = c\}` the neurons assigned to class
    :math:`c` and :math:`k_n` a sample's spike counts, the class scores are
    the mean response of each class's neurons ("vote")

    .. math::

        s_c = \frac{1}{|A_c|} \sum_{n \in A_c} k_n,

    or, given ``proportions`` :math:`p_n`, the proportion-weighted mean

    .. math::

        s_c = \frac{1}{|A_c|} \sum_{n \in A_c} p_n k_n,

    with :math:`s_c = 0` for a class with no neuron. The prediction is
    :math:`\arg\max_c s_c`, ties to the lowest class index, or ``-1`` when
    every score is 0 (no assigned neuron fired: no vote, never correct).

    Args:
        counts: spike counts ``(batch, *shape)``.
        labels: neuron assignments, shaped ``shape``, ``-1`` for unassigned.
        num_classes: number of classes :math:`C`.
        proportions: :math:`p_n`, shaped ``shape``, or ``None`` to vote.

    Returns:
        the predicted classes ``(batch,)``, long, in ``[-1, num_classes)``.

    Raises:
        TypeError: ``counts``, ``labels`` or ``proportions`` is not a tensor.
        ValueError: ``num_classes`` not a positive int; ``labels`` not
            integer class indices in ``[-1, num_classes)``; ``counts`` not
            ``(batch, *labels.shape)``, negative or not finite;
            ``proportions`` not shaped like ``labels`` or outside ``[0, 1]``.
    """
    num_classes = _check_num_classes(num_classes)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"labels must be a tensor of neuron assignments, got {type(labels).__name__}"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor of class indices, got {labels.dtype}")
    _check_counts("counts", counts, tuple(labels.shape))
    if labels.numel() and bool(((labels < -1) | (labels >= num_classes)).any()):
        raise ValueError(
            f"labels must be class indices in [0, {num_classes}) or -1 (unassigned), got "
            f"values from {labels.min().item()} to {labels.max().item()}"
        )
    if proportions is not None:
        if not isinstance(proportions, torch.Tensor) or proportions.shape != labels.shape:
            got = (
                tuple(proportions.shape)
                if isinstance(proportions, torch.Tensor)
                else type(proportions).__name__
            )
            raise ValueError(
                f"proportions must be a tensor shaped like labels {tuple(labels.shape)}, got {got}"
            )
        if not bool(((proportions >= 0) & (proportions <= 1)).all()):
            raise ValueError("proportions must lie in [0, 1] (and not be NaN)")
    return _predict_labels(counts, labels, num_classes, proportions)


def _predict_labels(
    counts: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    proportions: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`predict_labels` on arguments already checked."""
    flat_labels = labels.reshape(-1).to(counts.device)
    member = torch.zeros(flat_labels.numel(), num_classes, dtype=_SUM_DTYPE, device=counts.device)
    assigned = flat_labels >= 0
    neurons = torch.arange(flat_labels.numel(), device=counts.device)[assigned]
    member[neurons, flat_labels[assigned]] = 1.0
    weights = member
    if proportions is not None:
        weights = member * proportions.reshape(-1, 1).to(device=counts.device, dtype=_SUM_DTYPE)
    scores = counts.reshape(counts.shape[0], -1).to(_SUM_DTYPE) @ weights
    scores = scores / member.sum(0).clamp(min=1.0)
    best = scores.argmax(1)
    return torch.where(scores.amax(1) > 0, best, torch.full_like(best, -1))


class LabelAssignment(Metric):
    r"""The response table of a labelling pass; :meth:`compute` assigns classes to neurons.

    The states are the spike counts summed per class and neuron,
    :math:`S_{c,n}` ``(num_classes, *shape)``, and the number of samples per
    class, :math:`N_c` ``(num_classes,)``: fixed-size sums, summed over ranks
    in :meth:`compute`. :meth:`compute` returns the :class:`Assignments` of
    :func:`assign_labels` on the summed table, so every rank gets the same
    ones; hand them to :meth:`LabelAssignmentAccuracy.set_assignments`.

    Args:
        num_classes: number of classes :math:`C`.
        shape: shape of the neuron group (an int for ``n`` neurons).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: ``num_classes`` or ``shape`` is invalid.

    Example::

        labelling = LabelAssignment(num_classes=10, shape=100)
        labelling.update(counts, labels)        # (batch, 100), (batch,)
        assignments = labelling.compute()       # every rank: a collective
        assignments.labels                      # (100,), -1 where a neuron never fired
    """

    is_differentiable = False
    higher_is_better: bool | None = None
    full_state_update = False

    response_sum: torch.Tensor
    class_count: torch.Tensor

    def __init__(self, num_classes: int, shape: int | Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)
        self.shape = as_shape("shape", shape)
        self.add_state(
            "response_sum",
            torch.zeros((self.num_classes, *self.shape), dtype=_SUM_DTYPE),
            dist_reduce_fx="sum",
        )
        self.add_state(
            "class_count", torch.zeros(self.num_classes, dtype=_SUM_DTYPE), dist_reduce_fx="sum"
        )

    @override
    def update(self, counts: torch.Tensor, labels: torch.Tensor) -> None:
        """Add labelled responses to the table.

        Args:
            counts: spike counts per sample and neuron ``(batch, *shape)``,
                non-negative (e.g. the summed output of a simulation).
            labels: class indices ``(batch,)`` in ``[0, num_classes)``.

        Raises:
            ValueError: a wrong shape or dtype, a negative or non-finite count,
                a label out of range. Nothing is added then.
        """
        batch = _check_counts("counts", counts, self.shape)
        _check_labels(labels, batch, self.num_classes)
        labels = labels.to(device=self.response_sum.device, dtype=torch.long)
        self.response_sum.index_add_(0, labels, counts.to(self.response_sum))
        self.class_count += torch.bincount(labels, minlength=self.num_classes).to(_SUM_DTYPE)

    @override
    def compute(self) -> Assignments:
        """Assignments from the table summed over all ranks (see :func:`assign_labels`)."""
        return assign_labels(self.response_sum, self.class_count)


class LabelAssignmentAccuracy(Metric):
    r"""Accuracy of the label-assignment readout with given assignments.

    Each sample is predicted by :func:`predict_labels` with the assignments
    last given to :meth:`set_assignments`; the states count correct and all
    samples (summed over ranks in :meth:`compute`):

    .. math::

        \text{accuracy} = \frac{\#\{i : \hat y_i = y_i\}}{\#\{i\}}

    (0 with no samples). A sample with no vote (:math:`\hat y = -1`) is never
    correct. The assignments are persistent buffers, saved in the module's
    ``state_dict`` and so in checkpoints; :meth:`reset` keeps them. A
    confusion state counts the samples by true and predicted class
    (:meth:`confusion_matrix`); :meth:`compute` keeps its value, summed over
    ranks, in :attr:`computed_confusion` (which :meth:`reset` keeps), for
    :class:`~inferno_lightning.callbacks.SpikeStatistics` to draw.

    Args:
        num_classes: number of classes :math:`C`.
        shape: shape of the neuron group (an int for ``n`` neurons).
        weighting: ``"vote"``: each class scores the mean count of its
            neurons; ``"proportion"``: each neuron's count is weighted by its
            proportion :math:`p_n` (see :func:`predict_labels`).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: ``num_classes``, ``shape`` or ``weighting`` is invalid.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    correct: torch.Tensor
    total: torch.Tensor
    assignments: torch.Tensor
    proportions: torch.Tensor
    assigned: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        shape: int | Sequence[int],
        weighting: str = "vote",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)
        self.shape = as_shape("shape", shape)
        check_choice("weighting", weighting, ("vote", "proportion"))
        self.weighting = weighting
        self.add_state("correct", torch.zeros((), dtype=_SUM_DTYPE), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=_SUM_DTYPE), dist_reduce_fx="sum")
        # confusion[true, predicted]; the last column counts samples with no vote (-1).
        self.add_state(
            "confusion",
            torch.zeros((self.num_classes, self.num_classes + 1), dtype=_SUM_DTYPE),
            dist_reduce_fx="sum",
        )
        #: The confusion counts at the latest :meth:`compute` (summed over ranks), kept after
        #: :meth:`reset`, so that a callback can draw the last epoch's confusion; ``None`` before.
        self.computed_confusion: torch.Tensor | None = None
        self.register_buffer("assignments", torch.full(self.shape, -1, dtype=torch.long))
        self.register_buffer("proportions", torch.zeros(self.shape, dtype=_SUM_DTYPE))
        self.register_buffer("assigned", torch.tensor(False))

    @property
    def has_assignments(self) -> bool:
        """Whether :meth:`set_assignments` has been called (or loaded from a checkpoint)."""
        return bool(self.assigned)

    def set_assignments(
        self,
        assignments: Assignments | torch.Tensor,
        proportions: torch.Tensor | None = None,
    ) -> None:
        """Set the assignments used by :meth:`predict` and :meth:`update`.

        Args:
            assignments: the :class:`Assignments` of
                :meth:`LabelAssignment.compute` (computed on every rank from
                the summed table), or the neuron labels alone, shaped
                ``shape``, in ``[-1, num_classes)``.
            proportions: with bare labels, the proportions :math:`p_n` in
                ``[0, 1]``, shaped ``shape``; required for
                ``weighting="proportion"``.

        Raises:
            ValueError: a wrong shape or a value out of range; the current
                assignments are kept then.
        """
        if isinstance(assignments, Assignments):
            if proportions is not None:
                raise ValueError(
                    "proportions must be None when assignments is an Assignments "
                    "(it carries its own proportions)"
                )
            labels, proportions = assignments.labels, assignments.proportions
        else:
            labels = assignments
        if not isinstance(labels, torch.Tensor):
            raise TypeError(
                f"assignments must be an Assignments or a tensor, got {type(labels).__name__}"
            )
        numel = self.assignments.numel()
        # compute() squeezes one-element results; accept any tensor of the right size.
        if labels.numel() != numel or labels.dim() not in (0, len(self.shape)):
            raise ValueError(f"assignments must have shape {self.shape}, got {tuple(labels.shape)}")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"assignments must be an integer tensor, got {labels.dtype}")
        if bool(((labels < -1) | (labels >= self.num_classes)).any()):
            raise ValueError(
                f"assignments must be class indices in [0, {self.num_classes}) or -1 "
                f"(unassigned), got values from {labels.min().item()} to {labels.max().item()}"
            )
        if proportions is None:
            if self.weighting == "proportion":
                raise ValueError(
                    'proportions must be given for weighting="proportion" '
                    "(or pass the Assignments from LabelAssignment.compute())"
                )
            proportions = torch.zeros(self.shape, dtype=_SUM_DTYPE)
        if not isinstance(proportions, torch.Tensor) or proportions.numel() != numel:
            got = tuple(proportions.shape) if isinstance(proportions, torch.Tensor) else proportions
            raise ValueError(f"proportions must be a tensor of shape {self.shape}, got {got!r}")
        if not bool(((proportions >= 0) & (proportions <= 1)).all()):
            raise ValueError("proportions must lie in [0, 1] (and not be NaN)")
        self.assignments.copy_(labels.reshape(self.shape))
        self.proportions.copy_(proportions.reshape(self.shape))
        self.assigned.fill_(True)
        self._computed = None

    def predict(self, counts: torch.Tensor) -> torch.Tensor:
        """Predicted classes for spike counts, with the current assignments and weighting.

        Args:
            counts: spike counts ``(batch, *shape)``, non-negative.

        Returns:
            the predicted classes ``(batch,)`` in ``[-1, num_classes)``
            (``-1``: no assigned neuron fired).

        Raises:
            RuntimeError: no assignments were set.
            ValueError: ``counts`` has the wrong shape or is negative.
        """
        self._require_assignments()
        _check_counts("counts", counts, self.shape)
        return self._predict(counts)

    @override
    def update(self, counts: torch.Tensor, labels: torch.Tensor) -> None:
        """Predict each sample and count the correct ones.

        Args:
            counts: spike counts ``(batch, *shape)``, non-negative.
            labels: true class indices ``(batch,)`` in ``[0, num_classes)``.

        Raises:
            RuntimeError: no assignments were set (call :meth:`set_assignments`).
            ValueError: a wrong shape or dtype, a negative count, a label out
                of range. Nothing is counted then.
        """
        self._require_assignments()
        batch = _check_counts("counts", counts, self.shape)
        _check_labels(labels, batch, self.num_classes)
        predictions = self._predict(counts)
        labels = labels.to(predictions.device, torch.long)
        self.correct += (predictions == labels).sum().to(_SUM_DTYPE)
        self.total += batch
        columns = self.num_classes + 1
        predicted = torch.where(predictions < 0, self.num_classes, predictions)
        cells = torch.bincount(labels * columns + predicted, minlength=self.num_classes * columns)
        self.confusion += cells.reshape(self.num_classes, columns).to(self.confusion)

    @override
    def compute(self) -> torch.Tensor:
        """Correct over all samples, summed over all ranks (0 with no samples).

        Also keeps the confusion counts in :attr:`computed_confusion`.
        """
        self.computed_confusion = self.confusion.detach().clone()
        return torch.where(self.total > 0, self.correct / self.total.clamp(min=1.0), 0.0)

    def confusion_matrix(self) -> torch.Tensor:
        """Counts of the samples since the last reset by true and predicted class, on this rank.

        Returns:
            ``(num_classes, num_classes + 1)``: ``[c, k]`` samples of class
            ``c`` predicted as ``k``; the last column counts the samples with
            no vote (``-1``). Rows sum to the samples of each class.
        """
        return self.confusion.detach().clone()

    def _predict(self, counts: torch.Tensor) -> torch.Tensor:
        proportions = self.proportions if self.weighting == "proportion" else None
        return _predict_labels(counts, self.assignments, self.num_classes, proportions)

    def _require_assignments(self) -> None:
        if not self.has_assignments:
            raise RuntimeError(
                f"{type(self).__name__} has no assignments: call "
                "set_assignments(labelling.compute()) after a labelling pass with "
                "LabelAssignment, before predict() or update()"
            )
