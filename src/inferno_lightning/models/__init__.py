"""Ready networks built on :class:`~inferno_lightning.SpikingModule`.

* :class:`DiehlCook2015`: unsupervised STDP with adaptive thresholds and lateral
  inhibition, evaluated by label assignment;
* :class:`SurrogateConvSNN`: a convolutional spiking classifier trained by
  surrogate gradients through time (MNIST, N-MNIST, DVS Gesture).
"""

from .diehl_cook import INHIBITION_MODES, DiehlCook2015
from .surrogate_conv import SurrogateConvSNN

__all__ = ["DiehlCook2015", "INHIBITION_MODES", "SurrogateConvSNN"]
