"""The ``inferno-lightning`` command: LightningCLI over the package's models and data modules.

::

    inferno-lightning fit --config recipes/digits_diehl_cook.yaml
    inferno-lightning fit --config recipes/digits_diehl_cook.yaml --ckpt_path last   # resume
    inferno-lightning test --config recipes/digits_diehl_cook.yaml --ckpt_path last
    inferno-lightning predict --config recipes/digits_diehl_cook.yaml --ckpt_path last
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
``WANDB_MODE`` (``online``, ``offline`` or ``disabled``). W&B's own terminal
output is silenced (``WANDB_SILENT``, unless the user set it): the command's
report says where the run went.

Errors in the configuration, a checkpoint that does not fit it and missing
data are found before any logger run starts; the console command prints them
alone (``error: ...``, with a "did you mean" for a mistyped option) and exits
with status 1 (2 for options the parser rejects).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import netrc
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import (
    ArgsType,
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from typing_extensions import override

# Imported for their side effect: short names (``--model DiehlCook2015``) resolve among
# the imported subclasses, and the ddp_local strategies are registered.
from . import data as _data  # noqa: F401
from . import models as _models  # noqa: F401
from . import strategies as _strategies  # noqa: F401
from .checkpoint_io import read_checkpoint

__all__ = [
    "InfernoLightningCLI",
    "RunConfig",
    "check_checkpoint_model",
    "cli",
    "main",
    "wandb_configured",
]

# Warnings the project's own use of its dependencies causes, and that a user cannot act on.
# Each is matched by its message only, and only while a command runs.
QUIET_WARNINGS = (
    # Lightning's pytree helper on torch >= 2.10 (lightning/pytorch/utilities/_pytree.py).
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # cli() passes the command line as `args` while sys.argv holds it too (or a host's options).
    r"LightningCLI's args parameter is intended to run from within Python",
    # A recipe's checkpoint folder holds the previous run's files by design: a later run
    # resumes from them (--ckpt_path last) or replaces them.
    r"Checkpoint directory .* exists and is not empty",
)
# Lightning's advertisement for its cloud logger, printed on every run.
_QUIET_INFO = ("💡 Tip:",)
# Set on an error found before a run starts (configuration, checkpoint, data): main() prints
# such an error alone instead of a traceback.
_BEFORE_RUN = "_inferno_lightning_before_run"


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


@contextmanager
def _before_run() -> Iterator[None]:
    """Mark an error raised inside as found before the run (printed alone by :func:`main`)."""
    try:
        yield
    except Exception as error:
        setattr(error, _BEFORE_RUN, True)
        raise


def _close_matches(word: str, candidates: list[str]) -> list[str]:
    return difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)


def _init_parameters(class_path: str) -> list[str]:
    target = _resolve(class_path)
    if not inspect.isclass(target):
        return []
    try:
        parameters = inspect.signature(target.__init__).parameters
    except (TypeError, ValueError):
        return []
    return [
        name
        for name, parameter in parameters.items()
        if name != "self"
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]


def plain_message(text: str) -> str:
    """The reasons inside jsonargparse's "Does not validate against any of the Union subtypes" text.

    jsonargparse wraps an error raised while building a model or data module
    (``n_neurons must be a positive int, got 0``) into a list of the union's
    subtypes, the error of each and a dump of every argument; this keeps the
    errors and drops the rest. Any other text is returned as it is.
    """
    if "Does not validate against any of the Union subtypes" not in text:
        return text
    reasons = [
        line.strip()[2:]
        for line in text.splitlines()
        if line.strip().startswith("- ") and "Expected a <class 'NoneType'>" not in line
    ]
    return "; ".join(reasons) if reasons else text


def concise_error(message: str, options: list[str]) -> str:
    """One short error for a rejected command line, with a "did you mean" where one is close.

    Args:
        message: jsonargparse's error message.
        options: the option strings the parser accepts (``--trainer.max_epochs``, ...).

    Returns:
        ``error: ...`` lines, without the usage dump.
    """
    rejected = re.search(
        r"Parser key \"([\w.]+)\":.*?class_path '([\w.]+)':\s*Option '(\w+)' is not accepted",
        message,
        flags=re.DOTALL,
    )
    if rejected:
        key, class_path, option = rejected.groups()
        accepted = _init_parameters(class_path)
        name = class_path.rpartition(".")[2]
        text = f"error: --{key}.init_args.{option}: {name} takes no argument {option!r}"
        close = _close_matches(option, accepted)
        if close:
            text += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif accepted:
            text += f"; it takes {', '.join(accepted)}"
        return text
    unknown = re.search(r"unrecognized arguments: (.*)", message, flags=re.IGNORECASE)
    if unknown:
        lines = [f"error: unrecognized arguments: {unknown.group(1).strip()}"]
        for word in unknown.group(1).split():
            if word.startswith("--"):
                close = _close_matches(word.split("=")[0], options)
                if close:
                    lines.append(f"  {word}: did you mean {' or '.join(close)}?")
        return "\n".join(lines)
    # Other messages: the reasons, without jsonargparse's "Given value" dumps.
    message = plain_message(message)
    kept = [line for line in message.splitlines() if not line.strip().startswith("Given value")]
    return "error: " + "\n".join(kept).strip()


class _Parser(LightningArgumentParser):
    """LightningArgumentParser whose errors are one short message instead of a usage dump."""

    @override
    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        options = [
            option
            for action in parser._actions
            for option in action.option_strings
            if option.startswith("--")
        ]
        words = parser.prog.replace(" [options]", "").split()
        command = " ".join(["inferno-lightning", *words[1:]])
        sys.stderr.write(concise_error(message, options) + "\n")
        sys.stderr.write(f"(every option: {command} --help)\n")
        sys.exit(2)


def _run_folder(trainer: pl.Trainer) -> Path | None:
    """The folder of this run's logs: the W&B run folder, or a versioned TensorBoard/CSV folder."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            if _wandb_mode(run) == "disabled":
                continue
            folder = getattr(run, "dir", None)
            if folder:
                return Path(folder).resolve().parent
        elif isinstance(logger, (TensorBoardLogger, CSVLogger)):
            return Path(logger.log_dir).resolve()
    return None


def _unused_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/<stem>-N<suffix>`` with the first N that is not taken."""
    path = folder / name
    stem, suffix = os.path.splitext(name)
    number = 1
    while path.exists():
        path = folder / f"{stem}-{number}{suffix}"
        number += 1
    return path


class RunConfig(SaveConfigCallback):
    """Saves the command's configuration once per run, in the run's own folder.

    The W&B run folder (``.../wandb/offline-run-*/config.yaml``), or the
    versioned TensorBoard or CSV folder; without such a logger, the Trainer's
    log folder under a name no earlier command has taken (``config.yaml``,
    ``config-1.yaml``, ...). A later command never overwrites an earlier
    command's configuration. :attr:`path` is where it went (rank zero).
    """

    path: Path | None = None

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        if trainer.is_global_zero:
            folder = _run_folder(trainer)
            if folder is None:
                folder = Path(trainer.log_dir or trainer.default_root_dir).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            self.path = _unused_path(folder, self.config_filename)
            # Every option, None ones included (reproducible); jsonargparse 4.49 renamed the flag.
            keep = (
                {"skip_unset": False}
                if "skip_unset" in inspect.signature(self.parser.save).parameters
                else {"skip_none": False}
            )
            self.parser.save(self.config, str(self.path), overwrite=False, multifile=False, **keep)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)


def _same(a: Any, b: Any) -> bool:
    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(a) == plain(b)


def overridden_model_options(args: list[str]) -> list[str]:
    """The model arguments a command line sets (``--model.init_args.n_neurons 100`` gives ``n_neurons``).

    Args:
        args: the command line, without the program name.

    Returns:
        the argument names, in order, each once.
    """
    names: list[str] = []
    for word in args:
        if not word.startswith("--model."):
            continue
        key = word[len("--model.") :].split("=", 1)[0]
        for lead in ("init_args.", "dict_kwargs."):
            if key.startswith(lead):
                key = key[len(lead) :]
        name = key.split(".", 1)[0]
        if name and name not in ("help", "class_path", "init_args") and name not in names:
            names.append(name)
    return names


class InfernoLightningCLI(LightningCLI):
    """LightningCLI with the package's defaults.

    Differences from :class:`~lightning.pytorch.cli.LightningCLI`:

    * any LightningModule or LightningDataModule by class path or short name
      (subclass mode); the configuration of each run saved in the run's own
      log folder (:class:`RunConfig`), never over an earlier run's;
    * ``--num_threads N`` sets torch's CPU threads before anything is built;
    * ``--compile_step true`` compiles the model's simulation step
      (:meth:`~inferno_lightning.SpikingModule.compile_step`);
    * ``fit --test_after_fit true`` tests the fitted model right after
      fitting (the recipes set it), so one command trains and reports;
    * ``--ckpt_path last`` resolves to the newest ``last*.ckpt`` of the
      configured checkpoint folders; a checkpoint of another model class, or
      a command-line model argument that contradicts the checkpoint's
      hyperparameters, is refused before anything is built;
    * the data are set up, and a label-readout model without a checkpoint
      refuses to be evaluated, before any logger run starts;
    * ``predict`` writes the predictions to ``predictions.pt`` in the run's
      folder;
    * after each subcommand the rank-zero process prints the final metrics,
      where the logs, configuration, predictions and checkpoints went
      (``validate`` and ``test`` print no results table of their own unless
      ``--verbose true``).
    """

    def __init__(self, args: ArgsType = None, run: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("save_config_callback", RunConfig)
        kwargs.setdefault("parser_class", _Parser)
        self._command_line = (
            [str(a) for a in args]
            if isinstance(args, (list, tuple))
            else list(sys.argv[1:])
            if args is None
            else []
        )
        self.predictions_path: Path | None = None
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

    @override
    def _prepare_subcommand_parser(
        self, klass: type, subcommand: str, **kwargs: Any
    ) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if "verbose" in self._subcommand_method_arguments.get(subcommand, {}):
            # The command's report prints the metrics; Lightning's table would repeat them.
            parser.set_defaults(verbose=False)
        return parser

    def _resolve_last(self, subcommand: str) -> None:
        """Replace ``ckpt_path: last`` by the newest ``last*.ckpt`` in the configured folders."""
        config = self.config[subcommand]
        if config.get("ckpt_path") != "last":
            return
        callbacks = (config.get("trainer") or {}).get("callbacks") or []
        found: list[Path] = []
        searched: set[str] = set()
        for spec in callbacks if isinstance(callbacks, list) else [callbacks]:
            if not hasattr(spec, "get"):
                continue
            target = _resolve(str(spec.get("class_path", "")))
            if not (inspect.isclass(target) and issubclass(target, ModelCheckpoint)):
                continue
            dirpath = (spec.get("init_args") or {}).get("dirpath")
            if dirpath:
                searched.add(str(Path(dirpath).resolve()))
                found += [
                    path
                    for path in Path(dirpath).glob("last*.ckpt")
                    if re.fullmatch(r"last(-v\d+)?\.ckpt", path.name)
                ]
        if found:
            config["ckpt_path"] = str(max(found, key=lambda path: path.stat().st_mtime).resolve())
        elif subcommand in ("validate", "test", "predict"):
            folders = ", ".join(sorted(searched)) or "none configured"
            raise FileNotFoundError(
                f"--ckpt_path last: no last.ckpt in the checkpoint folders ({folders}); fit "
                "first, or pass a checkpoint file"
            )

    def _check_overrides(self, subcommand: str, path: str) -> None:
        """Refuse command-line model arguments that contradict the checkpoint's hyperparameters."""
        model = self.config[subcommand].get("model")
        names = overridden_model_options(self._command_line)
        if model is None or not names:
            return
        init_args = model.get("init_args") or {}
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        saved = checkpoint.get("hyper_parameters") or {}
        for name in names:
            if name in saved and name in init_args and not _same(init_args[name], saved[name]):
                raise ValueError(
                    f"--model.init_args.{name} {init_args[name]!r} contradicts the checkpoint "
                    f"{path}, trained with {name}={saved[name]!r}: its weights need its own "
                    f"hyperparameters. Drop the override to use the checkpoint as trained, or "
                    f"train a new model (fit without --ckpt_path)"
                )

    def _parse_ckpt_path(self) -> None:
        # LightningCLI replaces the configured model by the class a checkpoint names; a checkpoint
        # of another model must be refused instead, before anything is built.
        subcommand = self.config.get("subcommand")
        with _before_run():
            if subcommand:
                self._resolve_last(subcommand)
                path = self.config[subcommand].get("ckpt_path")
                model = self.config[subcommand].get("model")
                if path and Path(path).is_file() and model is not None:
                    check_checkpoint_model(path, str(model.get("class_path", "")))
                    self._check_overrides(subcommand, path)
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
                error = ValueError(f"num_threads must be a positive int or null, got {threads!r}")
                setattr(error, _BEFORE_RUN, True)
                raise error
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
        with _before_run():
            super().instantiate_classes()
            config = self.config.get(self.subcommand) if self.subcommand else self.config
            if config is not None and config.get("compile_step"):
                compile_step = getattr(self.model, "compile_step", None)
                if not callable(compile_step):
                    raise ValueError(
                        f"compile_step needs a SpikingModule model, got {type(self.model).__name__}"
                    )
                compile_step()
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                # Lightning passes anonymous=None, for which wandb warns that the setting
                # has no effect.
                init = getattr(logger, "_wandb_init", None)
                if not isinstance(init, dict):
                    continue
                if init.get("anonymous") is None:
                    init.pop("anonymous", None)
                # wandb reads WANDB_MODE once per process; each command follows its own.
                if os.environ.get("WANDB_MODE") and not init.get("mode"):
                    init["mode"] = os.environ["WANDB_MODE"]
        if self.datamodule is not None and self.datamodule.hparams_initial:
            # Lightning merges the model's and the data module's hyperparameters into one flat
            # dict for the loggers and fails on a name both use with different values (`seed`):
            # the data module's are logged under "data/" by _DataHyperparameters instead.
            self.datamodule._log_hyperparams = False
            self.trainer.callbacks.append(_DataHyperparameters())
        if getattr(self.model, "rules", None):
            # A model trained by local rules alone has no optimizer by design.
            warnings.filterwarnings(
                "ignore", message=r"`LightningModule.configure_optimizers` returned `None`"
            )

    # --------------------------------------------------------------- before the run

    def _check_before_run(self, subcommand: str) -> None:
        """Set up the data and check the model can run, before any logger run starts."""
        config = self.config_init[subcommand]
        with _before_run():
            if subcommand in ("validate", "test", "predict") and not config.get("ckpt_path"):
                check = getattr(self.model, "check_assignments", None)
                if callable(check):
                    check()
            datamodule = self.datamodule
            if datamodule is None or getattr(datamodule, "download", False):
                return  # a download happens in prepare_data(), under the Trainer
            stages = [subcommand]
            if subcommand == "fit" and config.get("test_after_fit"):
                stages.append("test")
            for stage in stages:
                datamodule.setup(stage)

    def before_fit(self) -> None:
        """Check the data before the run."""
        self._check_before_run("fit")

    def before_validate(self) -> None:
        """Check the data and the model before the run."""
        self._check_before_run("validate")

    def before_test(self) -> None:
        """Check the data and the model before the run."""
        self._check_before_run("test")

    def before_predict(self) -> None:
        """Check the data and the model before the run."""
        self._check_before_run("predict")

    # ----------------------------------------------------------------- the run

    def predict(self, **kwargs: Any) -> None:
        """Predict, then write the predictions to ``predictions.pt`` in the run's folder (rank zero)."""
        kwargs.setdefault("return_predictions", True)
        predictions = self.trainer.predict(**kwargs)
        if predictions is None or not self.trainer.is_global_zero:
            return
        folder = _run_folder(self.trainer) or Path(
            self.trainer.log_dir or self.trainer.default_root_dir
        )
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        batches = predictions
        if predictions and isinstance(predictions[0], list):  # several dataloaders
            batches = [batch for loader in predictions for batch in loader]
        if batches and all(isinstance(b, torch.Tensor) for b in batches):
            try:
                predictions = torch.cat([b.detach().cpu() for b in batches])
            except RuntimeError:
                pass  # batches of different shapes: kept as the list of batches
        self.predictions_path = _unused_path(folder, "predictions.pt")
        torch.save(predictions, self.predictions_path)

    def after_fit(self) -> None:
        """Test after fitting when asked to, then report."""
        if self.config.get("fit", {}).get("test_after_fit"):
            self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)
        self.report()

    def after_validate(self) -> None:
        """Report the validation metrics and the log folders."""
        self.report()

    def after_test(self) -> None:
        """Report the test metrics and the log folders."""
        self.report()

    def after_predict(self) -> None:
        """Report where the predictions and logs went."""
        self.report()

    @rank_zero_only
    def report(self) -> None:
        """Print the final metrics, the log folders and the checkpoint folder."""
        lines = [report_text(self.trainer)]
        config = next((c for c in self.trainer.callbacks if isinstance(c, RunConfig)), None)
        if config is not None and config.path is not None:
            lines.append(f"config: {config.path}")
        if self.predictions_path is not None:
            predictions = torch.load(self.predictions_path, weights_only=False)
            size = f" ({len(predictions)} samples)" if isinstance(predictions, torch.Tensor) else ""
            lines.append(f"predictions: {self.predictions_path}{size}")
        print("\n".join(line for line in lines if line), flush=True)


class _DataHyperparameters(pl.Callback):
    """Logs the data module's hyperparameters under ``data/`` (rank zero, once per stage)."""

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or not trainer.is_global_zero:
            return
        values = {
            f"data/{k}": v
            for k, v in datamodule.hparams_initial.items()
            if k not in ("_class_path", "_instantiator")
        }
        for logger in trainer.loggers:
            logger.log_hyperparams(values)


def _wandb_mode(run: Any) -> str:
    """``"online"``, ``"offline"`` or ``"disabled"``: how a W&B run records."""
    settings = getattr(run, "settings", None)
    mode = str(getattr(settings, "mode", "") or "")
    if getattr(run, "disabled", False) or mode == "disabled" or getattr(settings, "_noop", False):
        return "disabled"
    if getattr(settings, "_offline", False) or mode in ("offline", "dryrun"):
        return "offline"
    return "online"


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
        trainer: the trainer after ``fit``, ``validate``, ``test`` or ``predict``.

    Returns:
        a few lines of text, e.g. ``test/accuracy: 0.9028`` then ``logs (wandb,
        offline): logs/wandb/offline-run-...``; a W&B logger in disabled mode
        is reported as writing nothing.
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
            mode = _wandb_mode(run)
            if mode == "disabled":
                lines.append("logs (wandb, disabled): nothing written (WANDB_MODE=disabled)")
                continue
            folder = os.path.dirname(run.dir) if getattr(run, "dir", None) else logger.save_dir
            folder = os.path.abspath(folder)
            if mode == "offline":
                hint = f" (upload with: wandb sync {folder})"
            else:
                url = getattr(run, "url", None)
                hint = f" ({url})" if url else ""
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


class _DropInfo(logging.Filter):
    """Drops log records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefixes)


def cli(args: ArgsType = None, run: bool = True) -> InfernoLightningCLI:
    """Parse ``args`` (``sys.argv[1:]`` when ``None``), build and (with ``run``) run the command.

    Without W&B configured (see :func:`wandb_configured`), ``WANDB_MODE`` is
    set to ``offline`` for this process, so W&B loggers write offline runs;
    unless the user set ``WANDB_SILENT``, it is set to ``true`` (the report
    says where the run went). The warnings in :data:`QUIET_WARNINGS` (caused
    by how the project uses its dependencies, matched by message) are
    ignored while the command runs.

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
    os.environ.setdefault("WANDB_SILENT", "true")
    info = _DropInfo(_QUIET_INFO)
    lightning_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    lightning_log.addFilter(info)
    try:
        with warnings.catch_warnings():
            for message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            command = InfernoLightningCLI(args=args, run=run)
    finally:
        lightning_log.removeFilter(info)
    if run:
        # The run is over: close W&B runs so that a next command in the same process (a
        # notebook, a test) starts its own run instead of appending to this one.
        for logger in command.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger.experiment.finish()
    return command


def main() -> None:
    """Console entry point of ``inferno-lightning``.

    An error in the configuration, the checkpoint or the data, found before
    the run starts, is printed alone (``error: ...``) and the process exits
    with status 1; errors during the run keep their traceback.
    """
    try:
        cli(None)
    except Exception as error:
        if not getattr(error, _BEFORE_RUN, False):
            raise
        sys.stderr.write(f"error: {plain_message(str(error))}\n")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
