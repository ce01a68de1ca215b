"""Small spiking models and data for the Lightning-face tests (importable by spawned ranks)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch import callbacks as pl_callbacks
from torch.utils.data import Dataset, Sampler

from inferno_lightning import SpikingModule
from inferno_lightning.learn import STDP, Normalize, updater_for
from inferno_lightning.neural import ALIF, LIF, DeltaCurrent, LinearDense, Serial
from inferno_lightning.observe import EventCountReducer


class SpikeTrains(Dataset):
    """``size`` fixed Poisson-like spike trains ``(steps, n_in)``, one seed per sample, and labels."""

    def __init__(self, size: int = 16, steps: int = 20, n_in: int = 12, rate: float = 0.2) -> None:
        self.size, self.steps, self.n_in, self.rate = size, steps, n_in, rate

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(1000 + index)
        rates = torch.rand(self.n_in, generator=generator) * self.rate * 2
        spikes = (torch.rand(self.steps, self.n_in, generator=generator) < rates).float()
        return spikes, torch.tensor(index % 3)


class STDPNet(SpikingModule):
    """Dense input onto (adaptive) LIF neurons trained by pair STDP with weight normalisation.

    Batches are ``(spikes (batch, T, n_in), labels)``.
    """

    def __init__(
        self,
        n_in: int = 12,
        n_out: int = 5,
        adaptive: bool = True,
        trace_mode: str = "cumulative",
        batch_reduction: str = "mean",
        step_time: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__(step_time=step_time, time_dim=1, seed=seed)

    def configure_network(self) -> None:
        hp = self.hparams
        dt = hp.step_time
        generator = torch.Generator().manual_seed(hp.seed)
        connection = LinearDense(
            hp.n_in, hp.n_out, synapse=DeltaCurrent(hp.n_in, dt),
            weight_init=torch.rand(hp.n_out, hp.n_in, generator=generator) * 12.0,
        )  # fmt: skip
        if hp.adaptive:
            neuron = ALIF(hp.n_out, dt, thresh_v=-55.0, time_constant=10.0, tc_adaptation=200.0,
                          spike_increment=0.5, refrac_t=2.0)  # fmt: skip
        else:
            neuron = LIF(hp.n_out, dt, thresh_v=-55.0, time_constant=10.0, refrac_t=2.0)
        self.layer = Serial(connection, neuron)

    def configure_rules(self) -> None:
        hp = self.hparams
        updater = updater_for(self.layer.connection)
        updater.add(
            "weight", batch_reduction=hp.batch_reduction, bound="soft", w_min=0.0, w_max=15.0,
            constraints=(Normalize(40.0),),
        )  # fmt: skip
        stdp = STDP(lr_post=0.05, lr_pre=0.02, tc_post=5.0, tc_pre=5.0,
                    trace_mode=hp.trace_mode, monitors=self.monitors)  # fmt: skip
        stdp.register(self.layer.cell())
        self.rules.append(stdp)
        # Spike counts of the excitatory neurons, recorded in evaluation too.
        self.counts = self.monitors.get_or_create(
            self.layer.neuron, "spike", EventCountReducer(), train_update=True, eval_update=True
        )

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(inputs)


def reference_fit(model: STDPNet, batches: list[torch.Tensor], apply_every: str = "batch") -> None:
    """The plain loop LocalLearning must reproduce: simulate, then apply each batch (or step)."""
    model.train()
    updater = updater_for(model.layer.connection)
    with torch.no_grad():
        for batch in batches:
            model.reset_state()
            for x in batch.transpose(0, 1):
                model.layer(x)
                model.rules[0]()
                if apply_every == "step":
                    updater.step()
            updater.step()


class NoisySTDPNet(STDPNet):
    """STDPNet whose encoding adds random spikes drawn from the module's generator."""

    def __init__(self, noise: float = 0.05, **kwargs) -> None:
        super().__init__(**kwargs)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        spikes = super().encode(inputs)
        extra = torch.rand(spikes.shape, generator=self.generator, device=spikes.device)
        return torch.clamp(spikes + (extra < self.hparams.noise).to(spikes.dtype), max=1.0)


class MixedNet(SpikingModule):
    """A local-STDP hidden layer and a surrogate-gradient readout trained by SGD, in one model.

    Nothing marks the hidden weight as trained by its rule only: LocalLearning does.

    The loss is the cross-entropy of the readout's spike counts against the labels.
    """

    def __init__(self, n_in: int = 12, n_hidden: int = 6, n_out: int = 3, lr: float = 0.5) -> None:
        super().__init__(step_time=1.0, time_dim=1)

    def configure_network(self) -> None:
        hp = self.hparams
        generator = torch.Generator().manual_seed(7)
        hidden = LinearDense(hp.n_in, hp.n_hidden, synapse=DeltaCurrent(hp.n_in, 1.0),
                             weight_init=torch.rand(hp.n_hidden, hp.n_in, generator=generator) * 12)  # fmt: skip
        readout = LinearDense(hp.n_hidden, hp.n_out, synapse=DeltaCurrent(hp.n_hidden, 1.0),
                              weight_init=torch.rand(hp.n_out, hp.n_hidden, generator=generator) * 10)  # fmt: skip
        self.hidden = Serial(hidden, LIF(hp.n_hidden, 1.0, thresh_v=-55.0, time_constant=10.0))
        self.readout = Serial(
            readout, LIF(hp.n_out, 1.0, thresh_v=-60.0, time_constant=10.0, surrogate="arctan")
        )

    def configure_rules(self) -> None:
        updater_for(self.hidden.connection).add("weight", bound="soft", w_min=0.0, w_max=15.0)
        stdp = STDP(lr_post=0.05, lr_pre=0.02, tc_post=5.0, tc_pre=5.0, monitors=self.monitors)
        stdp.register(self.hidden.cell())
        self.rules.append(stdp)

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden(inputs))

    def training_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.sum(0), targets)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Every parameter, as a new user writes it: LocalLearning takes the STDP-trained hidden
        # weight out of gradient training (before the fix, DDP then failed on an unused parameter).
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class SaveRankState(pl_callbacks.Callback):
    """Writes each rank's parameters, adaptation and last per-sample voltages to ``folder``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_fit_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        state = {
            name: tensor.detach().clone()
            for name, tensor in pl_module.state_dict().items()
            if isinstance(tensor, torch.Tensor)
        }
        for name, module in pl_module.named_modules():
            if hasattr(module, "voltage") and hasattr(module, "state_names"):
                state[f"{name}.voltage"] = module.voltage.detach().clone()
        torch.save(state, f"{self.folder}/rank{trainer.global_rank}.pt")


class RankInterleaved(Sampler):
    """Rank ``r`` of ``N`` reads samples ``r, r + N, r + 2N, ...`` in order (rank read at iteration).

    Lightning's automatic DistributedSampler always shuffles training data; the
    equivalence tests need each global batch to hold the same samples as one
    process's batch.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def _rank_world(self) -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def __iter__(self):
        rank, world = self._rank_world()
        return iter(range(rank, self.size, world))

    def __len__(self) -> int:
        rank, world = self._rank_world()
        return len(range(rank, self.size, world))


class FixedNet(SpikingModule):
    """Dense input onto LIF neurons with fixed weights and no learning rule (statistics tests).

    Batches are ``(spikes (batch, T, n_in), labels)``. With ``weight=None`` the
    weights are ``(3, 5)``: neuron 0 reads only input 4 with weight 1000 (one
    input spike makes it fire), neuron 1 reads nothing (silent), neuron 2
    reads inputs 0-3 with weight 20.
    """

    def __init__(self, weight: list[list[float]] | None = None, refrac_t: float = 2.0) -> None:
        super().__init__(step_time=1.0, time_dim=1)

    def configure_network(self) -> None:
        hp = self.hparams
        weight = torch.tensor(
            hp.weight
            if hp.weight is not None
            else [[0.0, 0.0, 0.0, 0.0, 1000.0], [0.0] * 5, [20.0, 20.0, 20.0, 20.0, 0.0]]
        )
        n_out, n_in = weight.shape
        self.layer = Serial(
            LinearDense(n_in, n_out, synapse=DeltaCurrent(n_in, 1.0), weight_init=weight),
            LIF(n_out, 1.0, thresh_v=-55.0, time_constant=10.0, refrac_t=hp.refrac_t),
        )

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(inputs)
