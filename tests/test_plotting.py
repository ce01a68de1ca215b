"""The plotting functions: what each figure draws (axes, data), not its pixels; the label-readout
images of the statistics callback and the confusion counts of LabelAssignmentAccuracy."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from inferno_lightning.metrics import LabelAssignmentAccuracy
from inferno_lightning.plotting import (
    confusion_matrix_image,
    figure_image,
    firing_rates,
    label_assignment_image,
    labelled_receptive_field_grid,
    measure_fi_curve,
    plot_confusion_matrix,
    plot_fi_curve,
    plot_firing_rates,
    plot_label_assignment,
    plot_raster,
    plot_receptive_fields,
    plot_weight_histograms,
    receptive_field_grid,
)


def test_every_unit_of_a_400_unit_grid_is_drawn_at_a_readable_size() -> None:
    weight = torch.rand(400, 64, generator=torch.Generator().manual_seed(0))
    image = labelled_receptive_field_grid(weight, (8, 8))
    # 20 x 20 tiles of 8x8 with 1-pixel gaps (179 pixels), each tile 48 pixels (x6).
    assert image.shape == (179 * 6 + 28, 179 * 6, 3) and image.dtype == np.uint8


def test_each_tile_is_marked_with_its_class_in_its_top_left_corner() -> None:
    weight = torch.zeros(4, 64)  # uniform grey tiles: any mark is the label
    labels = torch.tensor([3, -1, 7, 0])
    plain = labelled_receptive_field_grid(weight, (8, 8)).astype(int)
    marked = labelled_receptive_field_grid(weight, (8, 8), labels).astype(int)
    changed = np.abs(marked - plain).sum(-1) > 0
    scale, header, tile = 6, 28, 9 * 6  # 2 x 2 tiles of 8x8 drawn x6, gaps included
    for index in range(4):
        top = header + (index // 2) * tile
        left = (index % 2) * tile
        corner = changed[top : top + 4 * scale, left : left + 4 * scale]
        rest = changed[top + 4 * scale : top + 8 * scale, left + 4 * scale : left + 8 * scale]
        assert corner.any() and not rest.any(), index


def test_confusion_counts_samples_by_true_and_predicted_class() -> None:
    metric = LabelAssignmentAccuracy(num_classes=3, shape=4)
    metric.set_assignments(torch.tensor([0, 1, 2, -1]))
    counts = torch.tensor([
        [5.0, 0, 0, 9],  # predicted 0
        [0, 4, 0, 0],  # predicted 1
        [0, 0, 0, 3],  # no vote: only the unassigned neuron fired
        [0, 0, 2, 0],  # predicted 2
    ])  # fmt: skip
    labels = torch.tensor([0, 2, 1, 2])
    metric.update(counts, labels)
    expected = torch.zeros(3, 4, dtype=metric.confusion.dtype)
    expected[0, 0] = expected[2, 1] = expected[1, 3] = expected[2, 2] = 1
    assert torch.equal(metric.confusion_matrix(), expected)
    assert float(metric.compute()) == 0.5
    metric.reset()
    # compute() kept the counts for drawing after the epoch's reset.
    assert torch.equal(metric.computed_confusion, expected)
    assert int(metric.confusion_matrix().sum()) == 0


def test_assignment_and_confusion_images_have_the_requested_size() -> None:
    image = label_assignment_image(torch.tensor([0, 0, 2, -1]), 3, title="x")
    assert image.shape == (350, 600, 3)
    # Three bars: more non-white pixels than an empty chart of the same title.
    empty = label_assignment_image(torch.full((4,), -1), 3, title="x")
    assert (image.min(-1) < 200).sum() > (empty.min(-1) < 200).sum()
    confusion = confusion_matrix_image(torch.eye(3, 4) * 5)
    assert confusion.shape == (500, 550, 3)


# ------------------------------------------------------------------ figures users call


def test_figures_need_no_display_and_leave_pyplot_alone() -> None:
    import matplotlib

    backend = matplotlib.get_backend()
    figure = plot_raster(torch.zeros(5, 3), 1.0)
    assert isinstance(figure, Figure)
    assert figure_image(figure).shape == (400, 600, 3)
    assert matplotlib.get_backend() == backend
    assert "matplotlib.pyplot" not in sys.modules or not plt_figures()


def plt_figures() -> list[int]:
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def test_raster_draws_a_tick_at_each_spike_time_and_neuron() -> None:
    spikes = torch.zeros(10, 2, 3, dtype=torch.bool)  # (T, *shape): neurons numbered row-major
    spikes[1, 0, 2] = spikes[4, 1, 0] = spikes[4, 0, 0] = spikes[9, 1, 2] = True
    figure = plot_raster(spikes, 0.5)
    (raster,) = figure.axes
    (dots,) = raster.collections
    # (step * dt, row-major index), in the order torch.nonzero gives: by time, then neuron.
    expected = [(0.5, 2), (2.0, 0), (2.0, 3), (4.5, 5)]
    np.testing.assert_array_equal(dots.get_offsets(), np.array(expected, dtype=float))
    assert raster.get_xlabel() == "time (ms)" and raster.get_ylim() == (-0.5, 5.5)


def test_raster_with_voltage_traces_and_neuron_heights() -> None:
    spikes = torch.zeros(4, 3)
    spikes[2, 1] = 1.0
    voltages = torch.tensor([[-65.0, -60.0], [-64.0, -58.0], [-63.0, -65.0], [-62.0, -64.0]])
    figure = plot_raster(
        spikes, 1.0, voltages=voltages, voltage_labels=["a", "b"], thresh_v=-50.0,
        neuron_values=[10.0, 20.0, 30.0],
    )  # fmt: skip
    raster, traces = figure.axes
    np.testing.assert_array_equal(raster.collections[0].get_offsets(), [[2.0, 20.0]])
    lines = traces.get_lines()
    assert len(lines) == 3  # two traces and the threshold
    np.testing.assert_array_equal(lines[0].get_xydata(), [[0, -65], [1, -64], [2, -63], [3, -62]])
    np.testing.assert_array_equal(lines[1].get_ydata(), voltages[:, 1].numpy())
    assert list(lines[2].get_ydata()) == [-50.0, -50.0]
    assert [t.get_text() for t in traces.get_legend().get_texts()] == ["a", "b", "threshold"]
    with pytest.raises(ValueError, match="steps"):
        plot_raster(spikes, 1.0, voltages=voltages[:3])


def test_firing_rates_and_their_histogram_count_neurons_per_bin() -> None:
    spikes = torch.zeros(100, 2, 4)  # 100 steps of 2 ms: 200 ms
    spikes[:10, 0, 0] = 1  # 10 spikes in 0.2 s: 50 Hz
    spikes[:4, 1, 3] = 1  # 20 Hz
    rates = firing_rates(spikes, 2.0)
    expected = torch.zeros(2, 4, dtype=torch.float64)
    expected[0, 0], expected[1, 3] = 50.0, 20.0
    torch.testing.assert_close(rates, expected)
    figure = plot_firing_rates([0.0, 1.0, 1.5, 4.0, 9.0, 10.0], bins=5, range=(0.0, 10.0))
    bars = figure.axes[0].patches
    # Bins [0, 2), [2, 4), [4, 6), [6, 8), [8, 10]: 3, 0, 1, 0, 2 neurons.
    assert [bar.get_height() for bar in bars] == [3, 0, 1, 0, 2]
    assert [bar.get_x() for bar in bars] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert [bar.get_width() for bar in bars] == [2.0] * 5


def test_receptive_field_figure_holds_the_grid_and_the_labels() -> None:
    weight = torch.arange(4 * 4, dtype=torch.float32).reshape(4, 4)  # 4 units of 2x2
    figure = plot_receptive_fields(weight, (2, 2), [1, -1, 0, 2], tile_pixels=16)
    (axes,) = figure.axes
    shown = np.asarray(axes.images[0].get_array())
    grid = receptive_field_grid(weight, (2, 2), padding=1, min_size=0)
    np.testing.assert_array_equal(shown, grid.repeat(8, 0).repeat(8, 1))
    assert [t.get_text() for t in axes.texts] == ["1", "-", "0", "2"]
    # Tile o's label sits in its top-left corner: column o % 2, row o // 2, 3 pixels x 8 apart.
    assert [t.get_position() for t in axes.texts] == [(1, 1), (25, 1), (1, 25), (25, 25)]
    with pytest.raises(ValueError, match="one entry per unit"):
        plot_receptive_fields(weight, (2, 2), [0, 1])


def test_weight_histograms_over_time_count_each_snapshot_in_shared_bins() -> None:
    snapshots = [torch.tensor([0.0, 0.1, 0.2, 0.9]), torch.tensor([0.5, 0.6, 0.9, 1.0])]
    figure = plot_weight_histograms(snapshots, steps=[0, 100], bins=4)
    mesh = figure.axes[0].collections[0]
    # Bins [0, .25), [.25, .5), [.5, .75), [.75, 1]: columns are snapshots.
    expected = np.array([[3, 0], [0, 0], [0, 2], [1, 2]])
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(4, 2), expected)
    np.testing.assert_allclose(mesh.get_coordinates()[:, 0, 1], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(mesh.get_coordinates()[0, :, 0], [-50.0, 50.0, 150.0])
    stacked = plot_weight_histograms(torch.stack(snapshots), bins=4, range=(0.0, 2.0))
    counts = np.asarray(stacked.axes[0].collections[0].get_array()).reshape(4, 2)
    # Bins [0, .5), [.5, 1), [1, 1.5), [1.5, 2].
    np.testing.assert_array_equal(counts, [[3, 0], [1, 3], [0, 1], [0, 0]])


def test_confusion_and_assignment_figures_hold_their_counts() -> None:
    matrix = torch.tensor([[5, 0, 1], [2, 3, 0]])  # 2 classes and a "none" column
    figure = plot_confusion_matrix(matrix)
    (axes,) = figure.axes
    np.testing.assert_array_equal(axes.images[0].get_array(), matrix.numpy())
    assert [(t.get_position(), t.get_text()) for t in axes.texts] == [
        ((0, 0), "5"), ((2, 0), "1"), ((0, 1), "2"), ((1, 1), "3"),
    ]  # fmt: skip
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0", "1", "none"]
    bars = plot_label_assignment(torch.tensor([0, 0, 2, -1, 2, 2]), 3).axes[0].patches
    assert [bar.get_height() for bar in bars] == [2, 0, 3, 1]  # classes 0, 1, 2, none


def test_fi_curve_of_a_lif_neuron_matches_its_closed_form() -> None:
    from inferno_lightning.neural import LIF

    # tau 20 ms, R 1 MOhm, threshold 15 mV above reset, refractory 2 ms, dt 0.1 ms (as the demo).
    neuron = LIF(1, 0.1, rest_v=-65.0, reset_v=-65.0, thresh_v=-50.0, refrac_t=2.0)
    currents = torch.tensor([10.0, 20.0, 60.0])

    def closed_form(current: float) -> float:
        if current <= 15.0:
            return 0.0
        return 1000.0 / (2.0 + 20.0 * math.log(current / (current - 15.0)))

    rates = measure_fi_curve(neuron, currents, 1000.0)
    assert rates[0] == 0.0
    # Within 1.5 spikes of the closed form over 1 s: one spike because the first interval starts
    # from rest without a refractory hold, and the threshold is tested once per 0.1 ms step.
    for rate, current in zip(rates[1:].tolist(), currents[1:].tolist(), strict=True):
        assert abs(rate - closed_form(current)) <= 1.5, (current, rate)
    figure = plot_fi_curve(currents, rates, closed_form=closed_form, rheobase=15.0)
    measured, expected, rheobase = figure.axes[0].get_lines()
    np.testing.assert_array_equal(measured.get_xydata()[:, 1], rates.numpy())
    np.testing.assert_allclose(expected.get_ydata(), [closed_form(c) for c in (10.0, 20.0, 60.0)])
    assert list(rheobase.get_xdata()) == [15.0, 15.0]
