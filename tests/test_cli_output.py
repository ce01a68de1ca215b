"""What the ``inferno-lightning`` command says and writes: true, in the run's folder, and quiet.

Each test runs the command on the digits recipe shrunk to a few small batches.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from inferno_lightning.cli import cli, main
from inferno_lightning.data import DigitsDataModule
from inferno_lightning.models import DiehlCook2015

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "recipes" / "digits_diehl_cook.yaml")
MNIST = str(ROOT / "recipes" / "mnist_diehl_cook.yaml")
SMALL = [
    "--model.init_args.n_neurons", "16",
    "--model.init_args.presentation_time", "10",
    "--data.init_args.batch_size", "16",
    "--trainer.limit_train_batches", "2",
    "--trainer.limit_val_batches", "1",
    "--trainer.limit_test_batches", "1",
    "--trainer.limit_predict_batches", "2",
    "--trainer.max_epochs", "1",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def fit(*options: str) -> None:
    cli(["fit", "--config", DIGITS, *SMALL, "--test_after_fit", "false", *options])


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int | str | None:
    monkeypatch.setattr(sys, "argv", ["inferno-lightning", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def offline_runs(tmp_path: Path, recipe: str = "digits_diehl_cook") -> list[Path]:
    return sorted((tmp_path / "logs" / recipe / "wandb").glob("offline-run-*"))


# -------------------------------------------------------------------------- item 3


def test_testing_an_untrained_label_readout_model_is_refused(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="no assignments.*--ckpt_path"):
        cli(["test", "--config", DIGITS, *SMALL])
    # Refused before any logger run started.
    assert offline_runs(tmp_path) == []
    # The console command prints the error alone and fails.
    assert run_main(monkeypatch, "test", "--config", DIGITS, *SMALL) == 1
    err = capfd.readouterr().err
    assert "error: DiehlCook2015 has no assignments" in err and "--ckpt_path last" in err
    assert "Traceback" not in err
    # A plain Trainer refuses too, instead of reporting accuracy 0.
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_test_batches=1)  # fmt: skip
    model = DiehlCook2015(n_inputs=64, n_neurons=4, presentation_time=5.0)
    with pytest.raises(RuntimeError, match="no assignments.*ckpt_path"):
        trainer.test(model, datamodule=DigitsDataModule(batch_size=8), verbose=False)


def test_evaluating_with_no_last_checkpoint_is_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--ckpt_path last: no last.ckpt in .*digits_diehl"):
        cli(["validate", "--config", DIGITS, *SMALL, "--ckpt_path", "last"])
    assert offline_runs(tmp_path) == []


def test_testing_a_fitted_checkpoint_reports_its_accuracy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fit()
    capsys.readouterr()
    run = cli(["test", "--config", DIGITS, *SMALL, "--ckpt_path", "last"])
    out = capsys.readouterr().out
    accuracy = float(run.trainer.callback_metrics["test/accuracy"])
    assert f"test/accuracy: {accuracy:.4f}" in out
    # The report is the result; Lightning's table would repeat it.
    assert "Test metric" not in out


# -------------------------------------------------------------------------- item 4


def test_predict_writes_the_predictions_in_the_runs_folder_and_says_where(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fit()
    capsys.readouterr()
    run = cli(["predict", "--config", DIGITS, *SMALL, "--ckpt_path", "last"])
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("predictions: ")]
    path = Path(line.split()[1])
    assert line.endswith("(32 samples)")  # two batches of 16
    (predict_run,) = [r for r in offline_runs(tmp_path) if (r / "predictions.pt").exists()]
    assert path == predict_run / "predictions.pt"
    predictions = torch.load(path, weights_only=True)
    assert predictions.shape == (32,) and predictions.dtype == torch.int64
    assert int(predictions.min()) >= -1 and int(predictions.max()) <= 9
    assert run.predictions_path == path


# -------------------------------------------------------------------------- item 5


def test_an_override_contradicting_the_checkpoint_is_refused_naming_both_values(
    tmp_path: Path,
) -> None:
    fit()  # 16 neurons
    with pytest.raises(ValueError, match=r"n_neurons 100 contradicts .*n_neurons=16"):
        cli(["test", "--config", DIGITS, *SMALL, "--model.init_args.n_neurons", "100",
             "--ckpt_path", "last"])  # fmt: skip
    last = tmp_path / "checkpoints" / "digits_diehl_cook" / "last.ckpt"
    with pytest.raises(ValueError, match=r"presentation_time 20.0 contradicts .*=10.0"):
        cli(["test", "--config", DIGITS, *SMALL, "--model.init_args.presentation_time", "20",
             "--ckpt_path", str(last)])  # fmt: skip
    # Without overrides the recipe's 400 neurons give way to the checkpoint's 16, as trained.
    run = cli(["test", "--config", DIGITS, *SMALL[2:], "--ckpt_path", "last"])
    assert run.model.hparams.n_neurons == 16


# -------------------------------------------------------------------------- item 6


def test_data_seed_differing_from_the_models_seed_fits_and_both_are_logged(
    tmp_path: Path,
) -> None:
    run = cli(["fit", "--config", DIGITS, *SMALL, "--test_after_fit", "false",
               "--data.init_args.seed", "1",
               "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
               "--trainer.logger.save_dir", "csv"])  # fmt: skip
    assert run.trainer.global_step == 2
    logged = yaml.safe_load((Path(run.trainer.logger.log_dir) / "hparams.yaml").read_text())
    assert logged["seed"] == 0 and logged["data/seed"] == 1


# -------------------------------------------------------------------------- item 7


def test_wandb_disabled_is_reported_as_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    fit()
    out = capsys.readouterr().out
    assert "logs (wandb, disabled): nothing written" in out
    assert "online" not in out and "wandb sync" not in out
    assert not (tmp_path / "logs" / "digits_diehl_cook" / "wandb").exists()


# -------------------------------------------------------------------------- item 8


def test_a_second_run_replaces_checkpoints_and_keeps_each_runs_config(tmp_path: Path) -> None:
    fit()
    fit("--trainer.max_epochs", "2")
    folder = tmp_path / "checkpoints" / "digits_diehl_cook"
    names = sorted(path.name for path in folder.glob("*.ckpt"))
    assert not [name for name in names if "-v" in name], names
    saved = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=False)
    assert saved["epoch"] == 1  # the second run's
    cli(["test", "--config", DIGITS, *SMALL, "--ckpt_path", "last"])
    configs = [run / "config.yaml" for run in offline_runs(tmp_path)]
    assert len(configs) == 3 and all(path.is_file() for path in configs)
    epochs = [yaml.safe_load(path.read_text())["trainer"]["max_epochs"] for path in configs]
    assert sorted(epochs) == [1, 1, 2]
    assert sum("ckpt_path: last" in path.read_text() for path in configs) == 0
    assert sum("/last.ckpt" in path.read_text() for path in configs) == 1  # the test's


# -------------------------------------------------------------------------- item 10


def test_a_mistyped_option_is_one_short_error_with_a_suggestion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["fit", "--config", DIGITS, "--model.init_args.n_nerons", "5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'n_neurons'?" in err
    assert "usage:" not in err and "--trainer.max_epochs" not in err
    assert len(err.strip().splitlines()) <= 3
    with pytest.raises(SystemExit):
        cli(["fit", "--config", DIGITS, "--trainer.max_epoks", "5"])
    assert "did you mean --trainer.max_epochs?" in capsys.readouterr().err


def test_a_bad_value_is_printed_alone_by_the_command(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run_main(monkeypatch, "fit", "--config", DIGITS, "--model.init_args.n_neurons", "0") == 1
    err = capfd.readouterr().err
    assert err.startswith("error: n_neurons must be a positive int")
    assert "Traceback" not in err
    assert offline_runs(tmp_path) == []


def test_missing_data_is_printed_alone_before_any_wandb_run(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("INFERNO_LIGHTNING_DATA", str(tmp_path / "empty"))
    assert run_main(monkeypatch, "fit", "--config", MNIST) == 1
    err = capfd.readouterr().err
    assert err.startswith("error: MNIST (train split) was not found")
    assert "Traceback" not in err
    assert offline_runs(tmp_path, "mnist_diehl_cook") == []


# -------------------------------------------------------------------------- item 9

NOISE = [
    "LightningCLI's args parameter",  # how the project called LightningCLI
    "anonymous setting",  # W&B, about an argument Lightning passes
    "wandb:",  # W&B's banner and run summary, repeating the project's report
    "Run summary",
    "this fit will run with no optimizer",  # a model trained by local rules alone
    "Trainable params",
    "LeafSpec",  # a deprecation inside Lightning
    "Tip:",  # Lightning's advertisement
    "Test metric",  # Lightning's results table, repeating the report
    "exists and is not empty",  # the second run into the recipe's checkpoint folder
]


@pytest.mark.slow
def test_the_command_prints_the_result_and_nothing_a_user_cannot_act_on(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("inferno-lightning")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    environ["NETRC"] = str(netrc)  # W&B not configured: the command goes offline by itself
    command = [str(script), "fit", "--config", DIGITS, *SMALL[:-2]]
    for _ in range(2):  # the second run finds the first one's checkpoints
        done = subprocess.run(
            command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    found = [noise for noise in NOISE if noise in printed]
    assert not found, printed
    assert "test/accuracy: " in done.stdout and "logs (wandb, offline): " in done.stdout
    assert "checkpoints: " in done.stdout and "config: " in done.stdout
