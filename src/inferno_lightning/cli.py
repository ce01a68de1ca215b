"""The ``inferno-lightning`` command: LightningCLI over the package's models and data modules.

::

    inferno-lightning fit --config recipes/digits_diehl_cook.yaml
    inferno-lightning fit --config recipes/digits_diehl_cook.yaml --ckpt_path last   # resume
    inferno-lightning test --config recipes/digits_diehl_cook.yaml --ckpt_path last
    inferno-lightning fit --config recipes/mnist_surrogate.yaml --print_config

Subcommands ``fit``, ``validate``, ``test`` and ``predict``; several
``--config`` files merge left to right, and any option can be overridden on
the command line (``--model.n_neurons 100``, ``--trainer.max_epochs 2``).
Models and data modules are chosen by class path or by short name
(``--model DiehlCook2015``, ``--data MNISTDataModule``): every LightningModule
and LightningDataModule of the package is imported here so that short names
resolve.

Weights & Biases: a run logs offline (to ``<save_dir>/wandb/offline-run-*``;
upload later with ``wandb sync``) unless the user has configured W&B (an API
key in ``WANDB_API_KEY`` or from ``wandb login``) or chosen a mode with
``WANDB_MODE`` (``online``, ``offline`` or ``disabled``).
"""

from __future__ import annotations

import importlib
import netrc
import os
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from typing_extensions import override

# Imported for their side effect: short names (``--model DiehlCook2015``) resolve among
# the imported subclasses, and the ddp_local strategies are registered.
from . import data as _data  # noqa: F401
from . import models as _models  # noqa: F401
from . import strategies as _strategies  # noqa: F401
from .checkpoint_io import read_checkpoint

__all__ = ["InfernoLightningCLI", "check_checkpoint_model", "cli", "main", "wandb_configured"]


def wandb_configured(environ: dict[str, str] | None = None) -> bool:
    """Whether the user has configured Weights & Biases.

    True when ``WANDB_MODE`` or ``WANDB_API_KEY`` is set, or the netrc file
    (``$NETRC`` or ``~/.netrc``, where ``wandb login`` stores the key) holds
    credentials for ``api.wandb.ai``.

    Args:
        environ: the environment to read (``os.environ`` by default).
    """
    environ = dict(os.environ) if environ is None else environ
    if environ.get("WANDB_MODE") or environ.get("WANDB_API_KEY"):
        return True
    path = environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return netrc.netrc(path).authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class InfernoLightningCLI(LightningCLI):
    """LightningCLI with the package's defaults.

    Differences from :class:`~lightning.pytorch.cli.LightningCLI`:

    * any LightningModule or LightningDataModule by class path or short name
      (subclass mode), the configuration saved next to the logs (overwriting
      a previous copy, so that resuming into the same folder works);
    * ``--num_threads N`` sets torch's CPU threads before anything is built;
    * ``--compile_step true`` compiles the model's simulation step
      (:meth:`~inferno_lightning.SpikingModule.compile_step`);
    * ``fit --test_after_fit true`` tests the fitted model right after
      fitting (the recipes set it), so one command trains and reports;
    * after ``fit``, ``validate`` and ``test`` the rank-zero process prints
      the final metrics, where the logs went and where the checkpoints are.
    """

    def __init__(self, args: ArgsType = None, run: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(
            model_class=pl.LightningModule,
            datamodule_class=pl.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            run=run,
            **kwargs,
        )

    @override
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="After fit, test the fitted model on the data module's test set (fit only).",
        )
        parser.add_argument(
            "--compile_step",
            type=bool,
            default=False,
            help="Run the model's simulation step through torch.compile "
            "(SpikingModule.compile_step); pays on long runs.",
        )
        parser.add_argument(
            "--num_threads",
            type=int | None,
            default=None,
            help="torch CPU threads (torch.set_num_threads); small networks run fastest on 1. "
            "Default: torch's choice.",
        )

    def _parse_ckpt_path(self) -> None:
        # LightningCLI replaces the configured model by the class a checkpoint names; a checkpoint
        # of another model must be refused instead, before anything is built.
        subcommand = self.config.get("subcommand")
        if subcommand:
            path = self.config[subcommand].get("ckpt_path")
            model = self.config[subcommand].get("model")
            if path and Path(path).is_file() and model is not None:
                check_checkpoint_model(path, str(model.get("class_path", "")))
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        """Set the CPU threads (``num_threads``) and make W&B folders absolute.

        W&B's background service, shared by all runs of a process, resolves a
        relative ``save_dir`` against its own working directory (that of the
        first run), so a second command in the same process (a notebook, a
        test) would write its run into the first one's folder.
        """
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        threads = config.get("num_threads") if config is not None else None
        if threads is not None:
            if isinstance(threads, bool) or threads < 1:
                raise ValueError(f"num_threads must be a positive int or null, got {threads!r}")
            torch.set_num_threads(threads)
        trainer = config.get("trainer") if config is not None else None
        loggers = trainer.get("logger") if trainer is not None else None
        for spec in loggers if isinstance(loggers, list) else [loggers]:
            if not hasattr(spec, "get") or not str(spec.get("class_path", "")).endswith(
                "WandbLogger"
            ):
                continue
            init_args = spec.get("init_args")
            for key in ("save_dir", "dir"):
                if init_args is not None and init_args.get(key):
                    init_args[key] = os.path.abspath(init_args[key])

    @override
    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        if config is not None and config.get("compile_step"):
            compile_step = getattr(self.model, "compile_step", None)
            if not callable(compile_step):
                raise ValueError(
                    f"compile_step needs a SpikingModule model, got {type(self.model).__name__}"
                )
            compile_step()

    def after_fit(self) -> None:
        """Test after fitting when asked to, then report."""
        if self.config.get("fit", {}).get("test_after_fit"):
            self.trainer.test(self.model, datamodule=self.datamodule)
        self.report()

    def after_validate(self) -> None:
        """Report the validation metrics and the log folders."""
        self.report()

    def after_test(self) -> None:
        """Report the test metrics and the log folders."""
        self.report()

    @rank_zero_only
    def report(self) -> None:
        """Print the final metrics, the log folders and the checkpoint folder."""
        print(report_text(self.trainer), flush=True)


def _resolve(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return class_path


def check_checkpoint_model(path: str | os.PathLike[str], class_path: str) -> None:
    """Refuse a checkpoint written by another model class than ``class_path``.

    Args:
        path: the checkpoint file.
        class_path: the configured model's class path.

    Raises:
        CheckpointError: the file is empty, truncated or not a checkpoint.
        ValueError: the checkpoint names another model class, naming both.
    """
    checkpoint = read_checkpoint(path, map_location="cpu", weights_only=True)
    hyper_parameters = checkpoint.get("hyper_parameters") or {}
    written = checkpoint.get("inferno_lightning_model") or hyper_parameters.get("_class_path")
    if not written or not class_path or _resolve(written) is _resolve(class_path):
        return
    raise ValueError(
        f"ckpt_path {os.fspath(path)!r} was written by a {written}, but the configuration "
        f"builds a {class_path}: pass the recipe or --model the checkpoint was trained with, "
        "or another checkpoint; nothing was loaded or written"
    )


def report_text(trainer: pl.Trainer) -> str:
    """What a run produced: its logged metrics, where the logs and checkpoints went.

    Args:
        trainer: the trainer after ``fit``, ``validate`` or ``test``.

    Returns:
        a few lines of text, e.g. ``test/accuracy: 0.9028`` then ``logs (wandb,
        offline): logs/wandb/offline-run-...``.
    """
    lines = []
    metrics = {
        name: float(value)
        for name, value in sorted(trainer.callback_metrics.items())
        if name.startswith(("val/", "test/")) and value.numel() == 1
    }
    for name, value in metrics.items():
        lines.append(f"{name}: {value:.4f}")
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            mode = "offline" if getattr(run.settings, "_offline", False) else "online"
            folder = os.path.dirname(run.dir) if getattr(run, "dir", None) else logger.save_dir
            folder = os.path.abspath(folder)
            hint = f" (upload with: wandb sync {folder})" if mode == "offline" else ""
            lines.append(f"logs (wandb, {mode}): {folder}{hint}")
        elif isinstance(logger, (TensorBoardLogger, CSVLogger)):
            kind = "tensorboard" if isinstance(logger, TensorBoardLogger) else "csv"
            lines.append(f"logs ({kind}): {os.path.abspath(logger.log_dir)}")
        else:
            lines.append(f"logs ({type(logger).__name__}): {logger.save_dir}")
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and getattr(checkpoint, "dirpath", None):
        last = getattr(checkpoint, "last_model_path", "") or ""
        lines.append(f"checkpoints: {checkpoint.dirpath}" + (f" (last: {last})" if last else ""))
    return "\n".join(lines)


def cli(args: ArgsType = None, run: bool = True) -> InfernoLightningCLI:
    """Parse ``args`` (``sys.argv[1:]`` when ``None``), build and (with ``run``) run the command.

    Without W&B configured (see :func:`wandb_configured`), ``WANDB_MODE`` is
    set to ``offline`` for this process, so W&B loggers write offline runs.

    Args:
        args: the command line as a list (``["fit", "--config", "x.yaml"]``)
            or a dict of already parsed options; ``None`` reads ``sys.argv``.
        run: run the subcommand; ``False`` only parses and instantiates (give
            no subcommand then).

    Returns:
        the CLI object, holding ``model``, ``datamodule``, ``trainer`` and ``config``.
    """
    if not wandb_configured():
        os.environ["WANDB_MODE"] = "offline"
    command = InfernoLightningCLI(args=args, run=run)
    if run:
        # The run is over: close W&B runs so that a next command in the same process (a
        # notebook, a test) starts its own run instead of appending to this one.
        for logger in command.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger.experiment.finish()
    return command


def main() -> None:
    """Console entry point of ``inferno-lightning`` (returns ``None``: the exit code stays 0)."""
    cli(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
