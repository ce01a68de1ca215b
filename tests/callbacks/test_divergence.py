"""DivergenceGuard: a NaN weight, threshold or voltage stops training (or is undone) with a named error."""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader

from inferno_lightning import LocalLearning
from inferno_lightning.callbacks import DivergenceError, DivergenceGuard
from tests.lightning_models import SpikeTrains, STDPNet

pytestmark = pytest.mark.filterwarnings("ignore:.*optimizer.*")


class Poison(Callback):
    """Writes a non-finite value into ``target`` (a state_dict or buffer name) after batch ``at``."""

    def __init__(self, at: int, target: str, value: float = math.nan) -> None:
        self.at, self.target, self.value = at, target, value

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.at:
            tensor = dict([*pl_module.named_parameters(), *pl_module.named_buffers()])[self.target]
            with torch.no_grad():
                tensor.view(-1)[0] = self.value


def fit(tmp_path: Path, *callbacks: Callback, batches: int = 4) -> tuple[STDPNet, pl.Trainer]:
    model = STDPNet()
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        limit_train_batches=batches, num_sanity_val_steps=0,
        callbacks=[
            LocalLearning(), *callbacks,
            ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_last=True, save_top_k=0),
        ],
    )  # fmt: skip
    trainer.fit(model, DataLoader(SpikeTrains(size=16), batch_size=4))
    return model, trainer


def test_nan_weight_stops_training_naming_parameter_layer_and_step(tmp_path: Path) -> None:
    # Poison runs before the guard (the guard places itself last, before the checkpoints).
    with pytest.raises(DivergenceError) as error:
        fit(tmp_path, DivergenceGuard(), Poison(at=2, target="layer.connections.connection.weight"))
    message = str(error.value)
    assert "'layer.connections.connection.weight'" in message
    assert "layer 'layer.connections.connection', LinearDense" in message
    assert "1 NaN and 0 infinite of 60 values" in message
    assert "global step 3" in message and "batch 2" in message
    # The last checkpoint is the last good one: written after step 2, all finite.
    last = tmp_path / "last.ckpt"
    assert f"last good checkpoint is kept: {last}" in message
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2
    tensors = [t for t in checkpoint["state_dict"].values() if isinstance(t, torch.Tensor)]
    assert len(tensors) > 5 and all(torch.isfinite(t).all() for t in tensors)


def test_infinite_threshold_and_voltage_are_named(tmp_path: Path) -> None:
    with pytest.raises(DivergenceError) as error:
        fit(
            tmp_path,
            DivergenceGuard(),
            Poison(at=0, target="layer.neurons.neuron.adaptation", value=math.inf),
            Poison(at=0, target="layer.neurons.neuron._voltage", value=-math.inf),
        )
    message = str(error.value)
    # The adaptive threshold (5 neurons) and a voltage (batch 4 x 5 neurons) of the ALIF layer.
    assert "'layer.neurons.neuron.adaptation'" in message
    assert "0 NaN and 1 infinite of 5 values" in message
    assert "buffer/state 'layer.neurons.neuron._voltage' (voltage of layer" in message
    assert "0 NaN and 1 infinite of 20 values" in message and "ALIF" in message
    assert "global step 1" in message
    assert "no checkpoint written yet" in message
    assert not (tmp_path / "last.ckpt").exists()


def test_skip_undoes_the_bad_batch_and_goes_on(tmp_path: Path) -> None:
    guard = DivergenceGuard(action="skip")
    with pytest.warns(UserWarning, match="layer.connections.connection.weight"):
        model, trainer = fit(
            tmp_path, guard, Poison(at=1, target="layer.connections.connection.weight")
        )
    assert guard.skipped == 1
    assert trainer.global_step == 4
    assert torch.isfinite(model.layer.connection.weight).all()
    # The result equals a run in which batch 1 left the weights as batch 0 had them: replaying
    # batches 0, 2 and 3 without the guard gives the same weights.
    reference = STDPNet()
    data = list(DataLoader(SpikeTrains(size=16), batch_size=4))
    from tests.lightning_models import reference_fit

    reference_fit(reference, [data[0][0], data[2][0], data[3][0]])
    torch.testing.assert_close(model.layer.connection.weight, reference.layer.connection.weight)
    torch.testing.assert_close(model.layer.neuron.adaptation, reference.layer.neuron.adaptation)


def test_clean_training_is_untouched(tmp_path: Path) -> None:
    guarded, _ = fit(tmp_path / "a", DivergenceGuard(), DivergenceGuard(action="skip"))
    plain, _ = fit(tmp_path / "b")
    assert torch.equal(guarded.layer.connection.weight, plain.layer.connection.weight)
    assert torch.equal(guarded.layer.neuron.adaptation, plain.layer.neuron.adaptation)


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"action": "ignore"}, "action"),
        ({"check_every_n_steps": 0}, "check_every_n_steps"),
        ({"check_every_n_steps": True}, "check_every_n_steps"),
        ({"max_names": -1}, "max_names"),
        ({"action": "skip", "check_every_n_steps": 2}, "check_every_n_steps"),
    ],
)
def test_bad_arguments_name_the_argument(arguments: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DivergenceGuard(**arguments)
