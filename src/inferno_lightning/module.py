"""SpikingModule: the Lightning face of a spiking network.

A :class:`SpikingModule` runs the simulation time loop over a batch, resets
per-sample state before each batch, lets registered local learning rules
accumulate their updates after every simulation step, and works with no
optimizer (pure local learning, applied by the
:class:`~inferno_lightning.callbacks.LocalLearning` callback), with an optimizer
(surrogate gradients through time), or with both.

Like torchgeo's trainers, ``__init__`` calls template methods that a model
overrides: :meth:`configure_network`, :meth:`configure_rules`,
:meth:`configure_metrics`; one simulation step is :meth:`step`.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import nn
from typing_extensions import override

from . import strategies as _strategies  # noqa: F401  (registers the ddp_local strategies)
from ._validation import (
    check_choice,
    check_like,
    deferred_finite_checks,
    host_readable,
    positive,
)
from .checkpoint_io import AtomicCheckpointIO, check_checkpoint_file
from .learn import Updater
from .neural.base import StatefulModule
from .observe import MonitorPool

__all__ = ["SpikingModule"]


def _quiet_generic_validation_step() -> None:
    """Filter the one Lightning warning that SpikingModule's generic ``validation_step`` causes.

    Lightning warns every fit without validation data that the user "defined a
    ``validation_step``", which a SpikingModule user never wrote. Only that
    message is filtered (installed on import).
    """
    warnings.filterwarnings(
        "ignore",
        message=r"You defined a `validation_step` but have no `val_dataloader`\. Skipping val loop\.",
        category=PossibleUserWarning,
    )


_quiet_generic_validation_step()

StepHook = Callable[["SpikingModule"], None]


def _unpassable_init_arguments(cls: type) -> list[str]:
    """Init argument names of ``cls``'s chain up to :class:`SpikingModule` that ``cls(**hparams)`` cannot take.

    The most derived ``__init__`` takes its own named arguments, and, when it
    has ``**kwargs``, those of the next ``__init__`` in the method resolution
    order (the one it passes them on to), and so on.
    """
    every: set[str] = set()
    passable: set[str] = set()
    open_chain = True
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            parameters = list(inspect.signature(init).parameters.values())[1:]  # after self
            names = [
                p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            ]
            every.update(names)
            if open_chain:
                passable.update(names)
                open_chain = any(p.kind is p.VAR_KEYWORD for p in parameters)
        if klass is SpikingModule:
            break
    return sorted(every - passable)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _reference_tensor(module: nn.Module) -> torch.Tensor | None:
    """The first floating-point parameter (else buffer) of ``module``: its dtype and device."""
    for tensor in module.parameters():
        if tensor.is_floating_point():
            return tensor
    for tensor in module.buffers():
        if tensor is not None and tensor.is_floating_point():
            return tensor
    return None


class _Snapshot:
    """What a training batch may change persistently, saved so that a failed batch is undone.

    Persistent buffers (adaptive thresholds, label statistics), the parameters
    when something may write them during the time loop (step hooks, e.g.
    ``LocalLearning(apply_every="step")``), and the running sums of every
    Accumulator: those empty before the batch are cleared, the others get
    their saved sums back. Per-sample state is not saved: the next batch
    resets it anyway.
    """

    def __init__(self, root: nn.Module, parameters: bool) -> None:
        self.tensors: list[tuple[nn.Module, str, torch.Tensor, torch.Tensor]] = []
        self.accumulators: list[tuple[Any, dict[str, Any] | None]] = []
        with torch.no_grad():
            for module in root.modules():
                skip = module._non_persistent_buffers_set
                for name, buffer in module._buffers.items():
                    if buffer is not None and name not in skip:
                        self.tensors.append((module, name, buffer, buffer.clone()))
                if parameters:
                    for name, param in module._parameters.items():
                        if param is not None:
                            self.tensors.append((module, name, param, param.detach().clone()))
                if isinstance(module, Updater):
                    for accumulator in module.accumulators.values():
                        state = None
                        if accumulator.steps > 0:
                            state = accumulator.state_dict()
                            state["sums"] = [
                                None if t is None else t.clone() for t in state["sums"]
                            ]
                            state["history"] = [[t.clone() for t in h] for h in state["history"]]
                        self.accumulators.append((accumulator, state))

    def restore(self) -> None:
        with torch.no_grad():
            for module, name, original, saved in self.tensors:
                current = module._parameters.get(name, module._buffers.get(name))
                if current is original and current.shape == saved.shape:
                    original.copy_(saved)
                else:
                    setattr(module, name, saved)
        for accumulator, state in self.accumulators:
            if state is None:
                accumulator.clear()
            else:
                accumulator.load_state_dict(state)


def _counted(output: torch.Tensor) -> torch.Tensor:
    """A step's output as a summand: boolean spikes count as ``int64`` (what ``sum`` gives)."""
    return output.to(torch.int64) if output.dtype == torch.bool else output


class _Outputs:
    """The time loop's outputs: every step's (``"stack"``) or their running sum (``"sum"``).

    With autograd (``graph``) outputs are kept as they come and combined out of
    place. Without it, components update their state in place and may return
    it, so each output is copied (or added) into one buffer allocated at the
    first step.
    """

    def __init__(self, steps: int, reduce: str, graph: bool) -> None:
        self.steps, self.sum, self.graph = steps, reduce == "sum", graph
        self.kept: list[torch.Tensor] = []
        self.total: torch.Tensor | None = None

    def add(self, t: int, output: torch.Tensor) -> None:
        total = self.total
        if self.sum:
            if total is None:
                self.total = _counted(output) if self.graph else _counted(output).clone()
            elif self.graph:
                self.total = total + _counted(output)
            else:
                total.add_(output)
        elif self.graph:
            self.kept.append(output)
        else:
            if total is None:
                total = self.total = output.new_empty((self.steps, *output.shape))
            total[t].copy_(output)

    def result(self) -> torch.Tensor:
        if not self.sum and self.graph:
            return torch.stack(self.kept)
        assert self.total is not None
        return self.total


class SpikingModule(pl.LightningModule):
    r"""LightningModule base for spiking networks.

    One batch: :meth:`reset_state`, then for each of the ``T`` time steps
    :meth:`step` on that step's input, then (in training, when any rule is
    registered) :meth:`learning_step`, then the step hooks (the
    :class:`~inferno_lightning.callbacks.LocalLearning` callback applies updates
    there when configured to apply every simulation step).

    Subclasses build their network in :meth:`configure_network`, register
    rules on cells in :meth:`configure_rules` (into :attr:`rules`, sharing
    :attr:`monitors`), and implement :meth:`step`. For gradient training they
    implement :meth:`training_loss` and ``configure_optimizers``.

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        time_dim: dimension of the time axis in raw inputs when no
            :meth:`encode` override turns inputs into spike trains: ``0`` for
            ``(T, batch, ...)``, ``1`` for ``(batch, T, ...)`` as a DataLoader
            collates time-series samples.
        seed: base seed of :attr:`generator`, the random stream for encoding.
            Each rank draws from ``seed + global_rank``; the stream's state is
            saved in checkpoints so a resumed fit draws what an uninterrupted
            one would.

    Attributes:
        monitors: the shared :class:`~inferno_lightning.observe.MonitorPool`.
        rules: the registered local learning rules, called after each step.

    The init arguments of a subclass are saved as hyperparameters (in
    :attr:`hparams`, and in checkpoints) before :meth:`configure_network` runs.

    Example::

        class Net(SpikingModule):
            def __init__(self, n_in: int = 784, n_out: int = 100, **kwargs):
                super().__init__(**kwargs)
            def configure_network(self):
                n_in, n_out = self.hparams.n_in, self.hparams.n_out
                self.layer = Serial(LinearDense(n_in, n_out, ...), LIF(n_out, ...))
            def configure_rules(self):
                self.rules.append(STDP(..., monitors=self.monitors))
                self.rules[0].register(self.layer.cell())
            def step(self, inputs):
                return self.layer(inputs)
    """

    def __init__(self, step_time: float = 1.0, time_dim: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.step_time = float(positive("step_time", step_time, "ms"))
        if time_dim not in (0, 1):
            raise ValueError(
                f"time_dim must be 0 (T, batch, ...) or 1 (batch, T, ...), got {time_dim!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.time_dim = time_dim
        self.seed = seed
        # The init arguments of the most derived class, so that configure_network() can
        # read self.hparams and load_from_checkpoint rebuilds the model with cls(**hparams).
        self.save_hyperparameters(ignore=_unpassable_init_arguments(type(self)))
        self.monitors = MonitorPool()
        self.rules = nn.ModuleList()
        self._step_hooks: list[StepHook] = []
        self._generator: torch.Generator | None = None
        self._generator_state: torch.Tensor | None = None
        # torch.compile options of the compiled step, or None for the eager step.
        self._compile_options: dict[str, Any] | None = None
        self._compiled_step: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._compiled_learning_step: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.configure_network()
        self.configure_rules()
        self.configure_metrics()
        if not self.uses_gradients:
            # No loss to minimise: Lightning need not (and under DDP cannot) run an optimizer
            # loop whose training_step returns None.
            self.automatic_optimization = False

    # ----------------------------------------------------------------- template
    def configure_network(self) -> None:
        """Build layers, neurons and connections (override)."""

    def configure_rules(self) -> None:
        """Create learning rules, register them on cells, append them to :attr:`rules` (override)."""

    def configure_metrics(self) -> None:
        """Create torchmetrics metrics (override)."""

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance the network one simulation step.

        Args:
            inputs: this step's input, ``(batch, ...)``.

        Returns:
            this step's output, ``(batch, ...)`` (typically output spikes).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step(inputs)")

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Turn a batch of raw inputs into a time-major input ``(T, batch, ...)``.

        The default takes inputs that already hold a time axis at
        :attr:`time_dim`. Override to encode (e.g. Poisson spikes drawn with
        :attr:`generator`).
        """
        if inputs.dim() < 2:
            raise ValueError(
                f"inputs must have a time and a batch dimension, got shape {tuple(inputs.shape)}"
            )
        return inputs if self.time_dim == 0 else inputs.transpose(0, 1)

    def training_loss(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor | None:
        """Loss to minimise by gradient descent; ``None`` (the default) for local learning only.

        Args:
            outputs: stacked step outputs ``(T, batch, ...)``.
            targets: the batch's targets (``None`` for unlabelled data).
        """
        return None

    def learning_step(self, **inputs: Any) -> None:
        """Let every rule accumulate this step's update.

        Each rule takes the keyword inputs it names in its ``inputs`` (e.g.
        ``reward`` for MSTDP) and ignores the others. A reward-modulated model
        overrides this method and calls ``super().learning_step(reward=r)``
        with the reward of this step, shaped ``(batch,)``.
        """
        for rule in self.rules:
            rule(**inputs)

    # ------------------------------------------------------------------ running
    @property
    def generator(self) -> torch.Generator:
        """Random stream for encoding on this module's device, seeded ``seed + global_rank``."""
        device = self.device
        if self._generator is None or self._generator.device != device:
            generator = torch.Generator(device=device)
            if self._generator_state is not None:
                generator.set_state(self._generator_state)
                self._generator_state = None
            else:
                rank = self.global_rank if self._trainer is not None else 0
                generator.manual_seed(self.seed + rank)
            self._generator = generator
        return self._generator

    def reset_state(self) -> None:
        """Drop every per-sample state (neurons, synapses, monitors, rule traces)."""
        for module in self.modules():
            if isinstance(module, StatefulModule):
                module.reset()

    def register_step_hook(self, hook: StepHook) -> None:
        """Call ``hook(self)`` after every training simulation step (after :meth:`learning_step`)."""
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {hook!r}")
        self._step_hooks.append(hook)

    def remove_step_hook(self, hook: StepHook) -> None:
        """Remove a hook added by :meth:`register_step_hook` (no error if absent)."""
        self._step_hooks = [h for h in self._step_hooks if h != hook]

    def compile_step(self, **options: Any) -> None:
        """Run each simulation step through ``torch.compile(..., **options)`` from now on.

        In training with learning rules, the compiled function is the whole
        learning step, :meth:`step` then :meth:`learning_step` (neurons,
        synapses, the rules' traces and their updates into the Accumulators)
        as one graph: nothing in it reads a tensor on the host, so it traces
        without a graph break (``tests/test_module.py`` checks this with
        ``torch._dynamo.explain``); otherwise it is :meth:`step` alone. Step
        hooks stay eager. The compiled step computes what the eager one does
        (to float tolerance; ``tests/test_module.py`` and
        ``tests/neural/test_compiled_neurons.py`` check it), so the eager path
        stays the reference. Compilation happens on the first simulated batch
        and again for new shapes, dtypes or a switch between training and
        evaluation (seconds per graph on CPU). Compiled, a non-finite input
        or update raises a ``RuntimeError`` from the kernel (a device-side
        assert on CUDA) rather than a ``ValueError``, still before any state
        or weight is written. The compiled function is not pickled (DDP
        spawn, ``copy``): a copy compiles again on first use.

        On the 2-core CPU this repository is measured on, Inductor's kernels
        are not faster than the eager step with its event-driven updates
        (``benchmarks/stdp_dense.py --compiled``); the switch is for
        accelerators, where one graph per step saves the launches.

        Args:
            options: keyword arguments of :func:`torch.compile` (e.g.
                ``mode="reduce-overhead"`` for CUDA graphs on GPU).

        Raises:
            TypeError: an option :func:`torch.compile` does not take.
        """
        allowed = set(inspect.signature(torch.compile).parameters) - {"model"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise TypeError(
                f"compile_step got options torch.compile does not take: {unknown}; "
                f"expected some of {sorted(allowed)}"
            )
        self._compile_options = dict(options)
        self._compiled_step = None
        self._compiled_learning_step = None

    def eager_step(self) -> None:
        """Go back to the eager :meth:`step` (undoes :meth:`compile_step`)."""
        self._compile_options = None
        self._compiled_step = None
        self._compiled_learning_step = None

    def step_and_learn(self, inputs: torch.Tensor) -> torch.Tensor:
        """One learning step: :meth:`step`, then :meth:`learning_step`; returns the step's output."""
        outputs = self.step(inputs)
        self.learning_step()
        return outputs

    def compiled_step(self, learning: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
        """The function the time loop calls each step.

        Args:
            learning: include :meth:`learning_step` (training with rules):
                :meth:`step_and_learn` instead of :meth:`step`.

        Returns:
            That function, or its compiled form after :meth:`compile_step`.
        """
        eager = self.step_and_learn if learning else self.step
        if self._compile_options is None:
            return eager
        if learning:
            if self._compiled_learning_step is None:
                self._compiled_learning_step = torch.compile(eager, **self._compile_options)
            return self._compiled_learning_step
        if self._compiled_step is None:
            self._compiled_step = torch.compile(eager, **self._compile_options)
        return self._compiled_step

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        # A compiled function does not pickle; recompiled on use.
        state["_compiled_step"] = state["_compiled_learning_step"] = None
        return state

    @property
    def uses_gradients(self) -> bool:
        """Whether this model trains by gradient descent: it overrides :meth:`training_loss`.

        A model that does not runs its time loop without autograd (local rules
        need no graph, and synapses then update their state in place), and the
        ``ddp_local`` strategies do not wrap it in ``DistributedDataParallel``.
        """
        return type(self).training_loss is not SpikingModule.training_loss

    @property
    def learning(self) -> bool:
        """Whether rules accumulate this step: in training mode with rules registered."""
        return self.training and len(self.rules) > 0

    def simulate(self, inputs: torch.Tensor, reduce: str = "stack") -> torch.Tensor:
        """Run the time loop from a fresh state.

        Args:
            inputs: time-major input ``(T, batch, ...)``.
            reduce: ``"stack"`` (default) keeps every step's output;
                ``"sum"`` keeps only their running sum over time (e.g. spike
                counts; boolean outputs are counted as ``int64``), so nothing
                of the output grows with :math:`T`.

        Returns:
            the stacked outputs of :meth:`step`, ``(T, batch, ...)``, or their
            sum over time, ``(batch, ...)``.
        """
        check_choice("reduce", reduce, ("stack", "sum"))
        self.check_batch(inputs)
        if not self.training:
            return self._simulate(inputs, reduce)
        # A failed training batch leaves nothing persistent changed (DESIGN.md invariant 6).
        saved = _Snapshot(self, parameters=bool(self._step_hooks))
        try:
            return self._simulate(inputs, reduce)
        except BaseException:
            saved.restore()
            raise

    def check_batch(self, inputs: torch.Tensor) -> None:
        """Check a time-major batch before anything steps; one host synchronisation at most.

        Args:
            inputs: ``(T, batch, ...)``, as :meth:`simulate` takes it.

        Raises:
            TypeError: not a tensor, or floating-point values in another
                dtype than the model's parameters.
            ValueError: fewer than two dimensions, no time step, an empty
                batch, another device than the model's, or a NaN or infinite
                value (the error names the first time step and sample holding one).
        """
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
        if inputs.dim() < 2 or inputs.shape[0] == 0:
            raise ValueError(
                f"inputs must be time-major (T, batch, ...) with T >= 1, got shape {tuple(inputs.shape)}"
            )
        if inputs.shape[1] == 0:
            raise ValueError(
                f"inputs has an empty batch: shape {tuple(inputs.shape)} is (T, batch, ...) with "
                "batch 0; a batch needs at least one sample"
            )
        like = _reference_tensor(self)
        if like is not None:
            check_like("inputs", inputs, like, f"the {type(self).__name__}'s parameters")
        if inputs.is_floating_point() and not bool(torch.isfinite(inputs.sum())):
            bad = ~torch.isfinite(inputs.reshape(inputs.shape[0], inputs.shape[1], -1)).all(-1)
            if bool(bad.any()):
                step, sample = (int(i) for i in bad.nonzero()[0])
                raise ValueError(
                    f"inputs must be finite: time step {step} of {inputs.shape[0]} holds NaN or "
                    f"inf (sample {sample} of the batch, {int(bad.sum())} (step, sample) pairs in "
                    "all); nothing was simulated"
                )

    def _simulate(self, inputs: torch.Tensor, reduce: str) -> torch.Tensor:
        self.reset_state()
        learning = self.learning
        hooks = self._step_hooks if self.training else ()
        step = self.compiled_step(learning)
        # On an accelerator no step reads a value on the host: finiteness checks are recorded
        # on the device and read once, after the loop (the batch is undone if one failed).
        deferred = not host_readable(inputs.device)
        with (
            torch.set_grad_enabled(torch.is_grad_enabled() and self.uses_gradients),
            deferred_finite_checks(enabled=deferred) as checks,
        ):
            outputs = _Outputs(inputs.shape[0], reduce, graph=torch.is_grad_enabled())
            for t in range(inputs.shape[0]):
                if checks is not None:
                    checks.step = t
                outputs.add(t, step(inputs[t]))
                for hook in hooks:
                    hook(self)
            if checks is not None:
                checks.raise_if_failed()
            return outputs.result()

    @override
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Encode ``inputs`` and simulate; returns the stacked outputs ``(T, batch, ...)``."""
        return self.simulate(self.encode(inputs))

    @staticmethod
    def unpack_batch(batch: Any) -> tuple[torch.Tensor, Any]:
        """Split a batch into ``(inputs, targets)``; a bare tensor has no targets."""
        if isinstance(batch, torch.Tensor):
            return batch, None
        if isinstance(batch, Sequence) and len(batch) >= 1:
            return batch[0], (batch[1] if len(batch) > 1 else None)
        if isinstance(batch, dict) and "inputs" in batch:
            return batch["inputs"], batch.get("targets")
        raise TypeError(
            "batch must be a tensor, an (inputs, targets) sequence, or a dict with 'inputs', "
            f"got {type(batch).__name__}"
        )

    @override
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        inputs, targets = self.unpack_batch(batch)
        outputs = self(inputs)
        loss = self.training_loss(outputs, targets)
        if loss is not None:
            self.log("train/loss", loss, prog_bar=True, batch_size=outputs.shape[1])
        return loss

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        inputs, targets = self.unpack_batch(batch)
        outputs = self(inputs)
        loss = self.training_loss(outputs, targets)
        if loss is not None:
            self.log("val/loss", loss, sync_dist=True, batch_size=outputs.shape[1])
        return loss

    @override
    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        inputs, targets = self.unpack_batch(batch)
        outputs = self(inputs)
        loss = self.training_loss(outputs, targets)
        if loss is not None:
            self.log("test/loss", loss, sync_dist=True, batch_size=outputs.shape[1])
        return loss

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        inputs, _ = self.unpack_batch(batch)
        return self(inputs)

    @override
    def configure_optimizers(self) -> Any:
        """No optimizer by default: local learning only. Override for gradient training."""
        return None

    @override
    def on_fit_start(self) -> None:
        """Refuse to fit local rules that nothing would apply (no LocalLearning callback).

        Raises:
            RuntimeError: rules are registered but the Trainer has no
                :class:`~inferno_lightning.callbacks.LocalLearning` callback.
        """
        from .callbacks import LocalLearning

        if len(self.rules) and not any(
            isinstance(callback, LocalLearning) for callback in self.trainer.callbacks
        ):
            names = ", ".join(type(rule).__name__ for rule in self.rules)
            raise RuntimeError(
                f"{type(self).__name__} has local learning rules ({names}) but the Trainer has no "
                "LocalLearning callback, so their updates would never be applied: pass "
                "Trainer(callbacks=[LocalLearning()]) (in a recipe: trainer.callbacks: "
                "- class_path: inferno_lightning.callbacks.LocalLearning)"
            )

    # -------------------------------------------------------------- checkpoints
    @override
    def setup(self, stage: str) -> None:
        """Read and write checkpoints through :class:`~inferno_lightning.checkpoint_io.AtomicCheckpointIO`.

        Where the Trainer has Lightning's default ``TorchCheckpointIO``, it is
        replaced by the atomic one (the same files, written so that a kill
        never leaves a partial one), so ``Trainer.fit(ckpt_path=...)`` on an
        empty or truncated file raises a
        :class:`~inferno_lightning.checkpoint_io.CheckpointError` naming it
        before anything is restored. A checkpoint IO of the user's is kept.
        """
        strategy = self.trainer.strategy
        if type(strategy.checkpoint_io) is TorchCheckpointIO:
            strategy.checkpoint_io = AtomicCheckpointIO()

    @classmethod
    @override
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Lightning's ``load_from_checkpoint``, refusing an empty or truncated file first.

        Raises:
            CheckpointError: ``checkpoint_path`` is empty, truncated or not a checkpoint.
        """
        if isinstance(checkpoint_path, (str, os.PathLike)):
            check_checkpoint_file(checkpoint_path)
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["inferno_lightning_model"] = _class_path(type(self))
        # Every rank runs this hook; each rank's stream is saved so that every rank resumes its own.
        if self._generator is None:
            return
        state = self._generator.get_state()
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:
            gathered = self.all_gather(state.to(self.device)).cpu()
            states = [gathered[r].clone() for r in range(world)]
        else:
            states = [state]
        checkpoint["inferno_lightning_generator"] = states

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the random streams; refuse a checkpoint written by another model class.

        Raises:
            ValueError: the checkpoint holds another model (before any state is loaded).
        """
        written_by = checkpoint.get("inferno_lightning_model")
        if written_by is not None and written_by != _class_path(type(self)):
            raise ValueError(
                f"checkpoint was written by a {written_by}, not a {_class_path(type(self))}: load it with "
                f"{written_by.rsplit('.', 1)[-1]} (on the command line, the --model it was trained "
                "with); nothing was loaded"
            )
        states = checkpoint.get("inferno_lightning_generator")
        if not states:
            return
        rank = self.global_rank if self._trainer is not None else 0
        self._generator = None
        # A checkpoint from fewer ranks than now: the extra ranks start from their seeds.
        self._generator_state = states[rank] if rank < len(states) else None
