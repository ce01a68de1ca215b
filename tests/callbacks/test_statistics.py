"""SpikeStatistics: values against hand computations, and what each logger receives."""

from __future__ import annotations

import csv
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from torch.utils.data import DataLoader, TensorDataset

from inferno_lightning import LocalLearning, LocalLearningDDPStrategy, SpikeStatistics
from inferno_lightning.callbacks.statistics import firing_period
from inferno_lightning.plotting import raster_image, receptive_field_grid, tile_shape

from ..lightning_models import FixedNet, RankInterleaved, SpikeTrains, STDPNet
from .wandb_offline import history, run_file

NEURON = "stats/layer.neurons.neuron/"
CONNECTION = "stats/layer.connections.connection/"
SCALARS = [
    NEURON + name
    for name in ("firing_rate_hz", "silent_fraction", "saturated_fraction", "presentations",
                 "voltage_mean",
                 "voltage_std", "adaptation_mean", "adaptation_std", "adaptation_min",
                 "adaptation_max")
] + [
    CONNECTION + name
    for name in ("weight_mean", "weight_std", "weight_min", "weight_max", "update_norm")
]  # fmt: skip


@pytest.fixture(autouse=True)
def restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(no optimizer|num_workers|LitLogger).*")
        yield


def fit(
    tmp_path: Path, model: pl.LightningModule, loader: DataLoader | None, **kwargs: Any
) -> pl.Trainer:
    options = dict(
        accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, default_root_dir=tmp_path, max_epochs=1,
    )  # fmt: skip
    options.update(kwargs)
    datamodule = options.pop("datamodule", None)
    trainer = pl.Trainer(**options)
    trainer.fit(model, loader, datamodule=datamodule)
    return trainer


class RecordingLogger(Logger):
    """Keeps every ``log_metrics`` call in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append((step, dict(metrics)))


class WeightProbe(Callback):
    """Copies the connection's weight at the start and end of every training batch."""

    def __init__(self) -> None:
        self.before: list[torch.Tensor] = []
        self.after: list[torch.Tensor] = []
        self.pool_sizes: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        self.before.append(pl_module.layer.connection.weight.detach().clone())
        self.pool_sizes.append(len(pl_module.monitors))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.after.append(pl_module.layer.connection.weight.detach().clone())


def expected_weight_stats(before: torch.Tensor, after: torch.Tensor) -> dict[str, float]:
    w = after.double()
    return {
        CONNECTION + "weight_mean": float(w.mean()),
        CONNECTION + "weight_std": float(w.std(correction=0)),
        CONNECTION + "weight_min": float(w.min()),
        CONNECTION + "weight_max": float(w.max()),
        CONNECTION + "update_norm": float(torch.linalg.vector_norm(w - before.double())),
    }


def stdp_fit(tmp_path: Path, logger: Logger, **statistics: Any) -> tuple[STDPNet, WeightProbe]:
    """STDPNet (12 -> 5 ALIF), 16 samples of 20 steps in 4 batches of 4."""
    model = STDPNet()
    probe = WeightProbe()
    callbacks = [LocalLearning(), SpikeStatistics(**statistics), probe]
    loader = DataLoader(SpikeTrains(size=16), batch_size=4)
    fit(tmp_path, model, loader, logger=logger, callbacks=callbacks)
    return model, probe


# ------------------------------------------------------------------ hand computation


def test_scalars_equal_a_hand_computation(tmp_path: Path) -> None:
    steps, batch = 10, 3
    generator = torch.Generator().manual_seed(3)
    spikes = (torch.rand(2 * batch, steps, 5, generator=generator) < 0.3).float()
    spikes[..., 4] = 1.0  # neuron 0 gets input every step: it fires at the maximum rate
    data = TensorDataset(spikes, torch.zeros(2 * batch, dtype=torch.long))
    model = FixedNet()
    logger = RecordingLogger()
    fit(tmp_path, model, DataLoader(data, batch_size=batch), logger=logger,
        callbacks=[SpikeStatistics(log_every_n_steps=1, plot_every_n_steps=100)])  # fmt: skip

    assert [step for step, _ in logger.calls] == [0, 1]
    neuron = model.layer.neuron
    for (_, logged), first in zip(logger.calls, (0, batch), strict=True):
        # The plain loop, recording spikes and voltages by hand.
        model.reset_state()
        counts = torch.zeros(batch, 3)
        voltages = []
        with torch.no_grad():
            for t in range(steps):
                counts += model.layer(spikes[first : first + batch, t])
                voltages.append(neuron.voltage.clone())
        per_neuron = counts.sum(0)
        # refrac_t = 2 ms, dt = 1 ms: at most one spike every 2 steps, ceil(10 / 2) = 5 per sample.
        assert per_neuron[0] == 5 * batch and per_neuron[1] == 0
        assert 0 < per_neuron[2] < 5 * batch
        voltage = torch.stack(voltages).double()
        assert logged[NEURON + "firing_rate_hz"] == pytest.approx(
            float(counts.sum()) / (batch * 3 * steps * 1.0) * 1000.0, rel=1e-12
        )
        assert logged[NEURON + "silent_fraction"] == pytest.approx(1 / 3)
        assert logged[NEURON + "saturated_fraction"] == pytest.approx(1 / 3)
        assert logged[NEURON + "presentations"] == 1.0
        assert logged[NEURON + "voltage_mean"] == pytest.approx(float(voltage.mean()), rel=1e-6)
        assert logged[NEURON + "voltage_std"] == pytest.approx(
            float(voltage.std(correction=0)), rel=1e-5
        )
        # No learning: the weights are the constructor's, the update is zero.
        weight = torch.tensor([[0.0, 0, 0, 0, 1000], [0.0] * 5, [20.0, 20, 20, 20, 0]])
        assert logged[CONNECTION + "weight_mean"] == pytest.approx(1080 / 15)
        assert logged[CONNECTION + "weight_std"] == pytest.approx(float(weight.std(correction=0)))
        assert logged[CONNECTION + "weight_min"] == 0.0
        assert logged[CONNECTION + "weight_max"] == 1000.0
        assert logged[CONNECTION + "update_norm"] == 0.0
        # LIF has no adaptive threshold: no adaptation keys.
        assert not any("adaptation" in key for key in logged)


class RepresentingNet(FixedNet):
    """FixedNet that presents each batch, then presents it again with the input silenced.

    Like DiehlCook2015's boosted re-presentations: a second simulation in the
    same training batch that is not the presentation every sample received.
    """

    def training_step(self, batch: Any, batch_idx: int) -> None:
        inputs, _ = self.unpack_batch(batch)
        self.first_counts = self.simulate(inputs, reduce="sum")
        self.simulate(torch.zeros_like(inputs), reduce="sum")
        return None


def test_statistics_describe_the_first_presentation_not_a_re_presentation(
    tmp_path: Path,
) -> None:
    steps, batch = 10, 4
    generator = torch.Generator().manual_seed(5)
    spikes = (torch.rand(batch, steps, 5, generator=generator) < 0.4).float()
    spikes[..., 4] = 1.0
    data = TensorDataset(spikes, torch.zeros(batch, dtype=torch.long))
    model = RepresentingNet()
    logger = RecordingLogger()
    fit(tmp_path, model, DataLoader(data, batch_size=batch), logger=logger,
        callbacks=[SpikeStatistics(log_every_n_steps=1, plot_every_n_steps=100)])  # fmt: skip
    ((_, logged),) = logger.calls
    counts = model.first_counts.double()  # (batch, 3) of the first presentation
    assert float(counts.sum()) > 0
    assert logged[NEURON + "firing_rate_hz"] == pytest.approx(
        1000.0 * float(counts.sum()) / (batch * 3 * steps * 1.0), rel=1e-12
    )
    # Neuron 1 reads nothing; neurons 0 and 2 fire in the first presentation (the silent
    # re-presentation would make all three silent).
    assert logged[NEURON + "silent_fraction"] == pytest.approx(1 / 3)
    assert logged[NEURON + "saturated_fraction"] == pytest.approx(1 / 3)
    # Two simulations of 10 steps: the key says the batch was presented twice.
    assert logged[NEURON + "presentations"] == 2.0


def test_maximum_rate_follows_the_refractory_countdown() -> None:
    # A neuron fires again at the first step its refractory time has counted down to zero.
    assert firing_period(0.0, 1.0).item() == 1
    assert firing_period(1.0, 1.0).item() == 1
    assert firing_period(2.0, 1.0).item() == 2
    assert firing_period(2.5, 1.0).item() == 3
    assert firing_period(0.3, 0.1).item() == 3  # float rounding adds no step
    assert firing_period(torch.tensor([0.0, 5.0]), 0.5).tolist() == [1.0, 10.0]


# ------------------------------------------------------------------------- loggers


def test_csv_logger_gets_the_scalars(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, name="csv")
    model, probe = stdp_fit(tmp_path, logger, log_every_n_steps=2)
    with open(Path(logger.log_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"step", *SCALARS}
    assert [int(row["step"]) for row in rows] == [1, 3]
    for row in rows:
        step = int(row["step"])
        expected = expected_weight_stats(probe.before[step], probe.after[step])
        for key, value in expected.items():
            assert float(row[key]) == pytest.approx(value, rel=1e-6, abs=1e-9), key
    # The last batch's rate from the model's own spike counts (its rule's monitor).
    counts = model.counts.peek()
    assert float(rows[-1][NEURON + "firing_rate_hz"]) == pytest.approx(
        float(counts.sum()) / (4 * 5 * 20 * 1.0) * 1000.0
    )
    assert float(rows[-1][NEURON + "adaptation_mean"]) == pytest.approx(
        float(model.layer.neuron.adaptation.mean())
    )


def test_tensorboard_logger_gets_scalars_histograms_and_images(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(tmp_path, name="tb")
    model, probe = stdp_fit(
        tmp_path, logger, log_every_n_steps=1, plot_every_n_steps=2, receptive_field_shape=(3, 4)
    )
    events = EventAccumulator(logger.log_dir, size_guidance={"histograms": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert set(SCALARS) <= set(tags["scalars"])
    assert set(tags["histograms"]) == {NEURON + "spike_counts", CONNECTION + "weights"}
    assert set(tags["images"]) == {NEURON + "raster", CONNECTION + "receptive_fields"}
    means = events.Scalars(CONNECTION + "weight_mean")
    assert [event.step for event in means] == [0, 1, 2, 3]
    for event in means:
        assert event.value == pytest.approx(float(probe.after[event.step].double().mean()))
    weights = events.Histograms(CONNECTION + "weights")
    assert [event.step for event in weights] == [1, 3]
    assert weights[-1].histogram_value.num == 5 * 12
    assert weights[-1].histogram_value.sum == pytest.approx(float(probe.after[3].sum()), rel=1e-5)
    assert events.Histograms(NEURON + "spike_counts")[0].histogram_value.num == 5
    fields = events.Images(CONNECTION + "receptive_fields")
    assert [event.step for event in fields] == [1, 3]
    # 5 tiles of 3x4 in a 3-column grid with 1-pixel gaps (7 x 14 pixels), each tile drawn
    # 48 pixels wide (x12), under a 28-pixel title.
    assert (fields[0].height, fields[0].width) == (7 * 12 + 28, 14 * 12)
    assert events.Images(NEURON + "raster")[0].width == 600
    # Counts and voltage sums on every logged batch, the raster on plotted ones only.
    size = len(model.monitors)
    assert probe.pool_sizes == [size + 2, size + 3, size + 2, size + 3]


def tensorboard_images(logger: TensorBoardLogger) -> dict[str, list[Any]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    return {tag: events.Images(tag) for tag in events.Tags()["images"]}


def test_every_epoch_ends_with_images_even_in_runs_shorter_than_the_interval(
    tmp_path: Path,
) -> None:
    logger = TensorBoardLogger(tmp_path, name="tb")
    model = STDPNet()
    # 3 batches per epoch, 2 epochs: fewer batches than the default plot interval (10).
    fit(tmp_path, model, DataLoader(SpikeTrains(size=12), batch_size=4), logger=logger,
        max_epochs=2, callbacks=[LocalLearning(), SpikeStatistics(log_every_n_steps=1,
                                                                  receptive_field_shape=(3, 4))])  # fmt: skip
    images = tensorboard_images(logger)
    assert set(images) == {NEURON + "raster", CONNECTION + "receptive_fields"}
    for events in images.values():
        assert [event.step for event in events] == [2, 5]  # the last batch of each epoch


def test_a_label_readout_model_gets_labelled_fields_assignments_and_confusion(
    tmp_path: Path,
) -> None:
    from inferno_lightning.data import DigitsDataModule
    from inferno_lightning.models import DiehlCook2015

    logger = TensorBoardLogger(tmp_path, name="tb")
    model = DiehlCook2015(n_inputs=64, n_neurons=9, presentation_time=10.0)
    fit(tmp_path, model, None, datamodule=DigitsDataModule(batch_size=16), logger=logger,
        limit_train_batches=2, limit_val_batches=2, num_sanity_val_steps=0,
        callbacks=[LocalLearning(), SpikeStatistics(receptive_field_shape=(8, 8))])  # fmt: skip
    images = tensorboard_images(logger)
    fields = "stats/excitatory.connections.input/receptive_fields"
    assert {fields, "stats/val_accuracy/label_assignment", "stats/val_accuracy/confusion"} <= set(
        images
    )
    for tag in (fields, "stats/val_accuracy/label_assignment", "stats/val_accuracy/confusion"):
        assert [event.step for event in images[tag]] == [1]  # the epoch's end
    # 9 tiles of 8x8, 3 columns, drawn 48 pixels wide (x6) under a 28-pixel title.
    assert (images[fields][0].height, images[fields][0].width) == (26 * 6 + 28, 26 * 6)
    confusion = images["stats/val_accuracy/confusion"][0]
    assert (confusion.height, confusion.width) == (500, 550)


def test_wandb_offline_run_reads_back(tmp_path: Path) -> None:
    import wandb

    os.environ.update(WANDB_MODE="offline", WANDB_DIR=str(tmp_path), WANDB_SILENT="true",
                      WANDB_DISABLE_GIT="true", WANDB_DISABLE_CODE="true")  # fmt: skip
    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="inferno-lightning-tests")
    try:
        _, probe = stdp_fit(tmp_path, logger, log_every_n_steps=1, plot_every_n_steps=2,
                            receptive_field_shape=(3, 4))  # fmt: skip
    finally:
        wandb.finish()
        wandb.teardown()
    rows = [row for row in history(run_file(tmp_path)) if NEURON + "firing_rate_hz" in row]
    assert [row["trainer/global_step"] for row in rows] == [0, 1, 2, 3]
    media = {CONNECTION + "weights", NEURON + "spike_counts", NEURON + "raster",
             CONNECTION + "receptive_fields"}  # fmt: skip
    for row in rows:
        step = row["trainer/global_step"]
        expected = set(SCALARS) | (media if step in (1, 3) else set())
        assert set(row) - {"_step", "_runtime", "_timestamp", "trainer/global_step"} == expected
        assert row[CONNECTION + "weight_max"] == pytest.approx(float(probe.after[step].max()))
    last = rows[-1]
    weights = last[CONNECTION + "weights"]
    assert weights["_type"] == "histogram"
    assert sum(weights["values"]) == 5 * 12
    assert len(weights["bins"]) == 64 + 1
    assert sum(last[NEURON + "spike_counts"]["values"]) == 5
    for key in (NEURON + "raster", CONNECTION + "receptive_fields"):
        image = last[key]
        assert image["_type"] == "image-file"
        assert (run_file(tmp_path).parent / "files" / image["path"]).is_file()


def test_without_a_logger_nothing_is_attached(tmp_path: Path) -> None:
    model = STDPNet()
    size = len(model.monitors)
    statistics = SpikeStatistics(log_every_n_steps=1, plot_every_n_steps=1)
    probe = WeightProbe()
    fit(tmp_path, model, DataLoader(SpikeTrains(size=8), batch_size=4), logger=False,
        callbacks=[LocalLearning(), statistics, probe])  # fmt: skip
    assert probe.pool_sizes == [size, size]
    assert len(model.monitors) == size
    assert not statistics.active
    assert statistics.batches == 2


def test_monitors_are_attached_for_logged_batches_only(tmp_path: Path) -> None:
    model = STDPNet()
    size = len(model.monitors)
    probe = WeightProbe()
    logger = RecordingLogger()
    fit(tmp_path, model, DataLoader(SpikeTrains(size=16), batch_size=4), logger=logger,
        callbacks=[LocalLearning(), SpikeStatistics(log_every_n_steps=2, plot_every_n_steps=4),
                   probe])  # fmt: skip
    # Counts and voltage sums on logged batches; no raster: this logger takes no images.
    assert probe.pool_sizes == [size, size + 2, size, size + 2]
    assert len(model.monitors) == size
    assert [step for step, _ in logger.calls] == [1, 3]
    # Any logger other than W&B and TensorBoard gets scalars only.
    assert all(isinstance(v, float) for _, logged in logger.calls for v in logged.values())


# ------------------------------------------------------------------------------ DDP


def read_csv(folder: Path) -> list[dict[str, float]]:
    (path,) = folder.glob("**/metrics.csv")
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_two_ranks_log_the_statistics_of_the_global_batch(tmp_path: Path) -> None:
    data = SpikeTrains(size=16)
    statistics = dict(log_every_n_steps=1)
    fit(tmp_path, STDPNet(), DataLoader(data, batch_size=8),
        logger=CSVLogger(tmp_path / "one"), callbacks=[LocalLearning(), SpikeStatistics(**statistics)])  # fmt: skip
    strategy = LocalLearningDDPStrategy(
        start_method="spawn", process_group_backend="gloo", timeout=timedelta(seconds=60)
    )
    fit(tmp_path, STDPNet(), DataLoader(data, batch_size=4, sampler=RankInterleaved(16)),
        logger=CSVLogger(tmp_path / "two"), devices=2, strategy=strategy,
        use_distributed_sampler=False,
        callbacks=[LocalLearning(), SpikeStatistics(**statistics)])  # fmt: skip
    one, two = read_csv(tmp_path / "one"), read_csv(tmp_path / "two")
    assert [row["step"] for row in two] == [row["step"] for row in one] == [0.0, 1.0]
    for single, ranks in zip(one, two, strict=True):
        assert set(single) == set(ranks) == {"step", *SCALARS}
        for key in SCALARS:
            assert ranks[key] == pytest.approx(single[key], rel=1e-5, abs=1e-6), key
    # Not trivially equal: the neurons fired, and not all of them at the maximum rate.
    assert 0 < one[0][NEURON + "firing_rate_hz"] and one[0][NEURON + "saturated_fraction"] < 1


# ------------------------------------------------------------------ set-up and state


def test_bad_arguments_are_named() -> None:
    for kwargs, match in [
        (dict(log_every_n_steps=0), "log_every_n_steps"),
        (dict(log_every_n_steps=True), "log_every_n_steps"),
        (dict(plot_every_n_steps=2.5), "plot_every_n_steps"),
        (dict(modules="layer"), "modules"),
        (dict(modules=[]), "modules"),
        (dict(modules=["a", "a"]), "modules"),
        (dict(receptive_field_shape=(28,)), "receptive_field_shape"),
        (dict(receptive_field_shape=(0, 3)), "receptive_field_shape"),
        (dict(max_receptive_fields=0), "max_receptive_fields"),
        (dict(histogram_bins=1000), "histogram_bins"),
    ]:
        with pytest.raises(ValueError, match=match):
            SpikeStatistics(**kwargs)
    with pytest.raises(TypeError, match="raster"):
        SpikeStatistics(raster=1)
    with pytest.raises(TypeError, match="prefix"):
        SpikeStatistics(prefix=None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(modules=["layer.neurons.nope"]), "modules: 'layer.neurons.nope'"),
        (dict(modules=["layer"]), "got Serial"),
        (dict(receptive_field_shape=(2, 3)), "receptive_field_shape"),
    ],
)
def test_bad_module_names_fail_at_fit_start(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit(tmp_path, FixedNet(), DataLoader(SpikeTrains(size=2, n_in=5), batch_size=2),
            logger=RecordingLogger(), callbacks=[SpikeStatistics(**kwargs)])  # fmt: skip


def test_named_modules_only_and_order_warning(tmp_path: Path) -> None:
    logger = RecordingLogger()
    with pytest.warns(UserWarning, match="Place it after LocalLearning"):
        fit(tmp_path, STDPNet(), DataLoader(SpikeTrains(size=4), batch_size=4), logger=logger,
            callbacks=[SpikeStatistics(["layer.neurons.neuron"], log_every_n_steps=1),
                       LocalLearning()])  # fmt: skip
    ((step, logged),) = logger.calls
    assert step == 0 and all(key.startswith(NEURON) for key in logged)


def test_counter_is_saved_and_restored() -> None:
    statistics = SpikeStatistics()
    statistics.batches = 7
    restored = SpikeStatistics()
    restored.load_state_dict(statistics.state_dict())
    assert restored.batches == 7
    assert statistics.state_key == restored.state_key != SpikeStatistics(prefix="x/").state_key


# ------------------------------------------------------------------------ plotting


def test_tile_shapes_are_inferred_from_square_and_image_inputs() -> None:
    assert tile_shape((784,)) == (28, 28)
    assert tile_shape((64,)) == (8, 8)
    assert tile_shape((1, 28, 28)) == (28, 28)
    assert tile_shape((10, 12)) == (10, 12)
    assert tile_shape((12,)) is None
    assert tile_shape((12,), fallback=(3, 4)) == (3, 4)
    assert tile_shape((2, 8, 8)) is None


def test_receptive_field_tiles_of_dense_and_convolutional_connections() -> None:
    from inferno_lightning.neural import Conv2d, DeltaCurrent, LinearDense, LinearLateral

    dense = LinearDense(784, 10, synapse=DeltaCurrent(784, 1.0))
    image = LinearDense((1, 8, 8), 10, synapse=DeltaCurrent((1, 8, 8), 1.0))
    conv = Conv2d((1, 8, 8), 4, 3, synapse=DeltaCurrent((1, 8, 8), 1.0))
    conv2 = Conv2d((2, 8, 8), 4, 3, synapse=DeltaCurrent((2, 8, 8), 1.0))
    lateral = LinearLateral(16, synapse=DeltaCurrent(16, 1.0))
    inferred = SpikeStatistics()
    assert [inferred._tile(c) for c in (dense, image, conv, conv2, lateral)] == [
        (28, 28), (8, 8), (3, 3), None, None,
    ]  # fmt: skip
    # A given tile shape wins wherever its area is the fan-in.
    given = SpikeStatistics(receptive_field_shape=(4, 196))
    assert given._tile(dense) == (4, 196) and given._tile(image) == (8, 8)


def test_receptive_field_grid_places_each_unit_in_its_tile() -> None:
    weight = torch.arange(5 * 4, dtype=torch.float32).reshape(5, 4)  # 5 units of 2x2
    grid = receptive_field_grid(weight, (2, 2), min_size=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 3 - 1, 3 * 3 - 1)
    # Unit 4 sits at row 1, column 1; values map [0, 19] -> [0, 255].
    expected = np.round(np.arange(16, 20).reshape(2, 2) / 19 * 255).astype(np.uint8)
    np.testing.assert_array_equal(grid[3:5, 3:5], expected)
    assert grid[2].max() == 0 and grid[:, 2].max() == 0  # padding
    assert receptive_field_grid(torch.ones(100, 784), (28, 28)).shape == (10 * 29 - 1,) * 2
    with pytest.raises(ValueError, match="tile"):
        receptive_field_grid(weight, (3, 3))


def test_raster_image_is_an_rgb_array() -> None:
    spikes = torch.zeros(20, 5, dtype=torch.bool)
    spikes[::3, 2] = True
    image = raster_image(spikes, 0.5, title="x", size=(3.0, 2.0), dpi=50)
    assert image.shape == (100, 150, 3) and image.dtype == np.uint8
    assert image.min() < 128  # something was drawn


def test_logged_images_are_the_public_figures_rendered() -> None:
    from inferno_lightning.plotting import (
        confusion_matrix_image,
        figure_image,
        label_assignment_image,
        labelled_receptive_field_grid,
        plot_confusion_matrix,
        plot_label_assignment,
        plot_raster,
        plot_receptive_fields,
    )

    spikes = torch.rand(30, 6, generator=torch.Generator().manual_seed(0)) < 0.2
    weight = torch.rand(9, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, -1, 0, 1, 2, 2, 1])
    pairs = [
        (raster_image(spikes, 0.5, title="r"), plot_raster(spikes, 0.5, title="r")),
        (
            labelled_receptive_field_grid(weight, (4, 4), labels),
            plot_receptive_fields(weight, (4, 4), labels),
        ),
        (label_assignment_image(labels, 3), plot_label_assignment(labels, 3)),
        (confusion_matrix_image(torch.eye(3, 4) * 2), plot_confusion_matrix(torch.eye(3, 4) * 2)),
    ]
    for image, figure in pairs:
        np.testing.assert_array_equal(image, figure_image(figure))
