"""Optimizers for models with analog layers."""
from .analog_sgd import AnalogSGD

__all__ = ["AnalogSGD"]
