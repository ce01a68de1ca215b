"""RewardModulatedClassifier: the reward by hand, MSTDP/MSTDPET updates by hand, learning, checkpoints."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from inferno_lightning import LocalLearning
from inferno_lightning.data import DigitsDataModule
from inferno_lightning.learn import updater_for
from inferno_lightning.models.reward_modulated import (
    DEFAULT_SCALES,
    RewardModulatedClassifier,
    group_reward,
)

# Two inputs, two classes of one neuron each, no inhibition, no homeostasis, fixed reward values.
# At 1000 Hz with 1 ms steps an intensity of 1 spikes every step and 0 never: deterministic input.
HAND = dict(
    n_inputs=2, num_classes=2, neurons_per_class=1, on_off=False, step_time=1.0,
    presentation_time=3.0, max_rate=1000.0, inhibition_weight=0.0, theta_increment=0.0,
    adaptive_reward=False, w_max=20.0, weight_init_max=1.0, norm_total=20.0,
    lr_post=1.0, lr_pre=0.5, tc_post=20.0, tc_pre=20.0, tc_eligibility=25.0, scale=0.1,
)  # fmt: skip


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    options = dict(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
        max_epochs=1, num_sanity_val_steps=0, callbacks=[LocalLearning()],
    )  # fmt: skip
    options.update(kwargs)
    return pl.Trainer(**options)


def fit(run: pl.Trainer, model: RewardModulatedClassifier, *args, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*optimizer.*")  # local learning only
        run.fit(model, *args, **kwargs)


# ----------------------------------------------------------------------------- the reward


def test_group_reward_by_hand() -> None:
    # Two classes of two neurons: neurons 0, 1 are class 0; neurons 2, 3 class 1.
    spikes = torch.tensor(
        [
            [0, 1, 0, 0],  # class 0 wins the step, target 0: reward
            [1, 0, 1, 1],  # class 1 wins 2 to 1, target 0: punishment
            [0, 0, 0, 0],  # silence: 0
            [1, 0, 0, 1],  # a tie, 1 to 1: 0
            [0, 0, 1, 1],  # class 1 wins, target 1: reward
        ],
        dtype=torch.bool,
    )
    targets = torch.tensor([0, 0, 1, 1, 1])
    rewards = group_reward(spikes, targets, 2, reward=2.0, punishment=0.25)
    assert rewards.tolist() == [2.0, -0.25, 0.0, 0.0, 2.0]
    # Float spikes give the same; the defaults are +1 and -1.
    assert group_reward(spikes.float(), targets, 2).tolist() == [1.0, -1.0, 0.0, 0.0, 1.0]


def test_group_reward_compares_the_target_with_its_strongest_rival() -> None:
    # Three classes of one neuron: any one wrong group above the target punishes.
    spikes = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 0, 1]])
    assert group_reward(spikes, torch.tensor([2, 2, 2, 0]), 3).tolist() == [-1.0, 0.0, 0.0, -1.0]


def test_group_reward_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="multiple of num_classes=3"):
        group_reward(torch.zeros(2, 4), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"targets must be class indices in \[0, 2\)"):
        group_reward(torch.zeros(2, 4), torch.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match=r"targets must have shape \(batch,\) = \(2,\)"):
        group_reward(torch.zeros(2, 4), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="punishment must be non-negative"):
        group_reward(torch.zeros(2, 4), torch.tensor([0, 1]), 2, punishment=-1.0)


def test_adaptive_reward_values_follow_the_running_accuracy() -> None:
    model = RewardModulatedClassifier(**{**HAND, "adaptive_reward": True, "punishment": 0.5})
    assert float(model.hit_rate) == pytest.approx(0.5)  # chance for two classes
    with torch.no_grad():
        model.hit_rate.fill_(0.25)
    assert model.reward_values == pytest.approx((0.75, 0.125))
    fixed = RewardModulatedClassifier(**{**HAND, "punishment": 0.5})
    assert fixed.reward_values == (1.0, 0.5)


# --------------------------------------------------------------------- one update by hand


def reference_update(rule: str, reward: list[float]) -> torch.Tensor:
    r"""Florian's update of the HAND network for input (1, 0), worked through step by step.

    Input 0 spikes at t = 0, 1, 2, input 1 never. Output neuron 0 (weights
    14, 6) jumps 14 mV >= 13 mV at t = 0 and spikes, then is refractory;
    neuron 1 (weights 5, 15) reaches 5, 5 e^{-1/20} + 5 = 9.76,
    9.76 e^{-1/20} + 5 = 14.28 mV and spikes at t = 2. With cumulative
    traces including the current step,

        zeta_00(0) = lr_post - lr_pre                    (same-step pair)
        zeta_00(1) = -lr_pre e^{-1/tc_post}
        zeta_00(2) = -lr_pre e^{-2/tc_post}
        zeta_10(2) = lr_post (1 + e^{-1/tc_pre} + e^{-2/tc_pre}) - lr_pre

    and zeta is 0 elsewhere (input 1 never spikes). MSTDP: dw = scale sum_t r(t) zeta(t);
    MSTDPET: z(t) = z(t-1) e^{-dt/tc_z} + zeta(t)/tc_z, dw = scale sum_t r(t) z(t) dt.
    """
    post, pre, elig = HAND["tc_post"], HAND["tc_pre"], HAND["tc_eligibility"]
    lr_post, lr_pre, scale = HAND["lr_post"], HAND["lr_pre"], HAND["scale"]
    zeta = torch.zeros(3, 2, 2, dtype=torch.float64)  # (t, post i, pre j)
    zeta[0, 0, 0] = lr_post - lr_pre
    zeta[1, 0, 0] = -lr_pre * math.exp(-1 / post)
    zeta[2, 0, 0] = -lr_pre * math.exp(-2 / post)
    zeta[2, 1, 0] = lr_post * (1 + math.exp(-1 / pre) + math.exp(-2 / pre)) - lr_pre
    if rule == "mstdp":
        return scale * sum(reward[t] * zeta[t] for t in range(3))
    z = torch.zeros(2, 2, dtype=torch.float64)
    total = torch.zeros(2, 2, dtype=torch.float64)
    for t in range(3):
        z = z * math.exp(-1 / elig) + zeta[t] / elig
        total += reward[t] * z * 1.0
    return scale * total


@pytest.mark.parametrize("rule", ["mstdp", "mstdpet"])
def test_one_presentation_changes_the_weights_as_the_rule_predicts(rule: str) -> None:
    model = RewardModulatedClassifier(**HAND, rule=rule, punishment=0.5).train()
    start = torch.tensor([[14.0, 6.0], [5.0, 15.0]])  # rows already sum to norm_total = 20
    with torch.no_grad():
        model.input_connection.weight.copy_(start)
        counts = model.present(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert counts.tolist() == [[1.0, 1.0]]
    # Target 0: neuron 0 (class 0) wins t = 0, silence at t = 1, neuron 1 (class 1) wins t = 2.
    expected = reference_update(rule, [1.0, 0.0, -0.5])
    if rule == "mstdp":  # the closed form, for the record
        decay = math.exp(-1 / 20)
        assert expected[0, 0].item() == pytest.approx(0.1 * (1.0 - 0.5 + 0.5 * 0.5 * decay**2))
        assert expected[1, 0].item() == pytest.approx(-0.1 * 0.5 * ((1 + decay + decay**2) - 0.5))
    accumulator = updater_for(model.input_connection)["weight"]
    potentiation, depression = accumulator.pending()
    change = potentiation if depression is None else potentiation - depression
    torch.testing.assert_close(change, expected.float())
    # Applied: clamped to [0, 20], then each row scaled to sum to 20 again.
    assert updater_for(model.input_connection).step()
    moved = start + expected.float()
    torch.testing.assert_close(
        model.input_connection.weight.detach(), moved * 20.0 / moved.sum(1, keepdim=True)
    )


@pytest.mark.parametrize("rule", ["mstdp", "mstdpet"])
def test_the_update_flips_sign_with_the_reward(rule: str) -> None:
    changes = []
    for target in (0, 1):  # target 1: the same spikes, every reward negated
        model = RewardModulatedClassifier(**HAND, rule=rule).train()
        with torch.no_grad():
            model.input_connection.weight.copy_(torch.tensor([[14.0, 6.0], [5.0, 15.0]]))
            model.present(torch.tensor([[1.0, 0.0]]), torch.tensor([target]))
        potentiation, depression = updater_for(model.input_connection)["weight"].pending()
        changes.append(potentiation if depression is None else potentiation - depression)
    torch.testing.assert_close(changes[0], reference_update(rule, [1.0, 0.0, -1.0]).float())
    assert changes[0].abs().sum() > 0
    torch.testing.assert_close(changes[1], -changes[0])


def test_the_first_to_spike_inhibits_the_other() -> None:
    # As in the hand-worked update, neuron 0 spikes at t = 0 and neuron 1 would at t = 2; 3 mV of
    # inhibition at t = 1 leaves neuron 1 at 14.28 - 3 e^{-1/20} = 11.43 mV above rest at t = 2.
    counts = []
    for inhibition in (0.0, 3.0):
        model = RewardModulatedClassifier(**{**HAND, "inhibition_weight": inhibition}).eval()
        with torch.no_grad():
            model.input_connection.weight.copy_(torch.tensor([[14.0, 6.0], [5.0, 15.0]]))
            counts.append(model.present(torch.tensor([[1.0, 0.0]])).tolist())
    assert counts == [[[1, 1]], [[1, 0]]]


def test_default_learning_rate_per_rule() -> None:
    assert RewardModulatedClassifier(n_inputs=4).scale == DEFAULT_SCALES["mstdp"]
    assert RewardModulatedClassifier(n_inputs=4, rule="mstdpet").scale == DEFAULT_SCALES["mstdpet"]
    assert RewardModulatedClassifier(n_inputs=4, scale=0.5).rule.defaults["scale"] == 0.5


def test_training_needs_targets_and_evaluation_does_not() -> None:
    model = RewardModulatedClassifier(**HAND).train()
    with pytest.raises(RuntimeError, match="needs targets in training mode"):
        model.present(torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        model.present(torch.ones(1, 2), torch.tensor([2]))
    model.eval()
    assert model.present(torch.ones(3, 2)).shape == (3, 2)
    assert model.predict_labels(torch.tensor([[1.0, 0.0]])).tolist() == [0]  # tie 1:1 -> lowest


# ------------------------------------------------------------------------------ Lightning


def tiny_data(size: int = 16, n_inputs: int = 16) -> TensorDataset:
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(size, n_inputs, generator=generator)
    return TensorDataset(images, torch.arange(size) % 4)


TINY = dict(
    n_inputs=16, num_classes=4, neurons_per_class=2, presentation_time=20.0, norm_total=9.6,
)  # fmt: skip


def test_fit_one_batch_applies_once_and_tracks_the_hit_rate(tmp_path: Path) -> None:
    model = RewardModulatedClassifier(**TINY)
    before = model.input_connection.weight.detach().clone()
    callback = LocalLearning()
    run = trainer(tmp_path, callbacks=[callback], limit_train_batches=1, limit_val_batches=1)
    data = DataLoader(tiny_data(8), batch_size=8)
    fit(run, model, data, data)
    assert callback.steps == 1
    weight = model.input_connection.weight
    assert (weight - before).abs().max() > 1e-3
    assert weight.min() >= 0.0 and weight.max() <= 1.0
    torch.testing.assert_close(weight.sum(1), torch.full((8,), 9.6))
    metrics = run.callback_metrics
    # h <- 0.9 h + 0.1 acc, from chance 1/4, with this batch's accuracy.
    assert float(model.hit_rate) == pytest.approx(
        0.9 * 0.25 + 0.1 * float(metrics["train/accuracy"])
    )
    assert -1.0 <= float(metrics["train/reward"]) <= 1.0
    assert 0.0 <= float(metrics["val/accuracy"]) <= 1.0


def test_checkpoint_round_trip_keeps_weights_thresholds_and_hit_rate(tmp_path: Path) -> None:
    model = RewardModulatedClassifier(**TINY, rule="mstdpet", seed=2)
    data = DataLoader(tiny_data(16), batch_size=8)
    run = trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    fit(run, model, data)
    path = tmp_path / "batch8.ckpt"
    run.save_checkpoint(path)
    assert float(model.output_neurons.adaptation.max()) > 0  # thresholds adapted
    assert float(model.hit_rate) != pytest.approx(0.25)  # the running accuracy moved

    loaded = RewardModulatedClassifier.load_from_checkpoint(path)
    assert loaded.hparams.rule == "mstdpet" and loaded.hparams.seed == 2
    state, restored = model.state_dict(), loaded.state_dict()
    assert set(state) == set(restored)
    for key in state:
        torch.testing.assert_close(restored[key], state[key], msg=key)
    # Trained at batch 8, runs at batch 1 with the same responses.
    loaded.eval()
    model.eval()
    spikes = torch.rand(20, 1, 32, generator=torch.Generator().manual_seed(1)) < 0.3
    with torch.no_grad():
        torch.testing.assert_close(loaded.simulate(spikes), model.simulate(spikes))
    assert loaded.output_neurons.voltage.shape == (1, 8)


def test_short_training_on_digits_beats_chance_clearly(tmp_path: Path) -> None:
    data = DigitsDataModule(batch_size=32)
    model = RewardModulatedClassifier(n_inputs=64, neurons_per_class=5)
    run = trainer(tmp_path, max_epochs=3)
    fit(run, model, datamodule=data)
    # Measured 0.778 on validation (0.764 and 0.756 with seeds 1 and 2) after 3 epochs; chance 0.1.
    assert float(run.callback_metrics["val/accuracy"]) > 0.6
    assert float(model.hit_rate) > 0.4


@pytest.mark.slow
def test_two_ranks_keep_identical_weights_thresholds_and_hit_rate(tmp_path: Path) -> None:
    from datetime import timedelta

    from inferno_lightning import LocalLearningDDPStrategy

    from ..lightning_models import SaveRankState

    data = DataLoader(tiny_data(16), batch_size=4)
    strategy = LocalLearningDDPStrategy(
        start_method="spawn", process_group_backend="gloo", timeout=timedelta(seconds=60)
    )
    callbacks = [LocalLearning(), SaveRankState(str(tmp_path))]
    run = trainer(tmp_path, devices=2, strategy=strategy, callbacks=callbacks, limit_val_batches=0)
    run.fit(RewardModulatedClassifier(**TINY), data)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for key in ("layer.connections.input.weight", "layer.neurons.output.adaptation", "hit_rate"):
        assert torch.equal(rank0[key], rank1[key]), key
    # Each rank saw different samples, yet both moved h by the accuracy over both ranks.
    assert float(rank0["hit_rate"]) != pytest.approx(0.25)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_inputs": 0}, "n_inputs must be a positive int"),
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"neurons_per_class": 2.5}, "neurons_per_class must be a positive int"),
        ({"rule": "rstdp"}, "rule must be one of"),
        ({"on_off": 1}, "on_off must be a bool"),
        ({"step_time": 0.0}, "step_time must be positive"),
        ({"presentation_time": 10.5}, "presentation_time must be a whole number of steps"),
        ({"max_rate": 2000.0}, "max_rate must be at most one spike per step"),
        ({"thresh_v": -70.0}, r"thresh_v \(-70.0\) must be greater than reset_v"),
        ({"tc_eligibility": -1.0}, "tc_eligibility must be positive"),
        ({"inhibition_weight": -1.0}, "inhibition_weight must be non-negative"),
        ({"punishment": -0.5}, "punishment must be non-negative"),
        ({"hit_rate_smoothing": 1.5}, r"hit_rate_smoothing must be in \(0, 1\]"),
        ({"lr_post": math.nan}, "lr_post must be finite"),
        ({"scale": 0.0}, "scale must be positive"),
        ({"weight_init_max": 2.0}, r"weight_init_max \(2.0\) must be at most w_max"),
        ({"n_inputs": 64, "norm_total": 200.0}, r"norm_total \(200.0\) must be at most w_max"),
        ({"n_inputs": 64, "w_max": 0.04, "weight_init_max": 0.01}, r"\(6.4 by default\) must be"),
        ({"bound": "power"}, "bound must be one of"),
        ({"trace_mode": "triplet"}, "trace_mode must be one of"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RewardModulatedClassifier(**kwargs)


def test_bad_inputs_are_named() -> None:
    model = RewardModulatedClassifier(**HAND).eval()
    with pytest.raises(ValueError, match="n_inputs=2 elements per sample"):
        model.present(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"intensities in \[0, 1\]"):
        model.present(torch.full((2, 2), 1.5))
