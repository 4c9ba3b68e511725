"""The paper's qualitative findings, decided by the intervals of a run's comparisons."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, validated

from clusterage import grid
from clusterage.analysis import aggregate, findings
from clusterage.analysis.uncertainty import Bootstrap
from clusterage.metrics import scatter
from clusterage.plan import Plan
from clusterage.report import summary

N_TEST = 150


def config_for(results, cases) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update({"results": str(results), "seeds": 2, "cases": cases,
                   "uncertainty": {"resamples": 400}})
    return validated(config)


CASES = [{"name": "five_band", "channels": "five_band", "sample": "full", "mask": "none"},
         {"name": "white_light", "channels": "white_light", "sample": "full", "mask": "none"},
         {"name": "white_light_inner", "channels": "white_light", "sample": "full", "mask": "inner",
          "diameters": [12, 24]}]


def write_runs(results, errors: dict, seeds=(0, 1)) -> None:
    """Finished runs whose test errors are ``scale x |z|`` on the same clusters (z shared, so the
    settings are correlated as real ones are), and the null predictor of the sample."""
    rng = np.random.default_rng(0)
    truth = rng.normal(7.5, 1.0, N_TEST)
    z = rng.standard_normal(N_TEST)
    for setting, scale in errors.items():
        for seed in seeds:
            run = Path(grid.run_dir(str(results), setting, seed))
            run.mkdir(parents=True)
            noise = 0.05 * rng.standard_normal(N_TEST)
            pred = truth + scale * (np.abs(z) + noise)
            pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(N_TEST), "split": "test",
                          "log_age_true": truth, "log_age_pred": pred}).to_csv(run / "predictions.csv", index=False)
            s = scatter(pred, truth)
            (run / "metrics.json").write_text(json.dumps({f"scatter_{k}": s for k in ("train", "validation", "test")}))
    null = {"train_mean_log_age": 7.5, "train": 1.0, "validation": 1.0,
            "test": scatter(np.full(N_TEST, 7.5), truth)}
    (Path(results) / "null").mkdir(parents=True, exist_ok=True)
    (Path(results) / "null" / "full.json").write_text(json.dumps(null))


def run_tables(tmp_path, errors, cases=CASES, seeds=(0, 1)):
    results = tmp_path / "results"
    write_runs(results, errors, seeds)
    config = config_for(results, cases)
    tables = results / "tables"
    aggregate.write_tables(Plan.of(config), Bootstrap.from_config(config), tables / "scatter.csv",
                           tables / "per_seed.csv", differences_path=tables / "differences.csv")
    return results


FIVE, WHITE = "full/five_band/none/true", "full/white_light/none/true"
INNER12, INNER24 = "full/white_light/inner12/true", "full/white_light/inner24/true"


def test_a_clear_difference_holds_a_reversed_one_is_contradicted_a_tiny_one_undecided(tmp_path):
    # five_band much better than white light; the environment (inner 24) as good as no mask
    results = run_tables(tmp_path / "a", {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62, INNER24: 0.601})
    colour, white, env = findings.paper_findings(findings.read(results))
    assert colour.verdict == white.verdict == env.verdict == "holds"
    assert "[+" in colour.line() and "paired, seeds and clusters" in colour.line()
    assert env.lower == "white_light inner D = 24 px" and env.row["first_scatter"] > 0.5
    diffs = pd.read_csv(results / "tables" / "differences.csv")
    mask = diffs[(diffs["comparison"] == "mask") & (diffs["second_setting"] == INNER24)].iloc[0]
    assert mask["interval"] == "contains 0"  # a 0.001 x 1.49 x 0.67 dex cost is not a finding
    # colour reversed
    results = run_tables(tmp_path / "b", {FIVE: 0.7, WHITE: 0.5, INNER12: 0.6, INNER24: 0.6})
    colour, *_ = findings.paper_findings(findings.read(results))
    assert colour.verdict == "CONTRADICTED" and colour.holds is False


def test_interval_columns_of_the_scatter_table(tmp_path):
    results = run_tables(tmp_path, {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62, INNER24: 0.65})
    table = pd.read_csv(results / "tables" / "scatter.csv")
    test = table[(table["split"] == "test") & (table["sample"] == "full")].set_index("case")
    for case in ("five_band", "white_light", "null_predictor"):
        row = test.loc[case]
        assert row["scatter_ci_low"] < row["scatter_mean"] < row["scatter_ci_high"]
    assert test.loc["white_light", "resampled"] == "seeds and clusters"
    assert test.loc["null_predictor", "resampled"] == "clusters"
    row = test.loc["five_band"]
    assert row["predictive_power_ci_low"] < row["predictive_power"] < row["predictive_power_ci_high"]
    assert table[table["split"] == "train"]["scatter_ci_low"].isna().all()


def test_one_seed_is_decided_on_the_clusters_alone_and_says_so(tmp_path):
    results = run_tables(tmp_path, {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62, INNER24: 0.65}, seeds=(0,))
    colour, *_ = findings.paper_findings(findings.read(results))
    assert colour.verdict == "holds" and "clusters only (1 seed)" in colour.line()
    assert "INCOMPLETE" in colour.line()  # the config asks for 2 seeds


def test_a_missing_diameter_is_named_not_replaced_by_another(tmp_path):
    cases = CASES[:2] + [dict(CASES[2], diameters=[12])]
    results = run_tables(tmp_path, {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62}, cases=cases)
    text, ok = findings.check([results])
    assert not ok
    assert "not run: the environment alone beats the null (white_light inner D = 24 px" in text
    assert findings.main([str(results)]) == 1
    with pytest.raises(FileNotFoundError, match="differences.csv"):
        findings.check([tmp_path / "nowhere"])


def test_the_run_summary_states_the_findings_with_intervals(tmp_path):
    results = run_tables(tmp_path, {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62, INNER24: 0.65})
    text = summary.write(results / "tables" / "scatter.csv", results / "tables" / "differences.csv",
                         tmp_path / "s.csv", tmp_path / "s.txt")
    assert "holds: colour helps: five_band 0.317 vs white_light 0.618 dex" in text
    assert "holds: the environment alone beats the null: white_light inner D = 24 px" in text
    assert "95% interval" in text


def test_the_tally_over_runs(tmp_path):
    good = run_tables(tmp_path / "a", {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62, INNER24: 0.65})
    bad = run_tables(tmp_path / "b", {FIVE: 0.7, WHITE: 0.5, INNER12: 0.6, INNER24: 0.6})
    text, ok = findings.check([good, bad])
    assert not ok
    assert "colour helps: holds 1, CONTRADICTED 1" in text
    assert "white light beats the null: holds 2" in text


def test_the_clusterage_command_reads_the_findings(tmp_path, capsys):
    from clusterage import cli

    good = run_tables(tmp_path, {FIVE: 0.3, WHITE: 0.6, INNER12: 0.62, INNER24: 0.65})
    assert cli.main(["findings", str(good)]) == 0
    assert "holds: colour helps" in capsys.readouterr().out
