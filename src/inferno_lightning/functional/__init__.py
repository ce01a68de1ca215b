"""Pure tensor functions, no state: neuron updates, spikes and surrogates, traces,
bounding, interpolation, synaptic currents and spike encodings.

Nothing here imports the rest of the package.
"""

from . import bounding as _bounding
from . import conductance as _conductance
from . import encoding as _encoding
from . import interpolation as _interpolation
from . import neurons as _neurons
from . import spikes as _spikes
from . import synapses as _synapses
from . import traces as _traces
from .bounding import *  # noqa: F403
from .conductance import *  # noqa: F403
from .encoding import *  # noqa: F403
from .interpolation import *  # noqa: F403
from .neurons import *  # noqa: F403
from .spikes import *  # noqa: F403
from .synapses import *  # noqa: F403
from .traces import *  # noqa: F403

__all__ = [
    *_bounding.__all__,
    *_conductance.__all__,
    *_encoding.__all__,
    *_interpolation.__all__,
    *_neurons.__all__,
    *_spikes.__all__,
    *_synapses.__all__,
    *_traces.__all__,
]
