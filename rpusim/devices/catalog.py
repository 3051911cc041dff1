"""Every device type by its ``type`` name: what a config's ``device: {type: NAME}`` may choose.

The list is written out here (no registration on import): to add a device type to the package, add
its class to :data:`DEVICE_TYPES`; code outside the package calls :func:`register_device`.
"""
from __future__ import annotations

from .base import PulsedDevice
from .ctf import CTFDevice
from .ideal import IdealDevice
from .linear_step import ConstantStepDevice, LinearStepDevice, SoftBoundsDevice
from .nonlinear_step import ExpStepDevice, PowStepDevice
from .piecewise_step import PiecewiseStepDevice
from .presets import PRESETS, preset_device_dict

DEVICE_TYPES: tuple[type[PulsedDevice], ...] = (
    IdealDevice, ConstantStepDevice, LinearStepDevice, SoftBoundsDevice, ExpStepDevice, PowStepDevice,
    PiecewiseStepDevice, CTFDevice,
)
DEVICES: dict[str, type[PulsedDevice]] = {cls.model_fields["type"].default: cls for cls in DEVICE_TYPES}


def register_device(cls: type[PulsedDevice]) -> type[PulsedDevice]:
    """Teach configs a device type of your own (code outside the package; the package's own types are
    listed in :data:`DEVICE_TYPES`): ``device: {type: NAME}`` then builds ``cls``. Returns ``cls``, so
    it also works as a class decorator."""
    DEVICES[cls.model_fields["type"].default] = cls
    return cls


def device_from_dict(data: dict | PulsedDevice, prefix: str = "device") -> PulsedDevice:
    """Build a device config from a YAML mapping ``{type: name, ...}`` or ``{preset: name, ...}``.

    Fields not given take the defaults of that device type, or the values of that preset
    (:data:`~.presets.PRESETS`). (A mapping with neither is refused here;
    :class:`~rpusim.tile.RPUConfig` fills in its default type first.)
    """
    from ..config import ConfigError

    if isinstance(data, PulsedDevice):
        return data
    types = ", ".join(sorted(DEVICES))
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix} = {data!r}: must be a mapping {{type: NAME, FIELD: VALUE, ...}} "
                          f"(types: {types})")
    if "preset" in data:
        data = preset_device_dict(data, prefix)
    if "type" not in data:
        raise ConfigError(f"{prefix}: a device needs a 'type' (one of: {types}) or a 'preset' "
                          f"(one of: {', '.join(PRESETS)})")
    name = data["type"]
    if name not in DEVICES:
        raise ConfigError(f"{prefix}.type = {name!r}: unknown device (allowed: {', '.join(sorted(DEVICES))})")
    return DEVICES[name].from_dict(data, prefix)
