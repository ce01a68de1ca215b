"""Multi-device equivalence (DESIGN.md invariants 1 and 4) on CUDA tensors: two ranks, one GPU.

Lightning's CUDA accelerator wants one device per rank, so two ranks sharing
the one GPU are two processes of ``torch.multiprocessing.spawn`` that join a
gloo process group themselves and train ``STDPNet`` (adaptive thresholds, pair
STDP, weight normalisation) on ``cuda:0`` as
:class:`~inferno_lightning.LocalLearning` does on each rank: the rank reducers
installed (the thresholds are reduced over both ranks every step), each batch
simulated, the pending updates packed by ``flatten_pending``, summed by one
all-reduce and applied by ``apply_flattened``. Rank ``r`` gets the ``r``-th
half of each global batch (what ``EpochShuffleSampler`` hands out); both must
end with identical weights and thresholds, equal to one process trained on
the whole batches, and with the last voltages of that process's rows.

The CPU variant runs the same code everywhere (and proves it where no GPU is);
``tests/test_ddp.py`` covers the same invariants through Lightning's Trainer.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from inferno_lightning.learn import Updater, apply_flattened, flatten_pending
from inferno_lightning.strategies import install_rank_reducers

from .lightning_models import SpikeTrains, STDPNet

pytestmark = pytest.mark.slow

WORLD, RANK_BATCH, GLOBAL_BATCHES = 2, 4, 3


def global_batches() -> list[torch.Tensor]:
    """The one-process batches ``(WORLD * RANK_BATCH, T, n_in)``, on the CPU."""
    data = SpikeTrains(size=WORLD * RANK_BATCH * GLOBAL_BATCHES)
    samples = torch.stack([data[i][0] for i in range(len(data))])
    return list(samples.split(WORLD * RANK_BATCH))


def fit(
    model: STDPNet, batches: list[torch.Tensor], device: torch.device, world: int
) -> torch.Tensor:
    """Train ``model`` on ``batches`` as LocalLearning does on one of ``world`` ranks.

    Returns the last all-reduced update buffer (to check where it lived).
    """
    model.train()
    install_rank_reducers(model, world)
    updaters = [m for m in model.modules() if isinstance(m, Updater)]
    flat = torch.empty(0)
    with torch.no_grad():
        for batch in batches:
            model.simulate(model.encode(batch.to(device)))
            flat, spec = flatten_pending(updaters, world_size=world)
            if world > 1:
                dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            apply_flattened(updaters, flat, spec)
    return flat


def rank_main(rank: int, device_type: str, folder: str) -> None:
    """One rank: join the gloo group, train on this rank's halves, save what it holds."""
    dist.init_process_group(
        "gloo",
        init_method=f"file://{folder}/rendezvous",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=60),
    )
    try:
        device = torch.device("cuda:0" if device_type == "cuda" else "cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        mine = [b[rank * RANK_BATCH : (rank + 1) * RANK_BATCH] for b in global_batches()]
        model = STDPNet().to(device)
        flat = fit(model, mine, device, WORLD)
        neuron = model.layer.neuron
        torch.save(
            {
                "weight": model.layer.connection.weight.detach().cpu(),
                "adaptation": neuron.adaptation.detach().cpu(),
                "voltage": neuron.voltage.detach().cpu(),
                "devices": sorted({str(model.layer.connection.weight.device), str(flat.device)}),
            },
            f"{folder}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def test_two_ranks_on_one_device_equal_one_process_with_double_batch(
    device: torch.device, tmp_path: Path
) -> None:
    reference = STDPNet().to(device)
    initial = reference.layer.connection.weight.detach().clone()
    fit(reference, global_batches(), device, world=1)

    mp.spawn(rank_main, args=(device.type, str(tmp_path)), nprocs=WORLD, join=True)

    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    expected = "cuda:0" if device.type == "cuda" else "cpu"
    assert all(state["devices"] == [expected] for state in ranks)
    weight = reference.layer.connection.weight.detach().cpu()
    adaptation = reference.layer.neuron.adaptation.detach().cpu()
    assert not torch.equal(weight, initial.cpu())
    # Every replica identical, and equal to one process with the whole batch.
    assert torch.equal(ranks[0]["weight"], ranks[1]["weight"])
    assert torch.equal(ranks[0]["adaptation"], ranks[1]["adaptation"])
    torch.testing.assert_close(ranks[0]["weight"], weight, rtol=0, atol=1e-5)
    torch.testing.assert_close(ranks[0]["adaptation"], adaptation, rtol=0, atol=1e-5)
    # Per-sample state stays on its rank: rank r holds the r-th half of the last batch.
    voltage = reference.layer.neuron.voltage.detach().cpu()
    for r, state in enumerate(ranks):
        rows = voltage[r * RANK_BATCH : (r + 1) * RANK_BATCH]
        torch.testing.assert_close(state["voltage"], rows, rtol=0, atol=1e-4)
    assert not torch.equal(ranks[0]["voltage"], ranks[1]["voltage"])
