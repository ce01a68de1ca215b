"""Input checks shared by the ready models."""

from __future__ import annotations

import torch

__all__ = ["flat_intensities"]


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
