"""Spike-rate and label-assignment metrics against hand-computed numbers, on 1 and 2 ranks."""

from __future__ import annotations

import os
import pickle
import socket
from datetime import timedelta
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from inferno_lightning import LocalLearning
from inferno_lightning.metrics import (
    Assignments,
    LabelAssignment,
    LabelAssignmentAccuracy,
    SpikeRate,
    assign_labels,
    predict_labels,
)

from .lightning_models import SpikeTrains, STDPNet

# A labelling pass: 3 classes, 6 neurons, 6 samples (1 of class 0, 2 of class 1, 3 of class 2).
# The first three samples go to rank 0, the last three to rank 1 (which sees no class 0).
TRAIN_COUNTS = torch.tensor(
    [
        [4, 0, 3, 2, 0, 0],  # class 0
        [0, 1, 2, 0, 0, 0],  # class 1
        [0, 0, 5, 2, 0, 1],  # class 2
        [0, 3, 4, 0, 0, 0],  # class 1
        [0, 0, 3, 4, 0, 0],  # class 2
        [0, 0, 4, 0, 0, 2],  # class 2
    ],
    dtype=torch.float32,
)
TRAIN_LABELS = torch.tensor([0, 1, 2, 1, 2, 2])
# Mean response per class (sum / number of samples of the class).
MEAN_RESPONSE = torch.tensor(
    [
        [4, 0, 3, 2, 0, 0],
        [0, 2, 3, 0, 0, 0],
        [0, 0, 4, 2, 0, 1],
    ],
    dtype=torch.float64,
)
# Neuron 3 ties classes 0 and 2 (mean 2 each) -> the lower class, 0. Its summed counts
# (2, 0, 6) would have given class 2: the assignment uses means. Neuron 4 never fired: -1.
ASSIGNMENTS = torch.tensor([0, 1, 2, 0, -1, 2])
# Mean response to the assigned class / total mean response: 4/4, 2/2, 4/10, 2/4, 0, 1/1.
PROPORTIONS = torch.tensor([1.0, 1.0, 0.4, 0.5, 0.0, 1.0], dtype=torch.float64)

# Class 0: neurons {0, 3}; class 1: {1}; class 2: {2, 5}.
# vote:       s0 = (k0 + k3) / 2,          s1 = k1,  s2 = (k2 + k5) / 2
# proportion: s0 = (k0 + 0.5 k3) / 2,      s1 = k1,  s2 = (0.4 k2 + k5) / 2
TEST_COUNTS = torch.tensor(
    [
        [3, 0, 1, 1, 5, 0],  # vote (2, 0, .5) -> 0;      proportion (1.75, 0, .2) -> 0
        [0, 2, 6, 0, 0, 0],  # vote (0, 2, 3) -> 2;       proportion (0, 2, 1.2) -> 1
        [0, 0, 2, 0, 0, 1],  # vote (0, 0, 1.5) -> 2;     proportion (0, 0, .9) -> 2
        [2, 2, 0, 2, 0, 0],  # vote (2, 2, 0) tie -> 0;   proportion (1.5, 2, 0) -> 1
        [0, 0, 0, 0, 3, 0],  # only the unassigned neuron fired: no vote, -1
        [0, 0, 0, 4, 0, 0],  # vote (2, 0, 0) -> 0;       proportion (1, 0, 0) -> 0
    ],
    dtype=torch.float32,
)
TEST_LABELS = torch.tensor([0, 1, 2, 1, 0, 2])
VOTE_PREDICTIONS = torch.tensor([0, 2, 2, 0, -1, 0])
PROPORTION_PREDICTIONS = torch.tensor([0, 1, 2, 1, -1, 0])
VOTE_ACCURACY = 2 / 6  # samples 0 and 2
PROPORTION_ACCURACY = 4 / 6  # samples 0, 1, 2 and 3


def labelled(device: torch.device | str = "cpu") -> LabelAssignment:
    labelling = LabelAssignment(num_classes=3, shape=6).to(device)
    labelling.update(TRAIN_COUNTS.to(device), TRAIN_LABELS.to(device))
    return labelling


# ------------------------------------------------------------------------ spike rate
def test_spike_rate_from_counts_and_trains_in_hz() -> None:
    per_neuron = SpikeRate(2, step_time=1.0, reduce="none")
    mean = SpikeRate(2, step_time=1.0)
    # 2 samples for 250 ms: neuron 0 fired 3 + 1 times in 0.5 s -> 8 Hz, neuron 1 2 times -> 4 Hz.
    counts = torch.tensor([[3, 0], [1, 2]])
    for metric in (per_neuron, mean):
        metric.update(counts, duration=250.0)
    torch.testing.assert_close(per_neuron.compute(), torch.tensor([8.0, 4.0], dtype=torch.float64))
    assert mean.compute().item() == pytest.approx(6.0)

    # Spike trains (T=10 steps of 1 ms, 1 sample): 1 and 3 spikes in 10 ms -> 100 and 300 Hz.
    trains = torch.zeros(10, 1, 2, dtype=torch.bool)
    trains[4, 0, 0] = True
    trains[[1, 5, 9], 0, 1] = True
    alone = SpikeRate(2, step_time=1.0, reduce="none")
    alone.update(trains)
    torch.testing.assert_close(alone.compute(), torch.tensor([100.0, 300.0], dtype=torch.float64))
    # Added to the counts: 5 spikes each in 500 + 10 ms of observed time.
    per_neuron.update(trains)
    mean.update(trains)
    torch.testing.assert_close(per_neuron.compute(), torch.full((2,), 5000.0 / 510.0).double())
    assert mean.compute().item() == pytest.approx(5000.0 / 510.0)
    # An explicit duration overrides T * step_time: 1 and 3 spikes in 20 ms -> mean of 50, 150 Hz.
    longer = SpikeRate(2)
    longer.update(trains, duration=20.0)
    assert longer.compute().item() == pytest.approx(100.0)


def test_spike_rate_batch_value_and_multidimensional_group() -> None:
    rate = SpikeRate((2, 2), reduce="none")
    counts = torch.tensor([[[1.0, 0.0], [2.0, 4.0]]])
    # forward returns this batch's rates: counts over 100 ms.
    torch.testing.assert_close(
        rate(counts, 100.0), torch.tensor([[10.0, 0.0], [20.0, 40.0]], dtype=torch.float64)
    )
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert torch.isnan(SpikeRate(3).compute())


def test_spike_rate_bad_input_names_the_argument_and_changes_nothing() -> None:
    rate = SpikeRate(3)
    with pytest.raises(ValueError, match=r"spikes must have shape \(batch, 3\), got \(2, 4\)"):
        rate.update(torch.ones(2, 4), 10.0)
    with pytest.raises(ValueError, match=r"spikes must be counts \(batch, 3\) or spike trains"):
        rate.update(torch.ones(2, 2, 2, 3), 10.0)
    with pytest.raises(ValueError, match="spikes must be non-negative"):
        rate.update(torch.tensor([[1.0, -1.0, 0.0]]), 10.0)
    with pytest.raises(ValueError, match="spikes must be finite"):
        rate.update(torch.tensor([[1.0, float("nan"), 0.0]]), 10.0)
    with pytest.raises(ValueError, match="duration must be given"):
        rate.update(torch.ones(2, 3))
    with pytest.raises(ValueError, match="duration must be given .* no step_time"):
        rate.update(torch.ones(5, 2, 3))
    with pytest.raises(
        ValueError, match=r"duration must be positive and finite \(in ms\), got 0.0"
    ):
        rate.update(torch.ones(2, 3), 0.0)
    assert rate.spike_sum.sum().item() == 0.0 and rate.time_sum.item() == 0.0
    with pytest.raises(ValueError, match=r"reduce must be one of \['mean', 'none'\]"):
        SpikeRate(3, reduce="sum")
    with pytest.raises(ValueError, match="step_time must be positive"):
        SpikeRate(3, step_time=-1.0)
    with pytest.raises(ValueError, match="shape must contain positive sizes"):
        SpikeRate(0)


# -------------------------------------------------------------- label assignment
def test_assignments_from_a_hand_made_response_table(device: torch.device) -> None:
    assignments = labelled(device).compute()
    assert isinstance(assignments, Assignments)
    assert torch.equal(assignments.labels.cpu(), ASSIGNMENTS)
    torch.testing.assert_close(assignments.proportions.cpu(), PROPORTIONS)
    torch.testing.assert_close(assignments.mean_response.cpu(), MEAN_RESPONSE)
    assert assignments.labels.device.type == device.type


@pytest.mark.parametrize(
    ("weighting", "predictions", "accuracy"),
    [("vote", VOTE_PREDICTIONS, VOTE_ACCURACY),
     ("proportion", PROPORTION_PREDICTIONS, PROPORTION_ACCURACY)],
)  # fmt: skip
def test_predictions_and_accuracy_by_vote_and_by_proportion(
    device: torch.device, weighting: str, predictions: torch.Tensor, accuracy: float
) -> None:
    metric = LabelAssignmentAccuracy(3, 6, weighting=weighting).to(device)
    metric.set_assignments(labelled(device).compute())
    assert torch.equal(metric.predict(TEST_COUNTS.to(device)).cpu(), predictions)
    # In two batches: the states are sums.
    metric.update(TEST_COUNTS[:4].to(device), TEST_LABELS[:4].to(device))
    metric.update(TEST_COUNTS[4:].to(device), TEST_LABELS[4:].to(device))
    assert metric.compute().item() == pytest.approx(accuracy)
    metric.reset()  # keeps the assignments
    assert metric.has_assignments
    metric.update(TEST_COUNTS[:1].to(device), TEST_LABELS[:1].to(device))
    assert metric.compute().item() == 1.0


def test_pure_functions_on_a_multidimensional_neuron_group() -> None:
    shape = (2, 3)
    assignments = assign_labels(
        TRAIN_COUNTS.new_zeros(3, 6).index_add_(0, TRAIN_LABELS, TRAIN_COUNTS).reshape(3, *shape),
        torch.bincount(TRAIN_LABELS, minlength=3),
    )
    assert torch.equal(assignments.labels, ASSIGNMENTS.reshape(shape))
    counts = TEST_COUNTS.reshape(6, *shape)
    assert torch.equal(predict_labels(counts, assignments.labels, 3), VOTE_PREDICTIONS)
    assert torch.equal(
        predict_labels(counts, assignments.labels, 3, assignments.proportions),
        PROPORTION_PREDICTIONS,
    )
    # A class without samples gets no neuron; no assignment at all means no vote.
    empty = assign_labels(torch.zeros(3, 4), torch.zeros(3))
    assert torch.equal(empty.labels, torch.full((4,), -1))
    assert torch.equal(predict_labels(torch.ones(2, 4), empty.labels, 3), torch.tensor([-1, -1]))


def test_bare_labels_state_dict_and_pickle_keep_the_assignments() -> None:
    vote = LabelAssignmentAccuracy(3, 6)
    vote.set_assignments(ASSIGNMENTS)  # bare labels: enough to vote
    assert torch.equal(vote.predict(TEST_COUNTS), VOTE_PREDICTIONS)

    metric = LabelAssignmentAccuracy(3, 6, weighting="proportion")
    metric.set_assignments(ASSIGNMENTS, PROPORTIONS)
    restored = LabelAssignmentAccuracy(3, 6, weighting="proportion")
    assert not restored.has_assignments
    restored.load_state_dict(metric.state_dict())
    assert restored.has_assignments
    assert torch.equal(restored.predict(TEST_COUNTS), PROPORTION_PREDICTIONS)

    labelling = pickle.loads(pickle.dumps(labelled()))
    copy = pickle.loads(pickle.dumps(metric))
    copy.set_assignments(labelling.compute())
    copy.update(TEST_COUNTS, TEST_LABELS)
    assert copy.compute().item() == pytest.approx(PROPORTION_ACCURACY)


def test_label_assignment_bad_input_names_the_argument_and_changes_nothing() -> None:
    labelling = LabelAssignment(3, 6)
    counts = torch.ones(2, 6)
    with pytest.raises(
        ValueError, match=r"labels must be class indices in \[0, 3\), got .* 0 to 3"
    ):
        labelling.update(counts, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\)"):
        labelling.update(counts, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(batch,\) = \(2,\)"):
        labelling.update(counts, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        labelling.update(counts, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"counts must have shape \(batch, 6\), got \(2, 5\)"):
        labelling.update(torch.ones(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="counts must be non-negative"):
        labelling.update(-counts, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="counts must be finite"):
        labelling.update(counts / 0, torch.tensor([0, 1]))
    assert labelling.response_sum.abs().sum().item() == 0.0
    assert labelling.class_count.sum().item() == 0.0
    with pytest.raises(ValueError, match="num_classes must be a positive int, got 0"):
        LabelAssignment(0, 6)
    with pytest.raises(ValueError, match=r"weighting must be one of \['vote', 'proportion'\]"):
        LabelAssignmentAccuracy(3, 6, weighting="max")


def test_accuracy_bad_input_names_the_argument_and_changes_nothing() -> None:
    metric = LabelAssignmentAccuracy(3, 6, weighting="proportion")
    with pytest.raises(RuntimeError, match="has no assignments: call set_assignments"):
        metric.update(TEST_COUNTS, TEST_LABELS)
    with pytest.raises(ValueError, match=r"assignments must have shape \(6,\), got \(5,\)"):
        metric.set_assignments(ASSIGNMENTS[:5], PROPORTIONS[:5])
    with pytest.raises(ValueError, match=r"assignments must be class indices in \[0, 3\) or -1"):
        metric.set_assignments(torch.tensor([0, 1, 2, 3, -1, 2]), PROPORTIONS)
    with pytest.raises(ValueError, match='proportions must be given for weighting="proportion"'):
        metric.set_assignments(ASSIGNMENTS)
    with pytest.raises(ValueError, match=r"proportions must lie in \[0, 1\]"):
        metric.set_assignments(ASSIGNMENTS, PROPORTIONS * 3)
    assert not metric.has_assignments
    metric.set_assignments(ASSIGNMENTS, PROPORTIONS)
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\)"):
        metric.update(TEST_COUNTS, TEST_LABELS + 1)
    with pytest.raises(ValueError, match=r"counts must have shape \(batch, 6\), got \(6, 4\)"):
        metric.update(TEST_COUNTS[:, :4], TEST_LABELS)
    assert metric.total.item() == 0.0 and metric.correct.item() == 0.0


# ------------------------------------------------------------------- two ranks
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_readout(rank: int, world_size: int, port: int, folder: str) -> None:
    """One rank: label with its half of the samples, then score its half of the test set."""
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
        timeout=timedelta(seconds=60),
    )  # fmt: skip
    try:
        half = slice(3 * rank, 3 * rank + 3)
        labelling = LabelAssignment(3, 6)
        labelling.update(TRAIN_COUNTS[half], TRAIN_LABELS[half])
        assignments = labelling.compute()
        results = {"assignments": assignments, "local_count": labelling.class_count.clone()}
        for weighting in ("vote", "proportion"):
            accuracy = LabelAssignmentAccuracy(3, 6, weighting=weighting)
            accuracy.set_assignments(assignments)
            accuracy.update(TEST_COUNTS[half], TEST_LABELS[half])
            results[weighting] = accuracy.compute()
        rate = SpikeRate(6, reduce="none")
        rate.update(TRAIN_COUNTS[half], 50.0)
        results["rate"] = rate.compute()
        torch.save(results, f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture
def restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
@pytest.mark.usefixtures("restore_environment")
def test_two_ranks_with_half_the_samples_each_equal_one_process(tmp_path: Path) -> None:
    mp.spawn(_rank_readout, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for result in (rank0, rank1):
        assert torch.equal(result["assignments"].labels, ASSIGNMENTS)
        torch.testing.assert_close(result["assignments"].proportions, PROPORTIONS)
        torch.testing.assert_close(result["assignments"].mean_response, MEAN_RESPONSE)
        assert result["vote"].item() == pytest.approx(VOTE_ACCURACY)
        assert result["proportion"].item() == pytest.approx(PROPORTION_ACCURACY)
        # Each neuron's spikes in all 6 samples over 6 x 50 ms.
        torch.testing.assert_close(
            result["rate"], 1000.0 * TRAIN_COUNTS.sum(0).double() / (6 * 50.0)
        )
    for key in ("vote", "proportion", "rate"):
        assert torch.equal(rank0[key], rank1[key])
    for field in ("labels", "proportions", "mean_response"):
        assert torch.equal(
            getattr(rank0["assignments"], field), getattr(rank1["assignments"], field)
        )
    # compute() synced a copy: each rank's own table is kept to accumulate on.
    assert torch.equal(rank0["local_count"], torch.tensor([1.0, 1.0, 1.0]).double())
    assert torch.equal(rank1["local_count"], torch.tensor([0.0, 1.0, 2.0]).double())


# ------------------------------------------------------------------ in a model
class ReadoutNet(STDPNet):
    """STDPNet with the label-assignment readout wired as the metrics module documents."""

    def configure_metrics(self) -> None:
        self.labelling = LabelAssignment(num_classes=3, shape=self.hparams.n_out)
        self.val_accuracy = LabelAssignmentAccuracy(3, self.hparams.n_out, weighting="proportion")

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        inputs, targets = self.unpack_batch(batch)
        self.labelling.update(self(inputs).sum(0), targets)

    def on_train_epoch_start(self) -> None:
        self.labelling.reset()

    def on_validation_epoch_start(self) -> None:
        self.val_accuracy.set_assignments(self.labelling.compute())

    def validation_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        inputs, targets = self.unpack_batch(batch)
        self.val_accuracy.update(self(inputs).sum(0), targets)
        self.log("val/accuracy", self.val_accuracy, on_epoch=True)


def test_readout_in_a_lightning_fit(tmp_path: Path) -> None:
    model = ReadoutNet()
    data = SpikeTrains(size=6)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
        max_epochs=1, num_sanity_val_steps=1, callbacks=[LocalLearning()],
    )  # fmt: skip
    # The sanity check labels with an empty table: torchmetrics warns, nothing is assigned.
    with pytest.warns(UserWarning, match="before the ``update``"):
        trainer.fit(model, DataLoader(data, batch_size=3), DataLoader(data, batch_size=3))
    assert model.labelling.class_count.tolist() == [2.0, 2.0, 2.0]

    # The logged accuracy is the readout of the epoch's table on the trained network.
    model.eval()
    assignments = model.labelling.compute()
    assert (assignments.labels >= 0).any()
    with torch.no_grad():
        counts = torch.cat([model(x).sum(0) for x, _ in DataLoader(data, batch_size=3)])
    labels = torch.stack([data[i][1] for i in range(len(data))])
    predictions = predict_labels(counts, assignments.labels, 3, assignments.proportions)
    expected = (predictions == labels).double().mean()
    assert trainer.callback_metrics["val/accuracy"].item() == pytest.approx(expected.item())
