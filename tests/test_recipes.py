"""Every recipe in recipes/ parses, instantiates, and fits a step on tiny data in the real format.

The data are written by the tests in the on-disk formats the data modules read
(MNIST IDX files in torchvision's layout, N-MNIST 5-byte event records, DVS
Gesture ``.npy`` files in tonic's layout), under a data root given through
``INFERNO_LIGHTNING_DATA``, so the recipes run exactly as written apart from
sizes (batch, validation split, steps) shrunk on the command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

from inferno_lightning.callbacks import SpikeStatistics
from inferno_lightning.checkpoint_io import AtomicCheckpointIO
from inferno_lightning.cli import cli
from tests.data.test_dvs_gesture import write_split as write_dvs_gesture
from tests.data.test_mnist import Written as WrittenMNIST
from tests.data.test_nmnist import write_split as write_nmnist

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:LightningCLI's args parameter:UserWarning"),
]

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
# Per recipe: options that shrink the run to a step on the tiny data (never the model's kind).
SHRINK = {
    "digits_diehl_cook": ["--model.init_args.presentation_time", "20"],
    "digits_reward": ["--model.init_args.presentation_time", "10"],
    "digits_surrogate": ["--model.init_args.n_steps", "4"],
    "mnist_diehl_cook": ["--data.init_args.val_size", "10", "--model.init_args.n_neurons", "50",
                         "--model.init_args.presentation_time", "25"],
    "mnist_surrogate": ["--data.init_args.val_size", "10", "--model.init_args.n_steps", "4"],
    "nmnist_surrogate": ["--data.init_args.val_size", "3", "--data.init_args.n_time_bins", "4"],
    "dvs_gesture_surrogate": ["--data.init_args.n_time_bins", "4"],
}  # fmt: skip


def test_every_recipe_is_covered() -> None:
    assert {path.stem for path in RECIPES} == set(SHRINK)


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    WrittenMNIST(root, "MNIST")
    write_nmnist(root, "Train", {0: 3, 1: 3, 2: 3})
    write_nmnist(root, "Test", {0: 2, 1: 2})
    train = {"user01_fluorescent": [0, 1], "user02_led": [0, 10], "user03_natural": [0, 1, 2, 10]}
    write_dvs_gesture(root, "ibmGestureTrain", train)
    write_dvs_gesture(root, "ibmGestureTest", {"user24_natural": [3, 10]})
    monkeypatch.setenv("INFERNO_LIGHTNING_DATA", str(root))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    return root


@pytest.mark.parametrize("recipe", RECIPES, ids=[path.stem for path in RECIPES])
def test_recipe_fits_a_step_on_tiny_data(recipe: Path, data_root: Path, tmp_path: Path) -> None:
    options = [
        "--config", str(recipe), *SHRINK[recipe.stem],
        "--data.init_args.batch_size", "2",
        "--trainer.accelerator", "cpu",
        "--trainer.max_steps", "1",
        "--trainer.limit_val_batches", "1",
        "--trainer.limit_test_batches", "1",
        "--trainer.val_check_interval", "1",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
    ]  # fmt: skip
    if "num_workers" in recipe.read_text():
        options += ["--data.init_args.num_workers", "0"]
    # The same seed_everything builds the same initial model without running anything.
    initial = {
        name: tensor.clone()
        for name, tensor in cli(options, run=False).model.state_dict().items()
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
    }
    run = cli(["fit", *options])
    trainer, model = run.trainer, run.model

    # One training step ran and changed the learned weights (local rule or optimizer).
    assert trainer.global_step == 1
    fitted = model.state_dict()
    changed = [name for name in initial if not torch.equal(initial[name], fitted[name])]
    assert any(name.endswith("weight") for name in changed), changed
    # Logged to W&B offline, with the statistics callback, and the run was tested.
    (logger,) = trainer.loggers
    assert isinstance(logger, WandbLogger)
    assert any(isinstance(c, SpikeStatistics) for c in trainer.callbacks)
    assert "test/accuracy" in trainer.callback_metrics
    runs = list((tmp_path / "logs" / recipe.stem / "wandb").glob("offline-run-*/*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    # A resumable checkpoint holding this model's hyperparameters.
    latest, best = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert (
        latest.save_last
        and best.monitor == "val/accuracy"
        and trainer.checkpoint_callback is latest
    )
    checkpoint = latest
    last = tmp_path / "checkpoints" / recipe.stem / "last.ckpt"
    assert Path(checkpoint.dirpath) == last.parent and last.is_file()
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert saved["global_step"] == 1
    assert saved["hyper_parameters"] == dict(model.hparams)
    assert "loops" in saved and "optimizer_states" in saved
