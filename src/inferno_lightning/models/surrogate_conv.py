r"""SurrogateConvSNN: a convolutional spiking classifier trained by surrogate gradients through time.

Convolutional LIF layers, a fully connected LIF layer and a readout, trained
end to end by backpropagation through time (BPTT) with the spike's derivative
replaced by a smooth surrogate (Neftci, Mostafa and Zenke, "Surrogate gradient
learning in spiking neural networks", *IEEE Signal Processing Magazine* 36(6),
2019), for static images (MNIST, Fashion-MNIST, the bundled 8x8 digits) and
event frames (N-MNIST, DVS Gesture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy
from typing_extensions import override

from .._validation import as_float, check_choice, check_greater, nonnegative, positive
from ..encode import PoissonEncoder
from ..functional.neurons import lif_coefficients, lif_integrate
from ..functional.spikes import SURROGATE_NAMES, Surrogate
from ..module import SpikingModule
from ..neural import LIF, Conv2d, DeltaCurrent, LinearDense, Serial, StatefulModule

__all__ = [
    "SurrogateConvSNN",
    "ENCODINGS",
    "READOUTS",
    "POOLINGS",
    "OPTIMIZERS",
    "LR_SCHEDULES",
    "unit_jump_resistance",
]

#: Values accepted by ``SurrogateConvSNN(encoding=...)``.
ENCODINGS: tuple[str, ...] = ("direct", "poisson", "none")
#: Values accepted by ``SurrogateConvSNN(readout=...)``.
READOUTS: tuple[str, ...] = ("spike_count", "membrane")
#: Values accepted by ``SurrogateConvSNN(pooling=...)``.
POOLINGS: tuple[str, ...] = ("max", "avg")
#: Values accepted by ``SurrogateConvSNN(optimizer=...)``.
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
#: Values accepted by ``SurrogateConvSNN(lr_schedule=...)``.
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")


def unit_jump_resistance(step_time: float, time_constant: float) -> float:
    r"""Resistance (MOhm) with which :math:`x / \Delta t` nA for one step raise :math:`V` by :math:`x` mV.

    The exact LIF update adds :math:`R I (1 - e^{-\Delta t/\tau})`, so
    :math:`R = \Delta t / (1 - e^{-\Delta t/\tau})`. With it a delta
    synapse's unit charge through weight :math:`w` is a jump of :math:`w` mV,
    and the update is the discrete :math:`V_t = \beta V_{t-1} + W x_t` of the
    surrogate-gradient literature (for :math:`V_\text{rest} = 0`).
    """
    return step_time / -math.expm1(-step_time / time_constant)


def _int_at_least(name: str, value: object, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def _ints(name: str, value: object, length: int | None, what: str) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    items = tuple(value)
    if (length is not None and len(items) != length) or len(items) == 0:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ValueError(f"{name} must be {what}, got {value!r}")
    return items


class _LeakyIntegrator(StatefulModule):
    r"""Non-spiking leaky integrators: the membrane readout.

    .. math::

        V_t = V_\text{rest} + (V_{t-1} - V_\text{rest})\, e^{-\Delta t/\tau}
              + R I_t (1 - e^{-\Delta t/\tau}),
        \qquad V_0 = V_\text{rest}

    (the exact LIF update of :func:`~inferno_lightning.functional.neurons.lif_integrate`
    with no threshold). ``forward`` returns :math:`V_t - V_\text{rest}` in mV.

    Not a :class:`~inferno_lightning.neural.Neuron` (which must spike), so it is
    wired to its connection by hand rather than in a ``Serial``.
    """

    def __init__(
        self,
        shape: int,
        step_time: float,
        *,
        rest_v: float,
        time_constant: float,
        resistance: float,
    ) -> None:
        super().__init__()
        self.shape = (shape,)
        self.step_time = step_time
        self.rest_v = rest_v
        self.time_constant = time_constant
        self.coefficients = lif_coefficients(
            step_time, time_constant=time_constant, rest_v=rest_v, resistance=resistance
        )
        self.register_state("voltage")

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Integrate current ``inputs`` (nA, ``(batch, n)``); return :math:`V - V_\\text{rest}` (mV)."""
        voltage = self.voltage
        if voltage is None:
            voltage = torch.full_like(inputs, self.rest_v)
        voltage = lif_integrate(inputs, voltage, self.coefficients)
        self.voltage = voltage
        return voltage - self.rest_v

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, step_time={self.step_time}, rest_v={self.rest_v}, "
            f"time_constant={self.time_constant}"
        )


class _TimeSharedDropout(StatefulModule):
    """Dropout whose mask is drawn once per sample and kept for every time step.

    Independent masks at each step would only add noise to the spike trains;
    one mask for the whole presentation removes units, as dropout does in a
    non-spiking network. The mask is per-sample state, dropped by ``reset``.
    """

    def __init__(self, probability: float) -> None:
        super().__init__()
        self.probability = probability
        self.register_state("mask")

    def forward(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if not self.training or self.probability == 0.0:
            return inputs
        mask = self.mask
        if mask is None:
            keep = 1.0 - self.probability
            draw = torch.rand(
                inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype
            )
            mask = (draw < keep).to(inputs.dtype) / keep
            self.mask = mask
        return inputs * mask

    def extra_repr(self) -> str:
        return f"p={self.probability}"


class SurrogateConvSNN(SpikingModule):
    r"""Convolutional spiking classifier trained by surrogate gradients through time.

    **Network.** Per time step :math:`t`, for ``channels = (C_1, ..., C_L)``:

    .. math::

        x^{(0)}_t &= \text{input at } t, \quad (C, H, W) \\
        z^{(l)}_t &= \operatorname{LIF}\bigl(\operatorname{conv}_{k\times k}(x^{(l-1)}_t;\,
                     W^{(l)}, b^{(l)})\bigr), \quad (C_l, H_l, W_l) \\
        x^{(l)}_t &= \operatorname{pool}_{2\times 2}(z^{(l)}_t) \quad(\text{max or average}) \\
        h_t &= \operatorname{LIF}(W^{(h)} \operatorname{flatten}(x^{(L)}_t) + b^{(h)}),
               \quad (\text{hidden},) \\
        y_t &= W^{(o)} h_t + b^{(o)} \;\to\; \text{readout}, \quad (\text{num\_classes},)

    The convolutions (:class:`~inferno_lightning.neural.Conv2d`) and dense
    maps (:class:`~inferno_lightning.neural.LinearDense`) read their input
    through :class:`~inferno_lightning.neural.DeltaCurrent` synapses (a unit
    input delivers 1 pC within the step), and every spiking group is a
    :class:`~inferno_lightning.neural.LIF` with a surrogate spike function,
    wired in a :class:`~inferno_lightning.neural.Serial` layer. Convolutions
    are stride 1 with ``padding`` (default ``kernel_size // 2``, "same" for
    odd kernels), so :math:`H_l = \lfloor (H_{l-1}' + 2p - k + 1) / 2\rfloor`
    after pooling (a trailing odd row or column is dropped). Pooling acts on
    spikes: max pooling keeps them 0/1, average pooling passes the fraction of
    the window that spiked.

    **Neurons** (:class:`~inferno_lightning.neural.LIF`, exact update for an
    input held over the step, :math:`\beta = e^{-\Delta t/\tau}`):

    .. math::

        V_t &= V_\text{rest} + (V_{t-1} - V_\text{rest})\,\beta + R I_t (1 - \beta),
        \qquad R = \frac{\Delta t}{1 - \beta} \\
        z_t &= H(V_t - V_\text{thresh}), \qquad
        V_t \leftarrow V_\text{reset} \text{ where } z_t = 1

    With this :math:`R` (see :func:`unit_jump_resistance`) a unit input
    through weight :math:`w` raises :math:`V` by exactly :math:`w` mV, so with
    the defaults (:math:`V_\text{rest} = V_\text{reset} = 0`,
    :math:`V_\text{thresh} = 1` mV) the update is the usual
    :math:`V_t = \beta V_{t-1} + W x_t` with threshold 1. Backward, the
    Heaviside :math:`H` has the derivative of the surrogate ``surrogate``
    with slope ``surrogate_slope`` (1/mV; see
    :mod:`~inferno_lightning.functional.spikes`), the reset is not
    differentiated, and gradients flow through time through :math:`V`.

    **Readout** (:math:`T` steps, :math:`K` = ``num_classes``):

    * ``readout="spike_count"``: the output layer is LIF like the others, and
      the logits are its spike counts scaled,
      :math:`\ell_k = s\,\frac{1}{T}\sum_t z^{(o)}_{t,k}` with :math:`s` =
      ``count_scale`` (so :math:`\ell_k \in [0, s]` is a scaled rate,
      independent of :math:`T`).
    * ``readout="membrane"``: the output layer is a non-spiking leaky
      integrator with time constant ``readout_time_constant``
      (:math:`\beta_o`), :math:`U_t = \beta_o U_{t-1} + y_t` (mV above rest,
      :math:`U_0 = 0`), and the logits are its **mean over time**,
      :math:`\ell_k = \frac{1}{T}\sum_t U_{t,k}`. The mean (rather than the
      maximum over time) sends a gradient to every step and every sample's
      whole trajectory, and with constant input it is a smooth function of
      the rates of the hidden layer; the maximum reaches the same accuracy in
      the literature but passes a gradient to one step per class only.

    **Loss and training.** Cross-entropy of the logits,
    :math:`\mathcal{L} = -\frac{1}{B}\sum_b \log \operatorname{softmax}(\ell_b)_{y_b}`,
    minimised through the whole time loop (BPTT) by Adam (``optimizer``,
    ``lr``, ``weight_decay``), with the learning rate annealed to 0 along a
    cosine over the fit, :math:`\eta_n = \frac{\eta}{2}(1 + \cos(\pi n / N))`
    at optimizer step :math:`n` of the :math:`N` the trainer will take
    (``lr_schedule="cosine"``, its ``max_epochs`` or ``max_steps``; constant
    when that is unbounded), or held constant (``"constant"``). Logged: ``train/loss``, ``val/loss``,
    ``test/loss`` and ``train/accuracy``, ``val/accuracy``,
    ``test/accuracy`` (torchmetrics :class:`MulticlassAccuracy`, micro
    average, epoch values, reduced over ranks by torchmetrics under DDP).
    ``predict_step`` returns the logits ``(batch, num_classes)``; their
    ``argmax(1)`` is the predicted class (:meth:`predict`).

    **Inputs** (``encoding``):

    * ``"direct"`` (default): a static image ``(batch, C, H, W)`` of any
      finite values is fed as the input :math:`x_t` at every one of
      ``n_steps`` steps (a constant current; the first layer turns it into
      spikes);
    * ``"poisson"``: intensities in :math:`[0, 1]` become Bernoulli spike
      trains of ``n_steps`` steps at ``intensity * max_rate`` Hz
      (:class:`~inferno_lightning.encode.PoissonEncoder`), drawn from
      :attr:`generator`;
    * ``"none"``: inputs already hold a time axis, event frames
      ``(batch, T, C, H, W)`` (``time_dim=1``, as N-MNIST and DVS Gesture
      loaders collate them) or ``(T, batch, C, H, W)`` (``time_dim=0``);
      ``n_steps`` is unused and :math:`T` is the data's.

    **Initial weights.** Uniform in :math:`\pm g\,(V_\text{thresh} -
    V_\text{rest}) \sqrt{6 / \text{fan in}}` (Kaiming-uniform, He et al. 2015,
    in units of the threshold distance; :math:`g` = ``weight_gain``, doubled
    for the layers fed by average pooling, whose 2x2 mean halves the
    fluctuations of the spikes), biases 0, drawn from a generator seeded
    ``seed``. With the defaults about 10 % of the neurons of every layer
    spike at first, so neither activity nor gradients vanish with depth.

    **Dropout** (``dropout`` > 0) zeroes units of the pooled features and of
    the hidden layer's spikes, with one mask per sample for all its time
    steps (drawn from :attr:`generator`), during training only.

    Args:
        input_shape: ``(C, H, W)`` of one time step's input: ``(1, 28, 28)``
            for MNIST, ``(1, 8, 8)`` for the digits, ``(2, 34, 34)`` for
            N-MNIST, ``(2, 128, 128)`` (or downsampled) for DVS Gesture.
        num_classes: number of classes, at least 2 (11 for DVS Gesture).
        encoding: ``"direct"``, ``"poisson"`` or ``"none"`` (see above).
        n_steps: time steps per static image (``"direct"``, ``"poisson"``).
        max_rate: rate of intensity 1 for ``"poisson"``, in Hz, at most
            ``1000 / step_time`` (one spike per step).
        channels: output channels of each convolution layer, e.g. ``(32, 64)``.
        kernel_size: side of the square convolution kernels.
        padding: zero padding of each convolution, ``None`` for
            ``kernel_size // 2``.
        pooling: ``"max"`` or ``"avg"``, a 2x2 pooling of the spikes after
            each convolution layer.
        hidden: neurons of the fully connected hidden layer.
        dropout: dropout probability in :math:`[0, 1)` (0: none).
        step_time: :math:`\Delta t` in ms.
        time_constant: membrane time constant :math:`\tau` of the spiking
            layers, in ms.
        rest_v: :math:`V_\text{rest}` in mV.
        reset_v: :math:`V_\text{reset}` in mV.
        thresh_v: :math:`V_\text{thresh}` in mV, above ``reset_v`` and ``rest_v``.
        refrac_t: absolute refractory period in ms (0: none).
        surrogate: surrogate gradient, one of ``"arctan"``, ``"fast_sigmoid"``,
            ``"sigmoid"``, ``"triangle"``.
        surrogate_slope: its slope :math:`k` in 1/mV; choose it for the
            distance :math:`V_\text{thresh} - V_\text{rest}`.
        readout: ``"spike_count"`` or ``"membrane"`` (see above).
        count_scale: :math:`s`, the logit of a class whose output neuron
            spikes at every step (``"spike_count"``).
        readout_time_constant: :math:`\tau_o` of the membrane readout, in ms.
        weight_gain: :math:`g`, scale of the initial weights (see above).
        lr: learning rate.
        weight_decay: L2 penalty of the optimizer (decoupled for ``"adamw"``).
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        lr_schedule: ``"cosine"`` (default) or ``"constant"`` (see above).
        time_dim: time axis of ``"none"`` inputs: 1 for ``(batch, T, ...)``,
            0 for ``(T, batch, ...)``.
        seed: seed of the initial weights and, per rank, of :attr:`generator`
            (Poisson input, dropout masks).

    Raises:
        ValueError: an argument out of range, naming it and the value
            expected, before anything is built: ``input_shape`` not three
            positive ints, ``num_classes`` < 2, unknown ``encoding``,
            ``readout``, ``pooling``, ``surrogate``, ``optimizer`` or
            ``lr_schedule``, empty
            ``channels``, a ``kernel_size`` that does not fit the input, more
            layers than the input size allows, ``thresh_v`` not above
            ``reset_v`` and ``rest_v``, non-positive time constants, rates or scales,
            ``dropout`` outside :math:`[0, 1)`, ...

    Shapes:
        ``forward(inputs)`` (encode and simulate): ``(batch, C, H, W)`` for
        ``"direct"``/``"poisson"``, ``(batch, T, C, H, W)`` for ``"none"``
        -> per-step outputs ``(T, batch, num_classes)``: output spikes
        (``"spike_count"``) or :math:`U_t` in mV (``"membrane"``).
        :meth:`logits`: the same inputs -> ``(batch, num_classes)``.

    Example::

        model = SurrogateConvSNN(input_shape=(1, 28, 28), channels=(32, 64), hidden=128)
        trainer = Trainer(max_epochs=5)
        trainer.fit(model, datamodule=mnist)  # logs train/loss, val/accuracy, ...
        classes = model.predict(images)  # (batch,)

        # N-MNIST event frames (batch, T, 2, 34, 34):
        model = SurrogateConvSNN(input_shape=(2, 34, 34), encoding="none", readout="membrane")
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        encoding: str = "direct",
        n_steps: int = 25,
        max_rate: float = 1000.0,
        channels: tuple[int, ...] = (32, 64),
        kernel_size: int = 3,
        padding: int | None = None,
        pooling: str = "max",
        hidden: int = 128,
        dropout: float = 0.0,
        step_time: float = 1.0,
        time_constant: float = 10.0,
        rest_v: float = 0.0,
        reset_v: float = 0.0,
        thresh_v: float = 1.0,
        refrac_t: float = 0.0,
        surrogate: str = "arctan",
        surrogate_slope: float = 2.0,
        readout: str = "spike_count",
        count_scale: float = 10.0,
        readout_time_constant: float = 10.0,
        weight_gain: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        lr_schedule: str = "cosine",
        time_dim: int = 1,
        seed: int = 0,
    ) -> None:
        # Every check before anything is built (DESIGN.md invariant 6). Sequences are saved as
        # lists, as LightningCLI saves them, so hparams.yaml is plain YAML (no !!python/tuple).
        # LightningCLI fills self.hparams from its config rather than from these locals, so the
        # parts below convert again what they read from it.
        input_shape = list(
            _ints("input_shape", input_shape, 3, "(channels, height, width), three positive ints")
        )
        _int_at_least("num_classes", num_classes, 2, "an int of at least 2")
        check_choice("encoding", encoding, ENCODINGS)
        _int_at_least("n_steps", n_steps, 1, "a positive int (time steps per static input)")
        step_time = as_float("step_time", step_time, positive, "ms")
        max_rate = as_float("max_rate", max_rate, positive, "Hz")
        if encoding == "poisson" and max_rate * step_time > 1000.0:
            raise ValueError(
                f"max_rate must be at most one spike per step, 1000 / step_time = "
                f"{1000.0 / step_time} Hz, for encoding='poisson', got {max_rate} Hz"
            )
        channels = list(
            _ints(
                "channels", channels, None, "a non-empty sequence of positive ints (one per layer)"
            )
        )
        _int_at_least("kernel_size", kernel_size, 1, "a positive int")
        if padding is not None:
            _int_at_least("padding", padding, 0, "a non-negative int or None (kernel_size // 2)")
        check_choice("pooling", pooling, POOLINGS)
        _feature_shape(input_shape, channels, kernel_size, _padding(padding, kernel_size))
        _int_at_least("hidden", hidden, 1, "a positive int (neurons of the hidden layer)")
        dropout = as_float("dropout", dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        time_constant = as_float("time_constant", time_constant, positive, "ms")
        rest_v = as_float("rest_v", rest_v)
        reset_v = as_float("reset_v", reset_v)
        thresh_v = as_float("thresh_v", thresh_v)
        check_greater("thresh_v", thresh_v, "reset_v", reset_v)
        check_greater("thresh_v", thresh_v, "rest_v", rest_v)
        refrac_t = as_float("refrac_t", refrac_t, nonnegative, "ms")
        check_choice("surrogate", surrogate, SURROGATE_NAMES)
        surrogate_slope = as_float("surrogate_slope", surrogate_slope, positive, "1/mV")
        check_choice("readout", readout, READOUTS)
        count_scale = as_float("count_scale", count_scale, positive)
        readout_time_constant = as_float(
            "readout_time_constant", readout_time_constant, positive, "ms"
        )
        weight_gain = as_float("weight_gain", weight_gain, positive)
        lr = as_float("lr", lr, positive)
        weight_decay = as_float("weight_decay", weight_decay, nonnegative)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        super().__init__(step_time=step_time, time_dim=time_dim, seed=seed)

    # ------------------------------------------------------------------ template
    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one time step's input."""
        channels, height, width = self.hparams.input_shape
        return (channels, height, width)

    @property
    def padding(self) -> int:
        """Zero padding of every convolution (``kernel_size // 2`` when ``padding=None``)."""
        return _padding(self.hparams.padding, self.hparams.kernel_size)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(C_L, H_L, W_L)``, the pooled output of the last convolution layer."""
        hp = self.hparams
        return _feature_shape(self.input_shape, tuple(hp.channels), hp.kernel_size, self.padding)

    @override
    def configure_network(self) -> None:
        hp = self.hparams
        dt = self.step_time
        generator = torch.Generator().manual_seed(hp.seed)
        # Kaiming-uniform bounds (He et al. 2015) in units of the threshold distance: with a unit
        # input and a jump of w mV per unit, activity then neither dies out nor saturates with
        # depth (about 10 % of the neurons of every layer spike at first, for the defaults).
        # The mean of a 2x2 window halves the fluctuations of its input (of independent spikes),
        # so layers fed by average pooling get twice the bound to keep that activity.
        threshold_distance = hp.thresh_v - hp.rest_v
        pooled_gain = 2.0 if hp.pooling == "avg" else 1.0

        def initial(fan_in: int, gain: float = 1.0) -> dict[str, Any]:
            bound = gain * hp.weight_gain * threshold_distance * math.sqrt(6.0 / fan_in)
            return dict(
                weight_init="uniform", weight_init_args=(-bound, bound), generator=generator
            )

        resistance = unit_jump_resistance(dt, hp.time_constant)
        surrogate = Surrogate(hp.surrogate, hp.surrogate_slope)

        def lif(shape: int | tuple[int, ...]) -> LIF:
            # check_finite off: the input is checked once per batch in encode(), and every
            # later current is a finite function of it (a per-step check would cost a sync).
            return LIF(
                shape, dt, rest_v=hp.rest_v, reset_v=hp.reset_v, thresh_v=hp.thresh_v,
                refrac_t=hp.refrac_t, time_constant=hp.time_constant, resistance=resistance,
                surrogate=surrogate, check_finite=False,
            )  # fmt: skip

        features = []
        shape: tuple[int, ...] = self.input_shape
        for out_channels in hp.channels:
            conv = Conv2d(
                shape, out_channels, hp.kernel_size, padding=self.padding, bias=True,
                synapse=DeltaCurrent(shape, dt, check_inputs=False),
                **initial(shape[0] * hp.kernel_size**2, 1.0 if not features else pooled_gain),
            )  # fmt: skip
            features.append(Serial(conv, lif(conv.output_shape)))
            _, height, width = conv.output_shape
            shape = (out_channels, height // 2, width // 2)
        self.features = nn.ModuleList(features)
        self.feature_dropout = _TimeSharedDropout(hp.dropout)
        self.hidden_layer = Serial(
            LinearDense(
                shape, hp.hidden, synapse=DeltaCurrent(shape, dt, check_inputs=False),
                bias=True, **initial(math.prod(shape), pooled_gain),
            ),
            lif(hp.hidden),
        )  # fmt: skip
        self.hidden_dropout = _TimeSharedDropout(hp.dropout)
        self.readout_connection = LinearDense(
            hp.hidden, hp.num_classes, synapse=DeltaCurrent(hp.hidden, dt, check_inputs=False),
            bias=True, **initial(hp.hidden),
        )  # fmt: skip
        self.readout_neurons: LIF | _LeakyIntegrator
        if hp.readout == "spike_count":
            self.readout_neurons = lif(hp.num_classes)
        else:
            self.readout_neurons = _LeakyIntegrator(
                hp.num_classes, dt, rest_v=hp.rest_v, time_constant=hp.readout_time_constant,
                resistance=unit_jump_resistance(dt, hp.readout_time_constant),
            )  # fmt: skip
        self.encoder: PoissonEncoder | None = None
        if hp.encoding == "poisson":
            self.encoder = PoissonEncoder(
                dt, steps=hp.n_steps, max_rate=hp.max_rate, method="bernoulli"
            )

    @override
    def configure_metrics(self) -> None:
        classes = self.hparams.num_classes
        self.train_accuracy = MulticlassAccuracy(classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(classes, average="micro")

    @override
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer: torch.optim.Optimizer
        if hp.optimizer == "adam":
            optimizer = torch.optim.Adam(parameters, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw":
            optimizer = torch.optim.AdamW(parameters, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            optimizer = torch.optim.SGD(
                parameters, lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay
            )
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else math.inf
        if hp.lr_schedule == "constant" or not math.isfinite(total) or total < 1:
            return optimizer
        # Per optimizer step, so that max_steps, max_epochs and gradient accumulation all count.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(total))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": schedule, "interval": "step", "frequency": 1},
        }

    # ------------------------------------------------------------------ running
    @override
    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Time-major input ``(T, batch, C, H, W)`` for ``inputs`` as ``encoding`` says.

        Raises:
            ValueError: ``inputs`` not shaped as the encoding expects (naming
                ``input_shape``), a NaN or infinity, or (``"poisson"``) an
                intensity outside :math:`[0, 1]`.
        """
        hp = self.hparams
        shape = self.input_shape
        dims = ", ".join(str(d) for d in shape)
        if not isinstance(inputs, torch.Tensor):
            raise ValueError(f"inputs must be a tensor, got {type(inputs).__name__}")
        if hp.encoding == "none":
            layout = "(batch, T, " if self.time_dim == 1 else "(T, batch, "
            if inputs.dim() != 5 or tuple(inputs.shape[2:]) != shape:
                raise ValueError(
                    f"inputs must be event frames {layout}{dims}) for encoding='none' and "
                    f"input_shape={shape}, got shape {tuple(inputs.shape)}"
                )
        elif inputs.dim() != 4 or tuple(inputs.shape[1:]) != shape:
            raise ValueError(
                f"inputs must be images (batch, {dims}) for encoding={hp.encoding!r} and "
                f"input_shape={shape}, got shape {tuple(inputs.shape)}"
            )
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        if not math.isfinite(inputs.detach().sum().item()):
            raise ValueError("inputs must be finite (no NaN or infinity)")
        if hp.encoding == "none":
            return super().encode(inputs)
        if hp.encoding == "poisson":
            assert self.encoder is not None
            return self.encoder(inputs, generator=self.generator)
        return inputs.unsqueeze(0).expand(hp.n_steps, *inputs.shape)

    def _pool(self, spikes: torch.Tensor) -> torch.Tensor:
        # The package has no pooling connection: pooling the spikes between Serial layers keeps
        # each convolution and its LIF group one Serial, with a Cell that monitors can observe.
        if self.hparams.pooling == "max":
            return F.max_pool2d(spikes, 2)
        return F.avg_pool2d(spikes, 2)

    @override
    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """One step: input ``(batch, C, H, W)`` -> output spikes or :math:`U_t` ``(batch, num_classes)``."""
        x = inputs
        for layer in self.features:
            x = self._pool(layer(x))
        generator = self.generator if self.training and self.hparams.dropout > 0 else None
        x = self.feature_dropout(x, generator)
        x = self.hidden_dropout(self.hidden_layer(x), generator)
        return self.readout_neurons(self.readout_connection(x))

    def readout(self, outputs: torch.Tensor) -> torch.Tensor:
        r"""Logits ``(batch, num_classes)`` from the stacked step outputs ``(T, batch, num_classes)``.

        ``"spike_count"``: :math:`s \sum_t z_t / T`; ``"membrane"``:
        :math:`\sum_t U_t / T` (mV).
        """
        if self.hparams.readout == "spike_count":
            return outputs.mean(0) * self.hparams.count_scale
        return outputs.mean(0)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Encode, simulate and read out: class logits ``(batch, num_classes)``."""
        return self.readout(self(inputs))

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predicted classes ``(batch,)`` (int64), the argmax of :meth:`logits`."""
        return self.logits(inputs).argmax(1)

    @override
    def training_loss(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """Cross-entropy of :meth:`readout` against the class indices ``targets`` ``(batch,)``."""
        if not isinstance(targets, torch.Tensor):
            raise ValueError(
                f"targets must be class indices (batch,) for the cross-entropy, got {targets!r}"
            )
        return F.cross_entropy(self.readout(outputs), targets)

    # ------------------------------------------------------------------ Lightning
    def _evaluate(self, batch: Any, stage: str, metric: MulticlassAccuracy) -> torch.Tensor:
        inputs, targets = self.unpack_batch(batch)
        outputs = self(inputs)
        loss = self.training_loss(outputs, targets)
        logits = self.readout(outputs.detach())
        size = logits.shape[0]
        training = stage == "train"
        # As SpikingModule logs the losses: per step in training, epoch means synced otherwise.
        self.log(f"{stage}/loss", loss, prog_bar=training, sync_dist=not training, batch_size=size)
        metric.update(logits, targets)
        # A Metric object is reduced over ranks by torchmetrics itself (sync_dist is for tensors).
        self.log(
            f"{stage}/accuracy", metric, on_step=False, on_epoch=True, prog_bar=stage != "test",
            batch_size=size,
        )  # fmt: skip
        return loss

    @override
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "train", self.train_accuracy)

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "val", self.val_accuracy)

    @override
    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "test", self.test_accuracy)

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Class logits ``(batch, num_classes)``; ``argmax(1)`` gives the predicted classes."""
        inputs, _ = self.unpack_batch(batch)
        return self.logits(inputs)


def _padding(padding: int | None, kernel_size: int) -> int:
    return kernel_size // 2 if padding is None else padding


def _feature_shape(
    input_shape: Sequence[int], channels: Sequence[int], kernel_size: int, padding: int
) -> tuple[int, int, int]:
    """Shape after every convolution (stride 1) and 2x2 pooling; raises where one does not fit."""
    _, height, width = input_shape
    for layer, _ in enumerate(channels, start=1):
        size = (height, width)
        height, width = (
            height + 2 * padding - kernel_size + 1,
            width + 2 * padding - kernel_size + 1,
        )
        if height < 1 or width < 1:
            raise ValueError(
                f"kernel_size {kernel_size} (padding {padding}) does not fit the "
                f"{size[0]}x{size[1]} input of convolution layer {layer}: use a smaller "
                f"kernel_size, more padding, or fewer channels entries"
            )
        if height < 2 or width < 2:
            raise ValueError(
                f"channels has {len(channels)} convolution layers, but convolution layer {layer} "
                f"outputs {height}x{width}, too small for its 2x2 pooling: use fewer channels "
                f"entries, more padding or a larger input_shape"
            )
        height, width = height // 2, width // 2
    return (channels[-1], height, width)
