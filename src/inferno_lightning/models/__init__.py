"""Ready networks built on :class:`~inferno_lightning.SpikingModule`: Diehl & Cook (2015), ..."""

from .diehl_cook import INHIBITION_MODES, DiehlCook2015

__all__ = ["DiehlCook2015", "INHIBITION_MODES"]
