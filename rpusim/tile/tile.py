"""One analog array with its periphery, in the three cycles of RPU training.

* forward  y = W·x   through the forward periphery (:func:`analog_mvm`)
* backward z = Wᵀ·δ  through the backward periphery
* update   W += −η·Σ δxᵀ as stochastic pulse coincidences (:mod:`.pulsed_update`)

The device state is a tensor of shape (n_devices, out, in): with ``devices_per_weight``
> 1 every weight is several devices that receive the same pulses, each with its own
device-to-device and cycle-to-cycle randomness, and the weight read is their mean
(device-variability reduction, Gokmen, Onen, Haensch 2017). Per-device parameters are
drawn once from the tile's own generator, whose state is part of the state dict so that
a resumed run continues bit-exactly.

Random streams per device. A torch generator lives on one device, so the tile keeps one stream
per device it has computed on (keyed ``'cpu'``, ``'cuda:0'``, ...); the *active* one is that of
the device its state is on. The first time the tile computes on a device (after ``.to(device)``
or after loading a checkpoint written elsewhere) that device's stream is seeded from a hash of
the active stream's state and the device's name (:func:`derived_stream`): it continues the run's
randomness deterministically instead of restarting from ``seed``, and it takes nothing from the
active stream. Every stream's state is saved in the state dict, so a checkpoint resumes
bit-exactly on the device that wrote it, and statistically equally (not bit-exactly) on another.
"""
from __future__ import annotations

import hashlib
from typing import Mapping

import torch
from torch import Tensor, nn

from ..fast_path import use_fast_kernel
from .config import RPUConfig
from .grad_mode import without_grad
from .periphery import analog_mvm
from .pulsed_update import coincidence_counts, exact_update, ordered_update, plan_pulses

STAT_KEYS = ("mvms", "saturated", "saturated_final")
_STAT_NAMES = {d: {k: f"{d}_{k}" for k in STAT_KEYS} for d in ("fwd", "bwd")}  # the stats' keys per direction


def derived_stream(source_state: Tensor, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` seeded with the first 63 bits of SHA-256(state bytes ‖ device name):
    a deterministic function of the stream it continues (``source_state``, a generator's
    ``get_state()``), distinct per device, and without drawing from that stream."""
    digest = hashlib.sha256(source_state.numpy().tobytes() + str(torch.device(device)).encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class AnalogTile(nn.Module):
    """An ``out_size × in_size`` array of devices with forward/backward periphery and pulsed update."""

    def __init__(self, out_size: int, in_size: int, rpu_config: RPUConfig, seed: int):
        super().__init__()
        self.out_size, self.in_size = out_size, in_size
        self.rpu_config = rpu_config
        self.device_model = rpu_config.device
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)  # the active stream (see random_stream)
        self._streams: dict[str, torch.Generator] = {"cpu": self.generator}  # live streams by device
        self._stored: dict[str, Tensor] = {}  # loaded stream states not made into generators (yet)
        self._active = "cpu"  # device of the stream drawn from last
        shape = (rpu_config.devices_per_weight, out_size, in_size)
        self.register_buffer("state", torch.zeros(shape))
        params = self.device_model.sample_params(shape, self.generator)
        self._param_names = list(params)
        # per-device parameters stacked in one buffer (P × n_devices × out × in): one gather per update
        self.register_buffer("dev_params", torch.stack(list(params.values())) if params else torch.zeros(0, *shape))
        self.register_buffer("nm_running_fwd", torch.ones(1, 1))
        self.register_buffer("nm_running_bwd", torch.ones(1, 1))
        self._cached: dict[str, Tensor] = {}  # the weights read, until the devices change
        self._params: dict[str, Tensor] = {}  # views into dev_params, made by `params`
        self._params_of: Tensor | None = None  # the dev_params buffer those views belong to
        self._gen_checked_for: Tensor | None = None
        self.reset_stats()

    # --- state ----------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Tensor]:
        """Per-device parameters by name: views into ``dev_params``, made again only when that
        buffer is replaced (``.to()``; loading a state dict copies into it in place)."""
        if self._params_of is not self.dev_params:
            self._params = dict(zip(self._param_names, self.dev_params.unbind(0)))
            self._params_of = self.dev_params
        return self._params

    def random_stream(self) -> torch.Generator:
        """The tile's generator on the device of its state: every random number of its periphery
        and update is drawn from it (also by kernels that run the tile's passes outside
        :meth:`forward` / :meth:`backward`, so that a run stays reproducible and resumable).
        On a device new to the tile, its stream is derived from the active one (module docstring)."""
        if self._gen_checked_for is not self.state:  # the state moved (``.to()``) or was loaded
            key = str(self.state.device)
            if key not in self._streams:
                if key in self._stored:
                    gen = torch.Generator(device=self.state.device)
                    gen.set_state(self._stored.pop(key))
                else:
                    gen = derived_stream(self._stream_state(self._active), self.state.device)
                self._streams[key] = gen
            self.generator, self._active = self._streams[key], key
            self._gen_checked_for = self.state
        return self.generator

    def _stream_state(self, key: str) -> Tensor:
        return self._streams[key].get_state() if key in self._streams else self._stored[key]

    def get_extra_state(self):
        states = {key: self._stream_state(key) for key in (*self._streams, *self._stored)}
        return {"generators": states, "active": self._active, "stats": dict(self.stats)}

    def set_extra_state(self, extra):
        # checkpoints written before streams were kept per device hold one CPU stream
        states = extra["generators"] if "generators" in extra else {"cpu": extra["generator"]}
        self._streams, self._stored = {}, {k: v.cpu() for k, v in states.items()}
        self._active = extra.get("active", "cpu")
        self._gen_checked_for = None  # random_stream() takes up the loaded stream of the state's device
        self.random_stream()
        self.stats = dict(extra["stats"])
        self._cached.clear()

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._cached.clear()

    def count_passes(self, direction: str, counts: Mapping[str, int]) -> None:
        """Add pass diagnostics to :attr:`stats`: ``direction`` 'fwd' or 'bwd', ``counts`` by the
        names of :data:`STAT_KEYS` (what :meth:`forward` / :meth:`backward` count themselves)."""
        names = _STAT_NAMES[direction]
        for key, value in counts.items():
            self.stats[names[key]] += value

    def reset_stats(self) -> None:
        self.stats = {"fwd_" + k: 0 for k in STAT_KEYS} | {"bwd_" + k: 0 for k in STAT_KEYS} | {
            "pulse_probs": 0, "pulse_probs_clipped": 0, "updates": 0}

    def get_weights(self) -> Tensor:
        """The weight matrix the array computes with (mean over the devices of each weight)."""
        w = self._cached.get("weights")
        if w is None:
            w = self._cached["weights"] = self.read_devices()
        return w

    def read_devices(self) -> Tensor:
        """The weights this array's devices hold (mean over the devices of each weight), uncached."""
        w = self.device_model.read(self.state, self.params)
        return w[0] if w.shape[0] == 1 else w.mean(dim=0)

    @torch.no_grad()
    def set_weights(self, w: Tensor) -> None:
        """Program every device of each weight to ``w``, clipped to what the devices can hold."""
        w = w.to(self.state.device, self.state.dtype).expand_as(self.state)
        self.state.copy_(self.device_model.clip(w, self.params))
        self._cached.clear()

    # --- the three cycles -------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """y = W·x through the forward periphery (x: B × in)."""
        return self._mvm(x, self.rpu_config.forward, self.nm_running_fwd, False, "fwd")

    def backward(self, d: Tensor) -> Tensor:
        """z = Wᵀ·δ through the backward periphery (d: B × out)."""
        return self._mvm(d, self.rpu_config.backward, self.nm_running_bwd, True, "bwd")

    @without_grad
    def _mvm(self, x: Tensor, io, running_buf: Tensor, transposed: bool, direction: str) -> Tensor:
        running = self._running(x, io, running_buf)
        counts: dict = {}
        y = analog_mvm(x, self.get_weights(), io, self.random_stream(), transposed, counts, running)
        self.count_passes(direction, counts)
        return y

    @without_grad
    def update(self, x: Tensor, d: Tensor, lr: float) -> None:
        """Apply W += −lr·dᵀx (x: B × in, d: B × out) as the device can."""
        self.stats["updates"] += x.shape[0]
        self.pulsed_update(x, d, lr)

    @without_grad
    def pulsed_update(self, x: Tensor, d: Tensor, lr: float) -> None:
        """:meth:`update` without counting the B vector updates in :attr:`stats` (the pulse
        probabilities are counted): also the transfers of a compound tile into its slow array."""
        if self.device_model.is_ideal:
            self.state.sub_(lr * (d.T @ x))
            self._cached.clear()
            return
        cfg = self.rpu_config.update
        gen = self.random_stream()
        if use_fast_kernel(x, d, supported=cfg.mode == "fast" and cfg.counting != "gemm"
                           and (cfg.clip == "per_update" or x.shape[0] == 1)):  # one sample: one sign per cell
            from .bit_counts import packed_update_counts  # numba, loaded at the first fast update
            rows, cols, n_up, n_down, bl, total, clipped = packed_update_counts(
                x, d, lr, self.device_model.nominal_dw_min, cfg, gen)
        else:
            # samples with x = 0 or δ = 0 fire no coincidence (e.g. the 3 of 4 conv patches a
            # max-pool passes no error to): leave them out before drawing pulse trains
            if x.shape[0] > 1:
                active = (x != 0).any(dim=1) & (d != 0).any(dim=1)
                if not bool(active.all()):
                    x, d = x[active], d[active]
                    if x.shape[0] == 0:
                        return
            plan = plan_pulses(x, d, lr, self.device_model.nominal_dw_min, cfg)
            total, clipped, bl = plan.total, plan.clipped, plan.bl
            if cfg.mode == "exact":
                self.state.copy_(exact_update(self.state, plan, self.device_model, self.params, gen))
                rows = cols = None
            elif cfg.clip == "per_pulse":
                self.state.copy_(ordered_update(self.state, plan, self.device_model, self.params, gen))
                rows = cols = None
            else:
                rows, cols, n_up, n_down = coincidence_counts(plan, gen)
        self.stats["pulse_probs"] += total
        self.stats["pulse_probs_clipped"] += clipped
        if rows is not None and rows.numel() and cols.numel():
            self._apply_counts(rows, cols, n_up, n_down, bl, gen)
        self._cached.clear()

    def _apply_counts(self, rows, cols, n_up, n_down, bl, gen) -> None:
        fused = getattr(self.device_model, "apply_pulses_at", None)  # a device's in-place kernel
        if fused is not None and fused(self.state, self.params, rows, cols, n_up, n_down, gen, bl):
            return
        if 2 * rows.numel() * cols.numel() >= self.out_size * self.in_size:
            # most cross-points fired: respond on the whole array (zero counts leave a cell unchanged)
            if rows.numel() < self.out_size or cols.numel() < self.in_size:
                n_up, n_down = self._scatter(rows, cols, n_up), self._scatter(rows, cols, n_down)
            self.state.copy_(self.device_model.apply_pulses(self.state, n_up, n_down, self.params, gen, bl))
            return
        # work on the fired rows × columns only: gather, respond, scatter (flat indices)
        flat = (rows[:, None] * self.in_size + cols[None, :]).reshape(-1)
        shape = (self.state.shape[0], rows.numel(), cols.numel())
        state = self.state.view(shape[0], -1)
        sub_w = state.index_select(1, flat).view(shape)
        sub_p = self.dev_params.view(len(self._param_names), shape[0], -1).index_select(2, flat)
        sub_p = dict(zip(self._param_names, sub_p.view(-1, *shape).unbind(0)))
        new = self.device_model.apply_pulses(sub_w, n_up, n_down, sub_p, gen, bl)
        state.index_copy_(1, flat, new.reshape(shape[0], -1))

    # --- helpers ----------------------------------------------------------------------------
    def _scatter(self, rows, cols, counts):
        full = torch.zeros(self.out_size, self.in_size, dtype=counts.dtype, device=counts.device)
        full[rows[:, None], cols[None, :]] = counts
        return full

    def _running(self, x, io, buf):
        if io.noise_management != "average_abs_max":
            return None
        if self.training:
            buf.mul_(io.nm_decay).add_((1 - io.nm_decay) * x.abs().amax(dim=1).mean())
        return buf

    def extra_repr(self) -> str:
        return f"out={self.out_size}, in={self.in_size}, device={self.device_model.type}, " \
               f"devices_per_weight={self.rpu_config.devices_per_weight}"
