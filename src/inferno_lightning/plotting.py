"""Images of spiking networks for loggers: spike rasters and receptive-field grids.

Both functions return ``uint8`` NumPy images that any logger takes
(``wandb.Image``, ``SummaryWriter.add_image``). The raster is drawn with
matplotlib's object-oriented API on an Agg canvas: it never touches
``pyplot`` or the process-wide backend, so it is safe in notebooks, in
threads and on machines without a display. matplotlib is imported on first
use only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["raster_image", "receptive_field_grid", "tile_shape"]


def tile_shape(
    input_shape: Sequence[int], fallback: tuple[int, int] | None = None
) -> tuple[int, int] | None:
    """The 2-D shape in which to draw one unit's input weights, or ``None`` if none fits.

    In order: an input shaped ``(H, W)`` or ``(1, H, W)`` gives ``(H, W)``; a
    flat input of ``n = r * r`` elements gives ``(r, r)`` (784 gives 28x28,
    64 gives 8x8); otherwise ``fallback`` when its area equals the number of
    inputs.

    Args:
        input_shape: the presynaptic shape (without the batch dimension).
        fallback: ``(height, width)`` to use for inputs of any other shape.

    Returns:
        ``(height, width)``, or ``None`` when no tile shape fits.
    """
    dims = tuple(int(d) for d in input_shape)
    if len(dims) == 2:
        return dims[0], dims[1]
    if len(dims) == 3 and dims[0] == 1:
        return dims[1], dims[2]
    numel = math.prod(dims)
    if len(dims) == 1:
        side = math.isqrt(numel)
        if side * side == numel:
            return side, side
    if fallback is not None and fallback[0] * fallback[1] == numel:
        return fallback
    return None


def receptive_field_grid(
    weight: torch.Tensor,
    tile: tuple[int, int],
    *,
    padding: int = 1,
    min_size: int = 128,
) -> np.ndarray:
    """Tile each output unit's input weights into one grayscale image.

    Unit ``o``'s weights ``weight[o]`` (reshaped to ``tile``) fill the tile at
    row ``o // columns``, column ``o % columns`` of a near-square grid with
    ``columns = ceil(sqrt(units))``. One colour scale serves every tile: the
    weights are mapped linearly from ``[min, max]`` over all tiles to
    ``[0, 255]`` (constant weights give mid-grey), so tiles compare with each
    other. Tiles are separated by ``padding`` black pixels, and the image is
    enlarged by an integer factor (nearest neighbour) until its longer side
    is at least ``min_size`` pixels.

    Args:
        weight: ``(units, *)`` weights; each row holds ``tile[0] * tile[1]`` values.
        tile: ``(height, width)`` of one unit's weights.
        padding: pixels between tiles (non-negative).
        min_size: smallest length of the longer side after enlarging, in pixels.

    Returns:
        ``uint8`` image ``(rows * (height + padding) - padding, columns * (width + padding) - padding)``
        times the enlargement factor.

    Raises:
        ValueError: a row of ``weight`` does not hold ``height * width`` values.
    """
    height, width = tile
    rows_flat = weight.detach().reshape(weight.shape[0], -1).to("cpu", torch.float64)
    units = rows_flat.shape[0]
    if rows_flat.shape[1] != height * width:
        raise ValueError(
            f"tile {tile} holds {height * width} weights per unit, but weight has "
            f"{rows_flat.shape[1]} per unit (shape {tuple(weight.shape)})"
        )
    low, high = rows_flat.min(), rows_flat.max()
    span = float(high - low)
    scaled = (rows_flat - low) / span if span > 0 else torch.full_like(rows_flat, 0.5)
    tiles = (scaled * 255.0).round().to(torch.uint8).reshape(units, height, width).numpy()
    columns = math.ceil(math.sqrt(units))
    rows = math.ceil(units / columns)
    image = np.zeros(
        (rows * (height + padding) - padding, columns * (width + padding) - padding),
        dtype=np.uint8,
    )
    for index in range(units):
        top = (index // columns) * (height + padding)
        left = (index % columns) * (width + padding)
        image[top : top + height, left : left + width] = tiles[index]
    factor = max(1, math.ceil(min_size / max(image.shape)))
    if factor > 1:
        image = image.repeat(factor, axis=0).repeat(factor, axis=1)
    return image


def raster_image(
    spikes: torch.Tensor,
    step_time: float,
    *,
    title: str = "",
    size: tuple[float, float] = (6.0, 4.0),
    dpi: int = 100,
) -> np.ndarray:
    """Draw a spike raster of one sample: a tick at (time, neuron) for every spike.

    Args:
        spikes: ``(T, *shape)`` spikes of one sample (nonzero is a spike); the
            neurons are numbered in row-major order of ``shape``.
        step_time: simulation step, in ms (the x axis is in ms; step ``t`` is
            drawn at ``t * step_time``).
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution; the image is ``size * dpi`` pixels.

    Returns:
        ``uint8`` RGB image ``(size[1] * dpi, size[0] * dpi, 3)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    flat = spikes.detach().reshape(spikes.shape[0], -1).to("cpu")
    steps, neurons = flat.shape
    times, indices = torch.nonzero(flat, as_tuple=True)
    figure = Figure(figsize=size, dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(
        times.numpy() * step_time, indices.numpy(), marker="|", s=12, linewidths=0.8, c="black"
    )
    axes.set_xlim(-0.5 * step_time, steps * step_time)
    axes.set_ylim(-0.5, neurons - 0.5)
    axes.set_xlabel("time (ms)")
    axes.set_ylabel("neuron")
    if title:
        axes.set_title(title, fontsize=9)
    # Fixed margins: tight_layout would cost a third of the drawing time.
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.13, top=0.91)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
