"""Long runs: process memory and the model's buffers stay flat over ten times the usual steps."""

from __future__ import annotations

import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from inferno_lightning import LocalLearning, SpikeStatistics
from inferno_lightning.data import DigitsDataModule
from inferno_lightning.models import DiehlCook2015

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*optimizer.*")]

EPOCH = 17  # batches of 64 in the digits training part


def resident_mib() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def buffer_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class Measure(pl.Callback):
    def __init__(self) -> None:
        self.rows: list[tuple[int, float, int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step in (EPOCH, 10 * EPOCH):
            self.rows.append((step, resident_mib(), buffer_bytes(pl_module)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_is_flat_over_ten_epochs_of_steps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DiehlCook2015(n_inputs=64, n_neurons=100, step_time=1.0, presentation_time=20.0,
                          max_rate=255.0, lr_post=0.64, lr_pre=0.0064, theta_increment=6.4)  # fmt: skip
    measure = Measure()
    trainer = pl.Trainer(
        max_steps=10 * EPOCH, limit_val_batches=0, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False,
        logger=pl.loggers.CSVLogger(tmp_path),
        callbacks=[LocalLearning(), SpikeStatistics(log_every_n_steps=5, plot_every_n_steps=50),
                   measure],
    )  # fmt: skip
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=64))
    (first, rss_first, bytes_first), (last, rss_last, bytes_last) = measure.rows
    assert (first, last) == (EPOCH, 10 * EPOCH)
    print(f"RSS after {first} batches: {rss_first:.1f} MiB; after {last}: {rss_last:.1f} MiB")
    # No state, monitor or history grows with the number of steps: the same bytes exactly.
    assert bytes_last == bytes_first
    # The process as a whole: 9 more epochs of batches may not add more than 10 MiB (allocator
    # noise); keeping any per-step history (a (T, 64, 100) float tensor per batch is 0.5 MiB)
    # would add over 75 MiB.
    assert rss_last - rss_first < 10.0
