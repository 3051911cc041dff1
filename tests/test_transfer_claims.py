"""The transfer claims' verdicts (docs/transfer.md): the rule in both directions, and a table built
from synthetic records."""
import sys
from pathlib import Path

import pytest

from rpusim.framework.records import record_runs
from rpusim.papers import transfer_claims

sys.path.insert(0, str(Path(__file__).parent))
from test_records import fake_run  # noqa: E402

SGD = [50.0, 40.0, 45.0]


@pytest.mark.parametrize("alg, ref, expected", [
    ([45.0, 43.0, 47.0], [20.0, 21.0, 19.0], "not shown (within SGD's seed spread)"),
    ([60.0, 61.0, 59.0], [20.0, 21.0, 19.0], "not reproduced (worse than SGD)"),
    ([20.0, 20.2, 19.8], [20.0, 20.1, 19.9], "reproduced"),              # at the reference, tight
    ([15.0, 15.2, 14.8], [20.0, 20.1, 19.9], "reproduced"),              # better than the reference
    ([25.0, 25.2, 24.8], [20.0, 20.1, 19.9], "partly"),                  # resolved 5 points worse
    ([20.0, 28.0, 24.0], [20.0, 20.1, 19.9], "beats SGD, reference not resolved"),
])
def test_verdict_follows_the_rule_in_both_directions(alg, ref, expected):
    assert transfer_claims.verdict(alg, SGD, ref, tolerance=0.5) == expected


def test_verdict_needs_runs_and_two_seeds_a_side():
    assert transfer_claims.verdict([], SGD, None) == "not run"
    assert transfer_claims.verdict([20.0], SGD, None) == "not judged"
    assert transfer_claims.verdict([20.0, 21.0], SGD, None) == "beats SGD (no reference)"
    assert transfer_claims.verdict([20.0, 21.0], SGD, [20.0], 0.5) == "not judged"
    assert transfer_claims.verdict([20.0, 21.0], SGD, [], 0.5) == "beats SGD, reference not run"


def test_claims_table_is_built_from_the_records(tmp_path, monkeypatch):
    finals = {"fp": 19.0, "sgd+soft-sym": 30.0, "sgd+soft-asym": 50.0, "tiki-taka+soft-asym": 29.0,
              "ttv2+soft-asym": 50.2}
    runs = [fake_run(tmp_path / "runs" / f"{v}-{s}", v, s, (60.0, e + (0.5 if s else -0.5)), experiment="transfer-fc-mnist")
            for v, e in finals.items() for s in (0, 1)]
    fc_study = next(s.study for s in transfer_claims.SETTINGS if s.key == "fc")
    record_runs(runs, fc_study, tmp_path / "repo")
    monkeypatch.setattr(transfer_claims.transfer_dynamics, "compute",
                        lambda: {"runs": {"sgd": [{"rms": [0.2]}] * 2, "ttv2": [{"rms": [0.1]}, {"rms": [0.11]}]}})
    data = transfer_claims.claims_numbers(tmp_path / "repo")
    by_alg = {c["algorithm"]: c for c in data["claims"]}
    fc = {e["setting"]: e for e in by_alg["tiki-taka"]["evidence"]}["fc"]
    assert fc["verdict"] == "reproduced" and fc["seeds"] == 2           # 29 vs symmetric SGD's 30
    ttv2 = {e["setting"]: e["verdict"] for e in by_alg["ttv2"]["evidence"]}
    assert ttv2 == {"fc": "not shown (within SGD's seed spread)", "array": "beats SGD (no reference)"}
    assert any("LSTM" in s for s in by_alg["ttv2"]["not_run"])
    text = transfer_claims.claims_markdown(data)
    assert "**not shown (within SGD's seed spread)**" in text and f"results/{fc_study}/" in text
