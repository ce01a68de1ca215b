"""Nothing lost, nothing silent (DESIGN.md invariant 6): bad batches, silent fits, bad checkpoints.

Each test here failed on the tree before the fix it covers (issue 15, items 1-4, 7, 8).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from inferno_lightning import LocalLearning
from inferno_lightning.checkpoint_io import AtomicCheckpointIO, CheckpointError
from inferno_lightning.cli import check_checkpoint_model
from inferno_lightning.data._files import _writer_tag, remove_stale_temporaries
from inferno_lightning.learn import STDP, updater_for
from inferno_lightning.neural import ALIF, LIF, DeltaCurrent, Layer, LinearDense
from tests.lightning_models import SpikeTrains, STDPNet

pytestmark = pytest.mark.filterwarnings("ignore:.*optimizer.*", "ignore:.*val_dataloader.*")


def persistent(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}


def assert_same(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key


def trainer(tmp_path: Path, **options) -> pl.Trainer:
    base = dict(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, default_root_dir=tmp_path, max_epochs=1,
        callbacks=[LocalLearning()],
    )  # fmt: skip
    base.update(options)
    return pl.Trainer(**base)


def spikes(batch: int, steps: int = 20, n_in: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, steps, n_in, generator=generator) < 0.3).float()


# ----------------------------------------------------------- item 1: empty batch


def test_an_empty_batch_into_alif_is_refused_and_the_thresholds_stay_finite() -> None:
    neuron = ALIF(4, 1.0, tc_adaptation=100.0, spike_increment=0.5)
    neuron.train()
    neuron(torch.full((2, 4), 30.0))
    theta = neuron.adaptation.clone()
    with pytest.raises(ValueError, match=r"inputs has an empty batch \(shape \(0, 4\)\)"):
        neuron(torch.zeros(0, 4))
    # Before the fix: a mean over zero samples, NaN thresholds saved in checkpoints.
    assert torch.equal(neuron.adaptation, theta) and torch.isfinite(neuron.adaptation).all()
    assert neuron.batch_size == 2


def test_an_empty_batch_into_a_connection_names_the_input() -> None:
    connection = LinearDense(6, 3, synapse=DeltaCurrent(6, 1.0))
    # Before: "cannot reshape tensor of 0 elements" from inside the product.
    with pytest.raises(ValueError, match="inputs has an empty batch"):
        connection(torch.zeros(0, 6))
    assert connection.synapse.batch_size is None


def test_an_empty_batch_into_a_model_changes_nothing() -> None:
    model = STDPNet()
    model.train()
    model(spikes(2))
    before = persistent(model)
    accumulator = updater_for(model.layer.connection).weight
    assert accumulator.steps == 20
    with pytest.raises(ValueError, match=r"empty batch: shape \(20, 0, 12\)"):
        model(torch.zeros(0, 20, 12))
    assert_same(before, persistent(model))
    assert accumulator.steps == 20


# ---------------------------------------------- item 2: NaN at a later time step


def test_nan_at_a_later_step_under_the_trainer_leaves_thresholds_and_weights_unchanged(
    tmp_path: Path,
) -> None:
    good = spikes(4, seed=1)
    bad = spikes(4, seed=2)
    bad[2, 10, 5] = float("nan")  # sample 2, time step 10 (after steps 0..9 moved thresholds)
    reference = STDPNet()
    model = copy.deepcopy(reference)
    trainer(tmp_path / "ref").fit(reference, DataLoader(TensorDataset(good), batch_size=4))
    expected = persistent(reference)
    assert not torch.equal(expected["layer.neurons.neuron.adaptation"], torch.zeros(1, 5))

    data = DataLoader(TensorDataset(torch.cat([good, bad])), batch_size=4)
    with pytest.raises(ValueError, match=r"time step 10 of 20 holds NaN or inf \(sample 2"):
        trainer(tmp_path / "nan").fit(model, data)
    # The first batch was learned; the failed one moved nothing (thresholds moved by up to
    # 0.36 mV before the fix).
    assert_same(expected, persistent(model))


class Explode:
    """A step hook that applies the pending update every step, then fails at step ``at``."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def __call__(self, module) -> None:  # noqa: ANN001
        updater_for(module.layer.connection).step()
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError("failed inside the time loop")


def test_a_batch_that_fails_inside_the_loop_is_undone() -> None:
    model = STDPNet()
    model.train()
    model(spikes(3, seed=3))  # thresholds and pending updates from an earlier batch
    updater = updater_for(model.layer.connection)
    pending_steps = updater.weight.steps
    pending = updater.weight.pending()
    assert pending_steps == 20
    before = persistent(model)
    hook = Explode(at=12)
    model.register_step_hook(hook)
    with pytest.raises(RuntimeError, match="failed inside the time loop"):
        model(spikes(3, seed=4))
    # Weights written by 11 applied steps, thresholds moved by 12 steps: all restored, and the
    # earlier batch's pending update is back (the failed batch applied and cleared it).
    assert_same(before, persistent(model))
    assert updater.weight.steps == pending_steps
    for mine, theirs in zip(updater.weight.pending(), pending, strict=True):
        assert torch.equal(mine, theirs)


# ------------------------------------------------------ item 3: float64 input


def test_float64_input_into_a_float32_model_is_refused_before_any_state() -> None:
    model = STDPNet()
    model.train()
    before = persistent(model)
    with pytest.raises(TypeError, match="inputs has dtype torch.float64 but the STDPNet"):
        model(spikes(2).double())
    assert model.layer.connection.synapse.batch_size is None  # no state was created
    assert model.layer.neuron.batch_size is None
    assert_same(before, persistent(model))
    # Valid input works at once (before the fix: a dtype error until reset()).
    assert model(spikes(2)).shape == (20, 2, 5)


def test_float64_current_into_a_float32_connection_creates_no_state() -> None:
    connection = LinearDense(6, 3, synapse=DeltaCurrent(6, 1.0))
    with pytest.raises(
        TypeError, match=r"torch.float64 but the LinearDense's weight has dtype torch.float32"
    ):
        connection(torch.ones(2, 6, dtype=torch.float64))
    assert connection.synapse.batch_size is None
    out = connection(torch.ones(2, 6))
    torch.testing.assert_close(out, connection.weight.detach().sum(1).expand(2, 3))


def test_float64_data_under_the_trainer_fails_on_the_first_batch_whatever_its_sparsity(
    tmp_path: Path,
) -> None:
    for density in (0.01, 0.5):
        model = STDPNet()
        before = persistent(model)
        data = torch.rand(4, 20, 12, generator=torch.Generator().manual_seed(0)) < density
        with pytest.raises(TypeError, match="float64"):
            trainer(tmp_path).fit(model, DataLoader(TensorDataset(data.double()), batch_size=4))
        assert_same(before, persistent(model))


# ------------------------------------------------------- item 4: device mismatch


def test_an_input_on_another_device_into_a_layer_names_the_input_and_the_device() -> None:
    layer = Layer(
        {"a": LinearDense(4, 3, synapse=DeltaCurrent(4, 1.0)),
         "b": LinearDense(2, 3, synapse=DeltaCurrent(2, 1.0))},
        {"n": LIF(3, 1.0)},
        {"a": "n", "b": "n"},
    )  # fmt: skip
    inputs = {"a": torch.ones(2, 4), "b": torch.ones(2, 2, device="meta")}
    with pytest.raises(
        ValueError, match=r"inputs\['b'\] is on meta but the LinearDense's weight is on cpu"
    ):
        layer(inputs)
    assert layer.connections["a"].synapse.batch_size is None
    assert layer.neurons["n"].batch_size is None


def test_a_batch_on_another_device_into_a_model_is_refused_first() -> None:
    model = STDPNet()
    with pytest.raises(ValueError, match="inputs is on meta but the STDPNet's parameters"):
        model.simulate(torch.ones(20, 2, 12, device="meta"))


# ------------------------------------------------------ item 7: silent fits


class Unappended(STDPNet):
    """Registers its rule on the cell but forgets ``self.rules.append``."""

    def configure_rules(self) -> None:
        STDP(lr_post=0.05, lr_pre=0.02, tc_post=5.0, tc_pre=5.0, monitors=self.monitors).register(
            self.layer.cell()
        )


def test_a_rule_not_in_the_module_rules_fails_the_first_batch(tmp_path: Path) -> None:
    model = Unappended()
    before = persistent(model)
    with pytest.raises(
        RuntimeError, match=r"must also be in the module's rules \(Unappended.rules holds 0\)"
    ):
        trainer(tmp_path).fit(model, DataLoader(SpikeTrains(size=8), batch_size=4))
    assert_same(before, persistent(model))


def test_expect_updates_false_lets_such_a_fit_run(tmp_path: Path) -> None:
    model = Unappended()
    weight = model.layer.connection.weight.detach().clone()
    trainer(tmp_path, callbacks=[LocalLearning(expect_updates=False)]).fit(
        model, DataLoader(SpikeTrains(size=8), batch_size=4)
    )
    assert torch.equal(model.layer.connection.weight, weight)


def test_a_module_left_in_eval_mode_is_refused_at_training_start(tmp_path: Path) -> None:
    model = STDPNet()
    before = persistent(model)
    model.eval()
    with pytest.raises(
        RuntimeError, match="STDPNet, LinearDense are in evaluation mode.*model.train()"
    ):
        trainer(tmp_path).fit(model, DataLoader(SpikeTrains(size=8), batch_size=4))
    assert_same(before, persistent(model))
    model.train()
    trainer(tmp_path).fit(model, DataLoader(SpikeTrains(size=8), batch_size=4))
    assert not torch.equal(
        model.layer.connection.weight, before["layer.connections.connection.weight"]
    )


# ------------------------------------------------- item 8: bad checkpoint files


def checkpoint_files(tmp_path: Path) -> dict[str, Path]:
    model = STDPNet()
    good = tmp_path / "good.ckpt"
    trainer(tmp_path, enable_checkpointing=False, limit_train_batches=1).fit(
        model, DataLoader(SpikeTrains(size=4), batch_size=4)
    )
    model.trainer.save_checkpoint(good)
    data = good.read_bytes()
    files = {"empty": b"", "truncated": data[: len(data) // 2], "not a checkpoint": b"hello"}
    paths = {}
    for name, content in files.items():
        path = tmp_path / f"{name.replace(' ', '_')}.ckpt"
        path.write_bytes(content)
        paths[name] = path
    return paths


def test_bad_checkpoint_files_are_named_everywhere_and_nothing_is_written(tmp_path: Path) -> None:
    for kind, path in checkpoint_files(tmp_path).items():
        message = rf"{path} is truncated or is not a checkpoint"
        with pytest.raises(CheckpointError, match=message):  # the command line's check
            check_checkpoint_model(path, "tests.lightning_models.STDPNet")
        with pytest.raises(CheckpointError, match=message):
            STDPNet.load_from_checkpoint(path)
        model = STDPNet()
        before = persistent(model)
        folder = tmp_path / f"fit-{kind.replace(' ', '_')}"
        with pytest.raises(CheckpointError, match=message):  # a plain Trainer, default IO
            pl.Trainer(
                accelerator="cpu", logger=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=folder, max_epochs=2,
                callbacks=[LocalLearning()],
            ).fit(model, DataLoader(SpikeTrains(size=4), batch_size=4), ckpt_path=path)  # fmt: skip
        assert_same(before, persistent(model))
        assert not folder.exists() or not any(folder.rglob("*.ckpt")), kind
        with pytest.raises(CheckpointError, match=message):
            AtomicCheckpointIO().load_checkpoint(path)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporaries_of_killed_writers_are_removed_on_the_next_save(tmp_path: Path) -> None:
    host = _writer_tag().rsplit("-", 1)[0]
    dead = tmp_path / f".last.ckpt.{host}-{dead_pid()}.x1y2.tmp"
    live = tmp_path / f".last.ckpt.{_writer_tag()}.a1b2.tmp"  # this process: a writer at work
    old = tmp_path / ".last.ckpt.k3j_9zq.tmp"  # an older version's name, a day old
    recent = tmp_path / ".last.ckpt.q8w_7pd.tmp"
    other = tmp_path / ".other.ckpt.abc.tmp"
    for path in (dead, live, old, recent, other):
        path.write_bytes(b"partial")
    day = 25 * 3600
    os.utime(old, (old.stat().st_atime - day, old.stat().st_mtime - day))
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, tmp_path / "last.ckpt")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["last.ckpt", live.name, recent.name, other.name])
    assert remove_stale_temporaries(tmp_path / "last.ckpt") == []


KILLED_WRITER = """
import os, signal, sys, torch
sys.path.insert(0, {src!r})
from inferno_lightning.checkpoint_io import AtomicCheckpointIO
real = torch.save
def save(obj, stream, *args, **kwargs):
    real({{"partial": torch.zeros(1000)}}, stream)
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = save
AtomicCheckpointIO().save_checkpoint({{"state_dict": {{}}}}, {path!r})
"""


def test_a_writer_killed_by_sigkill_leaves_a_temporary_the_next_save_removes(
    tmp_path: Path,
) -> None:
    target = tmp_path / "last.ckpt"
    src = str(Path(__file__).resolve().parents[1] / "src")
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER.format(src=src, path=str(target))], check=False
    )
    assert result.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".last.ckpt.") and left[0].endswith(".tmp")
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, target)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_the_command_line_names_a_bad_checkpoint_alone_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    subcommand: str,
) -> None:  # fmt: skip
    from inferno_lightning.cli import main

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "digits_diehl_cook.yaml"
    for path in checkpoint_files(tmp_path / "files").values():
        run = tmp_path / f"run-{path.stem}"
        run.mkdir()
        monkeypatch.chdir(run)
        monkeypatch.setenv("WANDB_MODE", "disabled")
        argv = ["inferno-lightning", subcommand, "--config", str(recipe), "--ckpt_path", str(path)]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path} is truncated or is not a checkpoint"), err
        assert "Traceback" not in err
        assert list(run.iterdir()) == []  # no log, no checkpoint, no config written


# ------------------------------------------- collectives only in the Lightning face


def test_the_core_runs_no_collective() -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "inferno_lightning"
    for package in ("functional", "neural", "encode", "observe", "learn"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text()
            assert "torch.distributed" not in text and "all_reduce" not in text, source


def test_alif_gets_its_all_reduce_from_the_lightning_face() -> None:
    from inferno_lightning.strategies import install_rank_reducers, reduce_across_ranks

    model = STDPNet()
    neuron = model.layer.neuron
    assert neuron.rank_reduction == "mean" and neuron.rank_reducer is None
    assert install_rank_reducers(model, world_size=2) == ["layer.neurons.neuron"]
    assert neuron.rank_reducer is reduce_across_ranks
    assert install_rank_reducers(model, world_size=1) == []
    assert neuron.rank_reducer is None
    # A reduction with no cross-rank form is refused before training, not at the first step.
    median = ALIF(3, 1.0, batch_reduction="median")
    assert median.rank_reduction is None
    with pytest.raises(ValueError, match="'median' cannot be combined across 2 ranks"):
        install_rank_reducers(median, world_size=2)
    assert install_rank_reducers(ALIF(3, 1.0, batch_reduction="median", sync_ranks=False), 2) == []


def test_a_plain_fit_without_validation_data_says_only_what_the_user_can_act_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import warnings

    from inferno_lightning.module import _quiet_generic_validation_step
    from tests.lightning_models import MixedNet

    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _quiet_generic_validation_step()  # as on import, in a script (pytest resets filters)
        trainer(tmp_path).fit(STDPNet(), DataLoader(SpikeTrains(size=4), batch_size=4))
    messages = [str(w.message) for w in caught]
    assert not any("validation_step" in m for m in messages), messages
    # A local-only model: nothing to say about gradients. A model trained by both: said once.
    assert "requires_grad" not in caplog.text
    trainer(tmp_path).fit(MixedNet(), DataLoader(SpikeTrains(size=4), batch_size=4))
    assert caplog.text.count("requires_grad set to False") == 1
