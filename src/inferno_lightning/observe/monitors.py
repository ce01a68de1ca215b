"""Monitors: forward hooks that feed a module's state to a Reducer every step.

A :class:`Monitor` observes one module. After each ``forward`` of that module
(one simulation step) it reads the observation, detaches it and hands it to
its :class:`~inferno_lightning.observe.reducers.Reducer`, which keeps a bounded
summary. What is observed is named by ``attribute``:

* ``"output"``: what ``forward`` returned (e.g. a neuron group's spikes);
* ``"input"``: the first positional argument of ``forward``, read by a forward
  *pre*-hook, before the module can change it;
* any other string: a dotted attribute path read from the module after
  ``forward`` (``"voltage"``, ``"neuron.voltage"``, ``"synapse.current"``).
  ``"input"`` and ``"output"`` are reserved for the above.

A :class:`MonitorPool` shares monitors: learning rules that need the same
observation (same module object, same attribute, same reducer class and
hyperparameters, same train/eval switches) get one monitor, counted per user,
whose hook is removed when the last user releases it.

Pickling (DDP spawn, ``copy.deepcopy``): a monitor's hook is a bound method of
the monitor, stored in the observed module's hook dictionary, and its hook
handle pickles by value, so pickling the observed module (or a model holding
both) keeps the monitor attached in the copy; :meth:`Monitor.remove` works
there too. No lambdas or closures are stored anywhere.

State: monitors and pools add no entries to ``state_dict`` (reducer state is
per sample and non-persistent); ``reset()`` clears what was kept. A pool that
is a submodule of the model is reset by any network-wide reset that calls
``reset()`` on every :class:`~inferno_lightning.neural.base.StatefulModule`
(reducers are stateful modules).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .reducers import Reducer

__all__ = ["Monitor", "MonitorPool", "INPUT", "OUTPUT"]

#: ``attribute`` that observes the first positional input of ``forward``.
INPUT = "input"
#: ``attribute`` that observes the value returned by ``forward``.
OUTPUT = "output"


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _check_path(module: nn.Module, attribute: str) -> tuple[str, ...]:
    """Split a dotted attribute path and check that it resolves on ``module``.

    The last name may be a property that only works once the module has state
    (e.g. a neuron's ``voltage`` before the first step), so a class-level
    property is accepted without being read.
    """
    path = tuple(attribute.split("."))
    if any(not part.isidentifier() for part in path):
        raise ValueError(
            f"attribute must be 'input', 'output' or a dotted attribute path such as "
            f"'neuron.voltage', got {attribute!r}"
        )
    obj: Any = module
    for i, name in enumerate(path):
        if i == len(path) - 1 and isinstance(getattr(type(obj), name, None), property):
            break
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise AttributeError(
                f"attribute {attribute!r} does not resolve on {type(module).__name__}: "
                f"{type(obj).__name__} has no attribute {name!r}"
            ) from None
    return path


class Monitor(nn.Module):
    """Records a named state of ``module`` each step through ``reducer``.

    The monitor registers a hook on ``module`` at construction (see
    :meth:`register` and :meth:`remove`). Whether a step is recorded depends
    on the *observed module's* ``training`` flag, checked at every step.

    The monitor holds ``module`` as a plain reference, not as a submodule, so
    the module's parameters are not duplicated in the monitor's ``state_dict``
    and a monitor placed inside the model it observes creates no cycle.

    Args:
        module: the module to observe.
        attribute: ``"output"``, ``"input"`` or a dotted attribute path read
            from ``module`` after its ``forward`` (see the module docstring).
        reducer: what to keep of the observations.
        train_update: record while ``module.training`` is True.
        eval_update: record while ``module.training`` is False.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``, ``reducer`` not a
            :class:`Reducer`, a flag not a bool.
        AttributeError: ``attribute`` does not resolve on ``module``.
        ValueError: ``attribute`` is not a valid path, or both flags are False
            (a monitor that never records).

    Example::

        monitor = Monitor(lif, "voltage", HistoryReducer(step_time=1.0, duration=10.0))
        for t in range(T):
            lif(inputs[t])
        voltages = monitor.peek()  # (11, batch, *shape), oldest first
        monitor.reset()            # with the network's state, between samples
    """

    def __init__(
        self,
        module: nn.Module,
        attribute: str,
        reducer: Reducer,
        *,
        train_update: bool = True,
        eval_update: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if not isinstance(reducer, Reducer):
            raise TypeError(f"reducer must be a Reducer, got {type(reducer).__name__}")
        if not isinstance(attribute, str):
            raise TypeError(f"attribute must be a str, got {attribute!r}")
        train_update = _check_flag("train_update", train_update)
        eval_update = _check_flag("eval_update", eval_update)
        if not (train_update or eval_update):
            raise ValueError(
                "train_update and eval_update are both False: the monitor would never record"
            )
        self._path = () if attribute in (INPUT, OUTPUT) else _check_path(module, attribute)
        self.reducer = reducer
        # A plain reference (not a submodule): see the class docstring.
        object.__setattr__(self, "_observed", module)
        self._attribute = attribute
        self._train_update = train_update
        self._eval_update = eval_update
        self._handle: RemovableHandle | None = None
        self.register()

    @property
    def observed(self) -> nn.Module:
        """The observed module."""
        return self._observed

    @property
    def attribute(self) -> str:
        """What is observed: ``"input"``, ``"output"`` or an attribute path."""
        return self._attribute

    @property
    def train_update(self) -> bool:
        """Whether steps are recorded while the observed module is training."""
        return self._train_update

    @property
    def eval_update(self) -> bool:
        """Whether steps are recorded while the observed module is in eval mode."""
        return self._eval_update

    @property
    def registered(self) -> bool:
        """Whether the hook is attached (it is from construction until :meth:`remove`)."""
        return self._handle is not None

    def register(self) -> None:
        """Attach the hook to the observed module (no-op when attached)."""
        if self._handle is not None:
            return
        if self._attribute == INPUT:
            self._handle = self._observed.register_forward_pre_hook(self._record_input)
        elif self._attribute == OUTPUT:
            self._handle = self._observed.register_forward_hook(self._record_output)
        else:
            self._handle = self._observed.register_forward_hook(self._record_attribute)

    def remove(self) -> None:
        """Detach the hook (no-op when detached); what was kept stays readable."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def peek(self) -> torch.Tensor | None:
        """What the reducer keeps (see its ``peek``), ``None`` before the first step."""
        return self.reducer.peek()

    def reset(self) -> None:
        """Clear what was kept (per-sample state), as between samples."""
        self.reducer.reset()

    def _records(self, module: nn.Module) -> bool:
        return self._train_update if module.training else self._eval_update

    def _feed(self, value: object) -> None:
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Monitor of {type(self._observed).__name__} {self._attribute!r} expected a "
                f"tensor, got {type(value).__name__}"
            )
        # Calls forward directly: reducers carry no hooks, and this runs every step.
        # The reducer detaches the value (no autograd graph is kept).
        self._modules["reducer"].forward(value)

    def _record_input(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self._records(module):
            self._feed(args[0] if args else None)

    def _record_output(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self._records(module):
            self._feed(output)

    def _record_attribute(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self._records(module):
            value: Any = module
            for name in self._path:
                value = getattr(value, name)
            self._feed(value)

    def extra_repr(self) -> str:
        return (
            f"observed={type(self._observed).__name__}, attribute={self._attribute!r}, "
            f"train_update={self._train_update}, eval_update={self._eval_update}, "
            f"registered={self.registered}"
        )


class MonitorPool(nn.Module):
    """Monitors shared between users (learning rules), with reference counts.

    :meth:`get_or_create` returns the existing monitor when one observes the
    same module object and attribute with an equal reducer (same class, equal
    :attr:`~inferno_lightning.observe.reducers.Reducer.config`) and the same
    ``train_update`` / ``eval_update``; otherwise it creates one. Each call
    counts one user; :meth:`release` removes the hook only when the last user
    releases the monitor.

    The pool is an ``nn.Module`` holding its monitors as submodules, so
    ``pool.to(device)`` moves the kept state and a pool placed in the model is
    reset with it; it adds nothing to ``state_dict``.

    Example::

        pool = MonitorPool()
        post = pool.get_or_create(
            neuron, "spike", NearestTraceReducer(step_time=1.0, time_constant=20.0)
        )
        again = pool.get_or_create(
            neuron, "spike", NearestTraceReducer(step_time=1.0, time_constant=20.0)
        )
        assert again is post and pool.users(post) == 2
        pool.reset()         # between samples
        pool.release(post)   # one user left: still recording
        pool.release(again)  # none left: hook removed
    """

    def __init__(self) -> None:
        super().__init__()
        self.monitors = nn.ModuleList()
        self._keys: list[tuple[Any, ...]] = []
        self._users: list[int] = []

    @staticmethod
    def _key(
        attribute: str, reducer: Reducer, train_update: bool, eval_update: bool
    ) -> tuple[Any, ...]:
        return (
            attribute,
            type(reducer),
            tuple(sorted(reducer.config.items())),
            train_update,
            eval_update,
        )

    def get_or_create(
        self,
        module: nn.Module,
        attribute: str,
        reducer: Reducer,
        *,
        train_update: bool = True,
        eval_update: bool = True,
    ) -> Monitor:
        """The shared monitor for this observation, created on first request.

        Args are those of :class:`Monitor`. When an equal monitor exists,
        ``reducer`` serves only as its description and is not used: read the
        observations from the returned monitor.

        Returns:
            The monitor; this call counts as one user of it.

        Raises:
            As :class:`Monitor`.
        """
        train_update = _check_flag("train_update", train_update)
        eval_update = _check_flag("eval_update", eval_update)
        if not isinstance(reducer, Reducer):
            raise TypeError(f"reducer must be a Reducer, got {type(reducer).__name__}")
        key = self._key(attribute, reducer, train_update, eval_update)
        # A linear scan by identity: ids change in a pickled copy, identity does
        # not, and a pool holds tens of monitors at most, searched at setup only.
        for i, monitor in enumerate(self.monitors):
            if monitor.observed is module and self._keys[i] == key:
                self._users[i] += 1
                return monitor
        monitor = Monitor(
            module, attribute, reducer, train_update=train_update, eval_update=eval_update
        )
        self.monitors.append(monitor)
        self._keys.append(key)
        self._users.append(1)
        return monitor

    def _index(self, monitor: Monitor) -> int:
        for i, m in enumerate(self.monitors):
            if m is monitor:
                return i
        raise ValueError(f"monitor is not in this pool: {monitor!r}")

    def users(self, monitor: Monitor) -> int:
        """Number of users holding ``monitor``.

        Raises:
            ValueError: ``monitor`` is not in this pool.
        """
        return self._users[self._index(monitor)]

    def release(self, monitor: Monitor) -> None:
        """Drop one user of ``monitor``; the last user's release removes its hook.

        Raises:
            ValueError: ``monitor`` is not in this pool (or already fully released).
        """
        i = self._index(monitor)
        self._users[i] -= 1
        if self._users[i] == 0:
            monitor.remove()
            del self.monitors[i]
            del self._keys[i]
            del self._users[i]

    def clear(self) -> None:
        """Remove every monitor's hook and empty the pool, whatever the users."""
        for monitor in self.monitors:
            monitor.remove()
        self.monitors = nn.ModuleList()
        self._keys = []
        self._users = []

    def reset(self) -> None:
        """Clear what every monitor kept (per-sample state), as between samples."""
        for monitor in self.monitors:
            monitor.reset()

    def __len__(self) -> int:
        return len(self.monitors)

    def __iter__(self) -> Iterator[Monitor]:
        return iter(self.monitors)

    def __contains__(self, monitor: object) -> bool:
        return any(m is monitor for m in self.monitors)
