"""One analog array with its periphery: forward, backward, pulsed update, management."""
from .array import AnalogArray
from .config import RPUConfig
from .periphery_config import IOConfig, MappingConfig, UpdateConfig
from .periphery import analog_mvm, quantize
from .tile import AnalogTile

__all__ = ["AnalogArray", "AnalogTile", "IOConfig", "MappingConfig", "RPUConfig", "UpdateConfig",
           "analog_mvm", "quantize"]
