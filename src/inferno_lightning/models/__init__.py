"""Ready networks built on :class:`~inferno_lightning.SpikingModule`.

* :class:`DiehlCook2015`: unsupervised STDP with adaptive thresholds and lateral
  inhibition, evaluated by label assignment;
* :class:`SurrogateConvSNN`: a convolutional spiking classifier trained by
  surrogate gradients through time (MNIST, N-MNIST, DVS Gesture);
* :class:`RewardModulatedClassifier`: a spiking classifier trained by
  reward-modulated STDP (MSTDP or MSTDPET).
"""

from .diehl_cook import INHIBITION_MODES, DiehlCook2015
from .reward_modulated import (
    DEFAULT_SCALES,
    REWARD_RULES,
    RewardModulatedClassifier,
    group_reward,
)
from .surrogate_conv import SurrogateConvSNN

__all__ = [
    "DEFAULT_SCALES",
    "INHIBITION_MODES",
    "REWARD_RULES",
    "DiehlCook2015",
    "RewardModulatedClassifier",
    "SurrogateConvSNN",
    "group_reward",
]
