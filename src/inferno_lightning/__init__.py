"""inferno-lightning: spiking neural networks with local learning, on PyTorch and Lightning.

The core subpackages (``functional``, ``neural``, ``encode``) depend on PyTorch
only, so they serve plain PyTorch users too.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
