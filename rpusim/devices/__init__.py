"""Device models: what one cross-point does to one pulse (configs + pure tensor functions)."""
from .base import DEVICES, PulsedDevice, device_from_dict, register_device
from .bounded import BoundedStepDevice
from .ctf import CTFDevice
from .ideal import IdealDevice
from .linear_step import ConstantStepDevice, LinearStepDevice, SoftBoundsDevice
from .nonlinear_step import ExpStepDevice, PowStepDevice

__all__ = [
    "DEVICES", "PulsedDevice", "BoundedStepDevice", "ConstantStepDevice", "SoftBoundsDevice",
    "LinearStepDevice", "ExpStepDevice", "PowStepDevice", "IdealDevice", "CTFDevice", "device_from_dict",
    "register_device",
]
