r"""RewardModulatedClassifier: a spiking classifier trained by reward-modulated STDP.

R. V. Florian, "Reinforcement learning through modulation of
spike-timing-dependent synaptic plasticity", *Neural Computation* 19(6):
1468-1502 (2007), doi:10.1162/neco.2007.19.6.1468 ("Florian" below): the
learning rules MSTDP and MSTDPET.

M. Mozafari, S. R. Kheradpisheh, T. Masquelier, A. Nowzari-Dalini and M.
Ganjtabesh, "First-spike-based visual categorization using reward-modulated
STDP", *IEEE Transactions on Neural Networks and Learning Systems* 29(12):
6178-6190 (2018), doi:10.1109/TNNLS.2018.2826721 ("Mozafari" below): the
classification set-up (groups of output neurons per class, winner-take-all,
reward for a right decision, punishment for a wrong one) and the adaptive
balance of reward and punishment.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from typing_extensions import override

from .._validation import as_float, check_choice, check_greater, nonnegative, positive, positive_int
from ..encode import PoissonEncoder
from ..learn import MSTDP, MSTDPET, Clamp, Normalize, updater_for
from ..metrics import LabelAssignmentAccuracy, predict_labels
from ..module import SpikingModule
from ..neural import ALIF, DeltaCurrent, Layer, LinearDense, LinearLateral
from ._common import flat_intensities, log_count_accuracy

__all__ = ["RewardModulatedClassifier", "group_reward", "REWARD_RULES", "DEFAULT_SCALES"]

#: Values accepted by ``RewardModulatedClassifier(rule=...)``.
REWARD_RULES: tuple[str, ...] = ("mstdp", "mstdpet")

#: The learning rate :math:`\gamma` (the rule's ``scale``) used when ``scale=None``, per rule,
#: tuned on the digits (see ``benchmarks/digits_reward.py``).
DEFAULT_SCALES: dict[str, float] = {"mstdp": 0.05, "mstdpet": 1.25}

# By default each output neuron's input weights sum to this much per input pixel: with on/off
# channels every pixel drives one channel, without them only the ink does, hence twice as much.
_NORM_PER_PIXEL = {True: 0.1, False: 0.2}


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return value


def _unit_jump_resistance(step_time: float, time_constant: float) -> float:
    r"""Resistance (MOhm) with which 1 pC delivered in one step raises the voltage by 1 mV.

    A delta synapse gives :math:`I = q/\Delta t` for one step and the exact LIF
    update adds :math:`R I (1 - e^{-\Delta t/\tau})`, so
    :math:`R = \Delta t / (1 - e^{-\Delta t/\tau})`.
    """
    return step_time / -math.expm1(-step_time / time_constant)


def group_reward(
    spikes: torch.Tensor,
    targets: torch.Tensor,
    num_classes: int,
    reward: float = 1.0,
    punishment: float = 1.0,
) -> torch.Tensor:
    r"""The reward of one simulation step: is the target class's group the most active?

    The output neurons form ``num_classes`` consecutive groups of equal size
    (neuron :math:`i` belongs to class :math:`\lfloor i / K \rfloor`, :math:`K`
    neurons per class). With :math:`n_{bc}` the number of neurons of group
    :math:`c` that spiked in this step in sample :math:`b`, :math:`y_b` the
    sample's target and :math:`m_b = \max_{c \ne y_b} n_{bc}` the most active
    rival,

    .. math::

        r_b = \begin{cases}
            +\,\text{reward} & n_{b y_b} > m_b \quad\text{(the target group wins the step)} \\
            -\,\text{punishment} & m_b > n_{b y_b} \quad\text{(a wrong group wins it)} \\
            0 & n_{b y_b} = m_b \quad\text{(silence, or a tie)}
        \end{cases}

    Args:
        spikes: this step's output spikes ``(batch, num_classes * K)`` (bool or float).
        targets: target classes ``(batch,)``, integers in ``[0, num_classes)``.
        num_classes: number of classes :math:`C`.
        reward: value for a step the target group wins (non-negative).
        punishment: magnitude of the negative value for a step a wrong group
            wins (non-negative).

    Returns:
        the rewards ``(batch,)``, in the default float dtype, on the spikes' device.

    Raises:
        ValueError: ``spikes`` is not ``(batch, n)`` with ``n`` a multiple of
            ``num_classes``, ``targets`` is not ``(batch,)`` integers in range,
            or ``reward`` / ``punishment`` is negative.

    Example::

        spikes = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0]])  # 2 classes, 2 per class
        group_reward(spikes, torch.tensor([0, 0, 1]), 2)  # tensor([1., -1., 0.])
    """
    positive_int("num_classes", num_classes)
    nonnegative("reward", reward)
    nonnegative("punishment", punishment)
    if not isinstance(spikes, torch.Tensor) or spikes.dim() != 2:
        got = tuple(spikes.shape) if isinstance(spikes, torch.Tensor) else type(spikes).__name__
        raise ValueError(f"spikes must have shape (batch, num_classes * K), got {got}")
    batch, neurons = spikes.shape
    if neurons % num_classes:
        raise ValueError(
            f"spikes must have a multiple of num_classes={num_classes} neurons, got {neurons}"
        )
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != (batch,):
        got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(f"targets must have shape (batch,) = ({batch},), got {got}")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if batch and bool(((targets < 0) | (targets >= num_classes)).any()):
        raise ValueError(f"targets must be class indices in [0, {num_classes})")
    return _group_reward(spikes, targets, num_classes, float(reward), float(punishment))


def _group_reward(
    spikes: torch.Tensor, targets: torch.Tensor, num_classes: int, reward: float, punishment: float
) -> torch.Tensor:
    """:func:`group_reward` without the checks (targets checked once per batch)."""
    batch = spikes.shape[0]
    dtype = torch.get_default_dtype()
    counts = spikes.reshape(batch, num_classes, -1).to(dtype).sum(-1)
    target = targets.to(device=counts.device, dtype=torch.long).unsqueeze(1)
    hit = counts.gather(1, target).squeeze(1)
    rival = counts.scatter(1, target, -1.0).amax(1)
    out = torch.zeros(batch, dtype=dtype, device=counts.device)
    out = out.masked_fill(hit > rival, reward)
    return out.masked_fill(rival > hit, -punishment)


class RewardModulatedClassifier(SpikingModule):
    r"""A winner-take-all spiking classifier trained by reward-modulated STDP (MSTDP or MSTDPET).

    **Network.** The intensities :math:`x \in [0, 1]` of an input (any shape,
    flattened to ``n_inputs`` values) become Poisson spike trains
    (:class:`~inferno_lightning.encode.PoissonEncoder`, one Bernoulli trial per
    step) at :math:`x\, r_\text{max}` Hz ("on" channels) and, with ``on_off``
    (default), also at :math:`(1 - x)\, r_\text{max}` Hz ("off" channels, as
    ON/OFF retinal cells): :math:`N_\text{in}` = ``n_inputs`` or
    ``2 * n_inputs`` input channels. They drive :math:`N = C K` output neurons,
    :math:`K` = ``neurons_per_class`` for each of the :math:`C` =
    ``num_classes`` classes (neuron :math:`i` belongs to class
    :math:`\lfloor i / K \rfloor`), through all-to-all weights :math:`W`
    ``(N, N_in)`` in :math:`[0, w_\max]`. Every output spike lowers the voltage
    of every *other* output neuron by ``inhibition_weight`` mV on the next
    step (lateral inhibition, :class:`~inferno_lightning.neural.LinearLateral`):
    a winner-take-all. With the default 40 mV the others do not recover
    within a 50 ms presentation, so the neuron(s) spiking first decide the
    sample, much as in Mozafari et al.'s first-spike decision (on the digits,
    untrained: 2.3 neurons and 2.8 spikes per sample, against 100 of each
    without inhibition). The synapses are
    current-based delta synapses: a spike through weight :math:`w` raises the
    voltage by :math:`w` mV in the step it arrives.

    **Neurons.** Leaky integrate-and-fire with an adaptive threshold
    (:class:`~inferno_lightning.neural.ALIF`),

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest}) + R I, \qquad
        V \ge V_\text{thresh} + \theta \Rightarrow \text{spike},\ V \leftarrow V_\text{reset},

    refractory for ``refrac_t`` ms after a spike, and the homeostatic
    threshold :math:`\theta` (one per neuron, shared by the batch, in mV)
    growing by ``theta_increment`` per spike (batch mean) and decaying with
    ``tc_theta``, in training only (frozen in evaluation, saved in
    checkpoints). Without it the first neuron of each group to learn a
    template wins every sample of its class, so the group's other neurons, or
    a whole group whose neurons never won early, never learn; the raised
    thresholds of frequent winners let the others win and be rewarded.

    **Reward** (:func:`group_reward`). In every training step, each sample gets
    a reward from that step's output spikes alone: +``reward`` when the target
    class's group has more spikes than any other group, -``punishment`` when a
    wrong group has more spikes than the target group, 0 in a silent step or a
    tie. With the winner-take-all usually one neuron spikes in a step, so the
    reward judges that neuron's spike. With ``adaptive_reward`` (default,
    after Mozafari et al.'s adaptive learning rates) the two values are scaled
    by the running accuracy :math:`h` of the training decisions (below):

    .. math:: r^+ = \text{reward}\,(1 - h), \qquad r^- = -\,\text{punishment}\; h,

    so that while most decisions are wrong punishment is weak (it would
    otherwise push every neuron away from every class) and once most are right
    reward is weak (it would otherwise only sharpen what is already right, and
    the few errors would be drowned). :math:`h` is an exponential moving
    average over training batches, :math:`h \leftarrow (1 - \alpha) h + \alpha\,
    \text{acc}_\text{batch}` with :math:`\alpha` = ``hit_rate_smoothing``, over
    all ranks (so every rank rewards alike), starting from chance :math:`1/C`;
    it is the buffer ``hit_rate``, saved in checkpoints, and stays at
    :math:`1/C` without ``adaptive_reward``.

    **Learning.** The reward modulates Florian's rules on :math:`W`, with the
    traces :math:`x^\text{pre}, x^\text{post}` (time constants
    :math:`\tau_\text{pre}, \tau_\text{post}`) including the current step's
    spikes :math:`s`:

    .. math::

        \zeta_{ij}(t) = \eta_\text{post}\, s^\text{post}_i(t)\, x^\text{pre}_j(t)
                      - \eta_\text{pre}\, x^\text{post}_i(t)\, s^\text{pre}_j(t)

    * ``rule="mstdp"`` (:class:`~inferno_lightning.learn.MSTDP`):
      :math:`\Delta w_{ij} = \gamma\, r(t)\, \zeta_{ij}(t)` every step;
    * ``rule="mstdpet"`` (:class:`~inferno_lightning.learn.MSTDPET`): an
      eligibility trace :math:`z_{ij}(t) = z_{ij}(t - \Delta t)\, e^{-\Delta
      t/\tau_z} + \zeta_{ij}(t)/\tau_z` and :math:`\Delta w_{ij} = \gamma\, r(t)\,
      z_{ij}(t)\, \Delta t`, so a reward also credits the pairs of the
      preceding :math:`\tau_z` ms. A reward given for one step after a pair
      moves the weight :math:`\Delta t/\tau_z` times as far as MSTDP would,
      hence its larger default :math:`\gamma` (:data:`DEFAULT_SCALES`).

    :math:`\gamma` is ``scale`` (default: :data:`DEFAULT_SCALES` of the rule).
    A neuron of the target group that wins a step moves its weights toward
    the inputs that just spiked; a neuron of a wrong group moves them away.
    The updates of a batch are summed over time, averaged over the batch and
    applied once per batch by the :class:`~inferno_lightning.callbacks.LocalLearning`
    callback (or every step with ``apply_every="step"``); the positive part
    is bounded by :math:`w_\max` and the negative part by 0 (``bound``:
    ``"clamp"`` clips the result, ``"hard"`` stops pushes past a limit,
    ``"soft"`` scales them by the distance to it), the weights are clamped
    to :math:`[0, w_\max]`, and then each output neuron's input weights are
    scaled to sum to ``norm_total`` (default 0.1 per input with ``on_off``,
    6.4 for the 64 digit pixels; 0.2 per input without, as only the ink then
    drives the neurons), so that a punished neuron moves its weight to the
    channels that did not spike rather than falling silent. With ``on_off``
    one of the two channels of every pixel spikes, so weight cannot drift to
    channels that never spike (the border pixels of digits) and an "off"
    channel is evidence that a pixel is dark. Initial weights are uniform in
    :math:`[0, w_\text{init}]`, normalised at once.

    **Readout.** A sample is predicted as the class whose group made the
    most spikes over the presentation (ties to the lowest class, ``-1``, never
    right, when no output neuron spikes): :meth:`predict_labels`, the
    :class:`~inferno_lightning.metrics.LabelAssignmentAccuracy` of
    ``val/accuracy`` and ``test/accuracy`` with each neuron assigned its
    group's class. In training the same decision gives :math:`h` and
    ``train/accuracy``; ``train/reward`` is the mean reward per step and
    sample (both epoch means).

    **Measured** (``benchmarks/digits_reward.py``: the defaults with
    ``n_inputs=64``, 20 epochs, batches of 32, one CPU thread): see that
    script's docstring for the test accuracies per rule and seed (about 88 %
    on the digits, chance 10 %) and for what each part above is worth. MNIST
    (``n_inputs=784``) has not been tried.

    **Batches and time.** A batch is presented in parallel for
    ``presentation_time`` ms, every sample from a reset state (voltages,
    synaptic currents, STDP traces, eligibility traces); :math:`\theta` and
    :math:`h` persist. Time in ms, voltage in mV, rates in Hz.

    Args:
        n_inputs: input size (64 for 8x8 digits, 784 for MNIST).
        num_classes: number of classes :math:`C`.
        neurons_per_class: output neurons per class :math:`K`.
        rule: ``"mstdp"`` or ``"mstdpet"``.
        on_off: add an "off" channel at :math:`(1 - x)\, r_\text{max}` per input.
        step_time: :math:`\Delta t`, ms.
        presentation_time: presentation of one sample, ms, a whole number of steps.
        max_rate: :math:`r_\text{max}`, rate of intensity 1, Hz (at most
            :math:`1000/\Delta t`).
        rest_v: :math:`V_\text{rest}`, mV.
        reset_v: :math:`V_\text{reset}`, mV.
        thresh_v: base threshold :math:`V_\text{thresh}`, mV (above ``reset_v``).
        refrac_t: refractory period, ms.
        time_constant: membrane time constant :math:`\tau`, ms.
        inhibition_weight: lateral inhibition per spike, mV (non-negative).
        theta_increment: threshold rise per spike, mV (non-negative; 0 turns
            the homeostasis off).
        tc_theta: threshold decay time constant, ms.
        reward: value for a step the target group wins (non-negative).
        punishment: magnitude of the value for a step a wrong group wins
            (non-negative).
        adaptive_reward: scale reward by :math:`1 - h` and punishment by :math:`h`.
        hit_rate_smoothing: :math:`\alpha` of the running accuracy, in ``(0, 1]``.
        lr_post: :math:`\eta_\text{post}` (Florian's :math:`A_+`).
        lr_pre: :math:`\eta_\text{pre}` (Florian's :math:`-A_-`).
        tc_post: :math:`\tau_\text{post}`, ms.
        tc_pre: :math:`\tau_\text{pre}`, ms.
        tc_eligibility: :math:`\tau_z`, ms (``"mstdpet"`` only; Florian: 25).
        trace_mode: ``"cumulative"`` (all-to-all, Florian's) or ``"nearest"``.
        scale: :math:`\gamma`, positive; ``None`` for :data:`DEFAULT_SCALES` of ``rule``.
        w_max: upper weight bound :math:`w_\max` (mV per spike).
        weight_init_max: :math:`w_\text{init}`, at most ``w_max``.
        norm_total: sum of each output neuron's input weights after every
            update; ``None`` for ``0.1 * n_inputs`` with ``on_off``, else
            ``0.2 * n_inputs``.
        bound: ``"clamp"``, ``"hard"`` or ``"soft"``.
        seed: seed of the initial weights and (per rank) of the Poisson input.

    Raises:
        ValueError: an argument out of range, naming it, before anything is built.

    Example::

        model = RewardModulatedClassifier(n_inputs=64)
        trainer = Trainer(callbacks=[LocalLearning()], max_epochs=20)
        trainer.fit(model, datamodule=DigitsDataModule())
        trainer.test(model, datamodule=DigitsDataModule())  # logs test/accuracy
    """

    hit_rate: torch.Tensor

    def __init__(
        self,
        n_inputs: int = 784,
        num_classes: int = 10,
        neurons_per_class: int = 10,
        rule: str = "mstdp",
        on_off: bool = True,
        step_time: float = 1.0,
        presentation_time: float = 50.0,
        max_rate: float = 255.0,
        rest_v: float = -65.0,
        reset_v: float = -65.0,
        thresh_v: float = -52.0,
        refrac_t: float = 5.0,
        time_constant: float = 20.0,
        inhibition_weight: float = 40.0,
        theta_increment: float = 4.0,
        tc_theta: float = 1000.0,
        reward: float = 1.0,
        punishment: float = 1.0,
        adaptive_reward: bool = True,
        hit_rate_smoothing: float = 0.1,
        lr_post: float = 1.0,
        lr_pre: float = 1.0,
        tc_post: float = 20.0,
        tc_pre: float = 20.0,
        tc_eligibility: float = 25.0,
        trace_mode: str = "cumulative",
        scale: float | None = None,
        w_max: float = 1.0,
        weight_init_max: float = 0.3,
        norm_total: float | None = None,
        bound: str = "clamp",
        seed: int = 0,
    ) -> None:
        # Every check before anything is built (DESIGN.md invariant 6).
        positive_int("n_inputs", n_inputs)
        positive_int("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        positive_int("neurons_per_class", neurons_per_class)
        check_choice("rule", rule, REWARD_RULES)
        _flag("on_off", on_off)
        step_time = float(positive("step_time", step_time, "ms"))
        positive("presentation_time", presentation_time, "ms")
        steps = round(presentation_time / step_time)
        if steps < 1 or abs(steps * step_time - presentation_time) > 1e-9 * presentation_time:
            raise ValueError(
                f"presentation_time must be a whole number of steps of step_time {step_time} ms "
                f"(at least one), got {presentation_time} ms"
            )
        nonnegative("max_rate", max_rate, "Hz")
        if max_rate * step_time > 1000.0:
            raise ValueError(
                f"max_rate must be at most one spike per step, 1000 / step_time = "
                f"{1000.0 / step_time} Hz (Bernoulli Poisson input), got {max_rate} Hz"
            )
        for name, value in (("rest_v", rest_v), ("reset_v", reset_v), ("thresh_v", thresh_v)):
            as_float(name, value)
        check_greater("thresh_v", thresh_v, "reset_v", reset_v)
        nonnegative("refrac_t", refrac_t, "ms")
        for name, value in (
            ("time_constant", time_constant),
            ("tc_theta", tc_theta),
            ("tc_post", tc_post),
            ("tc_pre", tc_pre),
            ("tc_eligibility", tc_eligibility),
        ):
            positive(name, value, "ms")
        nonnegative("inhibition_weight", inhibition_weight, "mV")
        nonnegative("theta_increment", theta_increment, "mV")
        nonnegative("reward", reward)
        nonnegative("punishment", punishment)
        _flag("adaptive_reward", adaptive_reward)
        positive("hit_rate_smoothing", hit_rate_smoothing)
        if hit_rate_smoothing > 1:
            raise ValueError(f"hit_rate_smoothing must be in (0, 1], got {hit_rate_smoothing!r}")
        as_float("lr_post", lr_post)
        as_float("lr_pre", lr_pre)
        check_choice("trace_mode", trace_mode, ("cumulative", "nearest"))
        if scale is not None:
            positive("scale", scale)
        positive("w_max", w_max)
        positive("weight_init_max", weight_init_max)
        if weight_init_max > w_max:
            raise ValueError(f"weight_init_max ({weight_init_max}) must be at most w_max ({w_max})")
        channels = n_inputs * (2 if on_off else 1)
        if norm_total is not None:
            positive("norm_total", norm_total)
        total = _NORM_PER_PIXEL[on_off] * n_inputs if norm_total is None else norm_total
        if total > w_max * channels:
            raise ValueError(
                f"norm_total ({total}{' by default' if norm_total is None else ''}) must be at "
                f"most w_max * input channels ({w_max * channels}), the largest sum weights in "
                "[0, w_max] can have"
            )
        check_choice("bound", bound, ("clamp", "hard", "soft"))
        super().__init__(step_time=step_time, time_dim=0, seed=seed)

    # ------------------------------------------------------------------ template
    @property
    def input_channels(self) -> int:
        r"""Input channels :math:`N_\text{in}`: ``n_inputs``, doubled with ``on_off``."""
        return self.hparams.n_inputs * (2 if self.hparams.on_off else 1)

    @property
    def n_outputs(self) -> int:
        """Output neurons :math:`N = C K`."""
        return self.hparams.num_classes * self.hparams.neurons_per_class

    @property
    def norm_total(self) -> float:
        """Sum of each output neuron's input weights after every update."""
        hp = self.hparams
        if hp.norm_total is None:
            return _NORM_PER_PIXEL[hp.on_off] * hp.n_inputs
        return float(hp.norm_total)

    @property
    def scale(self) -> float:
        r"""The learning rate :math:`\gamma` of the rule."""
        scale = self.hparams.scale
        return DEFAULT_SCALES[self.hparams.rule] if scale is None else float(scale)

    @property
    def presentation_steps(self) -> int:
        """Simulation steps of one presentation."""
        return round(self.hparams.presentation_time / self.step_time)

    @property
    def neuron_classes(self) -> torch.Tensor:
        """The class of each output neuron, ``(N,)`` long: ``i // neurons_per_class``."""
        return torch.arange(self.n_outputs) // self.hparams.neurons_per_class

    @override
    def configure_network(self) -> None:
        hp = self.hparams
        dt, n, channels = self.step_time, self.n_outputs, self.input_channels
        generator = torch.Generator().manual_seed(hp.seed)
        initial = torch.rand(n, channels, generator=generator) * hp.weight_init_max
        initial = Normalize(self.norm_total)(initial)
        self.encoder = PoissonEncoder(
            dt, steps=self.presentation_steps, max_rate=hp.max_rate, method="bernoulli",
            dtype=torch.bool,
        )  # fmt: skip
        output = ALIF(
            n, dt,
            rest_v=hp.rest_v, reset_v=hp.reset_v, thresh_v=hp.thresh_v, refrac_t=hp.refrac_t,
            time_constant=hp.time_constant,
            resistance=_unit_jump_resistance(dt, hp.time_constant),
            tc_adaptation=hp.tc_theta, spike_increment=hp.theta_increment,
            batch_reduction="mean", check_finite=False,
        )  # fmt: skip
        self.layer = Layer(
            connections={
                "input": LinearDense(
                    channels, n, synapse=DeltaCurrent(channels, dt, check_inputs=False),
                    weight_init=initial,
                ),
                "inhibition": LinearLateral(
                    n, synapse=DeltaCurrent(n, dt, check_inputs=False),
                    weight_init=-float(hp.inhibition_weight),
                ),
            },
            neurons={"output": output},
            wiring={"input": "output", "inhibition": "output"},
        )  # fmt: skip
        self.layer.connections["inhibition"].weight.requires_grad_(False)
        self.register_buffer("hit_rate", torch.tensor(1.0 / hp.num_classes))

    @override
    def configure_rules(self) -> None:
        hp = self.hparams
        w_max = float(hp.w_max)
        updater_for(self.input_connection).add(
            "weight", batch_reduction="mean", bound=hp.bound, w_min=0.0, w_max=w_max,
            constraints=(Clamp(0.0, w_max), Normalize(self.norm_total)),
        )  # fmt: skip
        common: dict[str, Any] = {
            "lr_post": hp.lr_post,
            "lr_pre": hp.lr_pre,
            "tc_post": hp.tc_post,
            "tc_pre": hp.tc_pre,
            "trace_mode": hp.trace_mode,
            "scale": self.scale,
            "check_finite": False,
            "monitors": self.monitors,
        }
        if hp.rule == "mstdp":
            rule: MSTDP | MSTDPET = MSTDP(**common)
        else:
            rule = MSTDPET(tc_eligibility=hp.tc_eligibility, **common)
        rule.register(self.layer.cell("input"))
        self.rules.append(rule)

    @override
    def configure_metrics(self) -> None:
        hp = self.hparams
        self.val_accuracy = LabelAssignmentAccuracy(hp.num_classes, self.n_outputs)
        self.test_accuracy = LabelAssignmentAccuracy(hp.num_classes, self.n_outputs)
        for metric in (self.val_accuracy, self.test_accuracy):
            metric.set_assignments(self.neuron_classes)
        self._targets: torch.Tensor | None = None
        self._reward_sum: torch.Tensor | None = None
        self._reward_values = self.reward_values

    # -------------------------------------------------------------------- parts
    @property
    def input_connection(self) -> LinearDense:
        """The trained input-to-output connection; ``weight`` is ``(N, N_in)``."""
        return self.layer.connections["input"]

    @property
    def output_neurons(self) -> ALIF:
        r"""The output group; ``adaptation[0]`` is :math:`\theta` in mV."""
        return self.layer.neurons["output"]

    @property
    def rule(self) -> MSTDP | MSTDPET:
        """The reward-modulated rule training :attr:`input_connection`."""
        return self.rules[0]

    # ------------------------------------------------------------------ running
    def intensities(self, inputs: torch.Tensor) -> torch.Tensor:
        """Flatten a batch to ``(batch, N_in)`` channel intensities (with the "off" channels).

        Raises:
            ValueError: a sample does not have ``n_inputs`` elements, or a value
                is NaN or outside [0, 1].
        """
        flat = flat_intensities(inputs, self.hparams.n_inputs)
        return torch.cat([flat, 1.0 - flat], 1) if self.hparams.on_off else flat

    @override
    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Poisson spikes ``(T, batch, N_in)`` (bool) for intensities ``(batch, ...)``."""
        return self.encoder(self.intensities(inputs), generator=self.generator)

    @override
    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        previous = self.output_neurons.spike  # the inhibiting spikes of the previous step
        if previous is None:
            previous = torch.zeros(
                inputs.shape[0], self.n_outputs, dtype=torch.bool, device=inputs.device
            )
        return self.layer({"input": inputs, "inhibition": previous})["output"]

    @property
    def reward_values(self) -> tuple[float, float]:
        """The (reward, punishment) magnitudes in use: scaled by the running accuracy if adaptive."""
        hp = self.hparams
        if not hp.adaptive_reward:
            return float(hp.reward), float(hp.punishment)
        hit = float(self.hit_rate)
        return float(hp.reward) * (1.0 - hit), float(hp.punishment) * hit

    @override
    def learning_step(self, **inputs: Any) -> None:
        """Reward this step's output spikes (:func:`group_reward`) and let the rule accumulate."""
        if self._targets is None:
            raise RuntimeError(
                "RewardModulatedClassifier needs the targets of the batch to reward it: train "
                "with trainer.fit, or call present(inputs, targets) in training mode"
            )
        reward, punishment = self._reward_values
        rewards = _group_reward(
            self.output_neurons.spike, self._targets, self.hparams.num_classes, reward, punishment
        )
        if self._reward_sum is not None:
            self._reward_sum += rewards.sum()
        super().learning_step(**{**inputs, "reward": rewards})

    def present(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Present a batch and return the output spike counts ``(batch, N)``.

        In training mode the rule accumulates its reward-modulated update
        (applied later by :class:`~inferno_lightning.callbacks.LocalLearning`
        or ``updater_for(model.input_connection).step()``), which needs the
        targets.

        Args:
            inputs: intensities ``(batch, ...)`` with ``n_inputs`` elements per sample.
            targets: classes ``(batch,)`` in ``[0, num_classes)``; required in training.

        Raises:
            ValueError: bad inputs or targets.
            RuntimeError: in training mode without targets.
        """
        if targets is not None:
            batch = inputs.shape[0] if isinstance(inputs, torch.Tensor) else -1
            self._check_targets(targets, batch)
        elif self.learning:
            raise RuntimeError(
                "present() needs targets in training mode: the reward depends on them"
            )
        self._targets = targets.to(self.device) if targets is not None else None
        self._reward_values = self.reward_values
        try:
            return self(inputs).sum(0)
        finally:
            self._targets = None

    def _check_targets(self, targets: torch.Tensor, batch: int) -> None:
        classes = self.hparams.num_classes
        if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != (batch,):
            got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets)
            raise ValueError(f"targets must have shape (batch,) = ({batch},), got {got}")
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
        if bool(((targets < 0) | (targets >= classes)).any()):
            raise ValueError(f"targets must be class indices in [0, {classes})")

    def predict_labels(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predicted classes ``(batch,)``: the most active group (``-1``: no output spike)."""
        return self.decide(self.present(inputs))

    def decide(self, counts: torch.Tensor) -> torch.Tensor:
        """Classes ``(batch,)`` from output spike counts ``(batch, N)``: the most active group."""
        return predict_labels(counts, self.neuron_classes, self.hparams.num_classes)

    # ------------------------------------------------------------------ Lightning
    @override
    def training_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = self.unpack_batch(batch)
        if targets is None:
            raise ValueError("RewardModulatedClassifier trains on (inputs, targets) batches")
        self._reward_sum = torch.zeros((), device=self.device)
        counts = self.present(inputs, targets)
        size = counts.shape[0]
        mean_reward = self._reward_sum / (size * self.presentation_steps)
        self._reward_sum = None
        correct = (self.decide(counts) == targets.to(counts.device)).sum()
        tally = torch.stack(
            [correct.to(torch.float64), correct.new_tensor(size, dtype=torch.float64)]
        )
        if self._trainer is not None and self.trainer.world_size > 1:
            # Every rank runs this: the same running accuracy, so the same rewards, everywhere.
            tally = self.trainer.strategy.reduce(tally, reduce_op="sum")
        accuracy = tally[0] / tally[1]
        if self.hparams.adaptive_reward:
            alpha = float(self.hparams.hit_rate_smoothing)
            self.hit_rate.mul_(1.0 - alpha).add_(alpha * accuracy.to(self.hit_rate))
        # Means over the epoch's batches (weighted by their sizes).
        self.log("train/reward", mean_reward, on_step=False, on_epoch=True, batch_size=size)
        self.log(
            "train/accuracy", accuracy.float(), on_step=False, on_epoch=True, prog_bar=True,
            batch_size=size,
        )  # fmt: skip
        return None

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = self.unpack_batch(batch)
        counts = self.present(inputs)
        log_count_accuracy(self, counts, targets, self.val_accuracy, "val/accuracy", prog_bar=True)
        return None

    @override
    def test_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = self.unpack_batch(batch)
        counts = self.present(inputs)
        log_count_accuracy(self, counts, targets, self.test_accuracy, "test/accuracy")
        return None

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        inputs, _ = self.unpack_batch(batch)
        return self.predict_labels(inputs)
