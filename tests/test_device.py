"""Where a run computes: ``train.device``, the model on a device, per-device random streams of a tile,
checkpoints across devices. The ``device`` fixture (conftest.py) runs a test on cpu and, where
torch sees one, on cuda."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.framework import train_run, variant_configs
from rpusim.framework.config import RunConfig
from rpusim.framework.device import resolve_device
from rpusim.framework.identity import fingerprint
from rpusim.nn import AnalogConv2d, AnalogLinear, AnalogLSTM
from rpusim.optim import AnalogSGD
from rpusim.papers.catalog import get_experiment
from rpusim.tile import AnalogTile, RPUConfig, UpdateConfig
from rpusim.tile.tile import derived_stream


# --- train.device -------------------------------------------------------------------------------
def test_auto_takes_cuda_exactly_when_present_and_cpu_is_always_allowed():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is absent")
def test_cuda_is_refused_in_one_line_before_any_folder_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"train.device = 'cuda': CUDA is not available"):
        resolve_device("cuda")
    result = CliRunner().invoke(app, ["run", "fc-mnist", "--preset", "quick", "--set", "train.device=cuda",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "train.device = 'cuda': CUDA is not available" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_device_is_validated_and_not_part_of_the_fingerprint():
    with pytest.raises(ConfigError, match="train.device"):
        RunConfig.from_dict({"train": {"device": "gpu"}})
    on_cpu = RunConfig.from_dict({"train": {"device": "cpu"}}).to_dict()
    on_cuda = RunConfig.from_dict({"train": {"device": "cuda"}}).to_dict()
    assert fingerprint(on_cpu) == fingerprint(on_cuda)  # a run resumes on another device
    no_field = {**on_cpu, "train": {k: v for k, v in on_cpu["train"].items() if k != "device"}}
    assert fingerprint(no_field) == fingerprint(on_cpu)  # run folders written before the field resume


# --- layers and AnalogSGD after model.to(device) --------------------------------------------------
def test_one_training_step_of_every_kind_of_layer_on_the_device(device):
    torch.manual_seed(0)
    rpu = RPUConfig(update=UpdateConfig(bl=31))
    model = nn.Sequential(AnalogConv2d(1, 2, 3, rpu_config=rpu), nn.Flatten(),
                          AnalogLinear(8, 3, rpu_config=rpu)).to(device)
    lstm = AnalogLSTM(3, 4, rpu_config=rpu).to(device)
    for net, x in ((model, torch.rand(4, 1, 4, 4)), (lstm, torch.rand(5, 2, 3))):
        opt = AnalogSGD(net.parameters(), lr=0.5)
        before = [t.clone() for t in net.state_dict().values() if isinstance(t, torch.Tensor)]
        out = net(x.to(device))
        out = out[0] if isinstance(out, tuple) else out
        assert out.device.type == device
        out.square().sum().backward()
        opt.step()
        after = [t for t in net.state_dict().values() if isinstance(t, torch.Tensor)]
        assert all(t.device.type == device for t in after if t.dtype.is_floating_point)
        assert any(not torch.equal(a.cpu(), b.cpu()) for a, b in zip(before, after))  # it learned


@pytest.mark.data("mnist")
def test_a_quick_run_trains_on_the_device_and_resumes_from_its_checkpoint(device, tmp_path):
    cfg = variant_configs(get_experiment("fc-mnist"), ["rpu-baseline"], "quick", {
        "train": {"epochs": 1, "device": device}, "data": {"train_limit": 40, "test_limit": 40}})["rpu-baseline"]
    first = train_run(cfg, tmp_path, progress=False, log=lambda *a: None)
    ckpt = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=False)
    streams = [v["generators"] for k, v in ckpt["model"].items() if k.endswith("_extra_state")]
    assert streams and all(str(resolve_device(device)) in s for s in streams)
    data = cfg.to_dict()
    longer = RunConfig.from_dict({**data, "train": {**data["train"], "epochs": 2, "device": "cpu"}})
    resumed = train_run(longer, tmp_path, resume=True, progress=False, log=lambda *a: None)
    assert resumed["epochs"] == 2 and first["epochs"] == 1


# --- random streams per device --------------------------------------------------------------------
def _draws(tile: AnalogTile, n: int = 5) -> torch.Tensor:
    return torch.rand(n, generator=tile.random_stream())


def _tile() -> AnalogTile:
    return AnalogTile(3, 4, RPUConfig(), seed=11)


def test_a_derived_stream_is_deterministic_per_state_and_device_and_takes_nothing_from_its_source():
    source = torch.Generator().manual_seed(3)
    state = source.get_state()
    a, b = derived_stream(state, "cpu"), derived_stream(source.get_state(), "cpu")
    assert torch.equal(torch.rand(8, generator=a), torch.rand(8, generator=b))
    assert torch.equal(source.get_state(), state)  # nothing drawn from the source
    torch.rand(1, generator=source)
    moved_on = derived_stream(source.get_state(), "cpu")
    assert not torch.equal(torch.rand(8, generator=moved_on), torch.rand(8, generator=derived_stream(state, "cpu")))


def test_the_state_dict_keeps_every_device_stream_and_resumes_exactly_on_the_same_device():
    tile = _tile()
    _draws(tile)
    saved = tile.state_dict()
    expected = _draws(tile)
    fresh = _tile()
    fresh.load_state_dict(saved)
    assert torch.equal(_draws(fresh), expected)
    extra = saved["_extra_state"]
    assert set(extra["generators"]) == {"cpu"} and extra["active"] == "cpu"


def test_a_checkpoint_of_another_device_continues_from_its_stream_not_from_the_seed():
    """A checkpoint written on cuda:0 (its stream state stands in here) loaded on the CPU: the CPU
    stream is derived from the saved active stream, deterministically; the cuda:0 state is kept."""
    written = _tile()
    extra = written.get_extra_state()
    other = torch.Generator().manual_seed(99)
    extra = {**extra, "generators": {"cuda:0": other.get_state()}, "active": "cuda:0"}
    loaded = [_tile() for _ in range(2)]
    for tile in loaded:
        tile.set_extra_state(extra)
    got = _draws(loaded[0])
    assert torch.equal(got, _draws(loaded[1]))  # deterministic
    assert torch.equal(got, torch.rand(5, generator=derived_stream(other.get_state(), "cpu")))
    assert not torch.equal(got, torch.rand(5, generator=torch.Generator().manual_seed(11)))  # not the seed
    assert not torch.equal(got, _draws(_tile()))  # not the stream the tile had
    saved = loaded[0].get_extra_state()
    assert set(saved["generators"]) == {"cpu", "cuda:0"} and saved["active"] == "cpu"
    assert torch.equal(saved["generators"]["cuda:0"], other.get_state())


def test_a_checkpoint_with_the_single_stream_of_older_versions_still_resumes_exactly():
    tile = _tile()
    _draws(tile)
    old_format = {"generator": tile.generator.get_state(), "stats": dict(tile.stats)}
    expected = _draws(tile)
    fresh = _tile()
    fresh.set_extra_state(old_format)
    assert torch.equal(_draws(fresh), expected)


@pytest.mark.cuda
def test_moving_a_tile_to_cuda_derives_its_stream_and_moving_back_continues_the_cpu_stream():
    tile = _tile()
    state = tile.generator.get_state()
    tile.to("cuda")
    got = torch.rand(5, generator=tile.random_stream(), device="cuda")
    assert torch.equal(got, torch.rand(5, generator=derived_stream(state, "cuda:0"), device="cuda"))
    tile.to("cpu")
    assert torch.equal(tile.random_stream().get_state(), state)
