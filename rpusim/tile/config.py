"""Configuration of one analog array and its periphery (the papers' "RPU baseline" by default).

Defaults follow the RPU baseline of Gokmen & Vlasov 2016 / Gokmen, Onen, Haensch 2017 as
encoded in aihwkit (Gokmen & Vlasov 2016, Front. Neurosci. 10:333): constant-step device, 7-bit DAC over
|x| ≤ 1, output noise σ = 0.06, 9-bit ADC over |y| ≤ 12, noise management (abs-max) in
both directions, bound management in the forward pass only, BL = 10 pulses.
"""
from __future__ import annotations

from pydantic import Field, SerializeAsAny, field_validator

from ..config import Config
from ..devices import ConstantStepDevice, IdealDevice, PulsedDevice, device_from_dict, has_symmetry_point
from .algorithm_config import AlgorithmConfig, MixedPrecisionAlgorithm, SGDAlgorithm, TTv2Algorithm, algorithm_from_dict
from .periphery_config import IOConfig, MappingConfig, UpdateConfig


def _backward_default() -> IOConfig:
    return IOConfig(bound_management="none")


DEFAULT_DEVICE = ConstantStepDevice  # the papers' RPU baseline device


class RPUConfig(Config):
    """Everything about the analog arrays of one layer: device, periphery, update, mapping.

    ``device`` is a device config or a mapping. A mapping with a ``type`` is that device type
    with its own defaults for the fields not given (``{type: soft_bounds, dw_min: 0.002}``); a
    mapping without ``type`` refines the default device, the papers' constant-step baseline
    (``{up_down: 0.05}`` is the baseline with a 5 % asymmetry); a mapping with a ``preset`` is that
    published device (``{preset: ecram}``, :data:`rpusim.devices.PRESETS`), refined by the other keys.
    Merged overrides (``--set``, experiment variants, ``layer_rpu``) go through
    :func:`rpusim.framework.config.deep_merge`, which refines the device already chosen unless the
    override names another ``type`` or ``preset``.
    """

    device: SerializeAsAny[PulsedDevice] = Field(default_factory=DEFAULT_DEVICE)
    devices_per_weight: int = Field(1, ge=1, le=64, description="devices per weight (same pulses, read as mean)")
    forward: IOConfig = Field(default_factory=IOConfig)
    backward: IOConfig = Field(default_factory=_backward_default)
    update: UpdateConfig = Field(default_factory=UpdateConfig)
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    algorithm: SerializeAsAny[AlgorithmConfig] = Field(
        default_factory=SGDAlgorithm, description="training algorithm: {type: sgd | tiki-taka | ttv2 | "
        "chopped-ttv2 | agad | mixed-precision, ...} (docs/algorithms.md)")

    @field_validator("backward")
    @classmethod
    def _backward_passes_its_errors(cls, v: IOConfig) -> IOConfig:
        if v.out_bound_grad != "pass":
            raise ValueError("out_bound_grad acts on the forward pass's outputs only: set rpu.forward.out_bound_grad")
        return v

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, v):
        if isinstance(v, dict) and "type" not in v and "preset" not in v:
            v = {"type": DEFAULT_DEVICE.model_fields["type"].default, **v}
        return device_from_dict(v)

    @field_validator("algorithm", mode="before")
    @classmethod
    def _algorithm(cls, v, info):
        alg = algorithm_from_dict(v)
        fast = getattr(alg, "fast_device", None) or info.data.get("device")
        if getattr(alg, "reference", False) and fast is not None and not has_symmetry_point(fast):
            raise ValueError(f"reference needs a symmetry point: the fast array's device ({fast.type}) must "
                             f"be a bounded-step one or a charge-trap-flash cell")
        if isinstance(alg, (TTv2Algorithm, MixedPrecisionAlgorithm)):
            target = getattr(alg, "slow_device", None) or info.data.get("device")
            if target is not None and target.is_ideal:
                raise ValueError(f"{alg.type} fires whole pulses on its "
                                 f"{'slow ' if isinstance(alg, TTv2Algorithm) else ''}array, whose "
                                 f"device must be a pulsed one, not ideal")
        return alg

    @classmethod
    def ideal(cls) -> "RPUConfig":
        """Ideal device and perfect periphery: trains exactly like floating point."""
        return cls(device=IdealDevice(), forward=IOConfig.perfect(), backward=IOConfig.perfect())
