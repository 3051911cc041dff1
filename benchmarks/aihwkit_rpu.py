"""Our rpu config as aihwkit's: the mapping behind the aihwkit arm of ``compare_aihwkit.py``.

:func:`aihwkit_spec` describes the aihwkit rpu config equivalent to an rpusim ``RPUConfig`` as plain
data (needs no aihwkit: testable anywhere, printable); :func:`aihwkit_config` builds it. A spec is
``{"class": NAME, FIELD: VALUE, ...}`` with NAME a class of ``aihwkit.simulator.configs``, nested
for the device, the periphery and the update; ``noise_management`` / ``bound_management`` hold the
names of aihwkit's enums. Every field that matters is set explicitly, none left to aihwkit's defaults
(BL 31 with BL management on, tiles split at 512 inputs/outputs, a digital bias, ...).

Mapped: plain SGD (``SingleRPUConfig``) and Tiki-Taka (``UnitCellRPUConfig`` with a
``TransferCompound`` of the fast array A and the slow array C), on constant-step and soft-bounds
devices. Anything else (TTv2, chopped TTv2, AGAD, mixed precision, other devices, other
noise/bound management, ``devices_per_weight`` > 1) raises ConfigError. Where the two simulators
parameterise a physics differently, the physics is mapped:

* **Up/down asymmetry.** rpusim draws it relative to each device's step (``up_down_draw:
  relative``): Δw^up,down = Δw_min·g·(1 ± a), a ~ N(up_down, up_down_dtod²), g ~ N(1, dw_min_dtod²).
  aihwkit draws it additively and takes ``up_down`` off the smaller side only: Δw^up = Δw'·(g + r),
  Δw^down = Δw'·(g − r − u) for u ≥ 0 (mirrored for u < 0), r ~ N(0, σ_r²). With
  Δw' = Δw_min·(1 + |a|), u = 2a/(1 + |a|), σ_r = up_down_dtod/(1 + |a|) the mean steps up and down
  (so the symmetry point, w* = a for soft bounds ±1) and the spread of each device's asymmetry
  match; what stays different: aihwkit's gain spread is on the larger step, so the smaller step
  spreads (1 + |a|)/(1 − |a|) times more in absolute terms (22 % at a = 0.1), and its relative
  asymmetry r/g grows on devices with small steps (heavier tail). With ``up_down_draw: additive``
  (rpusim's emulation of aihwkit's draw) the fields carry over as they are.
* **Tiki-Taka's reference** (``reference: true``: A read against R = A's symmetry point, A starting
  there): A's devices become ``SoftBoundsReferenceDevice`` with ``subtract_symmetry_point`` — the same
  soft-bounds step law (multiplicative cycle-to-cycle noise, slopes from each device's own bounds),
  read as w − w*_ij, starting at w*_ij (visible 0).
* **Schedule and learning rates.** ``fast_lr``, ``transfer_lr`` (both relative to the optimizer's lr
  or absolute, ``scale_*``), ``transfer_every`` with ``units_in_mbatch``, ``n_reads_per_transfer``,
  column reads in order: the same fields. The reads go through ``transfer_forward``, the transfer's
  pulses through the layer's ``rpu.update`` (aihwkit: ``transfer_update``, set to it).

The periphery maps field by field, except what docs/fidelity.md lists as aihwkit's own behaviour
(bound management's stop and test, update management's overflow, per-pulse clipping): the aihwkit
arm keeps aihwkit's, the ``rpusim-aihwkit`` arm emulates it in rpusim.
"""
from __future__ import annotations

from rpusim.config import ConfigError

DEVICES = {"constant_step": "ConstantStepDevice", "soft_bounds": "SoftBoundsDevice"}
NOISE_MANAGEMENT = {"none": "NONE", "abs_max": "ABS_MAX"}
BOUND_MANAGEMENT = {"none": "NONE", "iterative": "ITERATIVE"}
ENUMS = {"noise_management": "NoiseManagementType", "bound_management": "BoundManagementType"}


def aihwkit_steps(device) -> dict:
    """aihwkit's ``dw_min``, ``up_down``, ``up_down_dtod`` for the up and down steps of our ``device``
    (module docstring: the same mean steps and asymmetry spread)."""
    if device.up_down_draw == "additive":
        return {"dw_min": device.dw_min, "up_down": device.up_down, "up_down_dtod": device.up_down_dtod}
    larger = 1 + abs(device.up_down)
    return {"dw_min": device.dw_min * larger, "up_down": 2 * device.up_down / larger,
            "up_down_dtod": device.up_down_dtod / larger}


def device_spec(device, reference: bool = False) -> dict:
    """aihwkit's device for our ``device`` (``reference``: read against its symmetry point)."""
    if device.type not in DEVICES:
        raise ConfigError(f"rpu.device.type = {device.type!r}: no aihwkit mapping here "
                          f"(mapped: {', '.join(DEVICES)})")
    if reference and device.type != "soft_bounds":
        raise ConfigError(f"rpu.algorithm.reference on a {device.type} device: no aihwkit mapping here "
                          "(mapped: soft_bounds, as SoftBoundsReferenceDevice)")
    name = "SoftBoundsReferenceDevice" if reference else DEVICES[device.type]
    spec = {"class": name, "dw_min_dtod": device.dw_min_dtod, "dw_min_std": device.dw_min_std,
            "w_max": device.w_max, "w_min": device.w_min, "w_max_dtod": device.w_max_dtod,
            "w_min_dtod": device.w_min_dtod, **aihwkit_steps(device)}
    if reference:
        spec.update(subtract_symmetry_point=True, mult_noise=True, reference_mean=0.0, reference_std=0.0,
                    slope_up_dtod=0.0, slope_down_dtod=0.0)
    elif device.type == "soft_bounds":
        spec["mult_noise"] = True
    return spec


def _level(bits: int) -> float:
    """aihwkit's resolution (step over the range 2·bound) of ``bits`` bits; −1: no quantisation."""
    return 1 / (2**bits - 2) if bits else -1


def io_spec(io, where: str) -> dict:
    """aihwkit's IOParameters for our periphery ``io`` (``where``: its key, for the error)."""
    if io.noise_management not in NOISE_MANAGEMENT:
        raise ConfigError(f"{where}.noise_management = {io.noise_management!r}: no aihwkit mapping here "
                          f"(mapped: {', '.join(NOISE_MANAGEMENT)})")
    return {"class": "IOParameters", "is_perfect": io.is_perfect, "inp_bound": io.inp_bound,
            "out_bound": io.out_bound, "inp_res": _level(io.inp_bits), "out_res": _level(io.out_bits),
            "inp_sto_round": io.inp_sto_round, "out_sto_round": io.out_sto_round, "inp_noise": io.inp_noise,
            "out_noise": io.out_noise, "w_noise": io.w_noise,
            "noise_management": NOISE_MANAGEMENT[io.noise_management],
            "bound_management": BOUND_MANAGEMENT[io.bound_management]}


def update_spec(update) -> dict:
    return {"class": "UpdateParameters", "desired_bl": update.bl, "update_management": update.update_management,
            "update_bl_management": update.bl_management}


def tiki_taka_spec(rpu) -> dict:
    """aihwkit's TransferCompound for our Tiki-Taka: [A, C], the same schedule and learning rates."""
    alg = rpu.algorithm
    fast = device_spec(alg.fast_device or rpu.device, alg.reference)
    slow = device_spec(alg.slow_device or rpu.device)
    return {"class": "TransferCompound", "unit_cell_devices": [fast, slow], "gamma": alg.gamma,
            "transfer_every": float(alg.transfer_every), "units_in_mbatch": alg.units_in_mbatch,
            "n_reads_per_transfer": alg.n_reads_per_transfer, "transfer_columns": True,
            "random_selection": False, "with_reset_prob": 0.0, "fast_lr": alg.fast_lr,
            "scale_fast_lr": alg.scale_fast_lr, "transfer_lr": alg.transfer_lr,
            "scale_transfer_lr": alg.scale_transfer_lr,
            "transfer_forward": io_spec(alg.transfer_forward, "rpu.algorithm.transfer_forward"),
            "transfer_update": update_spec(rpu.update)}


def aihwkit_spec(rpu) -> dict:
    """The aihwkit rpu config equivalent to our ``rpu`` (an RPUConfig), as plain data (module docstring)."""
    if rpu.devices_per_weight != 1:
        raise ConfigError(f"rpu.devices_per_weight = {rpu.devices_per_weight}: no aihwkit mapping here (mapped: 1)")
    algorithm = rpu.algorithm.type
    if algorithm == "sgd":
        config = {"class": "SingleRPUConfig", "device": device_spec(rpu.device)}
    elif algorithm == "tiki-taka":
        config = {"class": "UnitCellRPUConfig", "device": tiki_taka_spec(rpu)}
    else:
        raise ConfigError(f"rpu.algorithm.type = {algorithm!r}: no aihwkit mapping here (mapped: sgd, tiki-taka)")
    mapping = rpu.mapping
    return {**config, "forward": io_spec(rpu.forward, "rpu.forward"),
            "backward": io_spec(rpu.backward, "rpu.backward"), "update": update_spec(rpu.update),
            "mapping": {"class": "MappingParameter", "digital_bias": mapping.digital_bias,
                        "max_input_size": mapping.max_input_size, "max_output_size": mapping.max_output_size}}


def build(spec):
    """The aihwkit object a spec describes (lists element by element, other values as they are)."""
    from aihwkit.simulator import configs
    if isinstance(spec, list):
        return [build(s) for s in spec]
    if not isinstance(spec, dict):
        return spec
    fields = {k: getattr(configs, ENUMS[k])[v] if k in ENUMS else build(v) for k, v in spec.items() if k != "class"}
    return getattr(configs, spec["class"])(**fields)


def aihwkit_config(rpu):
    """aihwkit's rpu config equivalent to our ``rpu`` (needs aihwkit)."""
    return build(aihwkit_spec(rpu))
