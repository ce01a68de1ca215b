"""The ``inferno-lightning`` command: parsing, merging, short names, running, resuming, reporting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from inferno_lightning import LocalLearning
from inferno_lightning.cli import cli, main, wandb_configured
from inferno_lightning.data import DigitsDataModule
from inferno_lightning.models import DiehlCook2015

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter:UserWarning")

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "recipes" / "digits_diehl_cook.yaml")
# A small, fast version of the digits recipe: few neurons, short presentations, a few batches.
SMALL = [
    "--model.init_args.n_neurons", "16",
    "--model.init_args.presentation_time", "10",
    "--data.init_args.batch_size", "16",
    "--trainer.limit_train_batches", "2",
    "--trainer.limit_val_batches", "1",
    "--trainer.limit_test_batches", "1",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative log and checkpoint folders of the recipes land in tmp_path; W&B stays offline.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_fit_then_test_reports_metrics_logs_and_checkpoints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = cli(["fit", "--config", DIGITS, *SMALL, "--trainer.max_epochs", "1"])
    model = run.model
    assert isinstance(model, DiehlCook2015) and isinstance(run.datamodule, DigitsDataModule)
    # Recipe values and command-line overrides both arrived.
    assert model.hparams.n_inputs == 64 and model.hparams.n_neurons == 16
    assert model.hparams.lr_post == pytest.approx(0.64)
    # Two local-only batches advance global_step by two; LocalLearning applied twice.
    assert run.trainer.global_step == 2
    (local,) = [c for c in run.trainer.callbacks if isinstance(c, LocalLearning)]
    assert local.steps == 2
    # test_after_fit ran the test loop, and the report names what it produced.
    accuracy = float(run.trainer.callback_metrics["test/accuracy"])
    out = capsys.readouterr().out
    assert f"test/accuracy: {accuracy:.4f}" in out
    assert "logs (wandb, offline): " in out and "wandb sync" in out
    run_dir = Path(out.split("logs (wandb, offline): ")[1].split(" ")[0])
    assert run_dir.is_dir() and any(run_dir.glob("*.wandb"))
    assert run_dir.is_relative_to(tmp_path / "logs" / "digits_diehl_cook")
    last = tmp_path / "checkpoints" / "digits_diehl_cook" / "last.ckpt"
    assert f"checkpoints: {last.parent} (last: {last})" in out
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["hyper_parameters"]["n_neurons"] == 16
    assert checkpoint["global_step"] == 2
    # The configuration is saved in the run's own folder, and the report says where.
    assert f"config: {run_dir / 'config.yaml'}" in out
    assert (run_dir / "config.yaml").is_file()


def test_resume_from_last_checkpoint_continues_the_fit(tmp_path: Path) -> None:
    first = cli(["fit", "--config", DIGITS, *SMALL, "--trainer.max_epochs", "1",
                 "--test_after_fit", "false"])  # fmt: skip
    weights = first.model.input_connection.weight.detach().clone()
    last = tmp_path / "checkpoints" / "digits_diehl_cook" / "last.ckpt"
    assert last.is_file()
    resumed = cli(["fit", "--config", DIGITS, *SMALL, "--trainer.max_epochs", "2",
                   "--test_after_fit", "false", "--ckpt_path", "last"])  # fmt: skip
    # Two more batches on top of the first two, counted by both Lightning and LocalLearning.
    assert resumed.trainer.global_step == 4
    (local,) = [c for c in resumed.trainer.callbacks if isinstance(c, LocalLearning)]
    assert local.steps == 4
    assert resumed.trainer.current_epoch == 2
    # It started from the saved weights, not from a fresh initialisation: the weights after the
    # resumed epoch differ from the first run's, and so do they from a fresh 1-epoch fit's.
    assert not torch.equal(resumed.model.input_connection.weight, weights)
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4


def test_print_config_merges_configs_left_to_right(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("model:\n  init_args:\n    n_neurons: 100\ntrainer:\n  max_epochs: 3\n")
    with pytest.raises(SystemExit) as exit_info:
        cli(["fit", "--config", DIGITS, "--config", str(override), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: inferno_lightning.models.DiehlCook2015" in printed
    assert "n_neurons: 100" in printed and "n_neurons: 400" not in printed
    assert "max_epochs: 3" in printed
    assert "n_inputs: 64" in printed  # kept from the first config


def test_models_and_data_by_short_name() -> None:
    run = cli(
        ["--model", "DiehlCook2015", "--model.n_inputs", "64", "--model.n_neurons", "10",
         "--data", "DigitsDataModule", "--data.batch_size", "8", "--trainer.logger", "false"],
        run=False,
    )  # fmt: skip
    assert type(run.model) is DiehlCook2015
    assert run.model.hparams.n_neurons == 10 and run.model.input_connection.weight.shape == (10, 64)
    assert type(run.datamodule) is DigitsDataModule and run.datamodule.batch_size == 8


def test_unknown_recipe_key_is_an_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["fit", "--config", DIGITS, "--model.init_args.n_nerons", "5"])
    assert exit_info.value.code != 0
    assert "n_nerons" in capsys.readouterr().err


def test_bad_model_value_is_an_error_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="n_neurons"):
        cli(["--config", DIGITS, "--model.init_args.n_neurons", "0"], run=False)


def test_main_returns_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    argv = ["inferno-lightning", "fit", "--config", DIGITS, *SMALL, "--trainer.max_epochs", "1",
            "--trainer.logger", "false", "--test_after_fit", "false"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    assert main() is None
    argv[1] = "validate"
    monkeypatch.setattr(sys, "argv", [*argv, "--ckpt_path", "last"])
    assert main() is None


def test_console_script_is_installed_and_helps() -> None:
    script = Path(sys.executable).with_name("inferno-lightning")
    assert script.is_file()
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    for subcommand in ("fit", "validate", "test", "predict"):
        assert subcommand in done.stdout


def test_wandb_configured_reads_env_and_netrc(tmp_path: Path) -> None:
    empty = tmp_path / "empty-netrc"
    empty.write_text("")
    assert not wandb_configured({"NETRC": str(empty)})
    assert wandb_configured({"NETRC": str(empty), "WANDB_MODE": "disabled"})
    assert wandb_configured({"NETRC": str(empty), "WANDB_API_KEY": "x" * 40})
    logged_in = tmp_path / "netrc"
    logged_in.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    os.chmod(logged_in, 0o600)
    assert wandb_configured({"NETRC": str(logged_in)})


def test_cli_goes_offline_when_wandb_is_not_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    cli(["--model", "DiehlCook2015", "--data", "DigitsDataModule"], run=False)
    assert os.environ["WANDB_MODE"] == "offline"


def test_rules_without_local_learning_callback_refuse_to_fit() -> None:
    model = DiehlCook2015(n_inputs=64, n_neurons=4, presentation_time=5.0)
    trainer = pl.Trainer(
        max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    weights = model.input_connection.weight.detach().clone()
    with pytest.raises(RuntimeError, match="LocalLearning"):
        trainer.fit(model, datamodule=DigitsDataModule(batch_size=4))
    assert torch.equal(model.input_connection.weight, weights)


def test_num_threads_sets_torch_threads_before_building() -> None:
    before = torch.get_num_threads()
    try:
        run = cli(
            ["--config", DIGITS, "--num_threads", "1", "--trainer.logger", "false"], run=False
        )
        assert torch.get_num_threads() == 1 and run.config["num_threads"] == 1
        with pytest.raises(ValueError, match="num_threads"):
            cli(["--config", DIGITS, "--num_threads", "0"], run=False)
    finally:
        torch.set_num_threads(before)


def test_a_checkpoint_of_another_model_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    cli(
        ["fit", "--config", DIGITS, *SMALL, "--trainer.max_steps", "1", "--test_after_fit", "false"]
    )
    last = tmp_path / "checkpoints" / "digits_diehl_cook" / "last.ckpt"
    before = last.read_bytes()
    surrogate = str(ROOT / "recipes" / "digits_surrogate.yaml")
    with pytest.raises(
        ValueError,
        match=r"was written by a inferno_lightning\.models\.diehl_cook\.DiehlCook2015, but",
    ):
        cli(["fit", "--config", surrogate, "--ckpt_path", str(last)])
    assert last.read_bytes() == before
    assert not (tmp_path / "checkpoints" / "digits_surrogate").exists()
    # Through the Trainer alone (no CLI), the model refuses it before loading any state.
    from inferno_lightning.models import SurrogateConvSNN

    model = SurrogateConvSNN(input_shape=(1, 8, 8), channels=(2,), hidden=4, n_steps=2)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    with pytest.raises(ValueError, match="DiehlCook2015, not a .*SurrogateConvSNN"):
        trainer.fit(model, datamodule=DigitsDataModule(batch_size=8), ckpt_path=last)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


def test_compile_step_flag_compiles_the_models_step() -> None:
    plain = cli(["--config", DIGITS, "--trainer.logger", "false"], run=False)
    assert plain.model.compiled_step() == plain.model.step
    run = cli(
        ["--config", DIGITS, "--compile_step", "true", "--trainer.logger", "false"], run=False
    )
    assert run.model._compile_options == {}
