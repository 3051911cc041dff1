"""A spec sheet from records: sweep points recorded under their point names, the sheet planned
again and read from them (a known synthetic threshold), and records of another run refused."""
from __future__ import annotations

import json

import pytest
import yaml

from rpusim.config import ConfigError
from rpusim.framework.identity import config_record
from rpusim.framework.records import record_runs
from rpusim.framework.spec import plan_spec
from rpusim.framework.spec_records import SpecRequest, record_folder, sheet_from_records
from rpusim.papers import spec_sheets
from rpusim.papers.catalog import get_experiment

EXP = get_experiment("fc-mnist")
REQ = SpecRequest("fc-mnist", budget="quick", tolerance=0.3, seeds=1, params=("dw_min",),
                  grids={"dw_min": (0.01,)})


def _points(req: SpecRequest = REQ):
    return plan_spec(EXP, req.variant, req.reference, req.budget, {}, req.tolerance, req.seeds,
                     list(req.params), {k: list(v) for k, v in req.grids.items()})[3]


def _write_run(folder, cfg, final: float) -> None:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config_record(cfg), sort_keys=False))
    (folder / "metrics.csv").write_text(f"epoch,train_loss,test_error\n0,nan,90.0\n1,0.5,{final}\n")
    (folder / "summary.json").write_text(json.dumps({"experiment": cfg.experiment, "variant": cfg.variant,
                                                     "seed": cfg.seed, "metric": "test_error", "final": final,
                                                     "best": final, "epochs": 1}))


def _sweep(tmp_path, finals: dict[str, float], points=None):
    """A finished spec sweep folder with the given final metric per point name."""
    points = points or _points()
    sweep = tmp_path / "runs" / "fc-mnist" / "spec-rpu-baseline-quick"
    for pt in points:
        _write_run(sweep / pt.name, pt.cfg, finals[pt.name])
    (sweep / "sweep.json").write_text(json.dumps(
        {"experiment": "fc-mnist", "keys": ["seed"], "points": {pt.name: {"variant": pt.variant, **pt.values}
                                                                for pt in points}}))
    return sweep, points


def _recorded(root, finals: dict[str, float], points=None):
    """``root`` holding the records (study spec-test) of a finished spec sweep made by :func:`_sweep`."""
    sweep, _ = _sweep(root, finals, points)
    record_runs(sorted(p for p in sweep.iterdir() if p.is_dir()), "spec-test", root)
    return root


FINALS = {"fp__seed=0": 10.0, "rpu-baseline__seed=0": 10.0, "rpu-baseline__dw_min=0.01__seed=0": 11.0}


def test_sweep_points_are_recorded_under_their_point_names(tmp_path):
    sweep, points = _sweep(tmp_path, FINALS)
    record_runs(sorted(p for p in sweep.iterdir() if p.is_dir()), "spec-test", tmp_path)
    base = tmp_path / "results" / "spec-test" / "fc-mnist"
    assert sorted(p.name for p in base.iterdir()) == ["fp", "rpu-baseline", "rpu-baseline__dw_min=0.01"]
    for pt in points:
        assert (record_folder(tmp_path, "spec-test", "fc-mnist", pt) / "summary.json").is_file()


def test_a_point_whose_sweep_entry_disagrees_with_its_config_is_refused(tmp_path):
    sweep, _ = _sweep(tmp_path, FINALS)
    listing = json.loads((sweep / "sweep.json").read_text())
    listing["points"]["rpu-baseline__dw_min=0.01__seed=0"]["seed"] = 7
    (sweep / "sweep.json").write_text(json.dumps(listing))
    with pytest.raises(ConfigError, match="seed 7, but its config.yaml holds variant 'rpu-baseline', seed 0"):
        record_runs([sweep / "rpu-baseline__dw_min=0.01__seed=0"], "spec-test", tmp_path)


def test_the_sheet_from_records_finds_the_known_threshold(tmp_path):
    """m = 10 at the baseline Δw_min 0.001, 11 at 0.01, fp 10, T 0.3, one seed (no spread): the
    excess goes −0.3 → +0.7 over one decade, so the limit is 0.001·10^0.3 (log interpolation)."""
    data = sheet_from_records(_recorded(tmp_path, FINALS), "spec-test", EXP, REQ)
    p = data["params"]["dw_min"]
    assert p["status"] == "crossed" and p["limit"] == pytest.approx(0.001 * 10 ** 0.3, rel=1e-9)
    assert (data["recorded"], data["planned"]) == (3, 3)
    assert data["command"].startswith("rpusim spec fc-mnist --variant rpu-baseline --budget quick")


def test_missing_records_count_as_not_finished(tmp_path):
    sweep, _ = _sweep(tmp_path, FINALS)
    record_runs([sweep / "fp__seed=0", sweep / "rpu-baseline__seed=0"], "spec-test", tmp_path)
    data = sheet_from_records(tmp_path, "spec-test", EXP, REQ)
    assert (data["recorded"], data["planned"]) == (2, 3)
    assert len(data["params"]["dw_min"]["stats"]) == 1  # the baseline only
    assert "1 value(s) not finished" in spec_sheets.markdown({**data, "device": "constant_step"})


def test_a_record_of_another_run_is_refused_naming_the_key(tmp_path):
    other = [pt if pt.variant != "rpu-baseline" or "dw_min" not in pt.values
             else type(pt)(pt.name, pt.variant, pt.values, pt.cfg.model_copy(
                 update={"train": pt.cfg.train.model_copy(update={"lr": 0.5})}))
             for pt in _points()]
    _recorded(tmp_path, FINALS, other)
    with pytest.raises(ConfigError, match=r"not the run the spec sheet plans.*train\.lr: 0\.5 → 0\.1"):
        sheet_from_records(tmp_path, "spec-test", EXP, REQ)


def test_the_sheet_without_a_reference_record_says_so(tmp_path):
    from rpusim.framework.spec import SpecIncomplete
    with pytest.raises(SpecIncomplete, match="no finished reference run"):
        sheet_from_records(tmp_path, "spec-test", EXP, REQ)


def test_the_document_block_before_any_record_names_the_command(tmp_path):
    view = spec_sheets.VIEWS["spec-fc-mnist"]
    data = view.numbers(tmp_path)
    text = view.markdown(data)
    assert "No record yet" in text and spec_sheets.FC.command() in text
    view.draw(data, tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").stat().st_size > 1000


@pytest.mark.parametrize("worse, status, limit, paper, verdict", [
    ("larger", "crossed", 0.4, 0.06, "ours looser"),           # tolerates more noise than the paper
    ("larger", "crossed", 0.01, 0.02, "ours tighter"),
    ("smaller", "crossed", 6, 9, "ours looser"),                # fewer ADC bits still inside
    ("smaller", "crossed", 9, 5, "ours tighter"),
    ("smaller", "crossed", 5, 5, "the same"),
    ("larger", "not_reached", 0.03, 0.0012, "ours looser (its limit lies beyond the grid)"),
    ("larger", "not_reached", 0.001, 0.0012, ""),              # the grid ends before the paper's value
    ("larger", "baseline_outside", None, 0.02, ""),
])
def test_the_limit_is_compared_with_the_papers_value(worse, status, limit, paper, verdict):
    assert spec_sheets.against({"worse": worse, "status": status, "limit": limit}, paper) == verdict


def test_a_sheet_whose_baseline_is_outside_the_band_says_so(tmp_path):
    from rpusim.framework.spec import band_text
    outside = {"fp__seed=0": 10.0, "rpu-baseline__seed=0": 11.0, "rpu-baseline__dw_min=0.01__seed=0": 12.0}
    data = sheet_from_records(_recorded(tmp_path, outside), "spec-test", EXP, REQ)
    assert data["params"]["dw_min"]["status"] == "baseline_outside"
    assert any("The baseline is outside the band at this budget" in line for line in band_text(data))
    inside = sheet_from_records(_recorded(tmp_path / "inside", FINALS), "spec-test", EXP, REQ)
    assert not any("outside the band at this budget" in line for line in band_text(inside))

