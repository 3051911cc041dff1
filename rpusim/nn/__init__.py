"""PyTorch modules on analog arrays."""
from .base import AnalogLayerBase
from .conversion import CONVERTERS, convert_to_analog, register_converter
from .conv import AnalogConv1d, AnalogConv2d
from .linear import AnalogLinear
from .lstm import AnalogLSTM, AnalogLSTMCell
from .sequential import AnalogSequential, analog_arrays, layer_stats

__all__ = ["AnalogLayerBase", "AnalogLinear", "AnalogLSTM", "AnalogLSTMCell", "AnalogConv1d", "AnalogConv2d", "AnalogSequential", "convert_to_analog",
           "register_converter", "CONVERTERS", "analog_arrays", "layer_stats"]
