r"""SpikeStatistics: spike, voltage and weight statistics of a spiking network, to the Trainer's loggers.

Every ``log_every_n_steps`` training batches the callback logs scalars for
each neuron group and connection it monitors; every ``plot_every_n_steps``
batches it also logs histograms and images. It writes through the Trainer's
loggers: W&B and TensorBoard get scalars, histograms and images, every other
logger (CSV, MLflow, ...) the scalars only. Without a logger it does nothing
and attaches nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.logger import DummyLogger
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from .._validation import as_float, nonnegative, positive
from ..functional.spikes import REFRAC_TOLERANCE
from ..metrics import LabelAssignmentAccuracy
from ..neural import Connection, Conv2d, LinearDense, Neuron
from ..observe import OUTPUT, Monitor, MonitorPool, Reducer
from ..plotting import (
    confusion_matrix_image,
    label_assignment_image,
    labelled_receptive_field_grid,
    raster_image,
    tile_shape,
)
from .local_learning import LocalLearning

__all__ = ["SpikeStatistics", "firing_period"]


class _FirstSimulation(Reducer):
    """A reducer that keeps the observations of the first simulation after :meth:`restart`.

    A model may run several simulations in one training batch:
    :class:`~inferno_lightning.models.DiehlCook2015` presents the samples that
    made too few spikes again, at a higher rate and with the other samples'
    input silenced. A :class:`~inferno_lightning.SpikingModule` resets its
    monitors at the start of each simulation; once this reducer holds
    observations, such a reset freezes them instead, and later observations
    are ignored, until the callback calls :meth:`restart` for the next logged
    batch. The statistics so describe the training presentation every sample
    received, not the last re-presentation of a few.
    """

    def __init__(self) -> None:
        super().__init__()
        self._frozen = False
        self._seen_steps = 0  # every step of every simulation since restart()
        self._kept_steps = 0  # the steps of the first simulation

    @property
    def presentations(self) -> float:
        """Steps simulated since :meth:`restart` over the steps of the first simulation.

        1.0 when the batch ran one simulation; 2.0 when it ran a second one as
        long (e.g. one boosted re-presentation); 0.0 before any step.
        """
        return self._seen_steps / self._kept_steps if self._kept_steps else 0.0

    def _observe(self) -> bool:
        """Count a step; whether to record it (False once frozen)."""
        self._seen_steps += 1
        if self._frozen:
            return False
        self._kept_steps += 1
        return True

    def _holds_data(self) -> bool:
        return False  # subclasses: whether an observation is recorded

    def restart(self) -> None:
        """Forget everything, frozen or not: the next observation starts a new record."""
        self._frozen = False
        self._seen_steps = self._kept_steps = 0
        self._clear()

    def _clear(self) -> None:
        super().reset()

    def reset(self) -> None:
        if self._holds_data():
            self._frozen = True
        else:
            self._clear()


class _CountReducer(_FirstSimulation):
    """Spikes (nonzero observations) of each sample and neuron in the first simulation.

    ``peek()`` returns the counts ``(batch, *shape)`` in the default float dtype.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_state("count")

    def _holds_data(self) -> bool:
        return getattr(self, "count", None) is not None

    def forward(self, value: torch.Tensor) -> None:
        if not self._observe():
            return
        value = value.detach()
        if self.count is None:
            self.count = torch.zeros(
                value.shape, dtype=torch.get_default_dtype(), device=value.device
            )
        else:
            self._check_shape(self.count, value)
        self.count.add_(value != 0)

    def peek(self) -> torch.Tensor | None:
        """Spike counts, ``(batch, *shape)``."""
        return self.count


class _MomentReducer(_FirstSimulation):
    r"""Running sum and sum of squares of the observations, and the number of steps.

    ``peek()`` returns the sum :math:`\sum_t v_t`, ``(batch, *shape)``;
    :attr:`squares` holds :math:`\sum_t v_t^2`. Two in-place operations per
    step, memory of two observations.
    """

    def __init__(self) -> None:
        super().__init__()
        self._steps = 0
        self.register_state("total")
        self.register_state("squares")

    @property
    def steps(self) -> int:
        """Number of steps summed since the last reset."""
        return self._steps

    def forward(self, value: torch.Tensor) -> None:
        if not self._observe():
            return
        value = value.detach()
        total = self.total
        if total is None:
            dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
            self.total = value.to(dtype, copy=True)
            self.squares = self.total * self.total
        else:
            self._check_shape(total, value)
            total.add_(value)
            self.squares.addcmul_(value, value)
        self._steps += 1

    def peek(self) -> torch.Tensor | None:
        """The sum of the observations, ``(batch, *shape)``."""
        return self.total

    def _clear(self) -> None:
        super()._clear()
        self._steps = 0


class _SampleRasterReducer(_FirstSimulation):
    """The spikes of one sample at every step of the first simulation.

    ``peek()`` returns ``(steps, *shape)`` booleans. Memory grows by one
    boolean per neuron per step of one simulation.
    """

    def __init__(self, sample: int = 0) -> None:
        super().__init__()
        self._sample = sample
        self._steps: list[torch.Tensor] = []

    @property
    def config(self) -> dict[str, Any]:
        return {"sample": self._sample}

    def _holds_data(self) -> bool:
        return bool(getattr(self, "_steps", None))

    def forward(self, value: torch.Tensor) -> None:
        if not self._observe():
            return
        self._steps.append(value.detach()[self._sample] != 0)

    def peek(self) -> torch.Tensor | None:
        """The recorded spikes, ``(steps, *shape)`` booleans, ``None`` before the first step."""
        return torch.stack(self._steps) if self._steps else None

    def _clear(self) -> None:
        super()._clear()
        self._steps = []


def firing_period(refrac_t: float | torch.Tensor, step_time: float) -> torch.Tensor:
    r"""Shortest interval between two spikes of a neuron, in steps.

    A neuron that fires at step :math:`t` holds (ignores input) while its
    refractory time, counted down by :math:`\Delta t` per step, stays above
    zero (within the tolerance of
    :func:`~inferno_lightning.functional.spikes.refractory_step`), and can
    fire again at the first step it integrates:

    .. math:: p = \max\bigl(1, \lceil t_\text{refrac} / \Delta t - \epsilon \rceil\bigr)

    with :math:`\epsilon` = ``REFRAC_TOLERANCE``. In :math:`T` steps it fires
    at most :math:`\lceil T / p \rceil` times (from step 0 on, every
    :math:`p` steps): the *maximum rate* is one spike per :math:`p\,\Delta t` ms.

    Args:
        refrac_t: absolute refractory period in ms, a float or a tensor.
        step_time: simulation step :math:`\Delta t` in ms.

    Returns:
        :math:`p`, float64, shaped like ``refrac_t`` (0-d for a float).

    Raises:
        ValueError: ``step_time`` not positive, or ``refrac_t`` negative or not finite.
    """
    step_time = as_float("step_time", step_time, positive, "ms")
    nonnegative("refrac_t", refrac_t, "ms")
    refrac = torch.as_tensor(refrac_t, dtype=torch.float64).detach().cpu()
    return torch.clamp(torch.ceil(refrac / step_time - REFRAC_TOLERANCE), min=1.0)


@dataclass(eq=False)
class _Group:
    """A monitored neuron group and, while a logged batch runs, its monitors."""

    path: str
    neuron: Neuron
    period: torch.Tensor  # (N,) float64, steps between spikes at the maximum rate
    adaptive: bool
    monitors: dict[str, Monitor] = field(default_factory=dict)


@dataclass(eq=False)
class _Projection:
    """A monitored connection, its receptive-field tile and the weight before a logged batch."""

    path: str
    connection: Connection
    tile: tuple[int, int] | None
    before: torch.Tensor | None = None


def _interval(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


class SpikeStatistics(Callback):
    r"""Logs spike, voltage, weight and threshold statistics of a spiking network.

    **What is monitored.** Every :class:`~inferno_lightning.neural.Neuron`
    group and every :class:`~inferno_lightning.neural.Connection` of the
    LightningModule, or those named in ``modules``, each under its module
    path (``layer.neurons.neuron``). Keys are ``f"{prefix}{path}/{name}"``.

    **Which simulation.** Neuron statistics and rasters describe the
    batch's *first* simulation: the training presentation every sample
    received. A model that presents some samples again within the batch
    (:class:`~inferno_lightning.models.DiehlCook2015` repeats the samples
    that made fewer than ``min_spikes`` spikes, at a higher rate, with the
    other samples silenced) is not described by its re-presentations; with
    ``max_boosts=0`` there are none, and the statistics are those of the
    model's own spike counts.

    **Scalars**, every ``log_every_n_steps`` training batches (the batch's
    first simulation; :math:`B` samples, :math:`N` neurons, :math:`T` steps
    of :math:`\Delta t` ms, :math:`c_n` the spikes of neuron :math:`n` summed
    over the batch):

    For each neuron group:

    * ``firing_rate_hz``: :math:`1000 \sum_n c_n / (B N T \Delta t)`;
    * ``silent_fraction``: the fraction of neurons with :math:`c_n = 0`
      (silent in every sample);
    * ``saturated_fraction``: the fraction of neurons at the maximum rate in
      every sample, :math:`c_n = B \lceil T/p_n \rceil`, with :math:`p_n` from
      :func:`firing_period` (one spike every
      :math:`\max(1, \lceil t_\text{refrac}/\Delta t \rceil)` steps; every
      step for a neuron model without ``refrac_t``);
    * ``presentations``: the steps the batch simulated over those of its
      first simulation (rank zero's): 1 for one simulation, more when the
      model presented samples again (the re-presentations are not in the
      other statistics);
    * ``voltage_mean``, ``voltage_std``: mean and (population) standard
      deviation of the membrane voltage in mV after each step (post-reset),
      over time, batch and neurons;
    * ``adaptation_mean``, ``_std``, ``_min``, ``_max``: the adaptive
      thresholds in mV (``ALIF.adaptation``: any persistent buffer named
      ``adaptation``) over terms and neurons, after the batch; only for groups
      that have them.

    For each connection:

    * ``weight_mean``, ``weight_std``, ``weight_min``, ``weight_max``: the
      weight after the batch (population standard deviation);
    * ``update_norm``: :math:`\lVert W_\text{after} - W_\text{before}\rVert_2`
      over the batch, the norm of the update applied during it (local and
      gradient updates together).

    **Histograms and images**, every ``plot_every_n_steps`` training batches,
    when a W&B or TensorBoard logger is present (with other loggers only, they
    are neither drawn nor recorded):
    ``{path}/weights`` (histogram of every weight), ``{path}/spike_counts``
    (histogram of each neuron's spikes per sample, :math:`c_n / B`),
    ``{path}/raster`` (spike raster of the batch's first sample, drawn by
    :func:`~inferno_lightning.plotting.plot_raster`) and
    ``{path}/receptive_fields`` (drawn by
    :func:`~inferno_lightning.plotting.plot_receptive_fields`: each output
    unit's input weights as a tile of a grayscale grid, for
    :class:`~inferno_lightning.neural.LinearDense` connections whose fan-in
    fits ``receptive_field_shape`` or whose input shape gives a tile, see
    :func:`~inferno_lightning.plotting.tile_shape`, and single-channel
    :class:`~inferno_lightning.neural.Conv2d` kernels; every unit, or the
    first ``max_receptive_fields``, as the title says; each tile marked with
    its unit's assigned class when the model has a label readout, see below).

    **At the end of every training epoch** (after its validation), whatever
    the intervals, the last batch's histograms and raster are drawn and
    logged with the receptive fields of the weights the epoch ends with, so
    a short run and the final state of a long one are always drawn. For a
    model with a label readout (a
    :class:`~inferno_lightning.metrics.LabelAssignmentAccuracy` with
    assignments, as :class:`~inferno_lightning.models.DiehlCook2015` has),
    also ``{metric}/label_assignment`` (the number of units assigned each
    class, :func:`~inferno_lightning.plotting.plot_label_assignment`) and,
    after a validation, ``{metric}/confusion`` (its confusion matrix, true
    class by row, predicted by column, no vote in a last column,
    :func:`~inferno_lightning.plotting.plot_confusion_matrix`), ``{metric}``
    being the metric's module path (``val_accuracy``). Every image is one of
    the :mod:`~inferno_lightning.plotting` figures rendered by
    :func:`~inferno_lightning.plotting.figure_image`.

    **Loggers.** With :class:`~lightning.pytorch.loggers.WandbLogger`, one
    ``log`` call per logged batch carries the scalars, ``wandb.Histogram`` and
    ``wandb.Image`` objects with ``trainer/global_step`` set to the step
    (through ``WandbLogger.log_metrics``, as Lightning's ``log_image`` does).
    With :class:`~lightning.pytorch.loggers.TensorBoardLogger`, the scalars go
    through ``log_metrics`` and the media through ``add_histogram`` and
    ``add_image``. Any other logger gets the scalars only. Without a logger
    the callback attaches no monitor and reads nothing.

    **Steps.** The callback counts training batches itself (Lightning's
    ``global_step`` does not advance without an optimizer) and saves the count
    in checkpoints. Batch :math:`k` (from 0) is logged when
    :math:`(k + 1)` is a multiple of the interval, at step :math:`k`, the step
    Lightning's own training logs use in an uninterrupted fit.

    **Cost.** Monitors are attached (through the module's
    :class:`~inferno_lightning.observe.MonitorPool`, shared with rules that
    record the same thing) at the start of a logged batch and released at its
    end, so other batches run as without the callback. A logged batch records,
    per neuron group, a spike count and a running sum and sum of squares of
    the voltage (each the size of the group's voltage state); a plotted batch
    also records, on rank zero, the first sample's spikes (:math:`T N`
    booleans). Rank zero keeps one copy of each connection's weight for
    ``update_norm``.

    **Several devices.** Spike counts, voltage sums and batch sizes are summed
    over all ranks with **one** all-reduce per logged batch, run on every
    rank, so the neuron statistics and the spike-count histogram are those of
    the global batch. Weights and adaptive thresholds are read on rank zero:
    :class:`~inferno_lightning.callbacks.LocalLearning` keeps every replica's
    weights identical, and ``ALIF(sync_ranks=True)`` its thresholds. The
    raster shows rank zero's first sample. Only rank zero writes to loggers.

    **Order.** Place the callback after
    :class:`~inferno_lightning.callbacks.LocalLearning` in ``callbacks``, so
    that it reads the weights after the batch's update (a warning says so
    otherwise).

    Args:
        modules: module paths (as in ``named_modules()``) of the neuron groups
            and connections to monitor; ``None`` (default) for all of them.
        log_every_n_steps: scalars every this many training batches;
            ``None`` (default) uses the Trainer's ``log_every_n_steps``.
        plot_every_n_steps: histograms and images every this many training
            batches; ``None`` (default) is ten times the scalar interval.
        histograms: log weight and spike-count histograms.
        raster: log a raster plot of one sample.
        receptive_fields: log receptive-field grids.
        receptive_field_shape: ``(height, width)`` of a tile, used for every
            dense connection with ``height * width`` inputs; ``None`` (default)
            infers it from the input shape (a square flat input, ``(H, W)`` or
            ``(1, H, W)``).
        max_receptive_fields: largest number of output units drawn per grid
            (the first ones); ``None`` (default) draws every unit
            (the first ones).
        histogram_bins: number of histogram bins (1 to 512, W&B's limit).
        prefix: prepended to every key.

    Raises:
        ValueError: an interval that is not a positive int, ``modules`` not a
            sequence of module paths, ``receptive_field_shape`` not two
            positive ints, ``max_receptive_fields`` not positive,
            ``histogram_bins`` outside 1 to 512. At fit start: a name in
            ``modules`` that is not a Neuron or Connection of the module, or a
            ``receptive_field_shape`` that fits no connection.
        TypeError: a flag that is not a bool, ``prefix`` not a str.
        RuntimeError: at fit start, with a logger, the module has no Neuron
            or Connection.

    Example::

        trainer = Trainer(
            logger=WandbLogger(project="stdp"),
            callbacks=[LocalLearning(), SpikeStatistics(plot_every_n_steps=500)],
        )
    """

    def __init__(
        self,
        modules: Sequence[str] | None = None,
        *,
        log_every_n_steps: int | None = None,
        plot_every_n_steps: int | None = None,
        histograms: bool = True,
        raster: bool = True,
        receptive_fields: bool = True,
        receptive_field_shape: tuple[int, int] | None = None,
        max_receptive_fields: int | None = None,
        histogram_bins: int = 64,
        prefix: str = "stats/",
    ) -> None:
        if modules is not None:
            if isinstance(modules, str) or not isinstance(modules, Sequence):
                raise ValueError(
                    f"modules must be a sequence of module paths (str) or None, got {modules!r}"
                )
            modules = list(modules)
            if not modules or not all(isinstance(m, str) for m in modules):
                raise ValueError(
                    f"modules must be a non-empty sequence of module paths (str), got {modules!r}"
                )
            if len(set(modules)) != len(modules):
                raise ValueError(f"modules must not repeat a module path, got {modules!r}")
        self.modules = modules
        self.log_every_n_steps = _interval("log_every_n_steps", log_every_n_steps)
        self.plot_every_n_steps = _interval("plot_every_n_steps", plot_every_n_steps)
        self.histograms = _flag("histograms", histograms)
        self.raster = _flag("raster", raster)
        self.receptive_fields = _flag("receptive_fields", receptive_fields)
        if receptive_field_shape is not None:
            shape = (
                tuple(receptive_field_shape) if isinstance(receptive_field_shape, Sequence) else ()
            )
            if len(shape) != 2 or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
            ):
                raise ValueError(
                    "receptive_field_shape must be (height, width), two positive ints, or None, "
                    f"got {receptive_field_shape!r}"
                )
            receptive_field_shape = (shape[0], shape[1])
        self.receptive_field_shape = receptive_field_shape
        if max_receptive_fields is not None and (
            isinstance(max_receptive_fields, bool)
            or not isinstance(max_receptive_fields, int)
            or max_receptive_fields < 1
        ):
            raise ValueError(
                f"max_receptive_fields must be a positive int or None, got {max_receptive_fields!r}"
            )
        self.max_receptive_fields = max_receptive_fields
        if (
            isinstance(histogram_bins, bool)
            or not isinstance(histogram_bins, int)
            or not 1 <= histogram_bins <= 512
        ):
            raise ValueError(f"histogram_bins must be an int in [1, 512], got {histogram_bins!r}")
        self.histogram_bins = histogram_bins
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {prefix!r}")
        self.prefix = prefix

        #: Training batches seen (saved in checkpoints); the step of the next logged batch.
        self.batches = 0
        self._loggers: list[Logger] = []
        self._groups: list[_Group] = []
        self._projections: list[_Projection] = []
        self._pool: MonitorPool | None = None
        self._log_every = 0
        self._plot_every = 0
        self._media = False
        # (scalars, plots, end of epoch) while a logged batch runs, else None.
        self._due: tuple[bool, bool, bool] | None = None
        # The last batch of an epoch: (step, scalars, histograms, images), written at the
        # epoch's end with the receptive fields and label readout after its validation.
        self._pending: (
            tuple[int, dict[str, float], dict[str, np.ndarray], dict[str, np.ndarray]] | None
        ) = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(prefix=self.prefix, modules=self.modules)

    @property
    def active(self) -> bool:
        """Whether this fit logs anything (it has a logger and something to monitor)."""
        return bool(self._loggers)

    # ------------------------------------------------------------------ set-up

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._release()
        self._loggers = [
            logger for logger in trainer.loggers if not isinstance(logger, DummyLogger)
        ]
        if not self._loggers:
            return
        log_every = self.log_every_n_steps or trainer.log_every_n_steps
        if not log_every:
            rank_zero_warn(
                "SpikeStatistics logs nothing: the Trainer has log_every_n_steps=0; "
                "pass log_every_n_steps to the callback to log anyway"
            )
            self._loggers = []
            return
        self._log_every = log_every
        self._plot_every = self.plot_every_n_steps or 10 * log_every
        # Histograms and images only when some logger takes them and some are asked for.
        self._media = any(
            isinstance(x, WandbLogger | TensorBoardLogger) for x in self._loggers
        ) and (self.histograms or self.raster or self.receptive_fields)
        self._groups, self._projections = self._targets(pl_module)
        pool = getattr(pl_module, "monitors", None)
        # A SpikingModule's pool is reset with the network; any other module gets a private
        # pool, reset by this callback at the start of each logged batch.
        self._pool = pool if isinstance(pool, MonitorPool) else MonitorPool()
        callbacks = list(trainer.callbacks)
        mine = next((i for i, c in enumerate(callbacks) if c is self), len(callbacks))
        if any(isinstance(c, LocalLearning) for c in callbacks[mine + 1 :]):
            rank_zero_warn(
                "SpikeStatistics comes before LocalLearning in the Trainer's callbacks: it reads "
                "weights (and update_norm) before each batch's local update is applied. Place it "
                "after LocalLearning."
            )

    def _targets(self, pl_module: pl.LightningModule) -> tuple[list[_Group], list[_Projection]]:
        named = dict(pl_module.named_modules())
        if self.modules is None:
            chosen = [(p, m) for p, m in named.items() if isinstance(m, Neuron | Connection)]
            if not chosen:
                raise RuntimeError(
                    f"SpikeStatistics found no Neuron or Connection in {type(pl_module).__name__}; "
                    "remove the callback or build the network in configure_network"
                )
        else:
            available = [p for p, m in named.items() if isinstance(m, Neuron | Connection)]
            chosen = []
            for path in self.modules:
                module = named.get(path)
                if not isinstance(module, Neuron | Connection):
                    what = "no submodule" if module is None else type(module).__name__
                    raise ValueError(
                        f"modules: {path!r} must name a Neuron or Connection of "
                        f"{type(pl_module).__name__}, got {what}; its neurons and connections "
                        f"are {available!r}"
                    )
                chosen.append((path, module))
        groups, projections = [], []
        for path, module in chosen:
            if isinstance(module, Neuron):
                refrac_t = getattr(module, "refrac_t", None)
                period = firing_period(0.0 if refrac_t is None else refrac_t, module.step_time)
                adaptive = "adaptation" in dict(module.named_buffers(recurse=False)) and (
                    "adaptation" not in module.state_names
                )
                groups.append(
                    _Group(path, module, period.expand(module.shape).reshape(-1), adaptive)
                )
            else:
                projections.append(_Projection(path, module, self._tile(module)))
        if (
            self.receptive_fields
            and self.receptive_field_shape is not None
            and not any(p.tile == self.receptive_field_shape for p in projections)
        ):
            raise ValueError(
                f"receptive_field_shape {self.receptive_field_shape} fits no monitored connection: "
                "none has a LinearDense input (or Conv2d kernel) of "
                f"{self.receptive_field_shape[0] * self.receptive_field_shape[1]} elements"
            )
        return groups, projections

    def _tile(self, connection: Connection) -> tuple[int, int] | None:
        if isinstance(connection, LinearDense):
            given = self.receptive_field_shape
            if given is not None and given[0] * given[1] == connection.weight.shape[1]:
                return given
            return tile_shape(connection.input_shape)
        if isinstance(connection, Conv2d) and connection.weight.shape[1] == 1:
            return tuple(connection.weight.shape[2:])  # type: ignore[return-value]
        return None

    # --------------------------------------------------------------- per batch

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not self._loggers:
            return
        self._release()  # a batch skipped after its start never reached on_train_batch_end
        self._pending = None
        scalars = (self.batches + 1) % self._log_every == 0
        batches = trainer.num_training_batches
        last = self._media and isinstance(batches, int) and batch_idx + 1 == batches
        plots = self._media and ((self.batches + 1) % self._plot_every == 0 or last)
        if not (scalars or plots):
            return
        self._due = (scalars, plots, last)
        zero = trainer.is_global_zero
        assert self._pool is not None
        for group in self._groups:
            group.monitors["counts"] = self._attach(group.neuron, OUTPUT, _CountReducer())
            group.monitors["voltage"] = self._attach(group.neuron, "voltage", _MomentReducer())
            if plots and self.raster and zero:
                group.monitors["raster"] = self._attach(
                    group.neuron, OUTPUT, _SampleRasterReducer()
                )
        if scalars and zero:
            with torch.no_grad():
                for projection in self._projections:
                    weight = projection.connection.weight.detach()
                    before = projection.before
                    if (
                        before is None
                        or before.shape != weight.shape
                        or before.device != weight.device
                    ):
                        projection.before = weight.clone()
                    else:
                        before.copy_(weight)

    def _attach(self, module: torch.nn.Module, attribute: str, reducer: Reducer) -> Monitor:
        assert self._pool is not None
        monitor = self._pool.get_or_create(
            module, attribute, reducer, train_update=True, eval_update=False
        )
        if isinstance(monitor.reducer, _FirstSimulation):
            monitor.reducer.restart()
        elif self._pool.users(monitor) == 1:
            monitor.reset()
        return monitor

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        try:
            if self._due is not None:
                self._log(trainer, *self._due)
        finally:
            self._release()
            self.batches += 1

    def _release(self) -> None:
        pool = self._pool
        for group in self._groups:
            for monitor in group.monitors.values():
                if pool is not None and monitor in pool:
                    pool.release(monitor)
            group.monitors = {}
        self._due = None

    # ----------------------------------------------------------------- logging

    @torch.no_grad()
    def _log(self, trainer: pl.Trainer, scalars_due: bool, plots_due: bool, defer: bool) -> None:
        step = self.batches
        # Per group: [batch size, spike count of each neuron, voltage sum, voltage sum of squares],
        # summed over ranks with one all-reduce (the layout is the same on every rank).
        pieces: list[torch.Tensor] = []
        steps: list[int] = []
        for group in self._groups:
            counts = group.monitors["counts"].peek()
            moments = group.monitors["voltage"].reducer
            if counts is None or moments.total is None:
                steps.append(0)
                pieces.append(torch.zeros(group.neuron.count + 3, dtype=torch.float64))
                continue
            device = counts.device
            steps.append(moments.steps)
            pieces.append(
                torch.cat(
                    [
                        torch.tensor([counts.shape[0]], dtype=torch.float64, device=device),
                        counts.reshape(counts.shape[0], -1).sum(0, dtype=torch.float64),
                        moments.total.sum(dtype=torch.float64).reshape(1),
                        moments.squares.sum(dtype=torch.float64).reshape(1),
                    ]
                )
            )
        if pieces:
            device = next((p.device for p in pieces if p.device.type != "cpu"), pieces[0].device)
            flat = torch.cat([p.to(device) for p in pieces])
            if trainer.world_size > 1:
                flat = trainer.strategy.reduce(flat, reduce_op="sum")
            flat = flat.cpu()
        if not trainer.is_global_zero:
            return

        scalars: dict[str, float] = {}
        histograms: dict[str, np.ndarray] = {}
        images: dict[str, np.ndarray] = {}
        offset = 0
        for group, steps_run in zip(self._groups, steps, strict=True):
            n = group.neuron.count
            block = flat[offset : offset + n + 3]
            offset += n + 3
            batch, counts, total, squares = block[0], block[1 : n + 1], block[n + 1], block[n + 2]
            if steps_run == 0 or batch == 0:
                continue
            key = f"{self.prefix}{group.path}/"
            observations = float(batch) * n * steps_run
            mean = float(total) / observations
            variance = max(float(squares) / observations - mean * mean, 0.0)
            most = batch * torch.ceil(steps_run / group.period)
            scalars[key + "firing_rate_hz"] = (
                1000.0 * float(counts.sum()) / (observations * group.neuron.step_time)
            )
            scalars[key + "silent_fraction"] = float((counts == 0).double().mean())
            scalars[key + "saturated_fraction"] = float((counts >= most).double().mean())
            scalars[key + "voltage_mean"] = mean
            scalars[key + "voltage_std"] = math.sqrt(variance)
            scalars[key + "presentations"] = group.monitors["counts"].reducer.presentations
            if plots_due and self.histograms:
                histograms[key + "spike_counts"] = (counts / batch).numpy()
            raster = group.monitors.get("raster")
            if plots_due and raster is not None:
                spikes = raster.peek()
                if spikes is not None:
                    images[key + "raster"] = raster_image(
                        spikes,
                        group.neuron.step_time,
                        title=f"{group.path}: spikes of sample 0 (step {step})",
                    )

        # Parameters and persistent buffers: rank zero's, one device-to-host copy.
        names: list[str] = []
        values: list[torch.Tensor] = []

        def describe(key: str, tensor: torch.Tensor) -> None:
            tensor = tensor.detach().double()
            names.extend(key + s for s in ("_mean", "_std", "_min", "_max"))
            values.extend([tensor.mean(), tensor.std(correction=0), tensor.min(), tensor.max()])

        for group in self._groups:
            if group.adaptive:
                describe(f"{self.prefix}{group.path}/adaptation", group.neuron.adaptation)
        for projection in self._projections:
            key = f"{self.prefix}{projection.path}/"
            weight = projection.connection.weight.detach()
            describe(key + "weight", weight)
            before = projection.before
            if scalars_due and before is not None and before.shape == weight.shape:
                names.append(key + "update_norm")
                values.append(torch.linalg.vector_norm((weight - before).double()))
            if plots_due and self.histograms:
                histograms[key + "weights"] = weight.reshape(-1).cpu().numpy()
        if plots_due and not defer:
            images.update(self._receptive_fields(trainer.lightning_module))
        if values:
            scalars.update(zip(names, torch.stack([v.cpu() for v in values]).tolist(), strict=True))

        if not scalars_due:
            scalars = {}
        if defer:
            self._pending = (step, scalars, histograms, images)
            return
        for logger in self._loggers:
            self._write(logger, step, scalars, histograms, images)

    def _readout(self, pl_module: pl.LightningModule) -> tuple[str, LabelAssignmentAccuracy] | None:
        """The module's label readout: a LabelAssignmentAccuracy with assignments, if any."""
        found = [
            (path, module)
            for path, module in pl_module.named_modules()
            if isinstance(module, LabelAssignmentAccuracy) and module.has_assignments
        ]
        # The one a validation computed last, else the first.
        fresh = [item for item in found if item[1].computed_confusion is not None]
        return (fresh or found or [None])[0]

    @torch.no_grad()
    def _receptive_fields(self, pl_module: pl.LightningModule) -> dict[str, np.ndarray]:
        if not self.receptive_fields:
            return {}
        readout = self._readout(pl_module)
        labels = readout[1].assignments.reshape(-1).cpu() if readout is not None else None
        images = {}
        for projection in self._projections:
            if projection.tile is None:
                continue
            weight = projection.connection.weight.detach()
            units = weight.shape[0]
            shown = (
                units
                if self.max_receptive_fields is None
                else min(units, self.max_receptive_fields)
            )
            tiles = labels[:shown] if labels is not None and labels.numel() == units else None
            what = "every unit" if shown == units else f"units 0 to {shown - 1} of {units}"
            title = f"{projection.path}: input weights of {what}, step {max(self.batches - 1, 0)}"
            if tiles is not None:
                title += f", labelled with the {readout[0]} assignments"
            images[f"{self.prefix}{projection.path}/receptive_fields"] = (
                labelled_receptive_field_grid(weight[:shown], projection.tile, tiles, title=title)
            )
        return images

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Draw the epoch's final state: receptive fields, label readout, the last batch's media."""
        pending, self._pending = self._pending, None
        if not (self._loggers and self._media) or not trainer.is_global_zero:
            return
        step = max(self.batches - 1, 0)
        scalars: dict[str, float] = {}
        histograms: dict[str, np.ndarray] = {}
        images: dict[str, np.ndarray] = {}
        if pending is not None and pending[0] == step:
            _, scalars, histograms, images = pending
        images.update(self._receptive_fields(pl_module))
        readout = self._readout(pl_module)
        if readout is not None:
            path, metric = readout
            key = f"{self.prefix}{path}/"
            images[key + "label_assignment"] = label_assignment_image(
                metric.assignments.cpu(),
                metric.num_classes,
                title=f"{path}: units assigned to each class, step {step}",
            )
            if metric.computed_confusion is not None:
                confusion = metric.computed_confusion.cpu()
                images[key + "confusion"] = confusion_matrix_image(
                    confusion,
                    title=f"{path}: confusion of {int(confusion.sum())} samples, step {step}",
                )
                metric.computed_confusion = None  # drawn once: the next epoch's is new
        if scalars or histograms or images:
            for logger in self._loggers:
                self._write(logger, step, scalars, histograms, images)

    def _write(
        self,
        logger: Logger,
        step: int,
        scalars: dict[str, float],
        histograms: dict[str, np.ndarray],
        images: dict[str, np.ndarray],
    ) -> None:
        if isinstance(logger, WandbLogger):
            import wandb

            payload: dict[str, Any] = dict(scalars)
            for key, data in histograms.items():
                payload[key] = wandb.Histogram(data, num_bins=self.histogram_bins)
            for key, image in images.items():
                payload[key] = wandb.Image(image)
            if payload:
                # One history row: scalars and media at the same trainer/global_step.
                logger.log_metrics(payload, step=step)
            return
        if scalars:
            logger.log_metrics(scalars, step=step)
        if isinstance(logger, TensorBoardLogger) and (histograms or images):
            writer = logger.experiment
            lead = f"{logger._prefix}{logger.LOGGER_JOIN_CHAR}" if logger._prefix else ""
            for key, data in histograms.items():
                writer.add_histogram(lead + key, data, global_step=step, bins=self.histogram_bins)
            for key, image in images.items():
                dataformats = "HWC" if image.ndim == 3 else "HW"
                writer.add_image(lead + key, image, global_step=step, dataformats=dataformats)

    # ---------------------------------------------------------------- teardown

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._release()

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._release()
        self._groups, self._projections, self._loggers, self._pool = [], [], [], None

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches = int(state_dict["batches"])
