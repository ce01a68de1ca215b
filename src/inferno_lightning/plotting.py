"""Images of spiking networks for loggers: spike rasters, receptive-field grids, label readouts.

Every function returns ``uint8`` NumPy images that any logger takes
(``wandb.Image``, ``SummaryWriter.add_image``). The raster is drawn with
matplotlib's object-oriented API on an Agg canvas: it never touches
``pyplot`` or the process-wide backend, so it is safe in notebooks, in
threads and on machines without a display. matplotlib is imported on first
use only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "confusion_matrix_image",
    "label_assignment_image",
    "labelled_receptive_field_grid",
    "raster_image",
    "receptive_field_grid",
    "tile_shape",
]


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


def _canvas(width_px: int, height_px: int, dpi: int) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    return figure, FigureCanvasAgg(figure)


def _rgb(canvas: Any) -> np.ndarray:
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def labelled_receptive_field_grid(
    weight: torch.Tensor,
    tile: tuple[int, int],
    labels: torch.Tensor | Sequence[int] | None = None,
    *,
    title: str = "",
    tile_pixels: int = 48,
    max_width: int = 2400,
    dpi: int = 100,
) -> np.ndarray:
    """Every unit's input weights as a grid of tiles, each marked with its assigned class.

    The tiles are those of :func:`receptive_field_grid` (one grey scale for
    all, near-square grid, row-major order of the units), drawn
    ``tile_pixels`` pixels across (fewer when the grid would be wider than
    ``max_width``, never under 16) so that a 400-unit grid of 8x8 tiles is
    readable. With ``labels``, each tile shows its unit's class in its top
    left corner (``-`` for an unassigned unit, label ``-1``).

    Args:
        weight: ``(units, *)`` weights; each row holds ``tile[0] * tile[1]`` values.
        tile: ``(height, width)`` of one unit's weights.
        labels: the class of each unit, ``(units,)`` integers, ``-1`` unassigned.
        title: drawn above the grid.
        tile_pixels: drawn size of a tile's longer side, in pixels.
        max_width: widest image, in pixels.
        dpi: resolution of the text.

    Returns:
        ``uint8`` RGB image ``(height, width, 3)``: ``width`` is the number of
        grid columns times the drawn tile size plus gaps; 28 pixels on top
        hold the title.

    Raises:
        ValueError: a row of ``weight`` does not hold ``height * width``
            values, or ``labels`` does not have one entry per unit.
    """
    units = weight.shape[0]
    if labels is not None:
        labels = torch.as_tensor(labels).reshape(-1).tolist()
        if len(labels) != units:
            raise ValueError(f"labels must have one entry per unit ({units}), got {len(labels)}")
    grid = receptive_field_grid(weight, tile, padding=1, min_size=0)
    columns = math.ceil(math.sqrt(units))
    height, width = tile
    step = max(16, min(tile_pixels, max_width // max(columns, 1)))
    scale = max(1, step // max(height, width))
    image = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    header = 28
    figure, canvas = _canvas(image.shape[1], image.shape[0] + header, dpi)
    axes = figure.add_axes((0.0, 0.0, 1.0, image.shape[0] / (image.shape[0] + header)))
    axes.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
    axes.set_axis_off()
    if labels is not None:
        size = max(5.0, 0.3 * height * scale * 72 / dpi)
        for index, label in enumerate(labels):
            top = (index // columns) * (height + 1) * scale
            left = (index % columns) * (width + 1) * scale
            axes.text(
                left + 1, top + 1, "-" if label < 0 else str(int(label)), color="#ff3030",
                fontsize=size, fontweight="bold", ha="left", va="top",
            )  # fmt: skip
    if title:
        figure.text(0.01, 1.0 - 4 / (image.shape[0] + header), title, fontsize=9, va="top")
    return _rgb(canvas)


def label_assignment_image(
    labels: torch.Tensor | Sequence[int],
    num_classes: int,
    *,
    title: str = "",
    size: tuple[float, float] = (6.0, 3.5),
    dpi: int = 100,
) -> np.ndarray:
    """A bar chart of how many units each class was assigned (and how many none).

    Args:
        labels: the class of each unit, integers in ``[-1, num_classes)``
            (``-1``: unassigned).
        num_classes: number of classes.
        title: title of the chart.
        size: figure size in inches.
        dpi: resolution; the image is ``size * dpi`` pixels.

    Returns:
        ``uint8`` RGB image ``(size[1] * dpi, size[0] * dpi, 3)``.
    """
    flat = torch.as_tensor(labels).reshape(-1).to(torch.long)
    counts = torch.bincount(flat + 1, minlength=num_classes + 1).tolist()
    figure, canvas = _canvas(int(size[0] * dpi), int(size[1] * dpi), dpi)
    axes = figure.add_subplot()
    names = [str(c) for c in range(num_classes)] + ["none"]
    values = counts[1:] + counts[:1]
    bars = axes.bar(range(num_classes + 1), values, color=["#4070c0"] * num_classes + ["#999999"])
    axes.bar_label(bars, fontsize=7)
    axes.set_xticks(range(num_classes + 1), names)
    axes.set_xlabel("assigned class")
    axes.set_ylabel("units")
    if title:
        axes.set_title(title, fontsize=9)
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.15, top=0.88)
    return _rgb(canvas)


def confusion_matrix_image(
    matrix: torch.Tensor,
    *,
    title: str = "",
    size: tuple[float, float] = (5.5, 5.0),
    dpi: int = 100,
) -> np.ndarray:
    """A confusion matrix, true class by row, predicted class by column, with its counts.

    Args:
        matrix: ``(C, C)`` or ``(C, C + 1)`` counts; an extra last column is
            drawn as "none" (samples with no prediction).
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution; the image is ``size * dpi`` pixels.

    Returns:
        ``uint8`` RGB image ``(size[1] * dpi, size[0] * dpi, 3)``.
    """
    counts = matrix.detach().to("cpu", torch.float64)
    rows, columns = counts.shape
    figure, canvas = _canvas(int(size[0] * dpi), int(size[1] * dpi), dpi)
    axes = figure.add_subplot()
    axes.imshow(counts.numpy(), cmap="Blues", interpolation="nearest", aspect="auto")
    largest = float(counts.max()) if counts.numel() else 0.0
    for row in range(rows):
        for column in range(columns):
            value = int(counts[row, column])
            if value:
                dark = value > 0.5 * largest
                axes.text(column, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if dark else "black")  # fmt: skip
    names = [str(c) for c in range(columns)]
    if columns == rows + 1:
        names[-1] = "none"
    axes.set_xticks(range(columns), names)
    axes.set_yticks(range(rows), [str(r) for r in range(rows)])
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if title:
        axes.set_title(title, fontsize=9)
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.92)
    return _rgb(canvas)
