"""Figures of spiking networks: rasters, rates, receptive fields, weights, readouts, f-I curves.

Two layers:

* ``plot_*`` functions each return a matplotlib :class:`~matplotlib.figure.Figure`
  for a notebook, a paper or a script (``figure.savefig("raster.png")``; in
  Jupyter, a figure that ends a cell is shown). They draw with matplotlib's
  object-oriented API on an Agg canvas and never touch ``pyplot`` or the
  process-wide backend, so they are safe in notebooks, in threads, in tests
  and on machines without a display.
* ``*_image`` functions return the same figures as ``uint8`` RGB NumPy images
  (:func:`figure_image`) that any logger takes (``wandb.Image``,
  ``SummaryWriter.add_image``); the
  :class:`~inferno_lightning.callbacks.SpikeStatistics` callback logs these.

Every function takes tensors on any device (they are copied to the host) and
matplotlib is imported on first use only.

Example::

    >>> spikes = torch.rand(100, 20) < 0.05  # (T, neurons) of one sample
    >>> figure = plot_raster(spikes, step_time=1.0)
    >>> figure.savefig("raster.png")
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "confusion_matrix_image",
    "figure_image",
    "firing_rates",
    "label_assignment_image",
    "labelled_receptive_field_grid",
    "measure_fi_curve",
    "plot_confusion_matrix",
    "plot_fi_curve",
    "plot_firing_rates",
    "plot_label_assignment",
    "plot_raster",
    "plot_receptive_fields",
    "plot_weight_histograms",
    "raster_image",
    "receptive_field_grid",
    "tile_shape",
]

_range = builtins.range  # ``range`` is an argument name (numpy's) below
ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


def _numpy(values: ArrayLike, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64 if dtype is np.float64 else None).numpy()
    return np.asarray(values, dtype=dtype)


def _figure(size: tuple[float, float], dpi: int) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_image(figure: Figure) -> np.ndarray:
    """Render a figure into a ``uint8`` RGB image, for loggers.

    Args:
        figure: a matplotlib figure (any canvas; one without an Agg canvas gets one).

    Returns:
        ``uint8`` array ``(height, width, 3)``: the figure's size in inches times its dpi.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


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


# ------------------------------------------------------------------------------ spikes


def firing_rates(spikes: torch.Tensor, step_time: float, *, time_dim: int = 0) -> torch.Tensor:
    r"""Each neuron's firing rate in Hz: its spikes per step over ``time_dim``, per second.

    .. math::

        r = \frac{1000}{T \Delta t} \sum_t z_t \quad \text{(Hz, with } \Delta t \text{ in ms)}

    Args:
        spikes: spikes with time along ``time_dim`` (nonzero is a spike), e.g.
            ``(T, batch, *shape)``.
        step_time: :math:`\Delta t`, in ms.
        time_dim: the time dimension.

    Returns:
        float64 rates in Hz, ``spikes.shape`` without ``time_dim``.
    """
    steps = spikes.shape[time_dim]
    counts = (spikes.detach() != 0).sum(time_dim, dtype=torch.float64)
    return counts * (1000.0 / (steps * step_time))


def plot_raster(
    spikes: torch.Tensor,
    step_time: float,
    *,
    voltages: torch.Tensor | None = None,
    voltage_labels: Sequence[str] | None = None,
    thresh_v: float | None = None,
    neuron_values: ArrayLike | None = None,
    neuron_label: str = "neuron",
    title: str = "",
    size: tuple[float, float] = (6.0, 4.0),
    dpi: int = 100,
) -> Figure:
    """A spike raster of one sample, a tick at (time, neuron) per spike, with optional voltage traces.

    Step ``t`` is drawn at ``t * step_time`` ms; neuron ``n`` (row-major order
    of the group's shape) at height ``n``, or at ``neuron_values[n]`` (e.g. each
    neuron's input drive). With ``voltages`` a second panel below, sharing the
    time axis, draws one trace per column.

    Args:
        spikes: ``(T, *shape)`` spikes of one sample (nonzero is a spike).
        step_time: simulation step, in ms.
        voltages: ``(T,)`` or ``(T, k)`` membrane voltages in mV of ``k`` neurons to trace.
        voltage_labels: a legend entry per trace.
        thresh_v: threshold in mV, drawn as a dotted line in the voltage panel.
        neuron_values: ``(neurons,)`` height of each neuron's row (default: its index).
        neuron_label: label of the neuron axis.
        title: title above the raster.
        size: figure size in inches.
        dpi: resolution.

    Returns:
        The figure: ``figure.axes[0]`` holds the raster (one scatter collection
        whose offsets are the spikes' ``(time, neuron)``), ``figure.axes[1]``
        the traces when ``voltages`` is given.
    """
    flat = spikes.detach().reshape(spikes.shape[0], -1).to("cpu")
    steps, neurons = flat.shape
    times, indices = torch.nonzero(flat, as_tuple=True)
    heights = indices.numpy().astype(np.float64)
    if neuron_values is not None:
        values = _numpy(neuron_values).reshape(-1)
        if values.shape[0] != neurons:
            raise ValueError(
                f"neuron_values must have one entry per neuron ({neurons}), got {values.shape[0]}"
            )
        heights = values[indices.numpy()]
    figure = _figure(size, dpi)
    if voltages is None:
        raster = figure.add_subplot()
    else:
        raster, traces = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [1.4, 1.0]}
        )
    raster.scatter(times.numpy() * step_time, heights, marker="|", s=12, linewidths=0.8, c="black")
    raster.set_xlim(-0.5 * step_time, steps * step_time)
    if neuron_values is None:
        raster.set_ylim(-0.5, neurons - 0.5)
    elif neurons:
        low, high = float(values.min()), float(values.max())
        pad = 0.02 * (high - low) if high > low else 0.5
        raster.set_ylim(low - pad, high + pad)
    raster.set_ylabel(neuron_label)
    if title:
        raster.set_title(title, fontsize=9)
    if voltages is None:
        raster.set_xlabel("time (ms)")
        # Fixed margins: tight_layout would cost a third of the drawing time.
        figure.subplots_adjust(left=0.11, right=0.97, bottom=0.13, top=0.91)
        return figure
    trace = _numpy(voltages)
    trace = trace.reshape(trace.shape[0], -1)
    if trace.shape[0] != steps:
        raise ValueError(f"voltages must have {steps} steps like spikes, got {trace.shape[0]}")
    labels = list(voltage_labels) if voltage_labels is not None else [None] * trace.shape[1]
    if len(labels) != trace.shape[1]:
        raise ValueError(f"voltage_labels must name {trace.shape[1]} traces, got {len(labels)}")
    time_ms = np.arange(steps) * step_time
    for column, label in enumerate(labels):
        traces.plot(time_ms, trace[:, column], lw=0.8, label=label)
    if thresh_v is not None:
        traces.axhline(thresh_v, color="gray", ls=":", lw=1, label="threshold")
    traces.set_xlabel("time (ms)")
    traces.set_ylabel("V (mV)")
    if voltage_labels is not None or thresh_v is not None:
        traces.legend(loc="upper right", fontsize=7)
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.93, hspace=0.12)
    return figure


def raster_image(
    spikes: torch.Tensor,
    step_time: float,
    *,
    title: str = "",
    size: tuple[float, float] = (6.0, 4.0),
    dpi: int = 100,
) -> np.ndarray:
    """:func:`plot_raster` of one sample as an image, for loggers.

    Args:
        spikes: ``(T, *shape)`` spikes of one sample (nonzero is a spike).
        step_time: simulation step, in ms.
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution; the image is ``size * dpi`` pixels.

    Returns:
        ``uint8`` RGB image ``(size[1] * dpi, size[0] * dpi, 3)``.
    """
    return figure_image(plot_raster(spikes, step_time, title=title, size=size, dpi=dpi))


def plot_firing_rates(
    rates: ArrayLike,
    *,
    bins: int | Sequence[float] = 20,
    range: tuple[float, float] | None = None,
    title: str = "",
    size: tuple[float, float] = (5.0, 3.5),
    dpi: int = 100,
) -> Figure:
    """A histogram of firing rates: how many neurons fire at each rate.

    Args:
        rates: rates in Hz, any shape (flattened), e.g. from :func:`firing_rates`.
        bins: number of equal-width bins, or the bin edges (as :func:`numpy.histogram`).
        range: ``(low, high)`` of the bins, in Hz (default: the rates' range).
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution.

    Returns:
        The figure: one bar per bin in ``figure.axes[0].patches``, its height the
        number of neurons whose rate falls in the bin.
    """
    values = _numpy(rates).reshape(-1)
    counts, edges = np.histogram(values, bins=bins, range=range)
    figure = _figure(size, dpi)
    axes = figure.add_subplot()
    axes.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4070c0",
             edgecolor="white", linewidth=0.5)  # fmt: skip
    axes.set_xlabel("firing rate (Hz)")
    axes.set_ylabel("neurons")
    mean = float(values.mean()) if values.size else float("nan")
    axes.set_title(title or f"{values.size} neurons, mean {mean:.3g} Hz", fontsize=9)
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.14, top=0.9)
    return figure


# ------------------------------------------------------------------------------ weights


def plot_receptive_fields(
    weight: torch.Tensor,
    tile: tuple[int, int],
    labels: torch.Tensor | Sequence[int] | None = None,
    *,
    title: str = "",
    tile_pixels: int = 48,
    max_width: int = 2400,
    dpi: int = 100,
    cmap: str = "gray",
) -> Figure:
    """Every unit's input weights as a grid of tiles, each marked with its assigned class.

    The tiles are those of :func:`receptive_field_grid` (one colour scale for
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
        cmap: matplotlib colour map of the weights.

    Returns:
        The figure, sized in pixels: ``width`` is the number of grid columns
        times the drawn tile size plus gaps; 28 pixels on top hold the title.
        ``figure.axes[0].images[0]`` holds the enlarged grid, and its texts the
        labels in unit order.

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
    figure = _figure((image.shape[1] / dpi, (image.shape[0] + header) / dpi), dpi)
    axes = figure.add_axes((0.0, 0.0, 1.0, image.shape[0] / (image.shape[0] + header)))
    axes.imshow(image, cmap=cmap, vmin=0, vmax=255, interpolation="nearest", aspect="auto")
    axes.set_axis_off()
    if labels is not None:
        from matplotlib import patheffects

        size = max(5.0, 0.3 * height * scale * 72 / dpi)
        # A dark outline keeps the label readable on bright tiles of any colour map.
        outline = [patheffects.withStroke(linewidth=1.5, foreground="black")]
        for index, label in enumerate(labels):
            top = (index // columns) * (height + 1) * scale
            left = (index % columns) * (width + 1) * scale
            axes.text(
                left + 1, top + 1, "-" if label < 0 else str(int(label)), color="#40ff40",
                fontsize=size, fontweight="bold", ha="left", va="top", path_effects=outline,
            )  # fmt: skip
    if title:
        figure.text(0.01, 1.0 - 4 / (image.shape[0] + header), title, fontsize=9, va="top")
    return figure


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
    """:func:`plot_receptive_fields` as an image, for loggers.

    Args:
        weight: ``(units, *)`` weights; each row holds ``tile[0] * tile[1]`` values.
        tile: ``(height, width)`` of one unit's weights.
        labels: the class of each unit, ``(units,)`` integers, ``-1`` unassigned.
        title: drawn above the grid.
        tile_pixels: drawn size of a tile's longer side, in pixels.
        max_width: widest image, in pixels.
        dpi: resolution of the text.

    Returns:
        ``uint8`` RGB image ``(height, width, 3)`` (see :func:`plot_receptive_fields`).

    Raises:
        ValueError: as :func:`plot_receptive_fields`.
    """
    return figure_image(
        plot_receptive_fields(
            weight, tile, labels, title=title, tile_pixels=tile_pixels, max_width=max_width, dpi=dpi
        )
    )


def plot_weight_histograms(
    weights: torch.Tensor | Sequence[torch.Tensor],
    steps: ArrayLike | None = None,
    *,
    bins: int = 32,
    range: tuple[float, float] | None = None,
    step_label: str | None = None,
    title: str = "",
    size: tuple[float, float] = (6.0, 3.5),
    dpi: int = 100,
) -> Figure:
    """How a weight's distribution changes over training: one histogram per snapshot, as columns.

    Column ``s`` holds the histogram of snapshot ``s`` over bins shared by all
    snapshots (``bins`` equal bins over ``range``, default the smallest and
    largest weight of all snapshots); the colour is the number of weights in
    the bin.

    Args:
        weights: ``(S, *)`` tensor or a sequence of ``S`` tensors of equal size:
            the weights at ``S`` moments.
        steps: ``(S,)`` increasing training steps (or epochs) of the snapshots
            (default ``0 .. S-1``).
        bins: number of weight bins.
        range: ``(low, high)`` of the bins.
        step_label: label of the time axis (default ``"step"``, or ``"snapshot"``
            without ``steps``).
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution.

    Returns:
        The figure: ``figure.axes[0].collections[0]`` is a mesh whose
        ``get_array()`` is the ``(bins, S)`` matrix of counts.

    Raises:
        ValueError: no snapshot, or ``steps`` not one per snapshot.
    """
    snapshots = [_numpy(w).reshape(-1) for w in weights]
    if not snapshots:
        raise ValueError("weights must hold at least one snapshot")
    count = len(snapshots)
    x = np.arange(count, dtype=np.float64) if steps is None else _numpy(steps).reshape(-1)
    if x.shape[0] != count:
        raise ValueError(f"steps must have one entry per snapshot ({count}), got {x.shape[0]}")
    if range is None:
        low = min(float(s.min()) for s in snapshots)
        high = max(float(s.max()) for s in snapshots)
        range = (low, high if high > low else low + 1.0)
    edges = np.linspace(range[0], range[1], bins + 1)
    counts = np.stack([np.histogram(s, bins=edges)[0] for s in snapshots], axis=1)
    if count > 1:
        middle = (x[1:] + x[:-1]) / 2
        x_edges = np.concatenate([[2 * x[0] - middle[0]], middle, [2 * x[-1] - middle[-1]]])
    else:
        x_edges = np.array([x[0] - 0.5, x[0] + 0.5])
    figure = _figure(size, dpi)
    axes = figure.add_subplot()
    mesh = axes.pcolormesh(x_edges, edges, counts, cmap="viridis", shading="flat")
    figure.colorbar(mesh, ax=axes, label="weights per bin")
    if step_label is None:
        step_label = "step" if steps is not None else "snapshot"
    axes.set_xlabel(step_label)
    axes.set_ylabel("weight")
    if title:
        axes.set_title(title, fontsize=9)
    return figure


# ------------------------------------------------------------------------------ readouts


def plot_label_assignment(
    labels: torch.Tensor | Sequence[int],
    num_classes: int,
    *,
    title: str = "",
    size: tuple[float, float] = (6.0, 3.5),
    dpi: int = 100,
) -> Figure:
    """A bar chart of how many units each class was assigned (and how many none).

    Args:
        labels: the class of each unit, integers in ``[-1, num_classes)``
            (``-1``: unassigned).
        num_classes: number of classes.
        title: title of the chart.
        size: figure size in inches.
        dpi: resolution.

    Returns:
        The figure: ``num_classes + 1`` bars in ``figure.axes[0].patches``,
        classes ``0 .. num_classes - 1`` then "none".
    """
    flat = torch.as_tensor(labels).reshape(-1).to(torch.long)
    counts = torch.bincount(flat + 1, minlength=num_classes + 1).tolist()
    figure = _figure(size, dpi)
    axes = figure.add_subplot()
    names = [str(c) for c in _range(num_classes)] + ["none"]
    values = counts[1:] + counts[:1]
    bars = axes.bar(_range(num_classes + 1), values, color=["#4070c0"] * num_classes + ["#999999"])
    axes.bar_label(bars, fontsize=7)
    axes.set_xticks(_range(num_classes + 1), names)
    axes.set_xlabel("assigned class")
    axes.set_ylabel("units")
    if title:
        axes.set_title(title, fontsize=9)
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.15, top=0.88)
    return figure


def label_assignment_image(
    labels: torch.Tensor | Sequence[int],
    num_classes: int,
    *,
    title: str = "",
    size: tuple[float, float] = (6.0, 3.5),
    dpi: int = 100,
) -> np.ndarray:
    """:func:`plot_label_assignment` as an image, for loggers.

    Args:
        labels: the class of each unit, integers in ``[-1, num_classes)``.
        num_classes: number of classes.
        title: title of the chart.
        size: figure size in inches.
        dpi: resolution; the image is ``size * dpi`` pixels.

    Returns:
        ``uint8`` RGB image ``(size[1] * dpi, size[0] * dpi, 3)``.
    """
    return figure_image(plot_label_assignment(labels, num_classes, title=title, size=size, dpi=dpi))


def plot_confusion_matrix(
    matrix: torch.Tensor | np.ndarray,
    *,
    title: str = "",
    size: tuple[float, float] = (5.5, 5.0),
    dpi: int = 100,
) -> Figure:
    """A confusion matrix, true class by row, predicted class by column, with its counts.

    Args:
        matrix: ``(C, C)`` or ``(C, C + 1)`` counts; an extra last column is
            drawn as "none" (samples with no prediction, e.g. no neuron fired).
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution.

    Returns:
        The figure: ``figure.axes[0].images[0].get_array()`` is the matrix, and
        each nonzero count is written in its cell.
    """
    counts = _numpy(matrix)
    rows, columns = counts.shape
    figure = _figure(size, dpi)
    axes = figure.add_subplot()
    axes.imshow(counts, cmap="Blues", interpolation="nearest", aspect="auto")
    largest = float(counts.max()) if counts.size else 0.0
    for row in _range(rows):
        for column in _range(columns):
            value = int(counts[row, column])
            if value:
                dark = value > 0.5 * largest
                axes.text(column, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if dark else "black")  # fmt: skip
    names = [str(c) for c in _range(columns)]
    if columns == rows + 1:
        names[-1] = "none"
    axes.set_xticks(_range(columns), names)
    axes.set_yticks(_range(rows), [str(r) for r in _range(rows)])
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if title:
        axes.set_title(title, fontsize=9)
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.92)
    return figure


def confusion_matrix_image(
    matrix: torch.Tensor,
    *,
    title: str = "",
    size: tuple[float, float] = (5.5, 5.0),
    dpi: int = 100,
) -> np.ndarray:
    """:func:`plot_confusion_matrix` as an image, for loggers.

    Args:
        matrix: ``(C, C)`` or ``(C, C + 1)`` counts (last column: no prediction).
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution; the image is ``size * dpi`` pixels.

    Returns:
        ``uint8`` RGB image ``(size[1] * dpi, size[0] * dpi, 3)``.
    """
    return figure_image(plot_confusion_matrix(matrix, title=title, size=size, dpi=dpi))


# ------------------------------------------------------------------------------ f-I curves


@torch.no_grad()
def measure_fi_curve(neuron: torch.nn.Module, currents: ArrayLike, duration: float) -> torch.Tensor:
    """Firing rate of a neuron under each constant current: the simulated f-I curve.

    Every current is one sample of a batch, held for ``duration`` ms from a
    reset; the rate counts every spike of that time. The neuron's state is
    reset before and after.

    Args:
        neuron: a :class:`~inferno_lightning.neural.Neuron` (any shape; all its
            neurons get the same current).
        currents: ``(C,)`` currents in nA.
        duration: simulated time in ms (a multiple of the neuron's ``step_time``).

    Returns:
        ``(C,)`` float64 rates in Hz, averaged over the neuron's group.
    """
    step_time = float(neuron.step_time)
    steps = round(duration / step_time)
    values = torch.as_tensor(_numpy(currents).reshape(-1))
    shape = tuple(neuron.shape)
    device = next(iter(neuron.buffers()), torch.empty(0)).device
    dtype = torch.get_default_dtype()
    inputs = values.to(device, dtype).view(-1, *([1] * len(shape))).expand(-1, *shape).contiguous()
    neuron.reset()
    total = torch.zeros(values.shape[0], dtype=torch.float64, device=device)
    for _ in _range(steps):
        total += neuron(inputs).reshape(values.shape[0], -1).sum(1, dtype=torch.float64)
    neuron.reset()
    count = max(math.prod(shape), 1)
    return (total / count * (1000.0 / (steps * step_time))).cpu()


def plot_fi_curve(
    currents: ArrayLike,
    rates: ArrayLike,
    *,
    closed_form: ArrayLike | Callable[[float], float] | None = None,
    rheobase: float | None = None,
    current_label: str = "current I (nA)",
    title: str = "",
    size: tuple[float, float] = (5.0, 3.5),
    dpi: int = 100,
) -> Figure:
    """An f-I curve: firing rate against input current, measured and, optionally, in closed form.

    Args:
        currents: ``(C,)`` input currents (nA; or any drive, see ``current_label``).
        rates: ``(C,)`` measured rates in Hz (e.g. from :func:`measure_fi_curve`).
        closed_form: ``(C,)`` expected rates in Hz at ``currents``, or a function
            ``current -> rate`` (evaluated at ``currents``), drawn as a line.
        rheobase: the threshold current, drawn as a dotted vertical line.
        current_label: label of the current axis.
        title: title of the plot.
        size: figure size in inches.
        dpi: resolution.

    Returns:
        The figure: ``figure.axes[0].lines[0]`` holds the measured rates
        (markers), ``lines[1]`` the closed form when given.

    Raises:
        ValueError: ``rates`` (or an array ``closed_form``) not one per current.
    """
    x = _numpy(currents).reshape(-1)
    measured = _numpy(rates).reshape(-1)
    if measured.shape != x.shape:
        raise ValueError(f"rates must have one entry per current ({x.size}), got {measured.size}")
    figure = _figure(size, dpi)
    axes = figure.add_subplot()
    axes.plot(x, measured, "o", ms=4, mfc="none", label="simulated")
    if closed_form is not None:
        if callable(closed_form):
            expected = np.array([float(closed_form(float(c))) for c in x])
        else:
            expected = _numpy(closed_form).reshape(-1)
        if expected.shape != x.shape:
            raise ValueError(
                f"closed_form must have one entry per current ({x.size}), got {expected.size}"
            )
        axes.plot(x, expected, "k-", lw=1, label="closed form")
        axes.legend(fontsize=8)
    if rheobase is not None:
        axes.axvline(rheobase, color="gray", ls=":", lw=1)
    axes.set_xlabel(current_label)
    axes.set_ylabel("rate (Hz)")
    if title:
        axes.set_title(title, fontsize=9)
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.14, top=0.9)
    return figure
