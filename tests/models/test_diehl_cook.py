"""DiehlCook2015: hand-checkable dynamics, learning invariants, Lightning fits and checkpoints."""

from __future__ import annotations

import inspect
import math
import typing
import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from inferno_lightning import LocalLearning
from inferno_lightning.data import DigitsDataModule
from inferno_lightning.learn import updater_for
from inferno_lightning.models import DiehlCook2015

# A small, fast network: 16 inputs, 6 neurons, 30 steps of 1 ms at up to 255 Hz.
SMALL = dict(
    n_inputs=16, n_neurons=6, step_time=1.0, presentation_time=30.0, max_rate=255.0,
    norm_total=4.0, lr_post=0.5, lr_pre=0.005, theta_increment=0.5,
)  # fmt: skip


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    options = dict(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
        max_epochs=1, num_sanity_val_steps=0, callbacks=[LocalLearning()],
    )  # fmt: skip
    options.update(kwargs)
    return pl.Trainer(**options)


def fit(trainer: pl.Trainer, model: DiehlCook2015, *args, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*optimizer.*")  # local learning only
        trainer.fit(model, *args, **kwargs)


class SaveAtEpochEnd(pl.Callback):
    """Saves ``last.ckpt`` in ``folder`` at the end of each training epoch, from every rank."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.save_checkpoint(f"{self.folder}/last.ckpt")


def tiny_data(size: int = 16, n_inputs: int = 16) -> TensorDataset:
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(size, n_inputs, generator=generator)
    return TensorDataset(images, torch.arange(size) % 4)


def test_defaults_are_the_papers() -> None:
    model = DiehlCook2015()
    hp = model.hparams
    assert (hp.n_inputs, hp.n_neurons, hp.step_time) == (784, 100, 0.5)
    assert (hp.presentation_time, hp.max_rate, hp.w_max) == (350.0, 63.75, 1.0)
    assert (hp.lr_post, hp.lr_pre, hp.tc_post, hp.tc_pre) == (0.01, 0.0001, 20.0, 20.0)
    assert (hp.theta_increment, hp.tc_theta, hp.min_spikes) == (0.05, 1e7, 5)
    assert model.presentation_steps == 700
    # The paper's 78 for 784 inputs; 78/784 per input otherwise.
    assert model.norm_total == pytest.approx(78.0)
    assert DiehlCook2015(n_inputs=64).norm_total == pytest.approx(78.0 * 64 / 784)
    neurons = model.excitatory_neurons
    assert float(neurons.thresh_v) == -52.0 and float(neurons.refrac_t) == 5.0
    torch.testing.assert_close(model.input_connection.weight.sum(1), torch.full((100,), 78.0))


def test_init_arguments_are_plain_types_for_the_cli() -> None:
    plain = {int, float, str, bool, type(None)}
    hints = typing.get_type_hints(DiehlCook2015.__init__)
    for name in inspect.signature(DiehlCook2015.__init__).parameters:
        if name == "self":
            continue
        kinds = set(typing.get_args(hints[name])) or {hints[name]}
        assert kinds <= plain, (name, hints[name])


def test_a_spike_through_weight_w_raises_the_voltage_by_w_millivolts() -> None:
    model = DiehlCook2015(n_inputs=2, n_neurons=1, step_time=1.0, presentation_time=1.0).eval()
    with torch.no_grad():
        model.input_connection.weight.copy_(torch.tensor([[0.75, 0.5]]))
        model.simulate(torch.tensor([[[1.0, 1.0]]]))
    torch.testing.assert_close(model.excitatory_neurons.voltage, torch.tensor([[-65.0 + 1.25]]))


@pytest.mark.parametrize("inhibition", ["lateral", "population"])
def test_the_winner_suppresses_the_others(inhibition: str) -> None:
    # Every input spikes every step. Neuron 0 gets 14 mV per step and fires at once (-65 + 14 >= -52),
    # then every 5 ms (refractory); neuron 1 gets 5 mV per step: alone it reaches
    # -65 + 5 * (1 + e^-0.01 + e^-0.02) = -50.15 mV at step 2 and fires; inhibited by 17.5 mV at
    # step 1 it falls to about -72.5 mV and stays below threshold for the first 9 steps.
    trains = {}
    for weight in (0.0, 17.5):
        model = DiehlCook2015(
            n_inputs=16, n_neurons=3, step_time=1.0, presentation_time=9.0, min_spikes=0,
            inhibition=inhibition, inhibition_weight=weight,
        ).eval()  # fmt: skip
        with torch.no_grad():
            model.input_connection.weight.copy_(
                torch.stack(
                    [torch.full((16,), 14 / 16), torch.full((16,), 5 / 16), torch.zeros(16)]
                )
            )
            trains[weight] = model.simulate(torch.ones(9, 1, 16))[:, 0].T.int().tolist()
    winner = [1, 0, 0, 0, 0, 1, 0, 0, 0]
    assert trains[0.0] == [winner, [0, 0, 1, 0, 0, 0, 0, 0, 0], [0] * 9]
    assert trains[17.5] == [winner, [0] * 9, [0] * 9]


def test_a_conductance_spike_moves_the_voltage_as_the_closed_form() -> None:
    # g = 0.5 for the step of the spike (E_exc = 0 mV): V_inf = -65 / 1.5 = -43.33 mV and
    # V = V_inf + (-65 - V_inf) e^{-0.5 * 1.5 / 100} = -64.838 mV (a delta synapse: -64.5 mV).
    model = DiehlCook2015(
        n_inputs=1, n_neurons=1, presentation_time=0.5, synapses="conductance"
    ).eval()
    with torch.no_grad():
        model.input_connection.weight.fill_(0.5)
        model.simulate(torch.ones(1, 1, 1))
    target = -65.0 / 1.5
    expected = target + (-65.0 - target) * math.exp(-0.5 * 1.5 / 100.0)
    assert expected == pytest.approx(-64.838, abs=1e-3)
    assert float(model.excitatory_neurons.voltage) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("inhibition", ["lateral", "population"])
def test_conductance_inhibition_stops_at_the_inhibitory_reversal_potential(inhibition: str) -> None:
    # Neuron 0 fires at once and inhibits neuron 1 with a huge weight: through a current it
    # falls by about 1000 mV, through a conductance never below E_inh = -100 mV.
    lowest = {}
    for synapses in ("current", "conductance"):
        model = DiehlCook2015(
            n_inputs=4, n_neurons=2, step_time=0.5, presentation_time=5.0, min_spikes=0,
            inhibition=inhibition, synapses=synapses, inhibition_weight=1000.0,
            excitation_weight=1000.0,
        ).eval()  # fmt: skip
        with torch.no_grad():
            model.input_connection.weight.copy_(torch.tensor([[1.0] * 4, [0.0] * 4]))
            model.reset_state()
            voltages = []
            for _ in range(10):
                model.step(torch.ones(1, 4, dtype=torch.bool))
                voltages.append(float(model.excitatory_neurons.voltage[0, 1]))
        lowest[synapses] = min(voltages)
    assert lowest["current"] < -500.0
    assert -100.0 <= lowest["conductance"] < -90.0


def test_theta_increment_scales_with_the_neurons_from_its_reference_count() -> None:
    # 3.2 mV per spike for 100 neurons: 12.8 for 400, 0.8 for 25; without a reference, as given.
    for n, expected in ((400, 12.8), (25, 0.8), (100, 3.2)):
        model = DiehlCook2015(n_neurons=n, theta_increment=3.2, theta_reference_neurons=100)
        assert model.theta_increment == pytest.approx(expected)
        assert float(model.excitatory_neurons.spike_increment) == pytest.approx(expected)
    assert DiehlCook2015(n_neurons=400, theta_increment=3.2).theta_increment == 3.2


def test_paper_faithful_is_the_conductance_network_with_the_papers_values() -> None:
    model = DiehlCook2015.paper_faithful(n_neurons=10)
    hp = model.hparams
    assert (hp.synapses, hp.inhibition, hp.bound) == ("conductance", "population", "hard")
    assert (model.excitation_weight, model.inhibition_weight) == (10.4, 17.0)
    assert (hp.exc_reversal_v, hp.inh_reversal_v) == (0.0, -100.0)
    assert (hp.tc_exc_conductance, hp.tc_inh_conductance) == (1.0, 2.0)
    assert (hp.lr_post, hp.lr_pre, hp.theta_increment) == (0.01, 0.0001, 0.05)
    assert model.norm_total == pytest.approx(78.0)
    counts = model.respond(torch.rand(2, 784))
    assert counts.shape == (2, 10)


def test_an_update_keeps_weights_bounded_and_normalised() -> None:
    model = DiehlCook2015(**SMALL, min_spikes=0).train()
    before = model.input_connection.weight.detach().clone()
    inputs = tiny_data(8).tensors[0]
    with torch.no_grad():
        counts = model.respond(inputs)
        assert counts.sum() > 0
        assert updater_for(model.input_connection).step()
    weight = model.input_connection.weight
    assert not torch.equal(weight, before)
    assert weight.min() >= 0.0 and weight.max() <= 1.0
    torch.testing.assert_close(weight.sum(1), torch.full((6,), 4.0))
    # Theta grew where neurons fired and is frozen in evaluation.
    theta = model.excitatory_neurons.adaptation.clone()
    assert theta.max() > 0
    model.eval()
    with torch.no_grad():
        model.respond(inputs)
    assert torch.equal(model.excitatory_neurons.adaptation, theta)


def test_a_batch_update_is_the_mean_of_the_samples_updates() -> None:
    # Without theta (shared across the batch) the samples do not interact.
    model = DiehlCook2015(**{**SMALL, "theta_increment": 0.0}, min_spikes=0).train()
    accumulator = updater_for(model.input_connection)["weight"]
    spikes = (torch.rand(30, 2, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    pending = []
    with torch.no_grad():
        for part in (spikes, spikes[:, :1], spikes[:, 1:]):
            model.simulate(part)
            pending.append(accumulator.pending())
            accumulator.clear()
    for term in (0, 1):
        assert pending[1][term].abs().sum() > 0
        torch.testing.assert_close(pending[0][term], (pending[1][term] + pending[2][term]) / 2)


def test_too_few_spikes_presents_the_sample_again_at_a_higher_rate(monkeypatch) -> None:
    model = DiehlCook2015(**SMALL, min_spikes=10_000, max_boosts=2, boost_rate=50.0).eval()
    rates = []
    encode_at = model.encode_at
    monkeypatch.setattr(
        model, "encode_at", lambda x, rate: rates.append(rate) or encode_at(x, rate)
    )
    with torch.no_grad():
        model.respond(tiny_data(3).tensors[0])
    assert rates == [255.0, 305.0, 355.0]
    rates.clear()
    model.hparams.min_spikes = 0
    with torch.no_grad():
        model.respond(tiny_data(3).tensors[0])
    assert rates == [255.0]


def test_repeats_in_training_silence_the_samples_that_spiked_enough() -> None:
    model = DiehlCook2015(**SMALL, min_spikes=1, max_boosts=1).train()
    # Sample 0 drives the network, sample 1 is blank and can never spike.
    inputs = torch.stack([torch.ones(16), torch.zeros(16)])
    seen = []
    simulate = model.simulate
    model.simulate = lambda spikes, **kw: seen.append(spikes.sum((0, 2))) or simulate(spikes, **kw)
    with torch.no_grad():
        counts = model.respond(inputs)
    assert counts[0].sum() >= 1 and counts[1].sum() == 0
    assert len(seen) == 2 and seen[0][0] > 0 and seen[1][0] == 0  # sample 0 silenced in the repeat


def test_fit_one_batch_with_local_learning(tmp_path: Path) -> None:
    model = DiehlCook2015(**{**SMALL, "n_inputs": 64, "n_neurons": 10})
    before = model.input_connection.weight.detach().clone()
    callback = LocalLearning()
    run = trainer(tmp_path, callbacks=[callback], limit_train_batches=1, limit_val_batches=1)
    fit(run, model, datamodule=DigitsDataModule(batch_size=8))
    assert callback.steps == 1
    weight = model.input_connection.weight
    assert not torch.equal(weight, before)
    torch.testing.assert_close(weight.sum(1), torch.full((10,), 4.0))
    assert int(model.labelling.class_count.sum()) == 8
    assert model.val_accuracy.has_assignments
    assert 0.0 <= float(run.callback_metrics["val/accuracy"]) <= 1.0
    assert float(run.callback_metrics["train/spikes"]) >= 0.0


def test_checkpoint_trained_at_batch_8_runs_at_batch_1(tmp_path: Path) -> None:
    model = DiehlCook2015(**{**SMALL, "presentation_time": 60.0})
    data = DataLoader(tiny_data(16), batch_size=8)
    run = trainer(tmp_path, limit_val_batches=0)
    fit(run, model, data)
    path = tmp_path / "batch8.ckpt"
    run.save_checkpoint(path)
    trainer(tmp_path).validate(model, data, verbose=False)  # assigns labels from the table
    assigned = model.test_accuracy.assignments
    assert (assigned >= 0).sum() >= 2

    loaded = DiehlCook2015.load_from_checkpoint(path).eval()
    model.eval()
    for name in ("input_connection", "excitatory_neurons"):
        for (key, a), (_, b) in zip(
            getattr(model, name).state_dict().items(), getattr(loaded, name).state_dict().items(),
            strict=True,
        ):  # fmt: skip
            torch.testing.assert_close(a, b, msg=key)
    spikes = (torch.rand(60, 1, 16, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    with torch.no_grad():
        out_loaded, out_model = loaded.simulate(spikes), model.simulate(spikes)
    assert out_loaded.shape == (60, 1, 6)
    torch.testing.assert_close(out_loaded, out_model)
    assert loaded.excitatory_neurons.voltage.shape == (1, 6)
    # The response table was saved: the loaded model assigns the same labels from it.
    torch.testing.assert_close(loaded.labelling.response_sum, model.labelling.response_sum)
    loaded._refresh_assignments()
    assert torch.equal(loaded.test_accuracy.assignments, assigned)
    assert loaded.predict_labels(tiny_data(1).tensors[0]).shape == (1,)


def test_bad_arguments_are_named() -> None:
    for kwargs, message in [
        ({"n_neurons": 0}, "n_neurons must be a positive int"),
        ({"step_time": -1.0}, "step_time must be positive"),
        ({"presentation_time": 0.75}, "presentation_time must be a whole number of steps"),
        ({"inhibition": "global"}, "inhibition must be one of"),
        ({"exc_thresh_v": -70.0}, r"exc_thresh_v \(-70.0\) must be greater than exc_reset_v"),
        ({"norm_total": 1000.0}, "norm_total .* must be at most"),
        ({"weight_init_max": 2.0}, "weight_init_max .* must be at most w_max"),
        ({"bound": "power"}, "bound must be one of"),
        ({"max_rate": 2500.0}, "must be at most one spike per step"),
        ({"min_spikes": -1}, "min_spikes must be a non-negative int"),
        ({"synapses": "alpha"}, "synapses must be one of"),
        ({"inh_reversal_v": 10.0}, r"exc_reversal_v \(0.0\) must be greater than inh_reversal_v"),
        ({"tc_inh_conductance": 0.0}, "tc_inh_conductance must be positive"),
        ({"theta_reference_neurons": 0}, "theta_reference_neurons must be a positive int"),
    ]:
        with pytest.raises(ValueError, match=message):
            DiehlCook2015(**kwargs)
    model = DiehlCook2015(**SMALL)
    with pytest.raises(ValueError, match="n_inputs=16 elements per sample"):
        model.respond(torch.zeros(2, 15))
    with pytest.raises(ValueError, match=r"intensities in \[0, 1\]"):
        model.respond(torch.full((2, 16), 2.0))
    with pytest.raises(RuntimeError, match="no assignments"):
        model.predict_labels(torch.zeros(2, 16))


@pytest.mark.slow
def test_short_training_on_digits_beats_chance_clearly(tmp_path: Path) -> None:
    data = DigitsDataModule(batch_size=64)
    # The benchmark's settings at 100 neurons, 2 epochs.
    model = DiehlCook2015(
        n_inputs=64, n_neurons=100, step_time=1.0, presentation_time=100.0, max_rate=255.0,
        norm_total=12.7, inhibition_weight=40.0, lr_post=0.64, lr_pre=0.0064, theta_increment=6.4,
    )  # fmt: skip
    run = trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    fit(run, model, datamodule=data)
    (results,) = run.test(model, datamodule=data, verbose=False)
    assert results["test/accuracy"] > 0.6  # chance is 0.1
    assert math.isfinite(float(model.excitatory_neurons.adaptation.max()))


@pytest.mark.slow
def test_two_ranks_keep_identical_weights_thresholds_and_assignments(tmp_path: Path) -> None:
    from datetime import timedelta

    from inferno_lightning import LocalLearningDDPStrategy

    from ..lightning_models import SaveRankState

    images, labels = tiny_data(16).tensors
    images[0] = 0.0  # a blank sample never spikes: its rank asks for repeats, the other may not
    data = DataLoader(TensorDataset(images, labels), batch_size=4)
    strategy = LocalLearningDDPStrategy(
        start_method="spawn", process_group_backend="gloo", timeout=timedelta(seconds=60)
    )
    callbacks = [LocalLearning(), SaveRankState(str(tmp_path)), SaveAtEpochEnd(str(tmp_path))]
    run = trainer(tmp_path, devices=2, strategy=strategy, callbacks=callbacks)
    run.fit(DiehlCook2015(**SMALL, max_boosts=2), data, data)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for key in (
        "excitatory.connections.input.weight",
        "excitatory.neurons.excitatory.adaptation",
        "val_accuracy.assignments",
    ):
        assert torch.equal(rank0[key], rank1[key]), key
    # Each rank labels with its own 2 batches of 4; the checkpoint holds the sum of both.
    assert rank0["labelling.class_count"].sum() == rank1["labelling.class_count"].sum() == 8
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["state_dict"]
    for key in ("labelling.response_sum", "labelling.class_count"):
        torch.testing.assert_close(saved[key], rank0[key] + rank1[key])
