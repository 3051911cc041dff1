"""Presets: published devices as device configs, selected by name (``device: {preset: NAME}``).

Each preset is a device type with every parameter set to a published fit; other keys given with
the preset refine it (``{preset: ecram, dw_min: 0.001}``). The numbers are the fits of IBM's aihwkit
(``aihwkit.simulator.presets.devices``, the ``…PresetDevice`` classes, which cite the papers) mapped
onto rpusim's device models; ``source`` names the paper the data come from and the fit,
``not_modelled`` what that fit has that rpusim's model leaves out. Bounds and steps are in the
weight units of aihwkit's presets (ranges of about ±1).

The presets are one explicit dict, :data:`PRESETS`; :func:`~.catalog.device_from_dict` expands a
mapping with ``preset`` through :func:`preset_device_dict`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ConfigError

AIHWKIT = "aihwkit.simulator.presets.devices"


@dataclass(frozen=True)
class DevicePreset:
    """A published device: its device config, one line on what it is, where the numbers come from."""

    device: dict[str, Any]  # {type: NAME, FIELD: VALUE, ...}; fields not given take the type's defaults
    description: str
    source: str
    not_modelled: str = ""


PRESETS: dict[str, DevicePreset] = {
    "reram-es": DevicePreset(
        device=dict(type="exp_step", dw_min=0.00135, dw_min_dtod=0.2, dw_min_std=5.0, up_down=0.259359,
                    up_down_dtod=0.05, w_max=1.0, w_min=-1.0, w_max_dtod=0.3, w_min_dtod=0.3,
                    a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0, A_up=-1.18445, A_down=-0.081404),
        description="ReRAM, exponential step-size law: strongly asymmetric, very noisy steps",
        source=f"Gong et al., Nat. Commun. 9, 2102 (2018) (doi:10.1038/s41467-018-04485-1); "
               f"ExpStep fit of {AIHWKIT}.ReRamESPresetDevice",
        not_modelled="write noise on the read weight (aihwkit write_noise_std = 75)"),
    "reram-sb": DevicePreset(
        device=dict(type="soft_bounds", dw_min=0.002, dw_min_dtod=0.3, dw_min_std=3.75, up_down=0.0,
                    up_down_dtod=0.01, w_max=1.25, w_min=-0.75, w_max_dtod=0.24, w_min_dtod=0.4),
        description="ReRAM, soft bounds: loose fit, assumes the symmetry point calibrated to 0 by a reference",
        source=f"Gong et al., Nat. Commun. 9, 2102 (2018) (doi:10.1038/s41467-018-04485-1); "
               f"SoftBounds fit of {AIHWKIT}.ReRamSBPresetDevice",
        not_modelled="additive cycle-to-cycle noise (aihwkit mult_noise = False; here it scales with the "
                     "step, so it vanishes at the bounds), write noise (write_noise_std = 56)"),
    "capacitor": DevicePreset(
        device=dict(type="linear_step", dw_min=0.005, dw_min_dtod=0.1, dw_min_std=0.3, up_down=0.0,
                    up_down_dtod=0.06, w_max=1.0, w_min=-1.0, w_max_dtod=0.07, w_min_dtod=0.07,
                    gamma_up=0.05, gamma_down=0.05),
        description="capacitor-based cell (weight as charge on a capacitor): nearly linear, symmetric steps",
        source=f"Li et al., VLSI Technology 2018 (IEEE Xplore 8510648); LinearStep fit of "
               f"{AIHWKIT}.CapacitorPresetDevice",
        not_modelled="leakage (lifetime 1e6 mini-batches), device-to-device spread of the slopes (0.01), "
                     "additive cycle-to-cycle noise, slopes relative to the mean bounds"),
    "ecram": DevicePreset(
        device=dict(type="linear_step", dw_min=0.002, dw_min_dtod=0.1, dw_min_std=0.3, up_down=0.0,
                    up_down_dtod=0.01, w_max=1.1724, w_min=-0.8276, w_max_dtod=0.05, w_min_dtod=0.05,
                    gamma_up=0.1153, gamma_down=0.5085),
        description="lithium-based ECRAM: linear step, range shifted so that the symmetry point is 0",
        source=f"Tang et al., IEDM 2018 (IEEE Xplore 8614551); LinearStep fit of {AIHWKIT}.EcRamPresetDevice",
        not_modelled="device-to-device spread of the slopes (0.05), slopes relative to the mean bounds"),
    "ecram-mo": DevicePreset(
        device=dict(type="linear_step", dw_min=2.8214e-4, dw_min_dtod=0.1, dw_min_std=2.0, up_down=0.0,
                    up_down_dtod=0.01, w_max=1.1714, w_min=-0.8286, w_max_dtod=0.05, w_min_dtod=0.05,
                    gamma_up=0.4152, gamma_down=0.7342),
        description="metal-oxide ECRAM: many small, noisy steps, range shifted so that the symmetry point is 0",
        source=f"Kim et al., IEDM 2019 (IEEE Xplore 8993463); LinearStep fit of {AIHWKIT}.EcRamMOPresetDevice",
        not_modelled="device-to-device spread of the slopes (0.05), slopes relative to the mean bounds"),
    "idealized": DevicePreset(
        device=dict(type="constant_step", dw_min=0.0002, dw_min_dtod=0.3, dw_min_std=0.3, up_down=0.0,
                    up_down_dtod=0.0, w_max=1.0, w_min=-1.0, w_max_dtod=0.3, w_min_dtod=0.3),
        description="idealized RPU: the baseline's spreads with ~10,000 states and no asymmetry spread",
        source=f"Gokmen & Vlasov, Front. Neurosci. 10:333 (2016) with 8x the states, as in Rasch, Gokmen & "
               f"Haensch, IEEE Design & Test 2019 (arXiv:1906.02698); {AIHWKIT}.IdealizedPresetDevice"),
    "gokmen-vlasov": DevicePreset(
        device=dict(type="constant_step", dw_min=0.001, dw_min_dtod=0.3, dw_min_std=0.3, up_down=0.0,
                    up_down_dtod=0.01, w_max=0.6, w_min=-0.6, w_max_dtod=0.3, w_min_dtod=0.3),
        description="the papers' RPU baseline: constant step, ~1200 states, 30 % spreads (rpusim's default device)",
        source="Gokmen & Vlasov, Front. Neurosci. 10:333 (2016), RPU device specification; values of aihwkit's "
               f"PulsedDevice defaults ({AIHWKIT}.GokmenVlasovPresetDevice is the same "
               f"1200 states rescaled to ±1, dw_min 0.0016)"),
}


def preset_device_dict(data: dict, prefix: str = "device") -> dict:
    """The device mapping of ``{preset: NAME, FIELD: VALUE, ...}``: the preset's fields, refined by the others.

    A ``type`` given beside ``preset`` must be the preset's own type. An unknown name is a
    ConfigError naming the allowed presets.
    """
    name = data["preset"]
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"{prefix}.preset = {name!r}: unknown device preset (allowed: {', '.join(PRESETS)})")
    base = PRESETS[name].device
    refine = {k: v for k, v in data.items() if k != "preset"}
    if "type" in refine and refine["type"] != base["type"]:
        raise ConfigError(f"{prefix}.type = {refine['type']!r}: preset {name!r} is a {base['type']} device; "
                          f"leave out type, or give a type without preset")
    return {**base, **refine}
