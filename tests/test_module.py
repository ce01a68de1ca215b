"""SpikingModule and LocalLearning in one process: the fit equals the plain loop."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from inferno_lightning import LocalLearning, SpikingModule
from inferno_lightning.learn import updater_for
from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial

from .lightning_models import MixedNet, NoisySTDPNet, SpikeTrains, STDPNet, reference_fit


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    options = dict(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
        max_epochs=1,
    )  # fmt: skip
    options.update(kwargs)
    return pl.Trainer(**options)


def loader(batch_size: int, size: int = 16) -> DataLoader:
    return DataLoader(SpikeTrains(size=size), batch_size=batch_size, shuffle=False)


def batches(batch_size: int, size: int = 16) -> list[torch.Tensor]:
    return [x for x, _ in loader(batch_size, size)]


@pytest.mark.parametrize("apply_every", ["batch", "step"])
def test_fit_equals_the_plain_loop(tmp_path: Path, apply_every: str) -> None:
    model = STDPNet()
    reference = copy.deepcopy(model)
    initial = model.layer.connection.weight.detach().clone()
    callback = LocalLearning(apply_every=apply_every)
    with pytest.warns(UserWarning, match="no optimizer"):
        trainer(tmp_path, callbacks=[callback]).fit(model, loader(4))
    reference_fit(reference, batches(4), apply_every=apply_every)

    weight = model.layer.connection.weight
    assert not torch.equal(weight, initial)
    torch.testing.assert_close(weight, reference.layer.connection.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        model.layer.neuron.adaptation, reference.layer.neuron.adaptation, rtol=0, atol=1e-6
    )
    # Normalisation: every neuron's input weights sum to 40 after each application.
    torch.testing.assert_close(weight.sum(1), torch.full((5,), 40.0))
    assert callback.steps == (4 if apply_every == "batch" else 4 * 20)
    assert model.layer.neuron.adaptation.abs().sum() > 0


def test_state_is_reset_between_batches() -> None:
    model = STDPNet().eval()
    x = batches(4)[0]
    first = model(x)
    second = model(x)
    torch.testing.assert_close(first, second)
    # The count monitor starts from zero each batch: it equals the output's spike count.
    torch.testing.assert_close(model.counts.peek(), second.sum(0))


def test_local_learning_without_rules_is_an_error(tmp_path: Path) -> None:
    class Plain(SpikingModule):
        def configure_network(self) -> None:
            self.layer = Serial(LinearDense(12, 3, synapse=DeltaCurrent(12, 1.0)), LIF(3, 1.0))

        def step(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.layer(inputs)

    model = Plain(time_dim=1)
    before = model.layer.connection.weight.detach().clone()
    with pytest.raises(RuntimeError, match="found no Updater"):
        trainer(tmp_path, callbacks=[LocalLearning()]).fit(model, loader(4))
    assert torch.equal(model.layer.connection.weight, before)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="apply_every must be one of"):
        LocalLearning(apply_every="epoch")
    with pytest.raises(ValueError, match="step_time must be positive"):
        STDPNet(step_time=0.0)
    with pytest.raises(ValueError, match="time_dim must be 0"):
        SpikingModule(time_dim=2)
    with pytest.raises(ValueError, match="inputs must be time-major"):
        STDPNet().simulate(torch.zeros(0, 2, 12))


def test_checkpoint_trained_at_batch_8_runs_at_batch_1(tmp_path: Path) -> None:
    model = STDPNet()
    fit = trainer(tmp_path, callbacks=[LocalLearning()])
    with pytest.warns(UserWarning, match="no optimizer"):
        fit.fit(model, loader(8))
    path = tmp_path / "batch8.ckpt"
    fit.save_checkpoint(path)

    loaded = STDPNet.load_from_checkpoint(path).eval()
    model.eval()
    single = batches(1)[3]
    assert single.shape[0] == 1
    out_loaded, out_model = loaded(single), model(single)
    assert out_loaded.shape == (20, 1, 5)
    torch.testing.assert_close(out_loaded, out_model)
    torch.testing.assert_close(loaded.layer.neuron.adaptation, model.layer.neuron.adaptation)
    assert loaded.layer.neuron.voltage.shape == (1, 5)


def test_resume_equals_uninterrupted_fit(tmp_path: Path) -> None:
    # The encoding draws noise from the module's generator: its state must survive the checkpoint.
    straight = NoisySTDPNet()
    interrupted = copy.deepcopy(straight)
    callback_straight = LocalLearning()
    with pytest.warns(UserWarning, match="no optimizer"):
        trainer(tmp_path / "a", callbacks=[callback_straight], max_epochs=2).fit(
            straight, loader(4)
        )

    first = trainer(tmp_path / "b", callbacks=[LocalLearning()], max_epochs=1)
    with pytest.warns(UserWarning, match="no optimizer"):
        first.fit(interrupted, loader(4))
    path = tmp_path / "epoch1.ckpt"
    first.save_checkpoint(path)

    resumed_model = NoisySTDPNet()  # fresh weights: everything must come from the checkpoint
    callback_resumed = LocalLearning()
    with pytest.warns(UserWarning, match="no optimizer"):
        trainer(tmp_path / "c", callbacks=[callback_resumed], max_epochs=2).fit(
            resumed_model, loader(4), ckpt_path=path
        )

    torch.testing.assert_close(
        resumed_model.layer.connection.weight, straight.layer.connection.weight, rtol=0, atol=1e-6
    )
    torch.testing.assert_close(
        resumed_model.layer.neuron.adaptation, straight.layer.neuron.adaptation, rtol=0, atol=1e-6
    )
    assert callback_resumed.steps == callback_straight.steps == 8
    # Without the generator state the noise differs: the weights would not match.
    assert not torch.equal(interrupted.layer.connection.weight, straight.layer.connection.weight)


def test_local_rule_and_gradient_descent_in_one_model(tmp_path: Path) -> None:
    model = MixedNet()
    reference = copy.deepcopy(model)
    assert model.uses_gradients
    data = DataLoader(SpikeTrains(size=8), batch_size=4, shuffle=False)
    trainer(tmp_path, callbacks=[LocalLearning()]).fit(model, data)

    # The plain loop: BPTT through the readout with SGD, STDP on the hidden layer.
    optimizer = torch.optim.SGD([reference.readout.connection.weight], lr=0.5)
    reference.train()
    for x, y in data:
        outputs = reference(x)
        loss = torch.nn.functional.cross_entropy(outputs.sum(0), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        updater_for(reference.hidden.connection).step()

    assert not torch.equal(model.readout.connection.weight, MixedNet().readout.connection.weight)
    torch.testing.assert_close(model.readout.connection.weight, reference.readout.connection.weight)
    torch.testing.assert_close(model.hidden.connection.weight, reference.hidden.connection.weight)


def test_local_only_fit_advances_global_step_for_checkpoints(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    model = STDPNet()
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
    fit = trainer(
        tmp_path, callbacks=[LocalLearning(), checkpoints], enable_checkpointing=True, max_steps=3
    )
    with pytest.warns(UserWarning, match="no optimizer"):
        fit.fit(model, loader(4))  # 4 batches per epoch; max_steps stops after 3
    assert fit.global_step == 3
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch=0-step=2.ckpt"]


@pytest.mark.slow
def test_compiled_step_matches_the_eager_step() -> None:
    import pickle

    from tests.lightning_models import SpikeTrains, STDPNet

    eager, compiled = STDPNet(), STDPNet()
    compiled.load_state_dict(eager.state_dict())
    compiled.compile_step()
    inputs = torch.stack([SpikeTrains(size=4)[i][0] for i in range(4)])  # (4, T, 12)
    eager.eval()
    compiled.eval()
    with torch.no_grad():
        expected, got = eager(inputs), compiled(inputs)
    assert compiled._compiled_step is not None  # the compiled step ran
    assert expected.sum() > 0
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(compiled.layer.neuron.voltage, eager.layer.neuron.voltage)
    # A copy drops the compiled function and compiles again on use; eager_step undoes it all.
    clone = pickle.loads(pickle.dumps(compiled))
    assert clone._compiled_step is None and clone._compile_options == {}
    # Training: the compiled learning step (network step and rules as one graph) and eager
    # step hooks (the aot_eager backend skips the C++ build, tests/neural checks kernels).
    compiled.compile_step(backend="aot_eager")
    hooked: list[int] = []
    compiled.register_step_hook(lambda model: hooked.append(1))
    eager.train()
    compiled.train()
    with torch.no_grad():
        expected, got = eager(inputs), compiled(inputs)
    torch.testing.assert_close(got, expected)
    assert len(hooked) == inputs.shape[1]
    updater_for(eager.layer.connection).step()
    updater_for(compiled.layer.connection).step()
    weight = compiled.layer.connection.weight
    assert not torch.equal(weight, clone.layer.connection.weight)  # the rule learned
    torch.testing.assert_close(weight, eager.layer.connection.weight)
    torch.testing.assert_close(compiled.layer.neuron.adaptation, eager.layer.neuron.adaptation)
    assert compiled._compiled_learning_step is not None  # the rules ran compiled
    compiled.eager_step()
    assert compiled.compiled_step() == compiled.step
    assert compiled.compiled_step(learning=True) == compiled.step_and_learn


@pytest.mark.slow
def test_a_whole_learning_step_traces_as_one_graph() -> None:
    """Neuron, synapse, traces, STDP and the Updater's step: no graph break, eager's weights."""
    from inferno_lightning.learn import STDP, updater_for
    from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial

    def build(bound):
        generator = torch.Generator().manual_seed(0)
        connection = LinearDense(
            30, 20, synapse=DeltaCurrent(30, 1.0),
            weight_init=torch.rand(20, 30, generator=generator) * 8,
        )  # fmt: skip
        layer = Serial(connection, LIF(20, 1.0, thresh_v=-60.0, refrac_t=2.0))
        updater = updater_for(connection)
        if bound == "none":
            updater.add("weight")
        else:
            updater.add("weight", bound=bound, w_min=0.0, w_max=8.0)
        stdp = STDP(lr_post=0.05, lr_pre=0.02)
        stdp.register(layer.cell())

        def learning_step(x: torch.Tensor) -> torch.Tensor:
            spikes = layer(x)
            stdp()
            updater.step()
            return spikes

        return connection, learning_step

    inputs = torch.rand(12, 4, 30, generator=torch.Generator().manual_seed(1)) < 0.3
    for bound in ("clamp", "soft", "none"):
        _, probe = build(bound)
        with torch.no_grad():
            explained = torch._dynamo.explain(probe)(inputs[0].float())
        assert explained.graph_break_count == 0, explained.break_reasons
        eager, eager_step = build(bound)
        compiled, compiled_step = build(bound)
        compiled_step = torch.compile(compiled_step, backend="aot_eager", fullgraph=True)
        spiked = 0.0
        with torch.no_grad():
            for x in inputs.float():
                expected = eager_step(x)
                torch.testing.assert_close(compiled_step(x), expected)
                spiked += float(expected.sum())
        assert spiked > 0
        assert not torch.equal(eager.weight, build(bound)[0].weight)  # the rule learned
        torch.testing.assert_close(compiled.weight, eager.weight)


def test_a_compiled_learning_step_compiles_once_per_grad_mode() -> None:
    """After every pairing of grad mode and state has compiled once, further steps compile
    nothing (guards stay stable). The no_grad helper's own check under torch.compile is
    test_the_per_step_no_grad_context_turns_gradients_off_and_is_free_when_they_are."""
    from inferno_lightning.learn import STDP, updater_for
    from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial

    torch._dynamo.reset()
    connection = LinearDense(30, 20, synapse=DeltaCurrent(30, 1.0), weight_init=4.0)
    layer = Serial(connection, LIF(20, 1.0, thresh_v=-60.0))
    updater_for(connection).add("weight", bound="clamp", w_min=0.0, w_max=8.0)
    stdp = STDP(lr_post=0.05, lr_pre=0.02)
    stdp.register(layer.cell())

    def learning_step(x: torch.Tensor) -> torch.Tensor:
        spikes = layer(x)
        stdp()
        updater_for(connection).step()
        return spikes

    step = torch.compile(learning_step, backend="eager")
    inputs = (torch.rand(12, 2, 30, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    # Every pairing of the grad mode with the state's requires_grad (left by the step before).
    for x, grad in zip(inputs[:6], (True, False, False, True, True, False), strict=True):
        with torch.set_grad_enabled(grad):
            step(x)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for x in inputs[6:]:
            with torch.no_grad():
                step(x)
    assert connection.weight.min() >= 0.0 and connection.weight.max() <= 8.0


def test_compile_step_refuses_unknown_options() -> None:
    from tests.lightning_models import STDPNet

    model = STDPNet()
    with pytest.raises(TypeError, match="fullgraf"):
        model.compile_step(fullgraf=True)
    assert model.compiled_step() == model.step


def test_simulate_sum_equals_the_sum_of_the_stacked_outputs() -> None:
    torch.manual_seed(0)
    net = STDPNet().eval()  # no learning between the two runs
    inputs = (torch.rand(30, 2, 12) < 0.5).float()
    with torch.no_grad():
        stacked = net.simulate(inputs)
        counted = net.simulate(inputs, reduce="sum")
    assert stacked.sum() > 0
    assert counted.dtype == stacked.sum(0).dtype
    assert torch.equal(counted, stacked.sum(0))
    with pytest.raises(ValueError, match="reduce"):
        net.simulate(inputs, reduce="mean")


def test_the_per_step_no_grad_context_turns_gradients_off_and_is_free_when_they_are() -> None:
    from inferno_lightning._validation import no_grad

    weight = torch.ones(3, requires_grad=True)
    with no_grad():
        assert not torch.is_grad_enabled()
        assert not (weight * 2).requires_grad
    assert torch.is_grad_enabled()
    with torch.no_grad():
        first, second = no_grad(), no_grad()
        assert first is second  # one shared do-nothing context, no torch.no_grad() per step
        with first:
            assert not torch.is_grad_enabled()
    # Traced by torch.compile it is torch.no_grad() (which the graph records) whatever the mode.
    seen = []

    def probe(x: torch.Tensor) -> torch.Tensor:
        seen.append(type(no_grad()).__name__)
        return x + 1

    with torch.no_grad():
        torch.compile(probe, backend="eager", fullgraph=True)(torch.zeros(2))
    assert len(seen) == 1 and seen[0] != "nullcontext"  # a grad-mode context, not the null one
