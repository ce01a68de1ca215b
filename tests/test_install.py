"""The install resolves torch and torchvision together, so the Lightning stack imports."""

from __future__ import annotations

import torch


def test_torchvision_ops_run_against_installed_torch() -> None:
    # torchvision's compiled ops fail at import or call when built for another torch.
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = torchvision.ops.nms(boxes, scores, iou_threshold=0.5)
    # Boxes 0 and 1 overlap with IoU 81/119 > 0.5, so box 1 is suppressed.
    assert keep.tolist() == [0, 2]


def test_lightning_stack_imports_with_torchvision() -> None:
    import lightning
    import torchmetrics

    metric = torchmetrics.MeanMetric()
    metric.update(torch.tensor([1.0, 2.0, 3.0]))
    assert metric.compute().item() == 2.0
    assert lightning.pytorch.Trainer is not None


def test_core_does_not_import_lightning() -> None:
    # DESIGN.md: the core serves plain PyTorch users; it never imports Lightning.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import inferno_lightning.functional, inferno_lightning.neural, inferno_lightning.encode\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', 'torchmetrics')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
