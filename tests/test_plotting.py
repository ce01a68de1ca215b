"""Label-readout images (receptive fields marked with classes, assignments, confusion) and the
confusion counts of LabelAssignmentAccuracy."""

from __future__ import annotations

import numpy as np
import torch

from inferno_lightning.metrics import LabelAssignmentAccuracy
from inferno_lightning.plotting import (
    confusion_matrix_image,
    label_assignment_image,
    labelled_receptive_field_grid,
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
