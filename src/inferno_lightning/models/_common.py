"""Input checks and evaluation steps shared by the ready models."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torchmetrics import Metric

__all__ = ["flat_intensities", "log_count_accuracy"]


def flat_intensities(inputs: torch.Tensor, n_inputs: int) -> torch.Tensor:
    """Flatten a batch ``(batch, ...)`` to ``(batch, n_inputs)`` intensities in [0, 1], checking them.

    Integer inputs become the default float dtype.

    Raises:
        ValueError: not a batch, a sample does not have ``n_inputs`` elements,
            or a value is NaN or outside [0, 1].
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 2:
        got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs)
        raise ValueError(
            f"inputs must be a batch (batch, ...) of {n_inputs} intensities, got {got}"
        )
    flat = inputs.reshape(inputs.shape[0], -1)
    if flat.shape[1] != n_inputs:
        raise ValueError(
            f"inputs must have n_inputs={n_inputs} elements per sample, got shape "
            f"{tuple(inputs.shape)} ({flat.shape[1]} per sample)"
        )
    if not flat.is_floating_point():
        flat = flat.to(torch.get_default_dtype())
    if bool(((flat < 0) | (flat > 1) | torch.isnan(flat)).any()):
        raise ValueError("inputs must be intensities in [0, 1] (no NaN)")
    return flat


def log_count_accuracy(
    model: pl.LightningModule,
    counts: torch.Tensor,
    targets: Any,
    metric: Metric,
    name: str,
    prog_bar: bool = False,
) -> None:
    """Update a spike-count accuracy metric with a batch and log it as an epoch value.

    Args:
        model: the module that logs.
        counts: spike counts ``(batch, neurons)``.
        targets: the classes ``(batch,)``.
        metric: e.g. a :class:`~inferno_lightning.metrics.LabelAssignmentAccuracy`.
        name: the logged key, e.g. ``"val/accuracy"``.
        prog_bar: show it in the progress bar.
    """
    metric.update(counts, targets)
    model.log(
        name, metric, on_step=False, on_epoch=True, prog_bar=prog_bar, batch_size=counts.shape[0]
    )
