"""Multi-device equivalence (DESIGN.md invariants 1 and 4) with 2 CPU ranks over gloo.

Spawn-based, with a short process-group timeout; Lightning picks a free port.
The environment variables the launcher sets are restored afterwards.
"""

from __future__ import annotations

import copy
import os
from datetime import timedelta
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from inferno_lightning import LocalLearning, LocalLearningDDPStrategy
from inferno_lightning.data import EpochShuffleSampler

from .lightning_models import MixedNet, SaveRankState, SpikeTrains, STDPNet

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def options(tmp_path: Path, **kwargs) -> dict:
    base = dict(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, default_root_dir=tmp_path, max_epochs=1,
        use_distributed_sampler=False,
    )  # fmt: skip
    base.update(kwargs)
    return base


def spawn_strategy() -> LocalLearningDDPStrategy:
    return LocalLearningDDPStrategy(
        start_method="spawn", process_group_backend="gloo", timeout=timedelta(seconds=60)
    )


def test_registered_names_resolve_to_the_local_learning_strategy() -> None:
    for name, method in [("ddp_local", "popen"), ("ddp_local_spawn", "spawn"),
                         ("ddp_local_notebook", "fork")]:  # fmt: skip
        trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=name, logger=False)
        assert isinstance(trainer.strategy, LocalLearningDDPStrategy)
        assert trainer.strategy._start_method == method
        assert trainer.strategy._ddp_kwargs["broadcast_buffers"] is False
    with pytest.raises(ValueError, match="broadcast_buffers must be False"):
        LocalLearningDDPStrategy(broadcast_buffers=True)


def test_two_ranks_equal_one_process_with_double_batch(tmp_path: Path) -> None:
    model = STDPNet()
    reference = copy.deepcopy(model)
    initial = model.layer.connection.weight.detach().clone()
    data = SpikeTrains(size=16)

    # Shuffled, two epochs (two orders), Lightning's distributed sampler setting left on: the
    # project's sampler hands each rank its slice of the one-process global batch.
    with pytest.warns(UserWarning, match="no optimizer"):
        pl.Trainer(devices=1, callbacks=[LocalLearning()],
                   **options(tmp_path / "one", max_epochs=2, use_distributed_sampler=True)).fit(
            reference, DataLoader(data, batch_size=8, sampler=EpochShuffleSampler(16, seed=3))
        )  # fmt: skip

    pl.Trainer(
        devices=2, strategy=spawn_strategy(),
        callbacks=[LocalLearning(), SaveRankState(str(tmp_path))],
        **options(tmp_path / "two", max_epochs=2, use_distributed_sampler=True),
    ).fit(model, DataLoader(data, batch_size=4,
                            sampler=EpochShuffleSampler(16, seed=3, batch_size=4)))  # fmt: skip

    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    weight_key = "layer.connections.connection.weight"
    theta_key = "layer.neurons.neuron.adaptation"
    # Every replica identical, and equal to one process with the whole batch.
    assert torch.equal(rank0[weight_key], rank1[weight_key])
    assert torch.equal(rank0[theta_key], rank1[theta_key])
    assert not torch.equal(rank0[weight_key], initial)
    torch.testing.assert_close(
        rank0[weight_key], reference.layer.connection.weight.detach(), rtol=0, atol=1e-5
    )
    torch.testing.assert_close(
        rank0[theta_key], reference.layer.neuron.adaptation, rtol=0, atol=1e-5
    )
    # Per-sample state stays on its rank: the sampler gives rank r the r-th half of each global
    # batch; their last voltages match the reference's rows.
    voltage = "layer.neurons.neuron.voltage"
    reference_voltage = reference.layer.neuron.voltage
    torch.testing.assert_close(rank0[voltage], reference_voltage[:4], rtol=0, atol=1e-4)
    torch.testing.assert_close(rank1[voltage], reference_voltage[4:], rtol=0, atol=1e-4)
    assert not torch.equal(rank0[voltage], rank1[voltage])


def test_gradient_and_local_learning_under_ddp_equal_one_process(tmp_path: Path) -> None:
    # The STDP-trained hidden weight requires a gradient and sits in the optimizer, as a user
    # writes it; before the fix DDP raised "parameters that were not used in producing the loss".
    model = MixedNet()
    assert model.hidden.connection.weight.requires_grad
    reference = copy.deepcopy(model)
    data = SpikeTrains(size=8)
    pl.Trainer(devices=1, callbacks=[LocalLearning()],
               **options(tmp_path / "one", use_distributed_sampler=True)).fit(
        reference, DataLoader(data, batch_size=4, sampler=EpochShuffleSampler(8, seed=1))
    )  # fmt: skip
    assert not reference.hidden.connection.weight.requires_grad
    assert reference.readout.connection.weight.requires_grad
    pl.Trainer(
        devices=2, strategy=spawn_strategy(),
        callbacks=[LocalLearning(), SaveRankState(str(tmp_path))],
        **options(tmp_path / "two", use_distributed_sampler=True),
    ).fit(model, DataLoader(data, batch_size=2,
                            sampler=EpochShuffleSampler(8, seed=1, batch_size=2)))  # fmt: skip

    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    for key, expected in [
        ("readout.connections.connection.weight", reference.readout.connection.weight),
        ("hidden.connections.connection.weight", reference.hidden.connection.weight),
    ]:
        assert torch.equal(rank0[key], rank1[key]), key
        torch.testing.assert_close(rank0[key], expected.detach(), rtol=0, atol=1e-5)


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import lightning.pytorch as pl
from datetime import timedelta
from torch.utils.data import DataLoader
from inferno_lightning import LocalLearning, LocalLearningDDPStrategy
from tests.lightning_models import RankInterleaved, SaveRankState, SpikeTrains, STDPNet

if __name__ == "__main__":
    strategy = LocalLearningDDPStrategy(start_method={method!r}, process_group_backend="gloo",
                                        timeout=timedelta(seconds=60))
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, max_epochs=1, use_distributed_sampler=False,
                         callbacks=[LocalLearning(), SaveRankState({folder!r})])
    trainer.fit(STDPNet(), DataLoader(SpikeTrains(size=8), batch_size=2, sampler=RankInterleaved(8)))
"""


@pytest.mark.parametrize("method", ["popen", "fork"])
def test_script_and_notebook_launchers(tmp_path: Path, method: str) -> None:
    # popen is how `strategy="ddp_local"` scripts run (the script is launched again per rank);
    # fork is `ddp_local_notebook`. Both run in a child process, never inside pytest itself.
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT.format(root=root, method=method, folder=str(tmp_path)))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MASTER_", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK"))
    }
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    reference = STDPNet()
    with pytest.warns(UserWarning, match="no optimizer"):
        pl.Trainer(devices=1, callbacks=[LocalLearning()], **options(tmp_path / "one")).fit(
            reference, DataLoader(SpikeTrains(size=8), batch_size=4)
        )
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    key = "layer.connections.connection.weight"
    assert torch.equal(rank0[key], rank1[key])
    torch.testing.assert_close(
        rank0[key], reference.layer.connection.weight.detach(), rtol=0, atol=1e-5
    )
