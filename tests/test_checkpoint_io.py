"""AtomicCheckpointIO: a checkpoint is either the previous complete file or the new complete one."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from inferno_lightning import LocalLearning
from inferno_lightning.checkpoint_io import AtomicCheckpointIO
from tests.lightning_models import SpikeTrains, STDPNet

pytestmark = pytest.mark.filterwarnings("ignore:.*optimizer.*")


def trainer(folder: Path, batches: int) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=1, limit_train_batches=batches, logger=False, enable_progress_bar=False,
        enable_model_summary=False, plugins=[AtomicCheckpointIO()],
        callbacks=[LocalLearning(), ModelCheckpoint(dirpath=folder, save_last=True,
                                                    every_n_train_steps=1, save_top_k=0)],
    )  # fmt: skip


def test_checkpoints_load_and_resume(tmp_path: Path) -> None:
    model = STDPNet()
    trainer(tmp_path, 2).fit(model, DataLoader(SpikeTrains(), batch_size=4))
    saved = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    assert saved["global_step"] == 2
    assert torch.equal(
        saved["state_dict"]["layer.connections.connection.weight"], model.layer.connection.weight
    )
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_write_that_dies_midway_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = STDPNet()
    data = DataLoader(SpikeTrains(), batch_size=4)
    trainer(tmp_path, 1).fit(model, data)
    before = (tmp_path / "last.ckpt").read_bytes()
    real_save = torch.save

    def dying_save(obj, stream, *args, **kwargs):
        # Write part of the checkpoint, then die as a killed process would.
        real_save({"partial": torch.zeros(1000)}, stream)
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, tmp_path / "last.ckpt")
    assert (tmp_path / "last.ckpt").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_storage_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="storage_options"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "x.ckpt", storage_options={"a": 1})
    assert not (tmp_path / "x.ckpt").exists()
