"""How far aihwkit's bound management reduces the input: one 1 × 1000 tile, every weight 0.5, every input
1 (exact output 500, far beyond the ±12 output bound), all noise off, iterative bound management and
abs-max noise management forward, no ADC quantisation; the output divided by the bound is the
reduction bound management stopped at. Printed for a 7-bit and an 8-bit DAC (docs/fidelity.md, "Bound
management's ceiling"). Without aihwkit it prints one line and exits 0.

    /path/to/aihwkit-venv/bin/python benchmarks/aihwkit_bm_ceiling.py
"""
from __future__ import annotations

import torch


def reduction(bits: int) -> tuple[float, float]:
    from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType
    from aihwkit.simulator.tiles import AnalogTile
    cfg = SingleRPUConfig(device=ConstantStepDevice())
    f = cfg.forward
    f.out_noise = f.inp_noise = f.w_noise = 0.0
    f.bound_management, f.noise_management = BoundManagementType.ITERATIVE, NoiseManagementType.ABS_MAX
    f.inp_res, f.out_res = 1 / (2**bits - 2), -1
    tile = AnalogTile(1, 1000, cfg)
    tile.set_weights(torch.full((1, 1000), 0.5))
    y = float(tile.forward(torch.ones(1, 1000)).detach())
    return y, y / f.out_bound


def main() -> None:
    try:
        import aihwkit
    except ImportError:
        print("aihwkit is not importable here: nothing to check (shared/aihwkit-reference.md says how to build it)")
        return
    print(f"aihwkit {aihwkit.__version__}: exact output 500, output bound 12")
    for bits in (7, 8):
        y, r = reduction(bits)
        print(f"DAC {bits} bits: output {y:g} -> bound management stopped at {r:g}x")


if __name__ == "__main__":
    main()
