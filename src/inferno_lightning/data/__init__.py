"""LightningDataModules: the bundled digits data set (MNIST, N-MNIST and DVS Gesture to come)."""

from .digits import DIGITS_CLASSES, DIGITS_SAMPLES, DIGITS_SHAPE, DigitsDataModule

__all__ = ["DigitsDataModule", "DIGITS_SAMPLES", "DIGITS_CLASSES", "DIGITS_SHAPE"]
