"""SurrogateConvSNN: shapes, gradients, hand-computed readouts, learning, checkpoints, CLI, errors."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.cli import LightningCLI
from torch.utils.data import DataLoader, TensorDataset

from inferno_lightning.data import DigitsDataModule
from inferno_lightning.models.surrogate_conv import SurrogateConvSNN

# Small enough for a CPU test, every part present: two conv layers, hidden, readout.
SMALL = dict(channels=[4, 8], hidden=16, n_steps=4)


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    options = dict(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
        max_epochs=1, num_sanity_val_steps=0,
    )  # fmt: skip
    options.update(kwargs)
    return pl.Trainer(**options)


def images(size: int = 16, shape: tuple[int, ...] = (1, 8, 8), classes: int = 10) -> TensorDataset:
    generator = torch.Generator().manual_seed(5)
    return TensorDataset(
        torch.rand(size, *shape, generator=generator), torch.arange(size) % classes
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # Tiny loaders: Lightning suggests workers, notes few logging steps or no validation.
        warnings.filterwarnings(
            "ignore", message=".*(num_workers|log_every_n_steps|val_dataloader).*"
        )
        yield


# ---------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("kind", "input_shape", "classes", "batch_shape"),
    [
        ("direct", (1, 28, 28), 10, (3, 1, 28, 28)),  # MNIST, Fashion-MNIST
        ("poisson", (1, 28, 28), 10, (3, 1, 28, 28)),
        ("none", (2, 34, 34), 10, (3, 5, 2, 34, 34)),  # N-MNIST event counts
        ("none", (2, 32, 32), 11, (3, 5, 2, 32, 32)),  # DVS Gesture, 128 / 4
    ],
)
def test_outputs_and_logits_have_the_shapes_of_each_input_kind(
    kind: str, input_shape: tuple[int, int, int], classes: int, batch_shape: tuple[int, ...]
) -> None:
    generator = torch.Generator().manual_seed(2)
    if kind == "none":
        batch = torch.randint(0, 3, batch_shape, generator=generator)  # integer event counts
    else:
        batch = torch.rand(batch_shape, generator=generator)
    model = SurrogateConvSNN(
        input_shape=input_shape, num_classes=classes, encoding=kind, **SMALL
    ).eval()
    steps = 5 if kind == "none" else SMALL["n_steps"]
    with torch.no_grad():
        outputs = model(batch)
        logits = model.logits(batch)
    assert outputs.shape == (steps, 3, classes)
    assert logits.shape == (3, classes)
    assert model.predict(batch).shape == (3,)
    # Spike-count readout: the outputs are spikes.
    assert set(outputs.unique().tolist()) <= {0.0, 1.0}
    # Two "same" 3x3 convolutions, each followed by 2x2 pooling.
    side = input_shape[1] // 4
    assert model.feature_shape == (8, side, side)


def test_event_frames_time_major_with_time_dim_0() -> None:
    model = SurrogateConvSNN(input_shape=(2, 16, 16), encoding="none", time_dim=0, **SMALL)
    with torch.no_grad():
        assert model(torch.rand(6, 2, 2, 16, 16)).shape == (6, 2, 10)


@pytest.mark.parametrize(
    ("readout", "encoding", "pooling", "dropout"),
    [
        ("spike_count", "direct", "max", 0.0),
        ("membrane", "direct", "avg", 0.3),
        ("spike_count", "none", "avg", 0.0),
        ("membrane", "poisson", "max", 0.0),
    ],
)
def test_every_parameter_gets_a_nonzero_gradient_through_the_surrogate(
    readout: str, encoding: str, pooling: str, dropout: float
) -> None:
    model = SurrogateConvSNN(
        input_shape=(2, 12, 12), num_classes=4, encoding=encoding, readout=readout,
        pooling=pooling, dropout=dropout, **SMALL,
    ).train()  # fmt: skip
    shape = (3, 6, 2, 12, 12) if encoding == "none" else (3, 2, 12, 12)
    inputs = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    loss = model.training_loss(model(inputs), torch.tensor([0, 1, 3]))
    loss.backward()
    parameters = dict(model.named_parameters())
    # 2 conv layers, hidden and readout connections, each with weight and bias.
    assert len(parameters) == 8
    for name, parameter in parameters.items():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
        assert torch.isfinite(parameter.grad).all(), name


def test_without_the_surrogate_no_gradient_reaches_the_convolutions() -> None:
    # The check above is meaningful: a plain Heaviside stops the gradient at the first spike.
    model = SurrogateConvSNN(input_shape=(1, 8, 8), readout="membrane", **SMALL)
    for module in model.modules():
        if hasattr(module, "surrogate"):
            module.surrogate = None
    model.training_loss(model(torch.rand(2, 1, 8, 8)), torch.tensor([0, 1])).backward()
    assert model.features[0].connection.weight.grad is None
    assert model.readout_connection.weight.grad is not None


# ------------------------------------------------------------- readout by hand


def hand_built(readout: str, **kwargs) -> SurrogateConvSNN:
    """1x2x2 input -> one 1x1 conv channel -> max pool to 1x1 -> 1 hidden neuron -> 2 outputs.

    The conv and hidden weights are 1.5: a unit input raises V by 1.5 mV >= 1 mV
    threshold, so the conv neurons and the hidden neuron spike at every step.
    """
    model = SurrogateConvSNN(
        input_shape=(1, 2, 2), num_classes=2, channels=[1], kernel_size=1, padding=0,
        hidden=1, readout=readout, **kwargs,
    ).eval()  # fmt: skip
    with torch.no_grad():
        for connection in (model.features[0].connection, model.hidden_layer.connection):
            connection.weight.fill_(1.5)
            connection.bias.zero_()
    return model


def test_spike_count_logits_are_the_scaled_counts_of_a_hand_computed_run() -> None:
    model = hand_built("spike_count", n_steps=8, time_constant=10.0, count_scale=4.0)
    with torch.no_grad():
        model.readout_connection.weight.copy_(torch.tensor([[1.5], [0.3]]))
        model.readout_connection.bias.zero_()
        outputs = model(torch.ones(1, 1, 2, 2))
        logits = model.logits(torch.ones(1, 1, 2, 2))
    # Output 1 gets 0.3 mV per step: V_t = 0.3 (1 + b + ... + b^(t-1)), b = e^(-1/10), reaches
    # 1 mV at the 4th step (0.817 mV at the 3rd, 1.039 at the 4th), resets to 0 and repeats.
    beta, voltage, expected = math.exp(-0.1), 0.0, []
    for _ in range(8):
        voltage = beta * voltage + 0.3
        expected.append(float(voltage >= 1.0))
        voltage = 0.0 if voltage >= 1.0 else voltage
    assert expected == [0, 0, 0, 1, 0, 0, 0, 1]
    assert outputs[:, 0, 0].tolist() == [1.0] * 8
    assert outputs[:, 0, 1].tolist() == expected
    # 4 * (8, 2) / 8 steps.
    torch.testing.assert_close(logits, torch.tensor([[4.0, 1.0]]))


def test_membrane_logits_are_the_mean_of_the_hand_computed_leaky_integral() -> None:
    # dt 0.5 ms: a spike through w jumps w mV, a bias b (nA) adds b * dt mV per step.
    dt, tau, steps = 0.5, 4.0, 6
    model = hand_built(
        "membrane", n_steps=steps, step_time=dt, time_constant=10.0, readout_time_constant=tau
    )
    weight, bias = torch.tensor([0.5, -0.25]), torch.tensor([0.2, 0.0])
    with torch.no_grad():
        model.readout_connection.weight.copy_(weight.unsqueeze(1))
        model.readout_connection.bias.copy_(bias)
        outputs = model(torch.ones(1, 1, 2, 2))
        logits = model.logits(torch.ones(1, 1, 2, 2))
    # The hidden neuron spikes every step, so U_t = (w + b dt) (1 - beta^t) / (1 - beta).
    beta = math.exp(-dt / tau)
    jump = weight + bias * dt
    trajectory = torch.stack(
        [jump * (1 - beta**t) / (1 - beta) for t in range(1, steps + 1)]
    ).unsqueeze(1)
    torch.testing.assert_close(outputs, trajectory)
    torch.testing.assert_close(logits, trajectory.mean(0))


# -------------------------------------------------------------------- training


@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
def test_learns_the_digits_well_above_chance_and_logs_its_metrics(
    readout: str, tmp_path: Path
) -> None:
    pl.seed_everything(0, verbose=False)
    model = SurrogateConvSNN(
        input_shape=(1, 8, 8), channels=[8], hidden=32, n_steps=8, pooling="avg", lr=5e-3,
        lr_schedule="constant", readout=readout,
    )  # fmt: skip
    data = DigitsDataModule(batch_size=32)
    run = trainer(tmp_path, max_epochs=3)
    with quiet():
        run.fit(model, datamodule=data)
        metrics = dict(run.callback_metrics)
        tested = run.test(model, datamodule=data, verbose=False)[0]
    for key in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        assert key in metrics, key
    # Chance is 0.1. In 3 epochs this config reaches, for seed 0 (and seeds 0 to 2), validation
    # 0.92 (0.85 to 0.93) and test 0.84 (0.81 to 0.88) with the spike-count readout, validation
    # 0.93 (0.93 to 0.93) and test 0.88 (0.88 to 0.92) with the membrane readout.
    assert float(metrics["val/accuracy"]) > 0.75
    assert tested["test/accuracy"] > 0.75
    assert tested["test/loss"] < 1.5  # from ln(10) = 2.3 at chance


class RecordLearningRate(pl.Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize(
    ("schedule", "expected"), [("cosine", [1e-3, 5e-4, 0.0]), ("constant", [1e-3] * 3)]
)
def test_learning_rate_follows_a_cosine_over_the_fit(
    schedule: str, expected: list[float], tmp_path: Path
) -> None:
    # 2 optimizer steps: lr / 2 (1 + cos(pi n / 2)) before steps n = 0, 1 and after the last.
    model = SurrogateConvSNN(input_shape=(1, 8, 8), lr_schedule=schedule, **SMALL)
    record = RecordLearningRate()
    run = trainer(tmp_path, limit_train_batches=2, callbacks=[record])
    with quiet():
        run.fit(model, train_dataloaders=DataLoader(images(), batch_size=8))
    rates = [*record.rates, run.optimizers[0].param_groups[0]["lr"]]
    assert rates == pytest.approx(expected, abs=1e-12)


def test_dropout_keeps_one_mask_for_every_time_step_in_training_only() -> None:
    model = SurrogateConvSNN(input_shape=(1, 8, 8), dropout=0.5, **SMALL).train()
    model(torch.rand(4, 1, 8, 8))
    mask = model.feature_dropout.mask
    assert mask.shape == (4, 8, 2, 2)
    assert set(mask.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / 0.5
    model.eval()
    model(torch.rand(4, 1, 8, 8))
    assert model.feature_dropout.mask is None


def test_poisson_input_is_drawn_from_the_seeded_generator() -> None:
    inputs = torch.rand(2, 1, 8, 8)
    first, second, other = (
        SurrogateConvSNN(input_shape=(1, 8, 8), encoding="poisson", seed=seed, **SMALL)
        for seed in (3, 3, 4)
    )
    assert torch.equal(first.encode(inputs), second.encode(inputs))
    assert not torch.equal(first.encode(inputs), other.encode(inputs))
    assert set(first.encode(inputs).unique().tolist()) <= {0.0, 1.0}


# ----------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_gives_identical_logits_at_any_batch_size(tmp_path: Path) -> None:
    model = SurrogateConvSNN(
        input_shape=(1, 8, 8), readout="membrane", dropout=0.2, **SMALL
    )  # fmt: skip
    run = trainer(tmp_path, limit_train_batches=2)
    with quiet():
        run.fit(model, train_dataloaders=DataLoader(images(), batch_size=8))
    path = tmp_path / "model.ckpt"
    run.save_checkpoint(path)
    loaded = SurrogateConvSNN.load_from_checkpoint(path).eval()
    assert loaded.hparams.channels == [4, 8] and loaded.hparams.readout == "membrane"
    inputs = images(5).tensors[0]
    model.eval()
    with torch.no_grad():
        expected = model.logits(inputs)
        torch.testing.assert_close(loaded.logits(inputs), expected, rtol=0, atol=0)
        torch.testing.assert_close(loaded.logits(inputs[:1]), expected[:1])
    # predict_step gives the logits.
    with quiet():
        predicted = run.predict(loaded, DataLoader(images(5), batch_size=2))
    torch.testing.assert_close(torch.cat(predicted), expected)


def test_lightning_cli_yaml_lists_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "model:\n"
        "  input_shape: [2, 16, 16]\n"
        "  num_classes: 11\n"
        "  encoding: none\n"
        "  channels: [4, 8]\n"
        "  hidden: 16\n"
        "  padding: null\n"
        "trainer:\n"
        "  accelerator: cpu\n"
        "  logger: false\n"
        "  max_epochs: 1\n"
        "  limit_train_batches: 1\n"
        "  enable_progress_bar: false\n"
        "  enable_model_summary: false\n"
        "  enable_checkpointing: false\n"
        f"  default_root_dir: {tmp_path}\n"
    )
    cli = LightningCLI(
        SurrogateConvSNN, run=False, args=["--config", str(config)], save_config_callback=None
    )
    model = cli.model
    assert model.input_shape == (2, 16, 16) and model.feature_shape == (8, 4, 4)
    assert model.hparams.channels == [4, 8] and model.hparams.padding is None
    frames = torch.rand(4, 3, 2, 16, 16)
    with quiet():
        cli.trainer.fit(model, DataLoader(TensorDataset(frames, torch.arange(4)), batch_size=4))
    path = tmp_path / "cli.ckpt"
    cli.trainer.save_checkpoint(path)
    loaded = SurrogateConvSNN.load_from_checkpoint(path).eval()
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.logits(frames), model.logits(frames))


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("input_shape", dict(input_shape=(8, 8))),
        ("input_shape", dict(input_shape=(1, 0, 8))),
        ("num_classes", dict(num_classes=1)),
        ("encoding", dict(encoding="rate")),
        ("n_steps", dict(n_steps=0)),
        ("max_rate", dict(encoding="poisson", max_rate=2000.0)),
        ("channels", dict(channels=[])),
        ("channels", dict(channels=[4, 0])),
        ("channels", dict(channels=[4, 4, 4, 4])),  # 8 -> 4 -> 2 -> 1: no 2x2 pool left
        ("kernel_size", dict(kernel_size=9, padding=0)),
        ("kernel_size", dict(kernel_size=0)),
        ("padding", dict(padding=-1)),
        ("pooling", dict(pooling="sum")),
        ("hidden", dict(hidden=0)),
        ("dropout", dict(dropout=1.0)),
        ("step_time", dict(step_time=0.0)),
        ("time_constant", dict(time_constant=-5.0)),
        ("thresh_v", dict(thresh_v=0.0, reset_v=0.0)),
        ("thresh_v", dict(thresh_v=0.5, rest_v=0.5, reset_v=0.0)),  # it would spike at rest
        ("weight_gain", dict(weight_gain=0.0)),
        ("rest_v", dict(rest_v=float("nan"))),
        ("refrac_t", dict(refrac_t=-1.0)),
        ("surrogate", dict(surrogate="relu")),
        ("surrogate_slope", dict(surrogate_slope=0.0)),
        ("readout", dict(readout="max")),
        ("count_scale", dict(count_scale=0.0)),
        ("readout_time_constant", dict(readout_time_constant=0.0)),
        ("lr", dict(lr=-1e-3)),
        ("weight_decay", dict(weight_decay=-1.0)),
        ("optimizer", dict(optimizer="rmsprop")),
        ("lr_schedule", dict(lr_schedule="step")),
        ("time_dim", dict(time_dim=2)),
        ("seed", dict(seed=-1)),
    ],
)
def test_bad_arguments_raise_naming_the_argument(name: str, kwargs: dict) -> None:
    options = dict(input_shape=(1, 8, 8), **SMALL)
    options.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        SurrogateConvSNN(**options)


def test_bad_inputs_raise_naming_the_expected_shape() -> None:
    static = SurrogateConvSNN(input_shape=(1, 8, 8), **SMALL)
    with pytest.raises(ValueError, match=r"inputs must be images \(batch, 1, 8, 8\)"):
        static(torch.rand(2, 3, 1, 8, 8))
    with pytest.raises(ValueError, match="finite"):
        static(torch.full((2, 1, 8, 8), float("nan")))
    events = SurrogateConvSNN(input_shape=(2, 8, 8), encoding="none", **SMALL)
    with pytest.raises(ValueError, match=r"event frames \(batch, T, 2, 8, 8\)"):
        events(torch.rand(2, 2, 8, 8))
    poisson = SurrogateConvSNN(input_shape=(1, 8, 8), encoding="poisson", **SMALL)
    with pytest.raises(ValueError):
        poisson(torch.full((2, 1, 8, 8), 2.0))  # intensities must be in [0, 1]
    with pytest.raises(ValueError, match="targets"):
        static.training_loss(static(torch.rand(2, 1, 8, 8)), None)
