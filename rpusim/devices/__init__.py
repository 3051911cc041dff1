"""Device models: what one cross-point does to one pulse (configs + pure tensor functions)."""
from .base import PulsedDevice
from .bounded import BoundedStepDevice
from .catalog import DEVICE_TYPES, DEVICES, device_from_dict, register_device
from .ctf import CTFDevice
from .ideal import IdealDevice
from .linear_step import ConstantStepDevice, LinearStepDevice, SoftBoundsDevice
from .nonlinear_step import ExpStepDevice, PowStepDevice
from .piecewise_step import PiecewiseStepDevice
from .presets import PRESETS, DevicePreset
from .symmetry import has_symmetry_point, nominal_symmetry_point, symmetry_point

__all__ = [
    "DEVICES", "PulsedDevice", "BoundedStepDevice", "ConstantStepDevice", "SoftBoundsDevice",
    "LinearStepDevice", "ExpStepDevice", "PowStepDevice", "PiecewiseStepDevice", "IdealDevice", "CTFDevice",
    "DEVICE_TYPES", "device_from_dict", "register_device", "PRESETS", "DevicePreset", "symmetry_point", "nominal_symmetry_point",
    "has_symmetry_point",
]
